package broker

import (
	"context"
	"slices"
	"time"
)

// sweepBatch bounds how many requests and grants one sweep expires.
const sweepBatch = 500

// Sweep expires pending requests past their lifetime and grants past their
// end, supersedes pending requests made under a bundle other than the
// active one (created while a new bundle was activated), delists revoked grants expired for longer than MaxVerifySkew from
// the revocation list, auditing each, and drops lapsed challenges and
// sessions. The server
// calls it periodically; it is safe to run from several processes at once.
//
// Errors: ErrAuditUnavailable when the store could not commit.
func (s *Service) Sweep(ctx context.Context) (expired int, err error) {
	err = s.write(ctx, func(now time.Time) (*Change, error) {
		var due []*Request
		var grants, delist []*Grant
		var pending []*Request
		active := s.policy.Load().bundle
		if err := s.view(ctx, func(tx Tx) (err error) {
			if active != nil {
				if pending, err = tx.Requests(RequestFilter{State: StatePending, Limit: sweepBatch}); err != nil {
					return err
				}
			}
			if due, err = tx.DueRequests(now, sweepBatch); err != nil {
				return err
			}
			if grants, err = tx.DueGrants(now, sweepBatch); err != nil {
				return err
			}
			delist, err = tx.DelistableGrants(now.Add(-s.cfg.MaxVerifySkew), sweepBatch)
			return err
		}); err != nil {
			return nil, err
		}
		ch := new(Change)
		dueIDs := map[string]bool{}
		for _, r := range due {
			s.expire(ch, r, now)
			dueIDs[r.ID] = true
		}
		if active != nil {
			supersedeOps(ch, slices.DeleteFunc(pending, func(r *Request) bool { return dueIDs[r.ID] }), active.Hash, now)
		}
		for _, g := range grants {
			ch.Add(SetRequestState{ID: g.RequestID, From: StateIssued, To: StateExpired, At: now})
			ch.Record(Event{Type: EventGrantExpired, Time: now, Actor: "broker", Subjects: []string{g.RequestID, g.ID},
				Data: mustJSON(map[string]any{"grant": g.ID, "expires": g.Expires})})
		}
		for _, g := range delist {
			ch.Add(DelistGrant{ID: g.ID, At: now})
			ch.Record(Event{Type: EventGrantDelisted, Time: now, Actor: "broker", Subjects: []string{g.RequestID, g.ID},
				Data: mustJSON(map[string]any{"grant": g.ID, "expires": g.Expires, "max_verify_skew": s.cfg.MaxVerifySkew.String()})})
		}
		expired = len(due) + len(grants)
		return ch.Add(DeleteExpired{Now: now}), nil
	})
	if err != nil {
		return 0, err
	}
	return expired, nil
}
