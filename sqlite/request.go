package sqlite

import (
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/failsmall/breakglass/broker"
)

const requestColumns = `id, role, requester, reason, incident, duration, created, expires, state,
	updated, policy_hash, statement, statement_digest, request_statement, request_signature, drill`

// requestRead is what scanRequest reads: the inserted columns, then what
// later changes set (the bundle that superseded the request).
const requestRead = requestColumns + `, superseded_by`

// InsertRequest stores a new request; ErrConflict when its id exists.
func (t *Tx) InsertRequest(r *broker.Request) error {
	if _, err := broker.ParseState(string(r.State)); err != nil {
		return fmt.Errorf("sqlite: insert request %s: %w", r.ID, err)
	}
	var te timeEnc
	args := []any{r.ID, r.Role, r.Requester, r.Reason, r.Incident, int64(r.Duration),
		te.at("created", r.Created), te.at("expires", r.Expires), string(r.State), te.at("updated", r.Updated),
		r.PolicyHash, notNil(r.Statement), r.StatementDigest, notNil(r.RequestStatement), notNil(r.RequestSignature), r.Drill}
	if te.err != nil {
		return fmt.Errorf("sqlite: insert request %s: %w", r.ID, te.err)
	}
	if r.Created.IsZero() || r.Expires.IsZero() || r.Updated.IsZero() {
		return fmt.Errorf("%w: sqlite: insert request %s: created, expires and updated must be set", broker.ErrInvalid, r.ID)
	}
	_, err := t.exec(`INSERT INTO requests (`+requestColumns+`) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`, args...)
	if isUnique(err) {
		return fmt.Errorf("%w: request %s exists", broker.ErrConflict, r.ID)
	}
	if err != nil {
		return fmt.Errorf("sqlite: insert request %s: %w", r.ID, err)
	}
	return nil
}

// Request returns request id; ErrNotFound when there is none.
func (t *Tx) Request(id string) (*broker.Request, error) {
	r, err := scanRequest(t.queryRow(`SELECT `+requestRead+` FROM requests WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: request %s", broker.ErrNotFound, id)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: request %s: %w", id, err)
	}
	return r, nil
}

// Requests lists the requests matching f, newest first.
func (t *Tx) Requests(f broker.RequestFilter) ([]*broker.Request, error) {
	all, who, roles := 1, "", "[]"
	if v := f.VisibleTo; v != nil {
		enc, err := encodeList(v.Roles)
		if err != nil {
			return nil, fmt.Errorf("sqlite: list requests: %w", err)
		}
		all, who, roles = 0, v.Requester, enc
	}
	rows, err := t.query(`SELECT `+requestRead+` FROM requests
		WHERE (?1 = '' OR state = ?1) AND (?2 = '' OR requester = ?2)
			AND (?4 OR requester = ?5 OR role IN (SELECT value FROM json_each(?6)))
		ORDER BY created DESC, id DESC LIMIT ?3`, string(f.State), f.Requester, limit(f.Limit), all, who, roles)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list requests: %w", err)
	}
	return collectRequests(rows)
}

// SetRequestState moves request id from state from to state to at at;
// ErrNotFound when it does not exist, ErrConflict when its state is not from.
func (t *Tx) SetRequestState(id string, from, to broker.State, at time.Time) error {
	if _, err := broker.ParseState(string(to)); err != nil {
		return fmt.Errorf("sqlite: set request %s state: %w", id, err)
	}
	v, err := nanos("updated", at)
	if err != nil || v == nil {
		return fmt.Errorf("%w: sqlite: set request %s state: time %v", broker.ErrInvalid, id, at)
	}
	ok, err := t.changed(`UPDATE requests SET state = ?, updated = ? WHERE id = ? AND state = ?`,
		string(to), v, id, string(from))
	if err != nil {
		return fmt.Errorf("sqlite: set request %s state: %w", id, err)
	}
	if !ok {
		return t.casError("request", id, `SELECT 1 FROM requests WHERE id = ?`, "is not "+string(from))
	}
	return nil
}

// SupersedeRequest moves pending request id to superseded by bundle hash
// by at at; ErrNotFound when it does not exist, ErrConflict when it is
// not pending.
func (t *Tx) SupersedeRequest(id, by string, at time.Time) error {
	v, err := nanos("updated", at)
	if err != nil || v == nil {
		return fmt.Errorf("%w: sqlite: supersede request %s: time %v", broker.ErrInvalid, id, at)
	}
	ok, err := t.changed(`UPDATE requests SET state = 'superseded', superseded_by = ?, updated = ? WHERE id = ? AND state = 'pending'`, by, v, id)
	if err != nil {
		return fmt.Errorf("sqlite: supersede request %s: %w", id, err)
	}
	if !ok {
		return t.casError("request", id, `SELECT 1 FROM requests WHERE id = ?`, "is not pending")
	}
	return nil
}

// DueRequests lists pending requests whose Expires is at or before now,
// soonest first; limit zero or less means all.
func (t *Tx) DueRequests(now time.Time, n int) ([]*broker.Request, error) {
	v, err := nanos("now", now)
	if err != nil {
		return nil, err
	}
	rows, err := t.query(`SELECT `+requestRead+` FROM requests
		WHERE state = 'pending' AND expires <= ? ORDER BY expires, id LIMIT ?`, v, limit(n))
	if err != nil {
		return nil, fmt.Errorf("sqlite: due requests: %w", err)
	}
	return collectRequests(rows)
}

// CountByState counts requests in each state; states with none are absent.
func (t *Tx) CountByState() (map[broker.State]int, error) {
	rows, err := t.query(`SELECT state, count(*) FROM requests GROUP BY state`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: count requests: %w", err)
	}
	defer rows.Close()
	out := map[broker.State]int{}
	for rows.Next() {
		var s string
		var n int
		if err := rows.Scan(&s, &n); err != nil {
			return nil, fmt.Errorf("sqlite: count requests: %w", err)
		}
		out[broker.State(s)] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: count requests: %w", err)
	}
	return out, nil
}

type scanner interface{ Scan(dest ...any) error }

func scanRequest(s scanner) (*broker.Request, error) {
	var r broker.Request
	var dur int64
	var created, expires, updated sql.NullInt64
	var state string
	var by sql.NullString
	err := s.Scan(&r.ID, &r.Role, &r.Requester, &r.Reason, &r.Incident, &dur, &created, &expires, &state,
		&updated, &r.PolicyHash, &r.Statement, &r.StatementDigest, &r.RequestStatement, &r.RequestSignature, &r.Drill, &by)
	if err != nil {
		return nil, err
	}
	r.Duration = time.Duration(dur)
	r.Created, r.Expires, r.Updated = fromNanos(created), fromNanos(expires), fromNanos(updated)
	r.State, r.SupersededBy = broker.State(state), by.String
	r.Statement, r.RequestStatement, r.RequestSignature = blob(r.Statement), blob(r.RequestStatement), blob(r.RequestSignature)
	return &r, nil
}

func collectRequests(rows *sql.Rows) ([]*broker.Request, error) {
	defer rows.Close()
	var out []*broker.Request
	for rows.Next() {
		r, err := scanRequest(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: scan request: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list requests: %w", err)
	}
	return out, nil
}
