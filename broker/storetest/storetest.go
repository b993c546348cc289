// Package storetest is the conformance suite of broker.Store: what every
// store must do with a Change, whatever it keeps its rows in. A store's
// tests call Run with a way to open an empty store.
package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/failsmall/breakglass/broker"
)

// Harness opens stores under test.
type Harness struct {
	// Open returns a new, empty store; the harness closes nothing.
	Open func(t *testing.T) broker.Store
	// AuditSize returns the number of audit leaves st holds.
	AuditSize func(t *testing.T, st broker.Store) int64
}

// Run runs every conformance test.
func Run(t *testing.T, h Harness) {
	for _, tc := range []struct {
		name string
		fn   func(*testing.T, Harness)
	}{
		{"AppliesEveryOperation", appliesEveryOperation},
		{"AllOrNothing", allOrNothing},
		{"Preconditions", preconditions},
		{"UnknownOperation", unknownOperation},
		{"UnencodableEvent", unencodableEvent},
		{"RacingChangesOneWins", racingChangesOneWins},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, h) })
	}
}

var t0 = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

// Bundle hashes: "sha256:" and 64 hex digits.
var (
	hashB0 = "sha256:" + strings.Repeat("0", 64)
	hashB1 = "sha256:" + strings.Repeat("1", 64)
)

func request(id string) *broker.Request {
	return &broker.Request{ID: id, Role: "prod", Requester: "alice", Reason: "disk full", Created: t0,
		Expires: t0.Add(time.Hour), State: broker.StatePending, Updated: t0, PolicyHash: "sha256:p",
		Statement: []byte("statement " + id), StatementDigest: "sha256:d",
		RequestStatement: []byte("request " + id), RequestSignature: []byte("sig")}
}

func approval(id, who string) *broker.Approval {
	return &broker.Approval{RequestID: id, Approver: who, Kind: broker.KindApproval, Statement: []byte("statement " + id),
		Signature: []byte("sig " + who), KeyFingerprint: "SHA256:" + who, KeyType: "ssh-ed25519", Created: t0}
}

func grant(id, requestID string) *broker.Grant {
	return &broker.Grant{ID: id, RequestID: requestID, Requester: "alice", Role: "prod", Approvers: []string{"bob"},
		Issued: t0, Expires: t0.Add(30 * time.Minute), Token: "jwt", KeyID: "k1", SSHSerial: 7, SSHCert: "cert"}
}

func event(typ string, subjects ...string) broker.Event {
	return broker.Event{Type: typ, Time: t0, Actor: "broker", Subjects: subjects, Data: json.RawMessage(`{}`)}
}

func commit(t *testing.T, st broker.Store, ch *broker.Change) {
	t.Helper()
	if err := ch.Err(); err != nil {
		t.Fatal(err)
	}
	if err := st.Commit(context.Background(), ch); err != nil {
		t.Fatalf("commit %v: %v", kinds(ch), err)
	}
}

func kinds(ch *broker.Change) []string {
	var out []string
	for _, op := range ch.Ops {
		out = append(out, op.Kind())
	}
	return out
}

func view(t *testing.T, st broker.Store, fn func(broker.Tx) error) {
	t.Helper()
	if err := st.View(context.Background(), fn); err != nil {
		t.Fatal(err)
	}
}

