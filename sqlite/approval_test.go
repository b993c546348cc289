package sqlite_test

import (
	"errors"
	"testing"
	"time"

	"github.com/failsmall/breakglass/broker"
	"github.com/failsmall/breakglass/sqlite"
)

func TestApprovalsRoundTrip(t *testing.T) {
	db := newDB(t)
	insertRequests(t, db, newRequest("r1", t0), newRequest("r2", t0))
	// carol's approval shares bob's time: insertion order breaks the tie.
	bob := newApproval("r1", "bob", broker.KindApproval, t0.Add(2*time.Second))
	carol := newApproval("r1", "carol", broker.KindApproval, t0.Add(2*time.Second))
	dave := newApproval("r1", "dave", broker.KindDenial, t0.Add(time.Second))
	dave.UserPresent, dave.UserVerified, dave.CounterWarning, dave.Counter = false, false, false, 0
	bobDenial := newApproval("r1", "bob", broker.KindDenial, t0.Add(3*time.Second))
	other := newApproval("r2", "bob", broker.KindApproval, t0)
	mustUpdate(t, db, func(tx *sqlite.Tx) error {
		for _, a := range []*broker.Approval{bob, carol, dave, bobDenial, other} {
			if err := tx.InsertApproval(a); err != nil {
				return err
			}
		}
		return nil
	})
	mustView(t, db, func(tx *sqlite.Tx) error {
		got, err := tx.Approvals("r1")
		checkEqual(t, "Approvals(r1)", got, []*broker.Approval{dave, bob, carol, bobDenial})
		if err != nil {
			return err
		}
		got, err = tx.Approvals("unknown")
		checkEqual(t, "Approvals(unknown)", got, nil)
		return err
	})
}

func TestInsertApprovalErrors(t *testing.T) {
	db := newDB(t)
	insertRequests(t, db, newRequest("r1", t0))
	mustUpdate(t, db, func(tx *sqlite.Tx) error {
		return tx.InsertApproval(newApproval("r1", "bob", broker.KindApproval, t0))
	})
	for _, tc := range []struct {
		name string
		a    *broker.Approval
		want error
	}{
		{"duplicate", newApproval("r1", "bob", broker.KindApproval, t0.Add(time.Minute)), broker.ErrDuplicate},
		{"unknown request", newApproval("nope", "bob", broker.KindApproval, t0), broker.ErrNotFound},
		{"zero time", newApproval("r1", "carol", broker.KindApproval, time.Time{}), broker.ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := db.Update(t.Context(), func(tx *sqlite.Tx) error { return tx.InsertApproval(tc.a) })
			if !errors.Is(err, tc.want) {
				t.Errorf("InsertApproval: got %v, want %v", err, tc.want)
			}
		})
	}
}

func TestKeyCounter(t *testing.T) {
	db := newDB(t)
	mustUpdate(t, db, func(tx *sqlite.Tx) error {
		if c, ok, err := tx.KeyCounter("SHA256:k"); err != nil || ok || c != 0 {
			t.Errorf("KeyCounter before any: got %d, %v, %v; want 0, false, nil", c, ok, err)
		}
		for _, c := range []uint32{7, 4294967295, 3} {
			if err := tx.SetKeyCounter("SHA256:k", c, t0); err != nil {
				return err
			}
			got, ok, err := tx.KeyCounter("SHA256:k")
			if err != nil || !ok || got != c {
				t.Errorf("KeyCounter after Set(%d): got %d, %v, %v", c, got, ok, err)
			}
		}
		return nil
	})
	mustView(t, db, func(tx *sqlite.Tx) error {
		got, ok, err := tx.KeyCounter("SHA256:k")
		if !ok || got != 3 {
			t.Errorf("KeyCounter after commit: got %d, %v; want 3, true", got, ok)
		}
		return err
	})
}
