package sqlite

import (
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/failsmall/breakglass/broker"
)

// InsertChallenge stores a single-use challenge; ErrConflict when its nonce
// exists.
func (t *Tx) InsertChallenge(c *broker.Challenge) error {
	na, err := nanos("not-after", c.NotAfter)
	if err != nil || na == nil {
		return fmt.Errorf("%w: sqlite: insert challenge: not-after %v", broker.ErrInvalid, c.NotAfter)
	}
	_, err = t.exec(`INSERT INTO challenges (nonce, broker, principal, action, subject, not_after)
		VALUES (?,?,?,?,?,?)`, c.Nonce, c.Broker, c.Principal, c.Action, c.Subject, na)
	if isUnique(err) {
		return fmt.Errorf("%w: challenge nonce %s exists", broker.ErrConflict, c.Nonce)
	}
	if err != nil {
		return fmt.Errorf("sqlite: insert challenge: %w", err)
	}
	return nil
}

// ConsumeChallenge marks the challenge with this nonce used at at and
// returns it; ErrNotFound when unknown, ErrConflict when already used. It
// does not check NotAfter: that is the broker's rule.
func (t *Tx) ConsumeChallenge(nonce string, at time.Time) (*broker.Challenge, error) {
	if !t.writable {
		return nil, errReadOnly
	}
	v, err := nanos("at", at)
	if err != nil || v == nil {
		return nil, fmt.Errorf("%w: sqlite: consume challenge: time %v", broker.ErrInvalid, at)
	}
	var c broker.Challenge
	var na sql.NullInt64
	err = t.queryRow(`UPDATE challenges SET used = ? WHERE nonce = ? AND used IS NULL
		RETURNING broker, principal, action, subject, nonce, not_after`, v, nonce).
		Scan(&c.Broker, &c.Principal, &c.Action, &c.Subject, &c.Nonce, &na)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, t.casError("challenge", nonce, `SELECT 1 FROM challenges WHERE nonce = ?`, "was already used")
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: consume challenge: %w", err)
	}
	c.NotAfter = fromNanos(na)
	return &c, nil
}

// InsertSession stores a session under the SHA-256 of its token;
// ErrConflict when that hash exists.
func (t *Tx) InsertSession(s *broker.Session) error {
	var te timeEnc
	args := []any{s.TokenHash, s.Principal, te.at("created", s.Created), te.at("expires", s.Expires)}
	if te.err != nil || s.Created.IsZero() || s.Expires.IsZero() {
		return fmt.Errorf("%w: sqlite: insert session: created %v, expires %v", broker.ErrInvalid, s.Created, s.Expires)
	}
	_, err := t.exec(`INSERT INTO sessions (token_hash, principal, created, expires) VALUES (?,?,?,?)`, args...)
	if isUnique(err) {
		return fmt.Errorf("%w: session exists", broker.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("sqlite: insert session: %w", err)
	}
	return nil
}

// Session returns the session with this token hash; ErrNotFound when
// unknown. It does not check Expires: that is the broker's rule.
func (t *Tx) Session(tokenHash string) (*broker.Session, error) {
	var s broker.Session
	var created, expires sql.NullInt64
	err := t.queryRow(`SELECT token_hash, principal, created, expires FROM sessions WHERE token_hash = ?`, tokenHash).
		Scan(&s.TokenHash, &s.Principal, &created, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: session", broker.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: session: %w", err)
	}
	s.Created, s.Expires = fromNanos(created), fromNanos(expires)
	return &s, nil
}

// DeleteExpired drops challenges and sessions that lapsed before now.
func (t *Tx) DeleteExpired(now time.Time) error {
	v, err := nanos("now", now)
	if err != nil || v == nil {
		return fmt.Errorf("%w: sqlite: delete expired: time %v", broker.ErrInvalid, now)
	}
	if _, err := t.exec(`DELETE FROM challenges WHERE not_after < ?`, v); err != nil {
		return fmt.Errorf("sqlite: delete expired challenges: %w", err)
	}
	if _, err := t.exec(`DELETE FROM sessions WHERE expires < ?`, v); err != nil {
		return fmt.Errorf("sqlite: delete expired sessions: %w", err)
	}
	return nil
}
