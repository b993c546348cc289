package broker

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// NewChallenge issues a single-use challenge for principal to sign, for
// action (ActionSession, ActionCancel, ActionRevoke) on subject.
//
// Errors: ErrNoPolicy; ErrUnknownPrincipal; ErrInvalid for an unknown action
// or a subject that does not fit it; ErrAuditUnavailable when the store
// could not commit.
func (s *Service) NewChallenge(ctx context.Context, principal, action, subject string) ([]byte, error) {
	p, err := s.Policy()
	if err != nil {
		return nil, err
	}
	if _, ok := p.Principal(principal); !ok {
		return nil, fmt.Errorf("%w: %q is not in policy %s", ErrUnknownPrincipal, principal, p.Hash())
	}
	switch action {
	case ActionSession:
		if subject != "" {
			return nil, fmt.Errorf("%w: a session challenge has no subject", ErrInvalid)
		}
	case ActionCancel, ActionRevoke:
		if !ValidID(subject) {
			return nil, fmt.Errorf("%w: %s needs a request id as subject, got %q", ErrInvalid, action, subject)
		}
	default:
		return nil, fmt.Errorf("%w: unknown action %q (want session, cancel or revoke)", ErrInvalid, action)
	}
	now := s.cfg.Clock.Now()
	c := &Challenge{Broker: s.cfg.Name, Principal: principal, Action: action, Subject: subject,
		Nonce: randomToken(18), NotAfter: now.Add(s.cfg.ChallengeTTL).Truncate(time.Second)}
	text, err := c.Encode()
	if err != nil {
		return nil, err
	}
	err = s.write(ctx, func(time.Time) (*Change, error) {
		return new(Change).Add(DeleteExpired{Now: now}, InsertChallenge{Challenge: c}), nil
	})
	return text, err
}

// verifyAnswer checks, before any snapshot is read, that sig is the
// challenge's principal signing text, a challenge for action at this broker.
func (s *Service) verifyAnswer(text, sig []byte, action string) (*Challenge, error) {
	p, err := s.Policy()
	if err != nil {
		return nil, err
	}
	c, err := ParseChallenge(text)
	if err != nil {
		return nil, err
	}
	if c.Action != action || c.Broker != s.cfg.Name {
		return nil, fmt.Errorf("%w: challenge is for %s on %q, not %s here", ErrChallenge, c.Action, c.Broker, action)
	}
	who, err := verifySignature(p, sig, text)
	if err != nil {
		return nil, err
	}
	if who.principal.ID != c.Principal {
		return nil, fmt.Errorf("%w: challenge for %s signed by %s's key", ErrForbidden, c.Principal, who.principal.ID)
	}
	return &c, nil
}

// consume checks in a snapshot that challenge c was issued here, unused and
// unchanged, and still open at now, and returns the operation that uses it
// up, which fails the change if another answer used it first.
func consume(tx Tx, c *Challenge, now time.Time) (Op, error) {
	stored, used, err := tx.Challenge(c.Nonce)
	switch {
	case errors.Is(err, ErrNotFound):
		return nil, fmt.Errorf("%w: unknown challenge; ask for a new one", ErrChallenge)
	case err != nil:
		return nil, err
	case used:
		return nil, fmt.Errorf("%w: challenge already used; ask for a new one", ErrChallenge)
	}
	if stored.Principal != c.Principal || stored.Action != c.Action || stored.Subject != c.Subject ||
		stored.Broker != c.Broker || !stored.NotAfter.Equal(c.NotAfter) {
		return nil, fmt.Errorf("%w: challenge text differs from the one issued", ErrChallenge)
	}
	if !now.Before(c.NotAfter) {
		return nil, fmt.Errorf("%w: challenge lapsed at %s; ask for a new one", ErrChallenge, c.NotAfter.Format(time.RFC3339))
	}
	return ConsumeChallenge{Nonce: c.Nonce, At: now}, nil
}

// OpenSession exchanges a signed session challenge for a bearer token for
// reads, valid for SessionTTL.
//
// Errors: ErrNoPolicy; ErrInvalid, ErrChallenge for a malformed, unknown,
// used, lapsed or foreign challenge; ErrBadSignature, ErrStatementMismatch,
// ErrUnknownPrincipal, ErrForbidden for a signature that does not verify or
// is not the challenge's principal's; ErrAuditUnavailable.
func (s *Service) OpenSession(ctx context.Context, text, sig []byte) (token string, sess *Session, err error) {
	c, err := s.verifyAnswer(text, sig, ActionSession)
	if err != nil {
		return "", nil, err
	}
	token = randomToken(32)
	err = s.write(ctx, func(now time.Time) (*Change, error) {
		var op Op
		if err := s.view(ctx, func(tx Tx) (err error) { op, err = consume(tx, c, now); return err }); err != nil {
			return nil, err
		}
		sess = &Session{TokenHash: hashToken(token), Principal: c.Principal, Created: now, Expires: now.Add(s.cfg.SessionTTL)}
		return new(Change).Add(op, InsertSession{Session: sess}), nil
	})
	if err != nil {
		return "", nil, err
	}
	return token, sess, nil
}

// Authenticate returns the principal of a session token, who must still be
// in the active policy and not deactivated: a session ends with its
// principal's place in the policy and directory.
//
// Errors: ErrUnauthenticated for a missing, unknown or expired session, or
// one whose principal was removed or deactivated; ErrNoPolicy.
func (s *Service) Authenticate(ctx context.Context, token string) (string, error) {
	if token == "" {
		return "", fmt.Errorf("%w: no session: sign a challenge at /v1/sessions first", ErrUnauthenticated)
	}
	var sess *Session
	err := s.view(ctx, func(tx Tx) error {
		var err error
		sess, err = tx.Session(hashToken(token))
		return err
	})
	if errors.Is(err, ErrNotFound) {
		return "", fmt.Errorf("%w: unknown session; open a new one", ErrUnauthenticated)
	}
	if err != nil {
		return "", err
	}
	if !s.cfg.Clock.Now().Before(sess.Expires) {
		return "", fmt.Errorf("%w: session expired at %s; open a new one", ErrUnauthenticated, sess.Expires.Format(time.RFC3339))
	}
	p, err := s.Policy()
	if err != nil {
		return "", err
	}
	if err := activePrincipal(p, sess.Principal); err != nil {
		return "", fmt.Errorf("session of %s ended: %w", sess.Principal, err)
	}
	return sess.Principal, nil
}

func randomToken(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func hashToken(t string) string {
	sum := sha256.Sum256([]byte(t))
	return hex.EncodeToString(sum[:])
}
