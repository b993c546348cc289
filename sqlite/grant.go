package sqlite

import (
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/mattn/go-sqlite3"

	"github.com/failsmall/breakglass/broker"
)

const grantColumns = `g.id, g.request_id, g.requester, g.role, g.approvers, g.issued, g.expires,
	g.revoked, g.revoked_by, g.token, g.key_id, g.ssh_cert, g.ssh_serial`

// InsertGrant stores a grant; ErrConflict when the request already has one
// (or the grant id exists), ErrNotFound when the request does not exist.
func (t *Tx) InsertGrant(g *broker.Grant) error {
	approvers, err := encodeList(g.Approvers)
	if err != nil {
		return fmt.Errorf("sqlite: insert grant %s: %w", g.ID, err)
	}
	var te timeEnc
	args := []any{g.ID, g.RequestID, g.Requester, g.Role, approvers, te.at("issued", g.Issued),
		te.at("expires", g.Expires), te.at("revoked", g.Revoked), g.RevokedBy, g.Token, g.KeyID, g.SSHCert, sshSerial(g)}
	if te.err != nil {
		return fmt.Errorf("sqlite: insert grant %s: %w", g.ID, te.err)
	}
	if g.Issued.IsZero() || g.Expires.IsZero() {
		return fmt.Errorf("%w: sqlite: insert grant %s: issued and expires must be set", broker.ErrInvalid, g.ID)
	}
	_, err = t.exec(`INSERT INTO grants (id, request_id, requester, role, approvers, issued, expires,
		revoked, revoked_by, token, key_id, ssh_cert, ssh_serial) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)`, args...)
	switch {
	case isUnique(err):
		return fmt.Errorf("%w: request %s already has a grant", broker.ErrConflict, g.RequestID)
	case isConstraint(err, sqlite3.ErrConstraintForeignKey):
		return fmt.Errorf("%w: request %s", broker.ErrNotFound, g.RequestID)
	case err != nil:
		return fmt.Errorf("sqlite: insert grant %s: %w", g.ID, err)
	}
	return nil
}

// Grant returns the grant of request requestID; ErrNotFound when it has none.
func (t *Tx) Grant(requestID string) (*broker.Grant, error) {
	g, err := scanGrant(t.queryRow(`SELECT `+grantColumns+` FROM grants g WHERE g.request_id = ?`, requestID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: grant of request %s", broker.ErrNotFound, requestID)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: grant of request %s: %w", requestID, err)
	}
	return g, nil
}

// RevokeGrant marks grant id revoked by by at at; ErrNotFound when there is
// no such grant, ErrConflict when it is already revoked.
func (t *Tx) RevokeGrant(id, by string, at time.Time) error {
	v, err := nanos("at", at)
	if err != nil || v == nil {
		return fmt.Errorf("%w: sqlite: revoke grant %s: time %v", broker.ErrInvalid, id, at)
	}
	ok, err := t.changed(`UPDATE grants SET revoked = ?, revoked_by = ? WHERE id = ? AND revoked IS NULL`, v, by, id)
	if err != nil {
		return fmt.Errorf("sqlite: revoke grant %s: %w", id, err)
	}
	if !ok {
		return t.casError("grant", id, `SELECT 1 FROM grants WHERE id = ?`, "is already revoked")
	}
	return nil
}

// DueGrants lists unrevoked grants of issued requests whose Expires is at or
// before now, soonest first; limit zero or less means all.
func (t *Tx) DueGrants(now time.Time, n int) ([]*broker.Grant, error) {
	v, err := nanos("now", now)
	if err != nil {
		return nil, err
	}
	rows, err := t.query(`SELECT `+grantColumns+` FROM grants g JOIN requests r ON r.id = g.request_id
		WHERE g.revoked IS NULL AND r.state = 'issued' AND g.expires <= ?
		ORDER BY g.expires, g.id LIMIT ?`, v, limit(n))
	if err != nil {
		return nil, fmt.Errorf("sqlite: due grants: %w", err)
	}
	defer rows.Close()
	var out []*broker.Grant
	for rows.Next() {
		g, err := scanGrant(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: due grants: %w", err)
		}
		out = append(out, g)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: due grants: %w", err)
	}
	return out, nil
}

func scanGrant(s scanner) (*broker.Grant, error) {
	var g broker.Grant
	var approvers string
	var issued, expires, revoked, serial sql.NullInt64
	if err := s.Scan(&g.ID, &g.RequestID, &g.Requester, &g.Role, &approvers, &issued, &expires,
		&revoked, &g.RevokedBy, &g.Token, &g.KeyID, &g.SSHCert, &serial); err != nil {
		return nil, err
	}
	g.SSHSerial = uint64(serial.Int64)
	var err error
	if g.Approvers, err = decodeList(approvers); err != nil {
		return nil, err
	}
	g.Issued, g.Expires, g.Revoked = fromNanos(issued), fromNanos(expires), fromNanos(revoked)
	return &g, nil
}

