package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/failsmall/breakglass/broker"
)

// The audit log is stored as its leaves (audit_entries, index = leaf number)
// and the tlog stored hashes (audit_hashes, index = tlog stored hash index),
// so tree hashes and proofs need no recomputation. Triggers keep all three
// audit tables append-only.

// Append encodes e as an audit.Entry and appends it (appendLeaf). The broker
// commits its events as encoded leaves (broker.Change); Append serves tests
// and tools.
func (t *Tx) Append(e broker.Event) (int64, error) {
	l, err := e.Leaf()
	if err != nil {
		return 0, fmt.Errorf("sqlite: append: %w", err)
	}
	return t.appendLeaf(l.Type, l.Subjects, l.Leaf)
}

// auditSize returns the log's size as this transaction sees it: in a
// write, with the leaves the batch appended so far.
func (t *Tx) auditSize() (int64, error) {
	if t.log == nil {
		return auditSize(t.ctx, t.tx)
	}
	lb, err := t.loadLog()
	if err != nil {
		return 0, err
	}
	return lb.size(), nil
}

// InsertCheckpoint stores a signed checkpoint of the tree of size leaves in
// this transaction; ErrConflict when that size already has one, ErrInvalid
// when the log has fewer than size leaves.
func (t *Tx) InsertCheckpoint(size int64, signed []byte) error {
	if !t.writable {
		return errReadOnly
	}
	if err := t.flushLog(); err != nil {
		return err
	}
	n, err := t.auditSize()
	if err != nil {
		return err
	}
	if size < 0 || size > n || len(signed) == 0 {
		return fmt.Errorf("%w: sqlite: checkpoint of size %d (%d bytes) for a log of %d leaves", broker.ErrInvalid, size, len(signed), n)
	}
	dup, err := t.exists(`SELECT 1 FROM audit_checkpoints WHERE size = ?`, size)
	if err != nil {
		return fmt.Errorf("sqlite: insert checkpoint %d: %w", size, err)
	}
	if dup {
		return fmt.Errorf("%w: a checkpoint of size %d exists", broker.ErrConflict, size)
	}
	_, err = t.exec(`INSERT INTO audit_checkpoints (size, signed, created) VALUES (?, ?, ?)`,
		size, signed, t.now.Now().UnixNano())
	if err != nil {
		return fmt.Errorf("sqlite: insert checkpoint %d: %w", size, err)
	}
	return nil
}

// querier is what *sql.DB and *sql.Tx share.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func auditSize(ctx context.Context, q querier) (int64, error) {
	var n int64
	if err := q.QueryRowContext(ctx, `SELECT coalesce(max(idx) + 1, 0) FROM audit_entries`).Scan(&n); err != nil {
		return 0, fmt.Errorf("sqlite: audit size: %w", err)
	}
	return n, nil
}

// hashReader reads stored hashes through q: inside Append, the write
// transaction itself, so the new hashes build on what it sees.
type hashReader struct {
	ctx context.Context
	q   querier
}

// ReadHashes implements tlog.HashReader: the hashes at indexes, in order, or
// an error naming the first missing one. The indexes travel as one JSON
// array, so the statement text is fixed and its prepared form is reused.
func (r hashReader) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	if len(indexes) == 0 { // tlog.StoredHashes asks for none for every even leaf
		return nil, nil
	}
	list := make([]byte, 0, 1+12*len(indexes))
	list = append(list, '[')
	for i, x := range indexes {
		if i > 0 {
			list = append(list, ',')
		}
		list = strconv.AppendInt(list, x, 10)
	}
	list = append(list, ']')
	found := make(map[int64]tlog.Hash, len(indexes))
	const q = `SELECT idx, hash FROM audit_hashes WHERE idx IN (SELECT value FROM json_each(?))`
	if err := r.collect(found, q, string(list)); err != nil {
		return nil, err
	}
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		h, ok := found[x]
		if !ok {
			return nil, fmt.Errorf("%w: audit stored hash %d", broker.ErrNotFound, x)
		}
		out[i] = h
	}
	return out, nil
}

