package broker_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"github.com/failsmall/breakglass/audit"
	"github.com/failsmall/breakglass/broker"
	"github.com/failsmall/breakglass/internal/brokertest"
)

// grantsStore is a real store whose grant list a test edits, as a tampered
// database would hold it.
type grantsStore struct {
	broker.AuditStore
	edit func([]broker.GrantRecord) []broker.GrantRecord
}

func (s grantsStore) GrantRecords(ctx context.Context) ([]broker.GrantRecord, error) {
	gs, err := s.AuditStore.GrantRecords(ctx)
	return s.edit(gs), err
}

// TestVerifyAuditGrantEntries: a log whose grants each have their
// grant.issued entry verifies; a grant without its entry, or an entry
// without its grant, is a *MissingGrantEntryError naming it.
func TestVerifyAuditGrantEntries(t *testing.T) {
	e := brokertest.New(t, testPolicy, "")
	r := e.Request(t, prodInput())
	var grant string
	for _, who := range []string{"bob", "dave", "carol"} {
		if res := mustApprove(t, e, who, r); res.Grant != nil {
			grant = res.Grant.ID
		}
	}
	e.Request(t, prodInput()) // a pending request: entries that are no grant's
	_, vkey, err := audit.GenerateKey(brokertest.Name)
	if err != nil {
		t.Fatal(err)
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	opts := audit.VerifyOptions{Verifier: v}
	ctx := context.Background()

	rep, n, err := broker.VerifyAudit(ctx, e.DB, opts)
	if err != nil || n != 1 || rep.Entries[broker.EventGrantIssued] != 1 {
		t.Fatalf("VerifyAudit = %+v, %d, %v; want 1 grant with its entry", rep, n, err)
	}
	for _, tc := range []struct {
		name      string
		edit      func([]broker.GrantRecord) []broker.GrantRecord
		grant     string
		fromEntry bool
	}{
		{"a grant without its entry", func(gs []broker.GrantRecord) []broker.GrantRecord {
			return append(gs, broker.GrantRecord{ID: "01FAKEGRANT0000000000000000"})
		}, "01FAKEGRANT0000000000000000", false},
		{"an entry without its grant", func(gs []broker.GrantRecord) []broker.GrantRecord {
			return slices.DeleteFunc(gs, func(g broker.GrantRecord) bool { return g.ID == grant })
		}, grant, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := broker.VerifyAudit(ctx, grantsStore{AuditStore: e.DB, edit: tc.edit}, opts)
			var m *broker.MissingGrantEntryError
			if !errors.As(err, &m) || m.Grant != tc.grant || (m.Index >= 0) != tc.fromEntry {
				t.Fatalf("VerifyAudit: %v, want a missing entry or grant for %s", err, tc.grant)
			}
		})
	}
}

// TestGrantEntriesAfterTheSnapshot: a grant issued after the log was read
// is in the second read only, and is no alarm.
func TestGrantEntriesAfterTheSnapshot(t *testing.T) {
	g := broker.NewGrantEntries()
	leaf, err := (&audit.Entry{Type: broker.EventGrantIssued, Time: brokertest.Start, Actor: "broker",
		Subjects: []string{"R1", "G1"}, Data: []byte(`{}`)}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	g.Note(0, leaf)
	g1 := broker.GrantRecord{ID: "G1", RequestID: "R1", State: broker.StateIssued}
	g2 := broker.GrantRecord{ID: "G2", RequestID: "R2", State: broker.StateIssued}
	if err := g.Check([]broker.GrantRecord{g1}, []broker.GrantRecord{g1, g2}); err != nil {
		t.Errorf("G2 issued after the snapshot: %v, want no error", err)
	}
	if err := g.Check([]broker.GrantRecord{g1, g2}, []broker.GrantRecord{g1, g2}); err == nil {
		t.Error("G2 held before the snapshot without an entry: no error")
	}
	// G1 revoked after the snapshot: the second read disagrees with the
	// snapshot, the first agrees: no alarm. Both disagreeing is one.
	revoked := g1
	revoked.Revoked, revoked.State = true, broker.StateRevoked
	if err := g.Check([]broker.GrantRecord{g1}, []broker.GrantRecord{revoked}); err != nil {
		t.Errorf("G1 revoked after the snapshot: %v, want no error", err)
	}
	var rowErr *broker.GrantRowError
	if err := g.Check([]broker.GrantRecord{revoked}, []broker.GrantRecord{revoked}); !errors.As(err, &rowErr) {
		t.Errorf("G1 revoked in both reads, not in the log: %v, want a *GrantRowError", err)
	}
}
