package sqlite_test

import (
	"fmt"
	"testing"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/failsmall/breakglass/sqlite"
)

// BenchmarkAppendDurable measures one Update holding one Append: one
// durable (synchronous=FULL) commit per audit entry.
func BenchmarkAppendDurable(b *testing.B) {
	db := newDB(b)
	i := 0
	for b.Loop() {
		mustUpdate(b, db, func(tx *sqlite.Tx) error {
			_, err := tx.Append(newEvent(i))
			return err
		})
		i++
	}
}

// BenchmarkAppendBatch100 measures appends grouped 100 to a commit, the
// group-commit bound; ns/op is per entry.
func BenchmarkAppendBatch100(b *testing.B) {
	db := newDB(b)
	n := b.N
	for done := 0; done < n; done += 100 {
		mustUpdate(b, db, func(tx *sqlite.Tx) error {
			for j := done; j < min(done+100, n); j++ {
				if _, err := tx.Append(newEvent(j)); err != nil {
					return err
				}
			}
			return nil
		})
	}
}

// BenchmarkInsertRequest measures one Update holding one InsertRequest.
func BenchmarkInsertRequest(b *testing.B) {
	db := newDB(b)
	i := 0
	for b.Loop() {
		r := newRequest(fmt.Sprintf("r%d", i), t0)
		mustUpdate(b, db, func(tx *sqlite.Tx) error { return tx.InsertRequest(r) })
		i++
	}
}

// BenchmarkProveRecord measures an inclusion proof read from a 100,000-leaf
// log.
func BenchmarkProveRecord(b *testing.B) {
	db := newDB(b)
	const size = 100_000
	for done := 0; done < size; done += 10_000 {
		mustUpdate(b, db, func(tx *sqlite.Tx) error {
			for j := done; j < done+10_000; j++ {
				if _, err := tx.Append(newEvent(j)); err != nil {
					return err
				}
			}
			return nil
		})
	}
	i := int64(0)
	for b.Loop() {
		if _, err := tlog.ProveRecord(size, i%size, db); err != nil {
			b.Fatal(err)
		}
		i += 7919
	}
}
