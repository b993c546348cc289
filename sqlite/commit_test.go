package sqlite_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/failsmall/breakglass/broker"
	"github.com/failsmall/breakglass/sqlite"
)

// TestGroupCommitIsolatesFailures: concurrent updates share commits, but a
// failing update rolls back only its own changes, audit entries included.
func TestGroupCommitIsolatesFailures(t *testing.T) {
	db := newDB(t)
	errOdd := errors.New("odd updates fail")
	var wg sync.WaitGroup
	const n = 64
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = db.Update(t.Context(), func(tx *sqlite.Tx) error {
				if err := tx.InsertRequest(newRequest(fmt.Sprintf("r%02d", i), t0)); err != nil {
					return err
				}
				if _, err := tx.Append(broker.Event{Type: broker.EventRequestCreated, Time: t0, Actor: "alice", Subjects: []string{fmt.Sprint(i)}, Data: []byte(`{}`)}); err != nil {
					return err
				}
				if i%2 == 1 {
					return errOdd
				}
				return nil
			})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if want := i%2 == 1; errors.Is(err, errOdd) != want || (!want && err != nil) {
			t.Errorf("update %d: err = %v", i, err)
		}
	}
	mustView(t, db, func(tx *sqlite.Tx) error {
		for i := range n {
			_, err := tx.Request(fmt.Sprintf("r%02d", i))
			if kept := err == nil; kept != (i%2 == 0) {
				t.Errorf("request r%02d kept = %v, want %v (err %v)", i, kept, i%2 == 0, err)
			}
		}
		return nil
	})
	size, err := db.AuditSize(t.Context())
	if err != nil || size != n/2 {
		t.Errorf("audit size = %d, %v; want %d", size, err, n/2)
	}
}
