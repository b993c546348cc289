package sqlite

import (
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/mattn/go-sqlite3"

	"github.com/failsmall/breakglass/broker"
)

// InsertApproval stores an approval or denial; ErrDuplicate when the approver
// already signed that request with that kind, ErrNotFound when the request
// does not exist.
func (t *Tx) InsertApproval(a *broker.Approval) error {
	created, err := nanos("created", a.Created)
	if err != nil || created == nil {
		return fmt.Errorf("%w: sqlite: insert approval: created %v", broker.ErrInvalid, a.Created)
	}
	_, err = t.exec(`INSERT INTO approvals (request_id, approver, kind, statement, signature, key_fingerprint,
		key_type, user_present, user_verified, counter, counter_warning, created) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)`,
		a.RequestID, a.Approver, string(a.Kind), notNil(a.Statement), notNil(a.Signature), a.KeyFingerprint,
		a.KeyType, a.UserPresent, a.UserVerified, int64(a.Counter), a.CounterWarning, created)
	switch {
	case isUnique(err):
		return fmt.Errorf("%w: %s by %s on request %s", broker.ErrDuplicate, a.Kind, a.Approver, a.RequestID)
	case isConstraint(err, sqlite3.ErrConstraintForeignKey):
		return fmt.Errorf("%w: request %s", broker.ErrNotFound, a.RequestID)
	case err != nil:
		return fmt.Errorf("sqlite: insert %s by %s on request %s: %w", a.Kind, a.Approver, a.RequestID, err)
	}
	return nil
}

// Approvals lists a request's approvals and denials, oldest first (in
// insertion order when two share a time). An unknown request has none.
func (t *Tx) Approvals(requestID string) ([]*broker.Approval, error) {
	rows, err := t.query(`SELECT request_id, approver, kind, statement, signature, key_fingerprint, key_type,
		user_present, user_verified, counter, counter_warning, created
		FROM approvals WHERE request_id = ? ORDER BY created, seq`, requestID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: approvals of %s: %w", requestID, err)
	}
	defer rows.Close()
	var out []*broker.Approval
	for rows.Next() {
		var a broker.Approval
		var kind string
		var counter int64
		var created sql.NullInt64
		if err := rows.Scan(&a.RequestID, &a.Approver, &kind, &a.Statement, &a.Signature, &a.KeyFingerprint,
			&a.KeyType, &a.UserPresent, &a.UserVerified, &counter, &a.CounterWarning, &created); err != nil {
			return nil, fmt.Errorf("sqlite: approvals of %s: %w", requestID, err)
		}
		a.Kind, a.Counter, a.Created = broker.Kind(kind), uint32(counter), fromNanos(created)
		a.Statement, a.Signature = blob(a.Statement), blob(a.Signature)
		out = append(out, &a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: approvals of %s: %w", requestID, err)
	}
	return out, nil
}

// KeyCounter returns the FIDO counter last stored for a key fingerprint; ok
// is false when none was.
func (t *Tx) KeyCounter(fingerprint string) (uint32, bool, error) {
	var c int64
	err := t.queryRow(`SELECT counter FROM key_counters WHERE fingerprint = ?`, fingerprint).Scan(&c)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("sqlite: key counter %s: %w", fingerprint, err)
	}
	return uint32(c), true, nil
}

// SetKeyCounter stores counter as the key's last seen counter. It does not
// compare with the old value: that is the broker's rule.
func (t *Tx) SetKeyCounter(fingerprint string, counter uint32, at time.Time) error {
	v, err := nanos("at", at)
	if err != nil || v == nil {
		return fmt.Errorf("%w: sqlite: set key counter %s: time %v", broker.ErrInvalid, fingerprint, at)
	}
	_, err = t.exec(`INSERT INTO key_counters (fingerprint, counter, updated) VALUES (?, ?, ?)
		ON CONFLICT (fingerprint) DO UPDATE SET counter = excluded.counter, updated = excluded.updated`,
		fingerprint, int64(counter), v)
	if err != nil {
		return fmt.Errorf("sqlite: set key counter %s: %w", fingerprint, err)
	}
	return nil
}
