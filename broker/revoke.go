package broker

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/failsmall/breakglass/audit"
)

// Cancel ends a pending request at its requester's signed word.
//
// Errors: those of OpenSession for the challenge and its signature;
// ErrNotFound for an unknown request; ErrForbidden when the signer is not
// the requester; ErrExpired, ErrDenied, ErrCancelled, ErrRevoked,
// ErrAlreadyIssued when the request is no longer pending.
func (s *Service) Cancel(ctx context.Context, challenge, sig []byte) (*Request, error) {
	c, err := s.verifyAnswer(challenge, sig, ActionCancel)
	if err != nil {
		return nil, err
	}
	var out *Request
	err = s.write(ctx, func(now time.Time) (*Change, error) {
		var op Op
		var r *Request
		if err := s.view(ctx, func(tx Tx) (err error) {
			if op, err = consume(tx, c, now); err != nil {
				return err
			}
			r, err = tx.Request(c.Subject)
			return err
		}); err != nil {
			return nil, err
		}
		if r.Requester != c.Principal {
			return nil, fmt.Errorf("%w: only the requester (%s) may cancel request %s", ErrForbidden, r.Requester, r.ID)
		}
		if err := stateError(r); err != nil {
			return nil, err
		}
		ch := new(Change).Add(op, SetRequestState{ID: r.ID, From: StatePending, To: StateCancelled, At: now})
		r.State, r.Updated, out = StateCancelled, now, r
		return ch.Record(Event{Type: EventRequestCancelled, Time: now, Actor: c.Principal, Subjects: []string{r.ID},
			Data: mustJSON(map[string]string{"challenge": string(challenge), "signature": string(sig)})}), nil
	})
	return out, err
}

// Revoke ends a grant early, at the signed word of its requester, one of its
// approvers, or a policy admin. A grant may be revoked until its expiry
// plus Config.MaxVerifySkew: a relying party whose clock is behind the
// broker's accepts its credentials until then, so the revocation list must
// be able to name it (its request's state goes from issued, or expired,
// to revoked).
//
// Errors: those of OpenSession for the challenge and its signature;
// ErrNotFound when the request has no grant; ErrForbidden when the signer
// may not revoke it; ErrRevoked when it already was; ErrGrantExpired when it
// lapsed more than MaxVerifySkew ago.
func (s *Service) Revoke(ctx context.Context, challenge, sig []byte) (*Grant, error) {
	c, err := s.verifyAnswer(challenge, sig, ActionRevoke)
	if err != nil {
		return nil, err
	}
	p, err := s.Policy()
	if err != nil {
		return nil, err
	}
	var out *Grant
	err = s.write(ctx, func(now time.Time) (*Change, error) {
		var op Op
		var g *Grant
		var r *Request
		if err := s.view(ctx, func(tx Tx) (err error) {
			if op, err = consume(tx, c, now); err != nil {
				return err
			}
			if g, err = tx.Grant(c.Subject); err != nil {
				return fmt.Errorf("request %s has no grant to revoke: %w", c.Subject, err)
			}
			r, err = tx.Request(c.Subject)
			return err
		}); err != nil {
			return nil, err
		}
		if c.Principal != g.Requester && !slices.Contains(g.Approvers, c.Principal) && !p.IsAdmin(c.Principal) {
			return nil, fmt.Errorf("%w: only the requester, an approver of the grant or a policy admin may revoke it", ErrForbidden)
		}
		if !g.Revoked.IsZero() {
			return nil, fmt.Errorf("%w: grant %s was revoked at %s by %s", ErrRevoked, g.ID, g.Revoked.Format(time.RFC3339), g.RevokedBy)
		}
		if end := g.Expires.Add(s.cfg.MaxVerifySkew); !now.Before(end) {
			return nil, fmt.Errorf("%w: grant %s expired at %s, and no relying party accepts it after %s (its expiry plus the %s skew they may allow), so there is nothing left to revoke",
				ErrGrantExpired, g.ID, g.Expires.Format(time.RFC3339), end.Format(time.RFC3339), s.cfg.MaxVerifySkew)
		}
		ch := new(Change).Add(op)
		revokeOps(ch, g, r.State, c.Principal, now)
		g.Revoked, g.RevokedBy, out = now, c.Principal, g
		return ch.Record(Event{Type: EventGrantRevoked, Time: now, Actor: c.Principal, Subjects: []string{g.RequestID, g.ID},
			Data: mustJSON(map[string]string{"grant": g.ID, "challenge": string(challenge), "signature": string(sig)})}), nil
	})
	return out, err
}

