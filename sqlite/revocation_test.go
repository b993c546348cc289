package sqlite_test

import (
	"slices"
	"testing"
	"time"

	"github.com/failsmall/breakglass/broker"
	"github.com/failsmall/breakglass/sqlite"
)

func TestRevokedGrantsAndSequence(t *testing.T) {
	db := newDB(t)
	insertRequests(t, db, newRequest("r1", t0), newRequest("r2", t0), newRequest("r3", t0))
	// g1 and g2 expire at t0+30m, g3 at t0+40m.
	mustUpdate(t, db, func(tx *sqlite.Tx) error {
		for _, g := range []*broker.Grant{newGrant("g1", "r1", t0), newGrant("g2", "r2", t0), newGrant("g3", "r3", t0.Add(10*time.Minute))} {
			if err := tx.InsertGrant(g); err != nil {
				return err
			}
		}
		return nil
	})
	state := func(now time.Time) (ids []string, seq uint64) {
		t.Helper()
		mustView(t, db, func(tx *sqlite.Tx) error {
			var err error
			if ids, err = tx.RevokedGrants(now); err != nil {
				return err
			}
			seq, err = tx.RevocationSequence(now)
			return err
		})
		return ids, seq
	}
	steps := []struct {
		name   string
		revoke string // grant revoked before the step, if any
		now    time.Time
		ids    []string
		seq    uint64
	}{
		{"nothing revoked", "", t0.Add(time.Minute), nil, 0},
		{"one revoked", "g3", t0.Add(2 * time.Minute), []string{"g3"}, 1},
		{"two revoked, the sequence grows", "g1", t0.Add(3 * time.Minute), []string{"g1", "g3"}, 2},
		{"g1 expired at t0+30m: it drops out and the sequence grows", "", t0.Add(30 * time.Minute), []string{"g3"}, 3},
		{"g2, never revoked, expiring changes nothing", "", t0.Add(31 * time.Minute), []string{"g3"}, 3},
		{"all revoked grants expired", "", t0.Add(40 * time.Minute), nil, 4},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if st.revoke != "" {
				mustUpdate(t, db, func(tx *sqlite.Tx) error { return tx.RevokeGrant(st.revoke, "carol", st.now) })
			}
			ids, seq := state(st.now)
			if !slices.Equal(ids, st.ids) || seq != st.seq {
				t.Errorf("at %s: revoked %v, sequence %d; want %v, %d", st.now.Sub(t0), ids, seq, st.ids, st.seq)
			}
		})
	}
}