// appliesEveryOperation commits one change of each operation type and
// reads each back.
func appliesEveryOperation(t *testing.T, h Harness) {
	st := h.Open(t)
	ch := &broker.Challenge{Broker: "bg", Principal: "alice", Action: broker.ActionRevoke, Subject: "r1", Nonce: "n1", NotAfter: t0.Add(time.Minute)}
	commit(t, st, new(broker.Change).Add(
		broker.InsertRequest{Request: request("r1")},
		broker.RequireRequestState{ID: "r1", State: broker.StatePending},
		broker.RequireApprovals{RequestID: "r1", Count: 0},
		broker.InsertApproval{Approval: approval("r1", "bob")},
		broker.RequireApprovals{RequestID: "r1", Count: 1},
		broker.SetKeyCounter{Fingerprint: "SHA256:bob", Counter: 5, At: t0},
		broker.SetKeyCounter{Fingerprint: "SHA256:bob", Counter: 6, Seen: true, Last: 5, At: t0},
		broker.ReserveSerials{After: 0, Count: 10},
		broker.SetRequestState{ID: "r1", From: broker.StatePending, To: broker.StateIssued, At: t0},
		broker.InsertGrant{Grant: grant("g1", "r1")},
		broker.RequireGrantUnrevoked{ID: "g1"},
		broker.InsertChallenge{Challenge: ch},
		broker.InsertSession{Session: &broker.Session{TokenHash: "h1", Principal: "alice", Created: t0, Expires: t0.Add(time.Hour)}},
		broker.RequireBundleHead{},
		broker.InsertBundle{Bundle: &broker.StoredBundle{Hash: hashB1, Serial: 1, Created: t0, Raw: []byte("bundle"), Activated: t0, Source: "init"}},
		broker.RequireBundleHead{Hash: hashB1},
		broker.SetDirectory{Source: "scim", Restriction: json.RawMessage(`{"disabled":{}}`), At: t0},
	).Record(event(broker.EventRequestCreated, "r1")).Record(event(broker.EventGrantIssued, "r1", "g1")))
	commit(t, st, new(broker.Change).Add(
		broker.ConsumeChallenge{Nonce: "n1", At: t0},
		broker.RevokeGrant{ID: "g1", By: "alice", At: t0},
		broker.SetRequestState{ID: "r1", From: broker.StateIssued, To: broker.StateRevoked, At: t0},
		broker.DeleteExpired{Now: t0.Add(2 * time.Hour)},
	).Record(event(broker.EventGrantRevoked, "r1", "g1")))
	view(t, st, func(tx broker.Tx) error {
		r, err := tx.Request("r1")
		if err != nil || r.State != broker.StateRevoked {
			return fmt.Errorf("request: %v, %v; want revoked", r, err)
		}
		if as, err := tx.Approvals("r1"); err != nil || len(as) != 1 || as[0].Approver != "bob" {
			return fmt.Errorf("approvals: %v, %v", as, err)
		}
		if c, seen, err := tx.KeyCounter("SHA256:bob"); err != nil || !seen || c != 6 {
			return fmt.Errorf("key counter: %d, %v, %v; want 6", c, seen, err)
		}
		if n, err := tx.LastSerial(); err != nil || n != 10 {
			return fmt.Errorf("last serial: %d, %v; want 10", n, err)
		}
		if g, err := tx.Grant("r1"); err != nil || g.RevokedBy != "alice" {
			return fmt.Errorf("grant: %v, %v; want revoked by alice", g, err)
		}
		if _, _, err := tx.Challenge("n1"); !errors.Is(err, broker.ErrNotFound) {
			return fmt.Errorf("challenge after DeleteExpired: %v, want ErrNotFound", err)
		}
		if _, err := tx.Session("h1"); !errors.Is(err, broker.ErrNotFound) {
			return fmt.Errorf("session after DeleteExpired: %v, want ErrNotFound", err)
		}
		if bs, err := tx.LatestBundles(1); err != nil || len(bs) != 1 || bs[0].Hash != hashB1 {
			return fmt.Errorf("bundles: %v, %v", bs, err)
		}
		if ds, err := tx.Directories(); err != nil || string(ds["scim"]) != `{"disabled":{}}` {
			return fmt.Errorf("directories: %v, %v", ds, err)
		}
		return nil
	})
	if n := h.AuditSize(t, st); n != 3 {
		t.Errorf("audit size: got %d, want 3", n)
	}
}

