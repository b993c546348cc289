package sqlite_test

import (
	"errors"
	"path/filepath"
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
	type state struct {
		ids       []string
		seq       uint64
		delisting []string // DelistableGrants(t0+35m)
	}
	read := func() (st state) {
		t.Helper()
		mustView(t, db, func(tx *sqlite.Tx) error {
			var err error
			if st.ids, err = tx.RevokedGrants(); err != nil {
				return err
			}
			if st.seq, err = tx.RevocationSequence(); err != nil {
				return err
			}
			gs, err := tx.DelistableGrants(t0.Add(35*time.Minute), 0)
			for _, g := range gs {
				st.delisting = append(st.delisting, g.ID)
			}
			return err
		})
		return st
	}
	steps := []struct {
		name   string
		change func(tx *sqlite.Tx) error
		want   state
	}{
		{"nothing revoked", nil, state{nil, 0, nil}},
		{"one revoked", func(tx *sqlite.Tx) error { return tx.RevokeGrant("g3", "carol", t0.Add(2*time.Minute)) },
			state{[]string{"g3"}, 1, nil}},
		{"two revoked, the sequence grows", func(tx *sqlite.Tx) error { return tx.RevokeGrant("g1", "carol", t0.Add(3*time.Minute)) },
			state{[]string{"g1", "g3"}, 2, []string{"g1"}}},
		{"g1 delisted: it drops out and the sequence grows", func(tx *sqlite.Tx) error { return tx.DelistGrant("g1", t0.Add(36*time.Minute)) },
			state{[]string{"g3"}, 3, nil}},
		{"all revoked grants delisted", func(tx *sqlite.Tx) error { return tx.DelistGrant("g3", t0.Add(46*time.Minute)) },
			state{nil, 4, nil}},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if st.change != nil {
				mustUpdate(t, db, st.change)
			}
			if got := read(); !slices.Equal(got.ids, st.want.ids) || got.seq != st.want.seq || !slices.Equal(got.delisting, st.want.delisting) {
				t.Errorf("revoked %v, sequence %d, delistable %v; want %v, %d, %v",
					got.ids, got.seq, got.delisting, st.want.ids, st.want.seq, st.want.delisting)
			}
		})
	}
	// Delisting is for revoked grants, once.
	for id, want := range map[string]error{"g2": broker.ErrConflict, "g3": broker.ErrConflict, "nope": broker.ErrNotFound} {
		err := db.Update(t.Context(), func(tx *sqlite.Tx) error { return tx.DelistGrant(id, t0.Add(time.Hour)) })
		if !errors.Is(err, want) {
			t.Errorf("delist %s: err = %v, want %v", id, err, want)
		}
	}
}

// undoSuperseded takes a database back to before migration 0007, and
// undoDelisted to before 0006 (migrations apply in order, so it undoes 0007
// first).
var (
	undoSuperseded = []string{`ALTER TABLE requests DROP COLUMN superseded_by`, `PRAGMA writable_schema = ON`,
		`UPDATE sqlite_schema SET sql = replace(sql, ', ''superseded'')', ')') WHERE type = 'table' AND name = 'requests'`,
		`PRAGMA writable_schema = RESET`, `DELETE FROM schema_migrations WHERE version = 7`}
	undoDelisted = append(slices.Clone(undoSuperseded), `DROP INDEX grants_listed_expires`, `ALTER TABLE grants DROP COLUMN delisted`,
		`DELETE FROM schema_migrations WHERE version = 6`)
)

// TestDelistedMigration: a store written before migration 0006 (here: its
// column and record removed) keeps its revocation sequence across the
// upgrade, since revoked grants already expired count as delisted.
func TestDelistedMigration(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bg.db")
	db := mustOpen(t, path)
	old, live := time.Now().Add(-2*time.Hour), time.Now().Add(time.Hour)
	insertRequests(t, db, newRequest("r1", old), newRequest("r2", live), newRequest("r3", live))
	mustUpdate(t, db, func(tx *sqlite.Tx) error {
		for _, g := range []*broker.Grant{newGrant("g1", "r1", old), newGrant("g2", "r2", live), newGrant("g3", "r3", live)} {
			if err := tx.InsertGrant(g); err != nil {
				return err
			}
			if g.ID != "g3" {
				if err := tx.RevokeGrant(g.ID, "carol", g.Issued.Add(time.Minute)); err != nil {
					return err
				}
			}
		}
		return nil
	})
	db.Close()
	rawExecAll(t, path, undoDelisted...)
	db = mustOpen(t, path)
	mustView(t, db, func(tx *sqlite.Tx) error {
		ids, err := tx.RevokedGrants()
		if err != nil {
			return err
		}
		seq, err := tx.RevocationSequence()
		if err != nil {
			return err
		}
		// The sequence before: 2 revoked, plus 1 of them expired.
		if !slices.Equal(ids, []string{"g2"}) || seq != 3 {
			t.Errorf("after the migration: revoked %v, sequence %d; want [g2], 3", ids, seq)
		}
		return nil
	})
}