// sshSerial is g's certificate serial for the ssh_serial column: NULL when
// the grant has no certificate.
func sshSerial(g *broker.Grant) any {
	if g.SSHSerial == 0 {
		return nil
	}
	return int64(g.SSHSerial)
}

// RevokedSSHSerials lists the serials of the certificates of revoked
// grants, ascending.
func (t *Tx) RevokedSSHSerials() ([]uint64, error) {
	rows, err := t.query(`SELECT ssh_serial FROM grants
		WHERE revoked IS NOT NULL AND ssh_serial IS NOT NULL ORDER BY ssh_serial`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: revoked ssh serials: %w", err)
	}
	defer rows.Close()
	var out []uint64
	for rows.Next() {
		var n int64
		if err := rows.Scan(&n); err != nil {
			return nil, fmt.Errorf("sqlite: revoked ssh serials: %w", err)
		}
		out = append(out, uint64(n))
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: revoked ssh serials: %w", err)
	}
	return out, nil
}

// RevokedGrants lists the ids of revoked grants not delisted, ascending.
func (t *Tx) RevokedGrants() ([]string, error) {
	rows, err := t.query(`SELECT id FROM grants WHERE revoked IS NOT NULL AND delisted IS NULL ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: revoked grants: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("sqlite: revoked grants: %w", err)
		}
		out = append(out, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: revoked grants: %w", err)
	}
	return out, nil
}

// RevocationSequence counts the revoked grants plus the delisted ones.
// Grants are never deleted, un-revoked or re-listed, so it only grows,
// whatever the clock does.
func (t *Tx) RevocationSequence() (uint64, error) {
	var n int64
	err := t.queryRow(`SELECT COUNT(*) + COUNT(delisted) FROM grants WHERE revoked IS NOT NULL`).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("sqlite: revocation sequence: %w", err)
	}
	return uint64(n), nil
}

// DelistableGrants lists revoked grants not delisted whose Expires is at or
// before before, soonest first; limit zero or less means all.
func (t *Tx) DelistableGrants(before time.Time, n int) ([]*broker.Grant, error) {
	v, err := nanos("before", before)
	if err != nil {
		return nil, err
	}
	rows, err := t.query(`SELECT `+grantColumns+` FROM grants g
		WHERE g.revoked IS NOT NULL AND g.delisted IS NULL AND g.expires <= ?
		ORDER BY g.expires, g.id LIMIT ?`, v, limit(n))
	if err != nil {
		return nil, fmt.Errorf("sqlite: delistable grants: %w", err)
	}
	defer rows.Close()
	var out []*broker.Grant
	for rows.Next() {
		g, err := scanGrant(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: delistable grants: %w", err)
		}
		out = append(out, g)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: delistable grants: %w", err)
	}
	return out, nil
}

// DelistGrant takes revoked grant id off the revocation list at at;
// ErrNotFound when there is no such grant, ErrConflict when it is not
// revoked or already delisted.
func (t *Tx) DelistGrant(id string, at time.Time) error {
	v, err := nanos("at", at)
	if err != nil || v == nil {
		return fmt.Errorf("%w: sqlite: delist grant %s: time %v", broker.ErrInvalid, id, at)
	}
	ok, err := t.changed(`UPDATE grants SET delisted = ? WHERE id = ? AND revoked IS NOT NULL AND delisted IS NULL`, v, id)
	if err != nil {
		return fmt.Errorf("sqlite: delist grant %s: %w", id, err)
	}
	if !ok {
		return t.casError("grant", id, `SELECT 1 FROM grants WHERE id = ?`, "is not revoked or is already delisted")
	}
	return nil
}

// AuditEntries returns the audit entries about subject, oldest first, with
// their indexes, found through the subject index.
func (t *Tx) AuditEntries(subject string) ([]int64, [][]byte, error) {
	rows, err := t.query(`SELECT e.idx, e.leaf FROM audit_subjects s JOIN audit_entries e ON e.idx = s.idx
		WHERE s.subject = ? ORDER BY e.idx`, subject)
	if err != nil {
		return nil, nil, fmt.Errorf("sqlite: audit entries about %s: %w", subject, err)
	}
	defer rows.Close()
	var idx []int64
	var leaves [][]byte
	for rows.Next() {
		var i int64
		var leaf []byte
		if err := rows.Scan(&i, &leaf); err != nil {
			return nil, nil, fmt.Errorf("sqlite: audit entries about %s: %w", subject, err)
		}
		idx, leaves = append(idx, i), append(leaves, leaf)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("sqlite: audit entries about %s: %w", subject, err)
	}
	return idx, leaves, nil
}