func (r hashReader) collect(found map[int64]tlog.Hash, q string, args ...any) error {
	rows, err := r.q.QueryContext(r.ctx, q, args...)
	if err != nil {
		return fmt.Errorf("sqlite: read audit hashes: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var idx int64
		var b []byte
		if err := rows.Scan(&idx, &b); err != nil {
			return fmt.Errorf("sqlite: read audit hashes: %w", err)
		}
		if len(b) != tlog.HashSize {
			return fmt.Errorf("sqlite: audit stored hash %d is %d bytes, want %d", idx, len(b), tlog.HashSize)
		}
		found[idx] = tlog.Hash(b)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sqlite: read audit hashes: %w", err)
	}
	return nil
}

// AuditSize returns the number of leaves in the audit log.
func (db *DB) AuditSize(ctx context.Context) (int64, error) { return auditSize(ctx, db.r) }

// AuditEntry returns leaf i, the canonical audit.Entry encoding;
// ErrNotFound when the log has no leaf i.
func (db *DB) AuditEntry(ctx context.Context, i int64) ([]byte, error) {
	var leaf []byte
	err := db.r.QueryRowContext(ctx, `SELECT leaf FROM audit_entries WHERE idx = ?`, i).Scan(&leaf)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: audit entry %d", broker.ErrNotFound, i)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: audit entry %d: %w", i, err)
	}
	return leaf, nil
}

// AuditEntries calls fn for leaves from to to-1 in order, streaming, and
// stops at fn's first error, returning it. ErrNotFound when the log has
// fewer than to leaves; ErrInvalid when the range is backwards or negative.
func (db *DB) AuditEntries(ctx context.Context, from, to int64, fn func(i int64, leaf []byte) error) error {
	if from < 0 || to < from {
		return fmt.Errorf("%w: audit entries [%d, %d)", broker.ErrInvalid, from, to)
	}
	rows, err := db.r.QueryContext(ctx, `SELECT idx, leaf FROM audit_entries WHERE idx >= ? AND idx < ? ORDER BY idx`, from, to)
	if err != nil {
		return fmt.Errorf("sqlite: audit entries: %w", err)
	}
	defer rows.Close()
	next := from
	for rows.Next() {
		var i int64
		var leaf []byte
		if err := rows.Scan(&i, &leaf); err != nil {
			return fmt.Errorf("sqlite: audit entries: %w", err)
		}
		if i != next {
			return fmt.Errorf("sqlite: audit log has no entry %d (next is %d)", next, i)
		}
		if err := fn(i, leaf); err != nil {
			return err
		}
		next++
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sqlite: audit entries: %w", err)
	}
	if next != to {
		return fmt.Errorf("%w: audit entry %d (wanted up to %d)", broker.ErrNotFound, next, to)
	}
	return nil
}

// ReadHashes implements tlog.HashReader over the committed log, from the
// stored tiles and, for the right edge, audit_hashes, so *DB can be passed
// to tlog.TreeHash, ProveRecord and ProveTree.
func (db *DB) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	return tileReader{context.Background(), db.r}.ReadHashes(indexes)
}

var _ tlog.HashReader = (*DB)(nil)

// InsertCheckpoint stores a signed checkpoint in a transaction of its own;
// see (*Tx).InsertCheckpoint.
func (db *DB) InsertCheckpoint(ctx context.Context, size int64, signed []byte) error {
	return db.update(ctx, func(t *Tx) error { return t.InsertCheckpoint(size, signed) })
}

// Checkpoints returns every stored checkpoint, smallest tree first.
func (db *DB) Checkpoints(ctx context.Context) ([][]byte, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT signed FROM audit_checkpoints ORDER BY size`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: checkpoints: %w", err)
	}
	defer rows.Close()
	var out [][]byte
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			return nil, fmt.Errorf("sqlite: checkpoints: %w", err)
		}
		out = append(out, b)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: checkpoints: %w", err)
	}
	return out, nil
}

// LatestCheckpoint returns the checkpoint of the largest tree; ErrNotFound
// when there is none.
func (db *DB) LatestCheckpoint(ctx context.Context) ([]byte, error) {
	var b []byte
	err := db.r.QueryRowContext(ctx, `SELECT signed FROM audit_checkpoints ORDER BY size DESC LIMIT 1`).Scan(&b)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: no audit checkpoint", broker.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: latest checkpoint: %w", err)
	}
	return b, nil
}
