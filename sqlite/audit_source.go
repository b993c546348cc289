package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/failsmall/breakglass/audit"
	"github.com/failsmall/breakglass/broker"
)

// sourceChunk is how many entries (and stored hashes) one query of the
// verification source reads ahead: VerifyLog reads both in order.
const sourceChunk = 8192

// ReadAudit runs fn with an audit.Source over one read snapshot of the log,
// so entries, stored hashes and checkpoints are consistent with each other
// while writers go on appending.
func (db *DB) ReadAudit(ctx context.Context, fn func(audit.Source) error) error {
	tx, err := db.begin(ctx, db.r)
	if err != nil {
		return fmt.Errorf("sqlite: begin read: %w", db.busyError(err))
	}
	defer db.rollback(tx)
	size, err := auditSize(ctx, tx)
	if err != nil {
		return err
	}
	src := &auditSource{ctx: ctx, tx: tx, size: size}
	defer src.wg.Wait() // no read ahead may outlive the snapshot
	return fn(src)
}

// auditSource reads a snapshot in chunks, in order, and reads the next
// chunk of entries and of stored hashes ahead while the caller works on
// the current one (VerifyLog hashes and parses a chunk while the next is
// read). Its methods are not safe for concurrent use; the read-ahead
// goroutines only share the transaction, which database/sql serialises.
type auditSource struct {
	ctx  context.Context
	tx   *sql.Tx
	size int64
	wg   sync.WaitGroup

	leafLo   int64
	leaves   [][]byte // nil: no entry stored at that index
	leafNext *readAhead[[][]byte]

	hashLo   int64
	hashes   *hashChunk
	hashNext *readAhead[*hashChunk]
	spare    *hashChunk // the chunk before the current one, to read into next
}

var _ audit.Source = (*auditSource)(nil)

// readAhead is a chunk read in a goroutine of its own.
type readAhead[T any] struct {
	lo   int64
	done chan struct{}
	val  T
	err  error
}

func startRead[T any](wg *sync.WaitGroup, lo int64, read func(int64) (T, error)) *readAhead[T] {
	r := &readAhead[T]{lo: lo, done: make(chan struct{})}
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(r.done)
		r.val, r.err = read(lo)
	}()
	return r
}

// take returns the chunk at lo: the one read ahead if it is that chunk,
// else one read now.
func take[T any](next *readAhead[T], lo int64, read func(int64) (T, error)) (T, error) {
	if next != nil {
		<-next.done
		if next.lo == lo {
			return next.val, next.err
		}
	}
	return read(lo)
}

func (s *auditSource) Size() (int64, error) { return s.size, nil }

func (s *auditSource) Entry(i int64) ([]byte, error) {
	if i < s.leafLo || i >= s.leafLo+int64(len(s.leaves)) {
		if err := s.loadLeaves(i); err != nil {
			return nil, err
		}
	}
	if b := s.leaves[i-s.leafLo]; b != nil {
		return b, nil
	}
	return nil, fmt.Errorf("%w: audit entry %d", audit.ErrMissing, i)
}

func (s *auditSource) loadLeaves(from int64) error {
	leaves, err := take(s.leafNext, from, s.readLeaves)
	s.leafNext = nil
	if err != nil {
		s.leaves = nil
		return err
	}
	s.leafLo, s.leaves = from, leaves
	if next := from + sourceChunk; next < s.size {
		s.leafNext = startRead(&s.wg, next, s.readLeaves)
	}
	return nil
}

func (s *auditSource) readLeaves(from int64) ([][]byte, error) {
	leaves := make([][]byte, sourceChunk)
	rows, err := s.tx.QueryContext(s.ctx, `SELECT idx, leaf FROM audit_entries WHERE idx >= ? AND idx < ? ORDER BY idx`, from, from+sourceChunk)
	if err != nil {
		return nil, fmt.Errorf("sqlite: audit entries from %d: %w", from, err)
	}
	defer rows.Close()
	for rows.Next() {
		var i int64
		var leaf []byte
		if err := rows.Scan(&i, &leaf); err != nil {
			return nil, fmt.Errorf("sqlite: audit entries from %d: %w", from, err)
		}
		if leaf == nil {
			leaf = []byte{}
		}
		leaves[i-from] = leaf
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: audit entries from %d: %w", from, err)
	}
	return leaves, nil
}

// hashChunk is 2*sourceChunk stored hashes read in one query.
type hashChunk struct {
	hashes [2 * sourceChunk]tlog.Hash
	have   [2 * sourceChunk]bool // have[k]: hashes[k] was stored
}

func (s *auditSource) StoredHash(i int64) (tlog.Hash, error) {
	if s.hashes == nil || i < s.hashLo || i >= s.hashLo+2*sourceChunk {
		if err := s.loadHashes(i); err != nil {
			return tlog.Hash{}, err
		}
	}
	if k := i - s.hashLo; s.hashes.have[k] {
		return s.hashes.hashes[k], nil
	}
	return tlog.Hash{}, fmt.Errorf("%w: audit stored hash %d", audit.ErrMissing, i)
}

func (s *auditSource) loadHashes(from int64) error {
	spare := s.spare
	s.spare = nil
	c, err := take(s.hashNext, from, func(lo int64) (*hashChunk, error) { return s.readHashes(lo, spare) })
	s.hashNext = nil
	if err != nil {
		s.hashes = nil
		return err
	}
	s.spare, s.hashes, s.hashLo = s.hashes, c, from
	if next := from + 2*sourceChunk; next < 2*s.size {
		buf := s.spare
		s.spare = nil
		s.hashNext = startRead(&s.wg, next, func(lo int64) (*hashChunk, error) { return s.readHashes(lo, buf) })
	}
	return nil
}

