package sqlite_test

import (
	"errors"
	"testing"

	"github.com/failsmall/breakglass/broker"
	"github.com/failsmall/breakglass/sqlite"
)

// TestReserveSerials reserves blocks of SSH certificate serials: each
// reservation names the last serial it read, so a second planner that read
// the same one conflicts, and the reservation survives a reopen.
func TestReserveSerials(t *testing.T) {
	db := newDB(t)
	last := func(db *sqlite.DB) uint64 {
		var n uint64
		mustView(t, db, func(tx *sqlite.Tx) (err error) { n, err = tx.LastSerial(); return err })
		return n
	}
	if n := last(db); n != 0 {
		t.Fatalf("LastSerial of a new database: got %d, want 0", n)
	}
	if err := db.Commit(t.Context(), &broker.Change{Ops: []broker.Op{broker.ReserveSerials{After: 0, Count: 10}}}); err != nil {
		t.Fatal(err)
	}
	err := db.Commit(t.Context(), &broker.Change{Ops: []broker.Op{broker.ReserveSerials{After: 0, Count: 10}}})
	if !errors.Is(err, broker.ErrConflict) {
		t.Errorf("second reservation after 0: got %v, want ErrConflict", err)
	}
	if err := db.Commit(t.Context(), &broker.Change{Ops: []broker.Op{broker.ReserveSerials{After: 10, Count: 5}}}); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []broker.ReserveSerials{{After: 15, Count: 0}, {After: 1 << 63, Count: 1}} {
		if err := db.Commit(t.Context(), &broker.Change{Ops: []broker.Op{bad}}); !errors.Is(err, broker.ErrInvalid) {
			t.Errorf("reserve %+v: got %v, want ErrInvalid", bad, err)
		}
	}
	db.Close()
	db = mustOpen(t, db.Path())
	if n := last(db); n != 15 {
		t.Errorf("LastSerial after reopen: got %d, want 15", n)
	}
}