// revokeOps adds to ch the revocation of grant g by by, its request in
// state from (issued, or expired within MaxVerifySkew).
func revokeOps(ch *Change, g *Grant, from State, by string, now time.Time) {
	ch.Add(RevokeGrant{ID: g.ID, By: by, At: now},
		SetRequestState{ID: g.RequestID, From: from, To: StateRevoked, At: now})
}

// Credentials returns the grant of request id, with its token and, when the
// broker has Receipts, the audit receipt of its issuance, to the requester
// alone, and audits the fetch.
//
// The grant's rows are checked against its audit entries first (its issue
// time, expiry, revocation and request state), so an edited database
// cannot hand out a revoked or lapsed grant's credentials again.
//
// Errors: ErrNotFound for an unknown request; ErrForbidden when principal
// is not the requester; ErrCredentialsPending while the request is pending;
// ErrIntegrity when the grant's rows disagree with its audit entries;
// ErrExpired, ErrDenied, ErrCancelled for a request that ended without a
// grant; ErrRevoked, ErrGrantExpired for a grant that ended;
// ErrAuditUnavailable when the fetch could not be audited or the receipt
// could not be made.
func (s *Service) Credentials(ctx context.Context, principal, id string) (*Grant, error) {
	var out *Grant
	err := s.write(ctx, func(now time.Time) (*Change, error) {
		var r *Request
		var g *Grant
		err := s.view(ctx, func(tx Tx) (err error) {
			if r, err = tx.Request(id); err != nil {
				return err
			}
			if r.Requester != principal {
				return fmt.Errorf("%w: only the requester (%s) may fetch the credentials of request %s", ErrForbidden, r.Requester, id)
			}
			if g, err = tx.Grant(id); err != nil {
				if r.State == StatePending {
					return fmt.Errorf("%w: request %s is pending", ErrCredentialsPending, id)
				}
				return stateError(r)
			}
			return checkGrantLog(tx, r, g)
		})
		if err != nil {
			return nil, err
		}
		switch {
		case !g.Revoked.IsZero():
			return nil, fmt.Errorf("%w: grant %s was revoked at %s", ErrRevoked, g.ID, g.Revoked.Format(time.RFC3339))
		case !now.Before(g.Expires):
			return nil, fmt.Errorf("%w: grant %s expired at %s", ErrGrantExpired, g.ID, g.Expires.Format(time.RFC3339))
		}
		out = g
		ch := new(Change).Add(RequireGrantUnrevoked{ID: g.ID})
		return ch.Record(Event{Type: EventCredentialsFetched, Time: now, Actor: principal, Subjects: []string{id, g.ID},
			Data: mustJSON(map[string]string{"grant": g.ID, "kid": g.KeyID})}), nil
	})
	if err != nil {
		return nil, err
	}
	return s.withReceipt(ctx, out)
}

// checkGrantLog fails with ErrIntegrity unless the rows of grant g and its
// request r agree with the grant's audit entries, read through the store's
// subject index (see GrantLog).
func checkGrantLog(tx Tx, r *Request, g *Grant) error {
	idx, leaves, err := tx.AuditEntries(g.ID)
	if err != nil {
		return err
	}
	gl := &GrantLog{Index: -1}
	for i, leaf := range leaves {
		e, err := audit.ParseEntry(leaf)
		if err != nil {
			return fmt.Errorf("%w: audit entry %d about grant %s: %v", ErrIntegrity, idx[i], g.ID, err)
		}
		if len(e.Subjects) != 2 || e.Subjects[1] != g.ID {
			continue
		}
		if err := gl.NoteGrant(idx[i], e); err != nil {
			return fmt.Errorf("%w: %v", ErrIntegrity, err)
		}
	}
	if gl.Index < 0 {
		return fmt.Errorf("%w: grant %s has no grant.issued entry; run breakglass audit verify", ErrIntegrity, g.ID)
	}
	row := GrantRecord{ID: g.ID, RequestID: g.RequestID, Issued: g.Issued, Expires: g.Expires,
		Revoked: !g.Revoked.IsZero(), Delisted: false, State: r.State}
	row.Delisted = gl.Delisted // Grant does not carry its delisting; it decides no access
	if d := gl.Disagreement(row); d != "" {
		return fmt.Errorf("%w: grant %s: %s; refusing its credentials (run breakglass audit verify)", ErrIntegrity, g.ID, d)
	}
	return nil
}
