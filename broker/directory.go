package broker

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
	"time"

	"github.com/failsmall/breakglass/policy"
)

// SetDirectory applies what a live directory source (SCIM) takes away:
// people it deactivated and group memberships it removed. It can never add
// anything (policy.Restrict). A change is stored, so it survives restarts
// while the directory is down, and audited; the live grants of newly
// deactivated people are revoked in the same transaction. It returns
// whether anything changed.
//
// Errors: ErrAuditUnavailable when the store could not commit.
func (s *Service) SetDirectory(ctx context.Context, source string, r policy.Restriction) (bool, error) {
	s.mu.Lock()
	old := s.directories[source]
	s.mu.Unlock()
	if sameRestriction(old, r) {
		return false, nil
	}
	enc, err := json.Marshal(r)
	if err != nil {
		return false, err
	}
	var newlyOff []string
	for id := range r.Disabled {
		if _, was := old.Disabled[id]; !was {
			newlyOff = append(newlyOff, id)
		}
	}
	slices.Sort(newlyOff)
	var back []string
	for id := range old.Disabled {
		if _, still := r.Disabled[id]; !still {
			back = append(back, id)
		}
	}
	slices.Sort(back)
	var revoked []string
	err = s.write(ctx, func(now time.Time) (*Change, error) {
		ch := new(Change).Add(SetDirectory{Source: source, Restriction: enc, At: now})
		var live []*Grant
		if err := s.view(ctx, func(tx Tx) (err error) {
			live, err = liveGrantsOf(tx, newlyOff, now)
			return err
		}); err != nil {
			return nil, err
		}
		revoked = revoked[:0]
		for _, g := range live {
			revokeOps(ch, g, StateIssued, "directory:"+source, now)
			ch.Record(Event{Type: EventGrantRevoked, Time: now, Actor: "directory:" + source, Subjects: []string{g.RequestID, g.ID},
				Data: mustJSON(map[string]string{"grant": g.ID, "reason": g.Requester + " was deactivated by the directory"})})
			revoked = append(revoked, g.ID)
		}
		return ch.Record(Event{Type: EventDirectoryChanged, Time: now, Actor: "directory:" + source, Subjects: newlyOff,
			Data: mustJSON(map[string]any{"source": source, "deactivated": r.Disabled, "removed_from": r.RemovedFrom,
				"newly_deactivated": newlyOff, "reactivated": back, "revoked_grants": revoked})}), nil
	})
	if err != nil {
		return false, err
	}
	s.mu.Lock()
	if s.directories == nil {
		s.directories = map[string]policy.Restriction{}
	}
	s.directories[source] = r
	cur := s.policy.Load()
	if cur.base != nil {
		st := *cur
		st.p = cur.base.Restrict(mergeRestrictions(s.directories))
		s.policy.Store(&st)
	}
	s.mu.Unlock()
	s.cfg.Logger.Info("directory changed", "source", source, "deactivated", newlyOff, "reactivated", back, "revoked_grants", revoked)
	return true, nil
}

// liveGrantsOf lists the live grants of the principals ids, in order.
func liveGrantsOf(tx Tx, ids []string, now time.Time) ([]*Grant, error) {
	var out []*Grant
	for _, id := range ids {
		rs, err := tx.Requests(RequestFilter{State: StateIssued, Requester: id})
		if err != nil {
			return nil, err
		}
		for _, r := range rs {
			g, err := tx.Grant(r.ID)
			if err != nil {
				return nil, err
			}
			if g.Active(now) {
				out = append(out, g)
			}
		}
	}
	return out, nil
}

func sameRestriction(a, b policy.Restriction) bool {
	if len(a.Disabled) != len(b.Disabled) || len(a.RemovedFrom) != len(b.RemovedFrom) {
		return false
	}
	if !maps.Equal(a.Disabled, b.Disabled) {
		return false
	}
	for k, v := range a.RemovedFrom {
		w, ok := b.RemovedFrom[k]
		if !ok || !slices.Equal(sorted(v), sorted(w)) {
			return false
		}
	}
	return true
}

func sorted(l []string) []string { l = slices.Clone(l); slices.Sort(l); return l }

// mergeRestrictions is the union of what every directory source takes away.
func mergeRestrictions(m map[string]policy.Restriction) policy.Restriction {
	out := policy.Restriction{Disabled: map[string]string{}, RemovedFrom: map[string][]string{}}
	for _, src := range slices.Sorted(maps.Keys(m)) {
		r := m[src]
		for id, why := range r.Disabled {
			if _, ok := out.Disabled[id]; !ok {
				out.Disabled[id] = why
			}
		}
		for id, gs := range r.RemovedFrom {
			for _, g := range gs {
				if !slices.Contains(out.RemovedFrom[id], g) {
					out.RemovedFrom[id] = append(out.RemovedFrom[id], g)
				}
			}
		}
	}
	return out
}
