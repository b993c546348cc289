package sqlite_test

import (
	"testing"

	"github.com/failsmall/breakglass/broker"
	"github.com/failsmall/breakglass/broker/storetest"
	"github.com/failsmall/breakglass/sqlite"
)

// TestConformance runs the broker.Store conformance suite on SQLite files.
func TestConformance(t *testing.T) {
	storetest.Run(t, storetest.Harness{
		Open: func(t *testing.T) broker.Store { return newDB(t) },
		AuditSize: func(t *testing.T, st broker.Store) int64 {
			n, err := st.(*sqlite.DB).AuditSize(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			return n
		},
	})
}
