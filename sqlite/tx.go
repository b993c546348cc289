package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/mattn/go-sqlite3"

	"github.com/failsmall/breakglass/broker"
)

// Tx is one transaction: a write transaction inside Update, a read-only
// snapshot inside View. Every method runs under the context given to Update
// or View. Its read methods implement broker.Tx; its write methods apply
// a broker.Change inside Commit.
type Tx struct {
	ctx      context.Context
	tx       *sql.Tx
	writable bool
	now      broker.Clock // stamps rows the broker gives no time for
	// db and log are set in a write: the writer's state, and the audit
	// log as this group commit sees it (the write lock keeps every other
	// writer out until the transaction ends).
	db  *DB
	log *logBatch
	// broken is set when a write fails after writing part of what must
	// commit together; the writer then refuses to commit the change, even
	// if fn ignored the error.
	broken error
}

var _ broker.Tx = (*Tx)(nil)

// errReadOnly is returned by a write method called inside View.
var errReadOnly = errors.New("sqlite: write method called in a read-only View transaction")

func (t *Tx) exec(query string, args ...any) (sql.Result, error) {
	if !t.writable {
		return nil, errReadOnly
	}
	return t.tx.ExecContext(t.ctx, query, args...)
}

func (t *Tx) query(query string, args ...any) (*sql.Rows, error) {
	return t.tx.QueryContext(t.ctx, query, args...)
}

func (t *Tx) queryRow(query string, args ...any) *sql.Row {
	return t.tx.QueryRowContext(t.ctx, query, args...)
}

// changed runs a compare-and-swap UPDATE and reports whether it matched.
func (t *Tx) changed(query string, args ...any) (bool, error) {
	res, err := t.exec(query, args...)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// exists reports whether query (SELECT 1 ...) finds a row.
func (t *Tx) exists(query string, args ...any) (bool, error) {
	var one int
	err := t.queryRow(query, args...).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// casError explains why a compare-and-swap UPDATE matched no row: the row is
// missing (ErrNotFound) or holds another value (ErrConflict).
func (t *Tx) casError(what, id, existsQuery string, conflict string) error {
	ok, err := t.exists(existsQuery, id)
	switch {
	case err != nil:
		return fmt.Errorf("sqlite: %s %s: %w", what, id, err)
	case !ok:
		return fmt.Errorf("%w: %s %s", broker.ErrNotFound, what, id)
	default:
		return fmt.Errorf("%w: %s %s %s", broker.ErrConflict, what, id, conflict)
	}
}

// The earliest and latest times an int64 of Unix nanoseconds holds.
var (
	minTime = time.Unix(0, math.MinInt64)
	maxTime = time.Unix(0, math.MaxInt64)
)

// nanos encodes a time as Unix nanoseconds; the zero time is NULL. Times
// outside 1678-2262 cannot be stored and are an error.
func nanos(field string, tm time.Time) (any, error) {
	if tm.IsZero() {
		return nil, nil
	}
	if tm.Before(minTime) || tm.After(maxTime) {
		return nil, fmt.Errorf("%w: %s %v is outside the storable range %v to %v",
			broker.ErrInvalid, field, tm, minTime.UTC(), maxTime.UTC())
	}
	return tm.UnixNano(), nil
}

// fromNanos decodes nanos' encoding, in UTC.
func fromNanos(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return time.Unix(0, n.Int64).UTC()
}

// timeEnc encodes several times for one statement and keeps the first
// error, so a call site lists its arguments in order and checks once.
type timeEnc struct{ err error }

func (e *timeEnc) at(field string, tm time.Time) any {
	v, err := nanos(field, tm)
	if err != nil && e.err == nil {
		e.err = err
	}
	return v
}

// blob normalises an empty BLOB to nil, so nil and empty read back alike.
func blob(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

// notNil stores a nil slice as an empty BLOB in NOT NULL columns.
func notNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

func encodeList(l []string) (string, error) {
	if l == nil {
		l = []string{}
	}
	b, err := json.Marshal(l)
	return string(b), err
}

func decodeList(s string) ([]string, error) {
	var l []string
	if err := json.Unmarshal([]byte(s), &l); err != nil {
		return nil, fmt.Errorf("sqlite: decode list %q: %w", s, err)
	}
	if len(l) == 0 {
		return nil, nil
	}
	return l, nil
}

// isConstraint reports whether err is the SQLite constraint violation ext.
func isConstraint(err error, ext sqlite3.ErrNoExtended) bool {
	var se sqlite3.Error
	return errors.As(err, &se) && se.ExtendedCode == ext
}

// isUnique reports whether err is a primary key or UNIQUE violation.
func isUnique(err error) bool {
	return isConstraint(err, sqlite3.ErrConstraintUnique) || isConstraint(err, sqlite3.ErrConstraintPrimaryKey)
}

// limit turns "zero or less means no limit" into SQLite's LIMIT -1.
func limit(n int) int {
	if n <= 0 {
		return -1
	}
	return n
}
