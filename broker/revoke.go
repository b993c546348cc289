package broker

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// Cancel ends a pending request at its requester's signed word.
func (s *Service) Cancel(ctx context.Context, challenge, sig []byte) (*Request, error) {
	var out *Request
	err := s.update(ctx, func(tx Tx, now time.Time) error {
		c, _, err := s.answer(tx, challenge, sig, ActionCancel, now)
		if err != nil {
			return err
		}
		r, err := tx.Request(c.Subject)
		if err != nil {
			return err
		}
		if r.Requester != c.Principal {
			return fmt.Errorf("%w: only the requester (%s) may cancel request %s", ErrForbidden, r.Requester, r.ID)
		}
		if err := stateError(r); err != nil {
			return err
		}
		if err := tx.SetRequestState(r.ID, StatePending, StateCancelled, now); err != nil {
			return err
		}
		r.State, r.Updated, out = StateCancelled, now, r
		_, err = tx.Append(Event{Type: EventRequestCancelled, Time: now, Actor: c.Principal, Subjects: []string{r.ID},
			Data: mustJSON(map[string]string{"challenge": string(challenge), "signature": string(sig)})})
		return err
	})
	return out, err
}

// Revoke ends a grant early, at the signed word of its requester, one of its
// approvers, or a policy admin.
func (s *Service) Revoke(ctx context.Context, challenge, sig []byte) (*Grant, error) {
	p, err := s.Policy()
	if err != nil {
		return nil, err
	}
	var out *Grant
	err = s.update(ctx, func(tx Tx, now time.Time) error {
		c, _, err := s.answer(tx, challenge, sig, ActionRevoke, now)
		if err != nil {
			return err
		}
		g, err := tx.Grant(c.Subject)
		if err != nil {
			return fmt.Errorf("request %s has no grant to revoke: %w", c.Subject, err)
		}
		if c.Principal != g.Requester && !slices.Contains(g.Approvers, c.Principal) && !p.IsAdmin(c.Principal) {
			return fmt.Errorf("%w: only the requester, an approver of the grant or a policy admin may revoke it", ErrForbidden)
		}
		if !g.Revoked.IsZero() {
			return fmt.Errorf("%w: grant %s was revoked at %s by %s", ErrRevoked, g.ID, g.Revoked.Format(time.RFC3339), g.RevokedBy)
		}
		if !now.Before(g.Expires) {
			return fmt.Errorf("%w: grant %s expired at %s", ErrGrantExpired, g.ID, g.Expires.Format(time.RFC3339))
		}
		if err := tx.RevokeGrant(g.ID, c.Principal, now); err != nil {
			return err
		}
		if err := tx.SetRequestState(g.RequestID, StateIssued, StateRevoked, now); err != nil {
			return err
		}
		g.Revoked, g.RevokedBy, out = now, c.Principal, g
		_, err = tx.Append(Event{Type: EventGrantRevoked, Time: now, Actor: c.Principal, Subjects: []string{g.RequestID, g.ID},
			Data: mustJSON(map[string]string{"grant": g.ID, "challenge": string(challenge), "signature": string(sig)})})
		return err
	})
	return out, err
}

// Credentials returns the grant of request id, with its token and, when the
// broker has Receipts, the audit receipt of its issuance, to the requester
// alone, and audits the fetch. A receipt that cannot be made is
// ErrAuditUnavailable.
func (s *Service) Credentials(ctx context.Context, principal, id string) (*Grant, error) {
	var out *Grant
	err := s.update(ctx, func(tx Tx, now time.Time) error {
		r, err := tx.Request(id)
		if err != nil {
			return err
		}
		if r.Requester != principal {
			return fmt.Errorf("%w: only the requester (%s) may fetch the credentials of request %s", ErrForbidden, r.Requester, id)
		}
		g, err := tx.Grant(id)
		if err != nil {
			if r.State == StatePending {
				return fmt.Errorf("%w: request %s is pending", ErrCredentialsPending, id)
			}
			return stateError(r)
		}
		switch {
		case !g.Revoked.IsZero():
			return fmt.Errorf("%w: grant %s was revoked at %s", ErrRevoked, g.ID, g.Revoked.Format(time.RFC3339))
		case !now.Before(g.Expires):
			return fmt.Errorf("%w: grant %s expired at %s", ErrGrantExpired, g.ID, g.Expires.Format(time.RFC3339))
		}
		out = g
		_, err = tx.Append(Event{Type: EventCredentialsFetched, Time: now, Actor: principal, Subjects: []string{id, g.ID},
			Data: mustJSON(map[string]string{"grant": g.ID, "kid": g.KeyID})})
		return err
	})
	if err != nil {
		return nil, err
	}
	return s.withReceipt(ctx, out)
}
