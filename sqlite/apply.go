package sqlite

import (
	"database/sql"
	"errors"
	"fmt"

	"github.com/failsmall/breakglass/broker"
)

// apply runs the operations of ch, then appends its audit leaves, in this
// write transaction. The caller rolls everything back on an error. A
// duplicate approval is a conflict here: the plan that made it counted
// the approvals before another was stored.
func (t *Tx) apply(ch *broker.Change) error {
	if !t.writable {
		return errReadOnly
	}
	for i, op := range ch.Ops {
		if err := t.applyOp(op); err != nil {
			if errors.Is(err, broker.ErrDuplicate) {
				err = fmt.Errorf("%w: %w", broker.ErrConflict, err)
			}
			return fmt.Errorf("operation %d (%s): %w", i, kind(op), err)
		}
	}
	for _, l := range ch.Audit {
		if _, err := t.appendLeaf(l.Type, l.Subjects, l.Leaf); err != nil {
			return err
		}
	}
	return nil
}

func kind(op broker.Op) string {
	if op == nil {
		return "nil"
	}
	return op.Kind()
}

func (t *Tx) applyOp(op broker.Op) error {
	switch op := op.(type) {
	case broker.InsertRequest:
		return t.InsertRequest(op.Request)
	case broker.SetRequestState:
		return t.SetRequestState(op.ID, op.From, op.To, op.At)
	case broker.SupersedeRequest:
		return t.SupersedeRequest(op.ID, op.By, op.At)
	case broker.RequireRequestState:
		return t.requireRequestState(op.ID, op.State)
	case broker.InsertApproval:
		return t.InsertApproval(op.Approval)
	case broker.RequireApprovals:
		return t.requireApprovals(op.RequestID, op.Count)
	case broker.SetKeyCounter:
		return t.setKeyCounterIf(op)
	case broker.InsertGrant:
		return t.InsertGrant(op.Grant)
	case broker.RevokeGrant:
		return t.RevokeGrant(op.ID, op.By, op.At)
	case broker.DelistGrant:
		return t.DelistGrant(op.ID, op.At)
	case broker.RequireGrantUnrevoked:
		return t.requireGrantUnrevoked(op.ID)
	case broker.ReserveSerials:
		return t.ReserveSerials(op.After, op.Count)
	case broker.InsertChallenge:
		return t.InsertChallenge(op.Challenge)
	case broker.ConsumeChallenge:
		_, err := t.ConsumeChallenge(op.Nonce, op.At)
		return err
	case broker.InsertSession:
		return t.InsertSession(op.Session)
	case broker.DeleteExpired:
		return t.DeleteExpired(op.Now)
	case broker.InsertBundle:
		return t.InsertBundle(op.Bundle)
	case broker.RequireBundleHead:
		return t.requireBundleHead(op.Hash)
	case broker.SetDirectory:
		return t.SetDirectory(op.Source, op.Restriction, op.At)
	default:
		return fmt.Errorf("%w: sqlite: no such operation kind %q (%T): this store applies the operations of package broker only", broker.ErrInvalid, kind(op), op)
	}
}

func (t *Tx) requireRequestState(id string, want broker.State) error {
	var state string
	err := t.queryRow(`SELECT state FROM requests WHERE id = ?`, id).Scan(&state)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("%w: request %s", broker.ErrNotFound, id)
	case err != nil:
		return fmt.Errorf("sqlite: request %s state: %w", id, err)
	case broker.State(state) != want:
		return fmt.Errorf("%w: request %s is %s, not %s", broker.ErrConflict, id, state, want)
	}
	return nil
}

func (t *Tx) requireApprovals(id string, want int) error {
	var n int
	if err := t.queryRow(`SELECT count(*) FROM approvals WHERE request_id = ?`, id).Scan(&n); err != nil {
		return fmt.Errorf("sqlite: count approvals of %s: %w", id, err)
	}
	if n != want {
		return fmt.Errorf("%w: request %s has %d approvals and denials, not %d", broker.ErrConflict, id, n, want)
	}
	return nil
}

func (t *Tx) requireGrantUnrevoked(id string) error {
	var revoked *int64
	err := t.queryRow(`SELECT revoked FROM grants WHERE id = ?`, id).Scan(&revoked)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("%w: grant %s", broker.ErrNotFound, id)
	case err != nil:
		return fmt.Errorf("sqlite: grant %s: %w", id, err)
	case revoked != nil:
		return fmt.Errorf("%w: grant %s was revoked", broker.ErrConflict, id)
	}
	return nil
}

func (t *Tx) requireBundleHead(hash string) error {
	var head string
	err := t.queryRow(`SELECT hash FROM bundles ORDER BY serial DESC LIMIT 1`).Scan(&head)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("sqlite: bundle head: %w", err)
	}
	if head != hash {
		return fmt.Errorf("%w: the newest stored bundle is %q, not %q", broker.ErrConflict, head, hash)
	}
	return nil
}

// setKeyCounterIf stores op's counter if the stored one is still what the
// plan read.
func (t *Tx) setKeyCounterIf(op broker.SetKeyCounter) error {
	last, seen, err := t.KeyCounter(op.Fingerprint)
	if err != nil {
		return err
	}
	if seen != op.Seen || seen && last != op.Last {
		return fmt.Errorf("%w: key %s's counter changed since it was read", broker.ErrConflict, op.Fingerprint)
	}
	return t.SetKeyCounter(op.Fingerprint, op.Counter, op.At)
}

// ReserveSerials reserves the SSH certificate serials after+1 to
// after+count, provided after is still the last reserved (LastSerial);
// ErrConflict when it is not.
func (t *Tx) ReserveSerials(after, count uint64) error {
	if count == 0 || count > 1<<20 || after > 1<<62 {
		return fmt.Errorf("%w: sqlite: reserve %d serials after %d", broker.ErrInvalid, count, after)
	}
	ok, err := t.changed(`INSERT INTO serials (id, last) VALUES (1, ?)
		ON CONFLICT (id) DO UPDATE SET last = excluded.last WHERE last = ?`, int64(after+count), int64(after))
	if err != nil {
		return fmt.Errorf("sqlite: reserve serials: %w", err)
	}
	if !ok {
		return fmt.Errorf("%w: serials after %d were reserved by another writer", broker.ErrConflict, after)
	}
	return nil
}

// LastSerial is the highest SSH certificate serial reserved; zero when none
// was.
func (t *Tx) LastSerial() (uint64, error) {
	var n int64
	err := t.queryRow(`SELECT last FROM serials WHERE id = 1`).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("sqlite: last serial: %w", err)
	}
	return uint64(n), nil
}

// Challenge returns the challenge with this nonce and whether it was used;
// ErrNotFound when unknown.
func (t *Tx) Challenge(nonce string) (*broker.Challenge, bool, error) {
	var c broker.Challenge
	var na, used sql.NullInt64
	err := t.queryRow(`SELECT broker, principal, action, subject, nonce, not_after, used FROM challenges WHERE nonce = ?`, nonce).
		Scan(&c.Broker, &c.Principal, &c.Action, &c.Subject, &c.Nonce, &na, &used)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, fmt.Errorf("%w: challenge %s", broker.ErrNotFound, nonce)
	}
	if err != nil {
		return nil, false, fmt.Errorf("sqlite: challenge: %w", err)
	}
	c.NotAfter = fromNanos(na)
	return &c, used.Valid, nil
}
