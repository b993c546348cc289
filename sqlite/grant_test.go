package sqlite_test

import (
	"errors"
	"testing"
	"time"

	"github.com/failsmall/breakglass/broker"
	"github.com/failsmall/breakglass/sqlite"
)

func TestGrantRoundTrip(t *testing.T) {
	db := newDB(t)
	insertRequests(t, db, newRequest("r1", t0))
	want := newGrant("g1", "r1", t0.Add(time.Minute))
	mustUpdate(t, db, func(tx *sqlite.Tx) error { return tx.InsertGrant(want) })
	mustView(t, db, func(tx *sqlite.Tx) error {
		got, err := tx.Grant("r1")
		checkEqual(t, "Grant", got, want)
		return err
	})
	at := t0.Add(10 * time.Minute)
	mustUpdate(t, db, func(tx *sqlite.Tx) error { return tx.RevokeGrant("g1", "carol", at) })
	want.Revoked, want.RevokedBy = at, "carol"
	mustView(t, db, func(tx *sqlite.Tx) error {
		got, err := tx.Grant("r1")
		checkEqual(t, "Grant after revoke", got, want)
		return err
	})
}

func TestGrantErrors(t *testing.T) {
	db := newDB(t)
	insertRequests(t, db, newRequest("r1", t0))
	mustUpdate(t, db, func(tx *sqlite.Tx) error { return tx.InsertGrant(newGrant("g1", "r1", t0)) })
	mustUpdate(t, db, func(tx *sqlite.Tx) error { return tx.RevokeGrant("g1", "carol", t0) })
	for _, tc := range []struct {
		name string
		fn   func(*sqlite.Tx) error
		want error
	}{
		{"second grant for request", func(tx *sqlite.Tx) error { return tx.InsertGrant(newGrant("g2", "r1", t0)) }, broker.ErrConflict},
		{"same grant twice", func(tx *sqlite.Tx) error { return tx.InsertGrant(newGrant("g1", "r1", t0)) }, broker.ErrConflict},
		{"unknown request", func(tx *sqlite.Tx) error { return tx.InsertGrant(newGrant("g3", "nope", t0)) }, broker.ErrNotFound},
		{"revoke twice", func(tx *sqlite.Tx) error { return tx.RevokeGrant("g1", "dave", t0) }, broker.ErrConflict},
		{"revoke unknown", func(tx *sqlite.Tx) error { return tx.RevokeGrant("nope", "dave", t0) }, broker.ErrNotFound},
		{"grant of unknown", func(tx *sqlite.Tx) error { _, err := tx.Grant("nope"); return err }, broker.ErrNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := db.Update(t.Context(), tc.fn); !errors.Is(err, tc.want) {
				t.Errorf("got %v, want %v", err, tc.want)
			}
		})
	}
}

func TestGrantNoApprovers(t *testing.T) {
	db := newDB(t)
	insertRequests(t, db, newRequest("r1", t0))
	want := newGrant("g1", "r1", t0)
	want.Approvers, want.Token, want.KeyID = nil, "", ""
	mustUpdate(t, db, func(tx *sqlite.Tx) error { return tx.InsertGrant(want) })
	mustView(t, db, func(tx *sqlite.Tx) error {
		got, err := tx.Grant("r1")
		checkEqual(t, "Grant", got, want)
		return err
	})
}

func TestDueGrants(t *testing.T) {
	db := newDB(t)
	var rs []*broker.Request
	for _, id := range []string{"due", "later", "revoked", "notissued", "soonest"} {
		r := newRequest(id, t0)
		r.State = broker.StateIssued
		rs = append(rs, r)
	}
	rs[3].State = broker.StateRevoked
	insertRequests(t, db, rs...)
	due := newGrant("g-due", "due", t0)                      // expires t0+30m
	later := newGrant("g-later", "later", t0.Add(time.Hour)) // not yet
	revoked := newGrant("g-revoked", "revoked", t0)          // revoked below
	notIssued := newGrant("g-notissued", "notissued", t0)    // request not issued
	soonest := newGrant("g-soonest", "soonest", t0.Add(-time.Minute))
	mustUpdate(t, db, func(tx *sqlite.Tx) error {
		for _, g := range []*broker.Grant{due, later, revoked, notIssued, soonest} {
			if err := tx.InsertGrant(g); err != nil {
				return err
			}
		}
		return tx.RevokeGrant("g-revoked", "carol", t0)
	})
	mustView(t, db, func(tx *sqlite.Tx) error {
		got, err := tx.DueGrants(t0.Add(30*time.Minute), 0)
		checkEqual(t, "DueGrants", got, []*broker.Grant{soonest, due})
		if err != nil {
			return err
		}
		got, err = tx.DueGrants(t0.Add(30*time.Minute), 1)
		checkEqual(t, "DueGrants limit 1", got, []*broker.Grant{soonest})
		return err
	})
}
