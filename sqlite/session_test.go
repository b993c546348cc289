package sqlite_test

import (
	"errors"
	"testing"
	"time"

	"github.com/failsmall/breakglass/broker"
	"github.com/failsmall/breakglass/sqlite"
)

func newChallenge(nonce string, notAfter time.Time) *broker.Challenge {
	return &broker.Challenge{Broker: "bg.example.net", Principal: "alice", Action: broker.ActionRevoke,
		Subject: "r1", Nonce: nonce, NotAfter: notAfter}
}

func TestChallenge(t *testing.T) {
	db := newDB(t)
	want := newChallenge("n1", t0.Add(time.Minute))
	mustUpdate(t, db, func(tx *sqlite.Tx) error { return tx.InsertChallenge(want) })
	mustUpdate(t, db, func(tx *sqlite.Tx) error {
		got, err := tx.ConsumeChallenge("n1", t0)
		checkEqual(t, "ConsumeChallenge", got, want)
		return err
	})
	for _, tc := range []struct {
		name string
		fn   func(*sqlite.Tx) error
		want error
	}{
		{"consume twice", func(tx *sqlite.Tx) error { _, err := tx.ConsumeChallenge("n1", t0); return err }, broker.ErrConflict},
		{"consume unknown", func(tx *sqlite.Tx) error { _, err := tx.ConsumeChallenge("n2", t0); return err }, broker.ErrNotFound},
		{"insert same nonce", func(tx *sqlite.Tx) error { return tx.InsertChallenge(newChallenge("n1", t0)) }, broker.ErrConflict},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := db.Update(t.Context(), tc.fn); !errors.Is(err, tc.want) {
				t.Errorf("got %v, want %v", err, tc.want)
			}
		})
	}
}

func TestSession(t *testing.T) {
	db := newDB(t)
	want := &broker.Session{TokenHash: "h1", Principal: "alice", Created: t0, Expires: t0.Add(15 * time.Minute)}
	mustUpdate(t, db, func(tx *sqlite.Tx) error { return tx.InsertSession(want) })
	mustView(t, db, func(tx *sqlite.Tx) error {
		got, err := tx.Session("h1")
		checkEqual(t, "Session", got, want)
		return err
	})
	err := db.View(t.Context(), func(tx broker.Tx) error { _, err := tx.Session("h2"); return err })
	if !errors.Is(err, broker.ErrNotFound) {
		t.Errorf("Session(unknown): got %v, want ErrNotFound", err)
	}
	err = db.Update(t.Context(), func(tx *sqlite.Tx) error { return tx.InsertSession(want) })
	if !errors.Is(err, broker.ErrConflict) {
		t.Errorf("InsertSession twice: got %v, want ErrConflict", err)
	}
}

func TestDeleteExpired(t *testing.T) {
	db := newDB(t)
	now := t0.Add(time.Hour)
	mustUpdate(t, db, func(tx *sqlite.Tx) error {
		for _, c := range []*broker.Challenge{newChallenge("old", now.Add(-time.Nanosecond)), newChallenge("edge", now), newChallenge("new", now.Add(time.Minute))} {
			if err := tx.InsertChallenge(c); err != nil {
				return err
			}
		}
		for _, s := range []*broker.Session{{TokenHash: "old", Principal: "a", Created: t0, Expires: now.Add(-time.Nanosecond)},
			{TokenHash: "edge", Principal: "a", Created: t0, Expires: now}} {
			if err := tx.InsertSession(s); err != nil {
				return err
			}
		}
		return tx.DeleteExpired(now)
	})
	mustUpdate(t, db, func(tx *sqlite.Tx) error {
		for nonce, want := range map[string]error{"old": broker.ErrNotFound, "edge": nil, "new": nil} {
			if _, err := tx.ConsumeChallenge(nonce, now); !errors.Is(err, want) {
				t.Errorf("ConsumeChallenge(%s) after DeleteExpired: got %v, want %v", nonce, err, want)
			}
		}
		for hash, want := range map[string]error{"old": broker.ErrNotFound, "edge": nil} {
			if _, err := tx.Session(hash); !errors.Is(err, want) {
				t.Errorf("Session(%s) after DeleteExpired: got %v, want %v", hash, err, want)
			}
		}
		return nil
	})
}
