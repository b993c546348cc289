package sqlite

import (
	"context"
	"errors"
	"fmt"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/failsmall/breakglass/audit"
	"github.com/failsmall/breakglass/broker"
)

// CheckpointStore returns the audit.CheckpointStore of db's log, for an
// audit.Checkpointer.
func (db *DB) CheckpointStore() audit.CheckpointStore { return checkpointStore{db} }

type checkpointStore struct{ db *DB }

func (s checkpointStore) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	return s.db.ReadHashes(indexes)
}

func (s checkpointStore) Size(ctx context.Context) (int64, error) { return s.db.AuditSize(ctx) }

func (s checkpointStore) Latest(ctx context.Context) ([]byte, error) {
	b, err := s.db.LatestCheckpoint(ctx)
	if errors.Is(err, broker.ErrNotFound) {
		return nil, fmt.Errorf("%w: %w", audit.ErrMissing, err)
	}
	return b, err
}

func (s checkpointStore) Record(ctx context.Context, size int64, signed []byte) error {
	return s.db.update(ctx, func(t *Tx) error {
		var newest int64
		if err := t.queryRow(`SELECT coalesce(max(size), -1) FROM audit_checkpoints`).Scan(&newest); err != nil {
			return fmt.Errorf("sqlite: newest checkpoint: %w", err)
		}
		if newest >= size {
			return fmt.Errorf("%w: size %d, newest %d", audit.ErrCheckpointExists, size, newest)
		}
		return t.InsertCheckpoint(size, signed)
	})
}

// AddCosignature keeps a witness's cosignature lines of the checkpoint of
// size; a second cosignature of the same checkpoint by the same witness is
// ignored.
func (s checkpointStore) AddCosignature(ctx context.Context, size int64, witness string, lines []byte) error {
	return s.db.update(ctx, func(t *Tx) error {
		if dup, err := t.exists(`SELECT 1 FROM audit_cosignatures WHERE size = ? AND witness = ?`, size, witness); err != nil || dup {
			return err
		}
		_, err := t.exec(`INSERT INTO audit_cosignatures (size, witness, line, created) VALUES (?, ?, ?, ?)`,
			size, witness, lines, t.now.Now().UnixNano())
		if err != nil {
			return fmt.Errorf("sqlite: keep cosignature of %d by %s: %w", size, witness, err)
		}
		return nil
	})
}