// allOrNothing: a change whose last operation fails keeps none of its
// operations and none of its audit leaves.
func allOrNothing(t *testing.T, h Harness) {
	st := h.Open(t)
	commit(t, st, new(broker.Change).Add(broker.InsertRequest{Request: request("r1")}))
	bad := new(broker.Change).Add(
		broker.InsertRequest{Request: request("r2")},
		broker.InsertApproval{Approval: approval("r1", "bob")},
		broker.SetKeyCounter{Fingerprint: "SHA256:bob", Counter: 1, At: t0},
		broker.ReserveSerials{After: 0, Count: 5},
		broker.SetRequestState{ID: "r1", From: broker.StateIssued, To: broker.StateRevoked, At: t0}, // r1 is pending
	).Record(event(broker.EventRequestCreated, "r2"))
	err := st.Commit(context.Background(), bad)
	if !errors.Is(err, broker.ErrConflict) {
		t.Fatalf("commit with a failing last operation: got %v, want ErrConflict", err)
	}
	view(t, st, func(tx broker.Tx) error {
		if _, err := tx.Request("r2"); !errors.Is(err, broker.ErrNotFound) {
			t.Errorf("request r2 of the failed change: %v, want ErrNotFound", err)
		}
		if as, _ := tx.Approvals("r1"); len(as) != 0 {
			t.Errorf("approvals of the failed change kept: %v", as)
		}
		if _, seen, _ := tx.KeyCounter("SHA256:bob"); seen {
			t.Error("key counter of the failed change kept")
		}
		if n, _ := tx.LastSerial(); n != 0 {
			t.Errorf("serials of the failed change kept: last %d", n)
		}
		return nil
	})
	if n := h.AuditSize(t, st); n != 0 {
		t.Errorf("audit size after the failed change: %d, want 0", n)
	}
}

// preconditions: each compare-and-swap refuses with ErrConflict (or
// ErrNotFound for a missing row) when the state is not the one planned.
func preconditions(t *testing.T, h Harness) {
	st := h.Open(t)
	commit(t, st, new(broker.Change).Add(
		broker.InsertRequest{Request: request("r1")},
		broker.InsertApproval{Approval: approval("r1", "bob")},
		broker.SetKeyCounter{Fingerprint: "SHA256:bob", Counter: 5, At: t0},
		broker.ReserveSerials{After: 0, Count: 10},
		broker.InsertChallenge{Challenge: &broker.Challenge{Broker: "bg", Principal: "alice", Action: broker.ActionSession, Nonce: "n1", NotAfter: t0.Add(time.Hour)}},
		broker.InsertBundle{Bundle: &broker.StoredBundle{Hash: hashB1, Serial: 1, Created: t0, Raw: []byte("b"), Activated: t0}},
		broker.InsertRequest{Request: request("r2")},
		broker.SetRequestState{ID: "r2", From: broker.StatePending, To: broker.StateIssued, At: t0},
		broker.InsertGrant{Grant: grant("g2", "r2")},
		broker.RevokeGrant{ID: "g2", By: "alice", At: t0},
		broker.ConsumeChallenge{Nonce: "n1", At: t0},
	))
	for _, tc := range []struct {
		name string
		op   broker.Op
		want error
	}{
		{"request id taken", broker.InsertRequest{Request: request("r1")}, broker.ErrConflict},
		{"state moved on", broker.SetRequestState{ID: "r1", From: broker.StateIssued, To: broker.StateRevoked, At: t0}, broker.ErrConflict},
		{"state of unknown request", broker.SetRequestState{ID: "nope", From: broker.StatePending, To: broker.StateIssued, At: t0}, broker.ErrNotFound},
		{"required state", broker.RequireRequestState{ID: "r2", State: broker.StatePending}, broker.ErrConflict},
		{"same approval twice", broker.InsertApproval{Approval: approval("r1", "bob")}, broker.ErrConflict},
		{"approvals counted", broker.RequireApprovals{RequestID: "r1", Count: 0}, broker.ErrConflict},
		{"key counter unseen", broker.SetKeyCounter{Fingerprint: "SHA256:bob", Counter: 9, At: t0}, broker.ErrConflict},
		{"key counter moved", broker.SetKeyCounter{Fingerprint: "SHA256:bob", Counter: 9, Seen: true, Last: 4, At: t0}, broker.ErrConflict},
		{"second grant", broker.InsertGrant{Grant: grant("g3", "r2")}, broker.ErrConflict},
		{"revoked twice", broker.RevokeGrant{ID: "g2", By: "bob", At: t0}, broker.ErrConflict},
		{"revoke unknown", broker.RevokeGrant{ID: "nope", By: "bob", At: t0}, broker.ErrNotFound},
		{"grant revoked", broker.RequireGrantUnrevoked{ID: "g2"}, broker.ErrConflict},
		{"serials reserved", broker.ReserveSerials{After: 0, Count: 10}, broker.ErrConflict},
		{"challenge used", broker.ConsumeChallenge{Nonce: "n1", At: t0}, broker.ErrConflict},
		{"challenge unknown", broker.ConsumeChallenge{Nonce: "nope", At: t0}, broker.ErrNotFound},
		{"bundle head moved", broker.RequireBundleHead{}, broker.ErrConflict},
		{"bundle serial not higher", broker.InsertBundle{Bundle: &broker.StoredBundle{Hash: hashB0, Serial: 1, Created: t0, Raw: []byte("b"), Activated: t0}}, broker.ErrConflict},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := h.AuditSize(t, st)
			ch := new(broker.Change).Add(tc.op).Record(event(broker.EventBrokerStarted))
			if err := st.Commit(context.Background(), ch); !errors.Is(err, tc.want) {
				t.Errorf("got %v, want %v", err, tc.want)
			}
			if after := h.AuditSize(t, st); after != before {
				t.Errorf("the refused change appended %d audit leaves", after-before)
			}
		})
	}
}

