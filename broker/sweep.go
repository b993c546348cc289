package broker

import (
	"context"
	"time"
)

// Sweep expires pending requests past their lifetime and grants past their
// end, auditing each, and drops lapsed challenges and sessions. The server
// calls it periodically; it is safe to run from several processes at once.
func (s *Service) Sweep(ctx context.Context) (expired int, err error) {
	err = s.update(ctx, func(tx Tx, now time.Time) error {
		due, err := tx.DueRequests(now, 500)
		if err != nil {
			return err
		}
		for _, r := range due {
			if err := s.expire(tx, r, now); err != nil {
				return err
			}
			expired++
		}
		grants, err := tx.DueGrants(now, 500)
		if err != nil {
			return err
		}
		for _, g := range grants {
			if err := tx.SetRequestState(g.RequestID, StateIssued, StateExpired, now); err != nil {
				return err
			}
			if _, err := tx.Append(Event{Type: EventGrantExpired, Time: now, Actor: "broker", Subjects: []string{g.RequestID, g.ID},
				Data: mustJSON(map[string]any{"grant": g.ID, "expires": g.Expires})}); err != nil {
				return err
			}
			expired++
		}
		return tx.DeleteExpired(now)
	})
	return expired, err
}
