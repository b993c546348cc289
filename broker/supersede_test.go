package broker_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/failsmall/breakglass/broker"
	"github.com/failsmall/breakglass/internal/brokertest"
	"github.com/failsmall/breakglass/policy"
)

// TestNewBundleSupersedesPending (issue 10, point 15): activating a bundle
// moves every pending request made under another one to superseded, with
// the new bundle's hash, in the same step, each audited; their approvals
// say so. Before, they stayed pending and every approval failed with
// policy_changed.
func TestNewBundleSupersedesPending(t *testing.T) {
	e := newBundleEnv(t)
	ctx := context.Background()
	active, _, err := e.Svc.ActiveBundle()
	if err != nil {
		t.Fatal(err)
	}
	old1 := e.Request(t, broker.RequestInput{Role: "prod", Requester: "alice", Reason: "pending at the push"})
	old2 := e.Request(t, broker.RequestInput{Role: "prod", Requester: "alice", Reason: "another pending one"})
	granted := e.Request(t, broker.RequestInput{Role: "prod", Requester: "alice", Reason: "granted before"})
	mustApprove(t, e, "bob", granted)
	before := auditSize(t, e)
	changed := strings.Replace(bundlePolicy, "max: 1h", "max: 2h", 1)
	act, err := e.Svc.Push(ctx, e.Bundle(t, &policy.Bundle{Serial: 2, Created: brokertest.Start, Previous: active.Hash}, changed, "root", "erin"))
	if err != nil || act.Outcome != broker.OutcomeActivated {
		t.Fatalf("Push = %+v, %v", act, err)
	}
	for _, r := range []*broker.Request{old1, old2} {
		v, err := e.Svc.Get(ctx, "root", r.ID)
		if err != nil || v.Request.State != broker.StateSuperseded || v.Request.SupersededBy != act.Bundle.Hash {
			t.Errorf("%s after the new bundle: %+v, %v; want superseded by %s", r.Reason, v.Request, err, act.Bundle.Hash)
		}
		if _, err := e.Approve(t, "bob", r); !errors.Is(err, broker.ErrPolicyChanged) || !strings.Contains(err.Error(), "superseded by policy bundle "+act.Bundle.Hash) {
			t.Errorf("approving a superseded request: %v, want ErrPolicyChanged naming the bundle", err)
		}
	}
	if v, _ := e.Svc.Get(ctx, "root", granted.ID); v.Request.State != broker.StateIssued {
		t.Errorf("the granted request became %s", v.Request.State)
	}
	types := auditTypes(t, e, before)
	if n := slices.Index(types, broker.EventPolicyActivated); n < 0 || n+3 > len(types) ||
		!slices.Equal(types[n:n+3], []string{broker.EventPolicyActivated, broker.EventRequestSuperseded, broker.EventRequestSuperseded}) {
		t.Errorf("audit entries after the push: %v, want the activation and two supersessions", types)
	}
	st, err := e.Svc.Status(ctx)
	if err != nil || st.Counts[broker.StateSuperseded] != 2 || st.Counts[broker.StatePending] != 0 {
		t.Errorf("Status counts = %v, %v; want 2 superseded, 0 pending", st.Counts, err)
	}
	// A request made under the new bundle stays pending at the next sweep.
	fresh := e.Request(t, broker.RequestInput{Role: "prod", Requester: "alice", Reason: "under the new bundle"})
	mustSweep(t, e)
	if v, _ := e.Svc.Get(ctx, "root", fresh.ID); v.Request.State != broker.StatePending {
		t.Errorf("a request under the active bundle became %s", v.Request.State)
	}
}

// TestPushOlderSerialRejected (issue 10, point 15): pushing a bundle older
// than the active one is a rejection, audited, not a silent no-op; a
// source that is behind still gets OutcomeOlder, unaudited.
func TestPushOlderSerialRejected(t *testing.T) {
	e := newBundleEnv(t)
	ctx := context.Background()
	active, _, err := e.Svc.ActiveBundle()
	if err != nil {
		t.Fatal(err)
	}
	changed := strings.Replace(bundlePolicy, "max: 1h", "max: 2h", 1)
	if _, err := e.Svc.Push(ctx, e.Bundle(t, &policy.Bundle{Serial: 5, Created: brokertest.Start, Previous: active.Hash}, changed, "root", "erin")); err != nil {
		t.Fatal(err)
	}
	older := e.Bundle(t, &policy.Bundle{Serial: 3, Created: brokertest.Start, Previous: active.Hash}, changed, "root", "erin")
	before := auditSize(t, e)
	if _, err := e.Svc.Push(ctx, older); !errors.Is(err, broker.ErrBundleRejected) || !errors.Is(err, policy.ErrBundleSerial) ||
		!strings.Contains(err.Error(), "serial 3 is older than the active bundle's 5") {
		t.Errorf("Push of an older serial: %v, want a rejection naming both serials", err)
	}
	if got := auditTypes(t, e, before); !slices.Equal(got, []string{broker.EventPolicyRejected}) {
		t.Errorf("audited %v, want one policy.rejected", got)
	}
	before = auditSize(t, e)
	if act, err := e.Svc.Activate(ctx, older, "https://config.example/bundle"); err != nil || act.Outcome != broker.OutcomeOlder {
		t.Errorf("a source serving the older bundle: %+v, %v; want OutcomeOlder", act, err)
	}
	if n := auditSize(t, e); n != before {
		t.Errorf("a source behind was audited: %d new entries", n-before)
	}
}