// unknownOperation: an operation the store does not know fails the change
// with ErrInvalid and nothing of it is kept.
func unknownOperation(t *testing.T, h Harness) {
	ch := new(broker.Change).Add(broker.InsertRequest{Request: request("r1")}, alien{}).Record(event(broker.EventRequestCreated, "r1"))
	refusedWhole(t, h, "unknown operation", ch)
}

// refusedWhole commits ch, which must fail with ErrInvalid and leave
// nothing: not its request r1, not any audit entry.
func refusedWhole(t *testing.T, h Harness, what string, ch *broker.Change) {
	t.Helper()
	st := h.Open(t)
	if err := st.Commit(context.Background(), ch); !errors.Is(err, broker.ErrInvalid) {
		t.Fatalf("%s: got %v, want ErrInvalid", what, err)
	}
	view(t, st, func(tx broker.Tx) error {
		if _, err := tx.Request("r1"); !errors.Is(err, broker.ErrNotFound) {
			t.Errorf("%s: request of the refused change: %v, want ErrNotFound", what, err)
		}
		return nil
	})
	if n := h.AuditSize(t, st); n != 0 {
		t.Errorf("%s: audit size %d, want 0", what, n)
	}
}

// unencodableEvent: a change one of whose events could not be encoded
// (Change.Err) is refused whole, its operations and its other events too.
func unencodableEvent(t *testing.T, h Harness) {
	bad := broker.Event{Type: broker.EventRequestCreated, Time: t0, Actor: "alice", Data: []byte("{not json")}
	ch := new(broker.Change).Add(broker.InsertRequest{Request: request("r1")}).
		Record(event(broker.EventRequestCreated, "r1")).Record(bad)
	refusedWhole(t, h, "change with an unencodable event", ch)
}

type alien struct{}

func (alien) Kind() string { return "storetest.alien" }

// racingChangesOneWins: changes racing for the same compare-and-swap from
// many goroutines: exactly one commits, the others conflict.
func racingChangesOneWins(t *testing.T, h Harness) {
	st := h.Open(t)
	commit(t, st, new(broker.Change).Add(broker.InsertRequest{Request: request("r1")}))
	const n = 16
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			ch := new(broker.Change).Add(
				broker.SetRequestState{ID: "r1", From: broker.StatePending, To: broker.StateIssued, At: t0},
				broker.InsertGrant{Grant: grant(fmt.Sprintf("g%d", i), "r1")},
			).Record(event(broker.EventGrantIssued, "r1"))
			errs[i] = st.Commit(context.Background(), ch)
		})
	}
	wg.Wait()
	won := 0
	for i, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, broker.ErrConflict):
			t.Errorf("racer %d: %v, want nil or ErrConflict", i, err)
		}
	}
	if won != 1 {
		t.Errorf("%d racers committed, want exactly 1", won)
	}
	if got := h.AuditSize(t, st); got != 1 {
		t.Errorf("audit size: %d, want 1", got)
	}
}