// readHashes reads the chunk of stored hashes at from into c (a new chunk
// when nil).
func (s *auditSource) readHashes(from int64, c *hashChunk) (*hashChunk, error) {
	if c == nil {
		c = new(hashChunk)
	}
	clear(c.have[:])
	rows, err := s.tx.QueryContext(s.ctx, `SELECT idx, hash FROM audit_hashes WHERE idx >= ? AND idx < ? ORDER BY idx`, from, from+2*sourceChunk)
	if err != nil {
		return nil, fmt.Errorf("sqlite: audit hashes from %d: %w", from, err)
	}
	defer rows.Close()
	for rows.Next() {
		var i int64
		var b sql.RawBytes // copied at once: no allocation per hash
		if err := rows.Scan(&i, &b); err != nil {
			return nil, fmt.Errorf("sqlite: audit hashes from %d: %w", from, err)
		}
		if len(b) != tlog.HashSize {
			return nil, fmt.Errorf("sqlite: audit stored hash %d is %d bytes, want %d", i, len(b), tlog.HashSize)
		}
		c.hashes[i-from], c.have[i-from] = tlog.Hash(b), true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: audit hashes from %d: %w", from, err)
	}
	return c, nil
}

// Checkpoints returns the recorded checkpoints in the order they were
// recorded, each with the witness cosignatures kept for it.
func (s *auditSource) Checkpoints() ([][]byte, error) {
	cos, err := cosignatures(s.ctx, s.tx, -1)
	if err != nil {
		return nil, err
	}
	rows, err := s.tx.QueryContext(s.ctx, `SELECT size, signed FROM audit_checkpoints ORDER BY created, size`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: checkpoints: %w", err)
	}
	defer rows.Close()
	var out [][]byte
	for rows.Next() {
		var size int64
		var b []byte
		if err := rows.Scan(&size, &b); err != nil {
			return nil, fmt.Errorf("sqlite: checkpoints: %w", err)
		}
		out = append(out, audit.AddCosignatures(b, cos[size]))
	}
	return out, rows.Err()
}

// cosignatures returns the cosignature lines by checkpoint size: all of
// them, or only those of size when size >= 0.
func cosignatures(ctx context.Context, q querier, size int64) (map[int64][]byte, error) {
	rows, err := q.QueryContext(ctx, `SELECT size, line FROM audit_cosignatures WHERE ? < 0 OR size = ? ORDER BY size, witness`, size, size)
	if err != nil {
		return nil, fmt.Errorf("sqlite: cosignatures: %w", err)
	}
	defer rows.Close()
	out := map[int64][]byte{}
	for rows.Next() {
		var n int64
		var line []byte
		if err := rows.Scan(&n, &line); err != nil {
			return nil, fmt.Errorf("sqlite: cosignatures: %w", err)
		}
		out[n] = append(out[n], line...)
	}
	return out, rows.Err()
}

// AuditIndex returns the index of the first entry of type typ about
// subject; ErrNotFound when there is none.
func (db *DB) AuditIndex(ctx context.Context, typ, subject string) (int64, error) {
	var i int64
	err := db.r.QueryRowContext(ctx, `SELECT min(idx) FROM audit_subjects WHERE subject = ? AND type = ? HAVING count(*) > 0`,
		subject, typ).Scan(&i)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("%w: no %s audit entry about %s", broker.ErrNotFound, typ, subject)
	}
	if err != nil {
		return 0, fmt.Errorf("sqlite: audit index of %s %s: %w", typ, subject, err)
	}
	return i, nil
}

// GrantRecords returns every grant ever issued as its rows say, for the
// verifier's check of the rows against the log (broker.VerifyAudit).
func (db *DB) GrantRecords(ctx context.Context) ([]broker.GrantRecord, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT g.id, g.request_id, g.issued, g.expires, g.revoked IS NOT NULL,
		g.delisted IS NOT NULL, coalesce(r.state, '') FROM grants g LEFT JOIN requests r ON r.id = g.request_id ORDER BY g.id`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: grant records: %w", err)
	}
	defer rows.Close()
	var out []broker.GrantRecord
	for rows.Next() {
		var g broker.GrantRecord
		var issued, expires sql.NullInt64
		var state string
		if err := rows.Scan(&g.ID, &g.RequestID, &issued, &expires, &g.Revoked, &g.Delisted, &state); err != nil {
			return nil, fmt.Errorf("sqlite: grant records: %w", err)
		}
		g.Issued, g.Expires, g.State = fromNanos(issued), fromNanos(expires), broker.State(state)
		out = append(out, g)
	}
	return out, rows.Err()
}

// RecordedCheckpoints returns up to limit recorded checkpoints, skipping
// the first start, in the order they were recorded, each with the witness
// cosignatures kept for it.
func (db *DB) RecordedCheckpoints(ctx context.Context, start, limit int) ([][]byte, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT c.size, c.signed, coalesce((SELECT group_concat(line, '') FROM
		(SELECT line FROM audit_cosignatures s WHERE s.size = c.size ORDER BY witness)), x'')
		FROM audit_checkpoints c ORDER BY c.created, c.size LIMIT ? OFFSET ?`, limit, start)
	if err != nil {
		return nil, fmt.Errorf("sqlite: checkpoints: %w", err)
	}
	defer rows.Close()
	var out [][]byte
	for rows.Next() {
		var size int64
		var signed, cos []byte
		if err := rows.Scan(&size, &signed, &cos); err != nil {
			return nil, fmt.Errorf("sqlite: checkpoints: %w", err)
		}
		out = append(out, audit.AddCosignatures(signed, cos))
	}
	return out, rows.Err()
}
