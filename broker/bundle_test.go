package broker_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/failsmall/breakglass/audit"
	"github.com/failsmall/breakglass/broker"
	"github.com/failsmall/breakglass/internal/brokertest"
	"github.com/failsmall/breakglass/policy"
	"github.com/failsmall/breakglass/token"
)

// bundlePolicy: root and erin are admins, two must sign the next bundle.
const bundlePolicy = `version: 1
admins: [root, erin]
admin_quorum: 2
groups:
  - name: engineering
  - name: sre
principals:
  - {id: alice, groups: [engineering], keys: [KEY(alice)]}
  - {id: bob, groups: [sre], keys: [KEY(bob)]}
  - {id: dave, groups: [sre], keys: [KEY(dave)]}
  - {id: erin, groups: [sre], keys: [KEY(erin)]}
  - {id: root, groups: [], keys: [KEY(root)]}
  - {id: mallory, groups: [], keys: [KEY(mallory)]}
roles:
  - name: prod
    requesters: [engineering]
    approval: [{count: 1, groups: [sre]}]
    duration: {default: 30m, max: 1h}
    pending_ttl: 1h
    stale_after: 24h
    jwt: {audience: [prod-api]}
`

func newBundleEnv(t *testing.T) *brokertest.Env {
	t.Helper()
	return brokertest.NewPinned(t, bundlePolicy, "", "root", "erin")
}

// auditTypes lists the types of the audit entries from index from on.
func auditTypes(t *testing.T, e *brokertest.Env, from int64) []string {
	t.Helper()
	var out []string
	err := e.DB.AuditEntries(context.Background(), from, auditSize(t, e), func(i int64, leaf []byte) error {
		en, err := audit.ParseEntry(leaf)
		if err != nil {
			return err
		}
		out = append(out, en.Type)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func auditSize(t *testing.T, e *brokertest.Env) int64 {
	t.Helper()
	n, err := e.DB.AuditSize(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestRejectedBundlesKeepTheActiveOne offers bundles that must not become
// active; each is refused with its own reason, audited, and the active
// bundle stays.
func TestRejectedBundlesKeepTheActiveOne(t *testing.T) {
	e := newBundleEnv(t)
	ctx := context.Background()
	active, _, err := e.Svc.ActiveBundle()
	if err != nil {
		t.Fatal(err)
	}
	next := func() *policy.Bundle {
		return &policy.Bundle{Serial: 2, Created: brokertest.Start, Previous: active.Hash}
	}
	changed := strings.Replace(bundlePolicy, "max: 1h", "max: 2h", 1)
	// mallory is an admin only in the new bundle.
	mallorysOwn := strings.Replace(changed, "admins: [root, erin]", "admins: [root, erin, mallory]", 1)
	valid := e.Bundle(t, next(), changed, "root", "erin")
	cases := []struct {
		name string
		raw  []byte
		want error
		msg  string
	}{
		{"too few admin signatures", e.Bundle(t, next(), changed, "root"), policy.ErrBundleQuorum, "1 valid admin signature(s) from [root], need 2"},
		{"admin of the new bundle only", e.Bundle(t, next(), mallorysOwn, "root", "mallory"), policy.ErrBundleSigner, "not admins of the active policy: [mallory]"},
		{"old serial", e.Bundle(t, &policy.Bundle{Serial: 1, Created: brokertest.Start, Previous: active.Hash}, changed, "root", "erin"), nil, ""},
		{"same serial", e.Bundle(t, &policy.Bundle{Serial: 1, Created: brokertest.Start.Add(time.Hour)}, changed, "root", "erin"), nil, ""},
		{"does not follow the active bundle", e.Bundle(t, &policy.Bundle{Serial: 2, Created: brokertest.Start, Previous: "sha256:" + strings.Repeat("ab", 32)}, changed, "root", "erin"), policy.ErrBundlePrevious, "previous is sha256:abab"},
		{"valid signatures over an invalid policy", e.Bundle(t, next(), strings.Replace(changed, "count: 1", "count: 5", 1), "root", "erin"), policy.ErrBundlePolicy, "needs 5 approvers from [sre]"},
		{"truncated file", valid[:len(valid)/2], policy.ErrBundleMalformed, "truncated"},
		{"signature cut short", valid[:len(valid)-40], policy.ErrBundleMalformed, "signature 2 is truncated"},
		{"garbage", []byte("hello\n"), policy.ErrBundleMalformed, "first line"},
		{"forged signature", bytes.Replace(valid, []byte("max: 2h"), []byte("max: 9h"), 1), policy.ErrBundleQuorum, "invalid"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := auditSize(t, e)
			act, err := e.Svc.Activate(ctx, c.raw, "test")
			if c.want == nil {
				// An older (or equal) serial is not news: it is kept out and
				// not audited; the source is just behind.
				if err == nil && act.Outcome == broker.OutcomeOlder {
					if act.Bundle.Hash != active.Hash {
						t.Fatalf("older bundle reported the active one as %s", act.Bundle.Hash)
					}
				} else if !errors.Is(err, policy.ErrBundleSerial) {
					t.Fatalf("Activate = %v, %v; want older or ErrBundleSerial", act, err)
				}
			} else {
				if !errors.Is(err, broker.ErrBundleRejected) || !errors.Is(err, c.want) {
					t.Fatalf("Activate = %v; want ErrBundleRejected and %v", err, c.want)
				}
				if !strings.Contains(err.Error(), c.msg) {
					t.Fatalf("Activate error %q does not say %q", err, c.msg)
				}
				got := auditTypes(t, e, before)
				if len(got) != 1 || !strings.Contains(got[0], "policy.rejected") {
					t.Fatalf("audit after the rejection = %q, want one policy.rejected entry", got)
				}
				// Offered again (the next poll): refused again, audited once.
				if _, err := e.Svc.Activate(ctx, c.raw, "test"); !errors.Is(err, c.want) {
					t.Fatalf("second offer = %v", err)
				}
				if n := auditSize(t, e); n != before+1 {
					t.Fatalf("the second offer of the same bundle was audited again: %d entries, want %d", n, before+1)
				}
			}
			now, _, _ := e.Svc.ActiveBundle()
			if now.Hash != active.Hash {
				t.Fatalf("active bundle changed to serial %d", now.Serial)
			}
			p, _ := e.Svc.Policy()
			if r, _ := p.Role("prod"); r.MaxDuration != time.Hour {
				t.Fatalf("active policy's prod max = %v", r.MaxDuration)
			}
		})
	}

	// And the valid one activates: serial 2, the policy changes, the
	// previous bundle is kept and named.
	act, err := e.Svc.Activate(ctx, valid, "test")
	if err != nil || act.Outcome != broker.OutcomeActivated {
		t.Fatalf("valid bundle: %+v, %v", act, err)
	}
	if act.Bundle.Serial != 2 || strings.Join(act.Signers, ",") != "root,erin" {
		t.Fatalf("activated serial %d signed by %v", act.Bundle.Serial, act.Signers)
	}
	p, _ := e.Svc.Policy()
	if r, _ := p.Role("prod"); r.MaxDuration != 2*time.Hour || p.Hash() != act.Bundle.Hash {
		t.Fatalf("after activation: prod max %v, policy hash %s, bundle %s", r.MaxDuration, p.Hash(), act.Bundle.Hash)
	}
	cur, prev, _ := e.Svc.ActiveBundle()
	if cur.Serial != 2 || prev == nil || prev.Hash != active.Hash {
		t.Fatalf("active %d, previous %+v", cur.Serial, prev)
	}
	// The same bundle again is "current".
	if act, err := e.Svc.Activate(ctx, valid, "test"); err != nil || act.Outcome != broker.OutcomeCurrent {
		t.Fatalf("offered again: %+v, %v", act, err)
	}
}

// TestColdStartFromStore: a second Service on the same store activates the
// newest bundle and the directory restrictions without any upstream.
func TestColdStartFromStore(t *testing.T) {
	e := newBundleEnv(t)
	ctx := context.Background()
	active, _, _ := e.Svc.ActiveBundle()
	raw := e.Bundle(t, &policy.Bundle{Serial: 2, Created: brokertest.Start, Previous: active.Hash}, bundlePolicy, "root", "erin")
	if _, err := e.Svc.Activate(ctx, raw, "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Svc.SetDirectory(ctx, "scim", policy.Restriction{Disabled: map[string]string{"bob": "inactive in SCIM"}}); err != nil {
		t.Fatal(err)
	}
	svc, err := broker.New(broker.Config{Name: brokertest.Name, Store: e.DB, Minter: token.Minter{Keyring: e.Keys}, Clock: e.Clock})
	if err != nil {
		t.Fatal(err)
	}
	b, err := svc.LoadActive(ctx)
	if err != nil || b.Serial != 2 {
		t.Fatalf("LoadActive = %v, %v", b, err)
	}
	p, _ := svc.Policy()
	if bob, _ := p.Principal("bob"); !bob.Disabled {
		t.Fatal("the stored directory restriction was not applied on a cold start")
	}
	if st := svc.BundleState(); st.Serial != 2 || st.Previous == nil || st.Previous.Serial != 1 || st.Deactivated["bob"] == "" {
		t.Fatalf("BundleState = %+v", st)
	}
}

// TestStaleBundleAsksOneMoreApproval: prod needs one sre approval, and one
// more once the bundle is older than its stale_after (24h). Anyone pushing
// the active bundle again changes nothing; an upstream source serving it
// again makes it fresh.
func TestStaleBundleAsksOneMoreApproval(t *testing.T) {
	e := newBundleEnv(t) // the bundle was created an hour before the clock's start
	r := e.Request(t, broker.RequestInput{Role: "prod", Requester: "alice", Reason: "fresh bundle"})
	if res := mustApprove(t, e, "bob", r); res.Grant == nil || res.Stale {
		t.Fatalf("fresh bundle: grant %v stale %v missing %v", res.Grant, res.Stale, res.Missing)
	}

	e.Clock.Advance(24 * time.Hour)
	r = e.Request(t, broker.RequestInput{Role: "prod", Requester: "alice", Reason: "stale bundle"})
	res := mustApprove(t, e, "bob", r)
	if res.Grant != nil || !res.Stale || len(res.Missing) != 1 || !strings.Contains(res.Missing[0], "extra approval") {
		t.Fatalf("stale bundle after one approval: grant %v stale %v missing %q", res.Grant != nil, res.Stale, res.Missing)
	}
	if st := e.Svc.BundleState(); st.Age < 24*time.Hour {
		t.Fatalf("bundle age %v", st.Age)
	}
	if res := mustApprove(t, e, "dave", r); res.Grant == nil {
		t.Fatalf("two approvals on a stale bundle: missing %v", res.Missing)
	}

	// The public active bundle pushed back is not a confirmation.
	active, _, _ := e.Svc.ActiveBundle()
	if act, err := e.Svc.Push(context.Background(), active.Raw); err != nil || act.Outcome != broker.OutcomeCurrent {
		t.Fatalf("push of the active bundle: %+v, %v", act, err)
	}
	if st := e.Svc.BundleState(); st.Age < 24*time.Hour {
		t.Fatalf("bundle age after a push of the active bundle = %v, want it unchanged (24h or more)", st.Age)
	}
	r = e.Request(t, broker.RequestInput{Role: "prod", Requester: "alice", Reason: "pushed again"})
	if res := mustApprove(t, e, "bob", r); res.Grant != nil || !res.Stale {
		t.Fatalf("after a push of the active bundle, one approval: grant %v stale %v; want the extra approval still asked", res.Grant != nil, res.Stale)
	}

	// An upstream source serves the active bundle: fresh again.
	if act, err := e.Svc.Activate(context.Background(), active.Raw, "https://policy.example/active.bundle"); err != nil || act.Outcome != broker.OutcomeCurrent {
		t.Fatalf("source serving the active bundle: %+v, %v", act, err)
	}
	if st := e.Svc.BundleState(); st.Age != 0 {
		t.Fatalf("age after confirmation = %v", st.Age)
	}
	r = e.Request(t, broker.RequestInput{Role: "prod", Requester: "alice", Reason: "confirmed bundle"})
	if res := mustApprove(t, e, "bob", r); res.Grant == nil {
		t.Fatalf("confirmed bundle: missing %v", res.Missing)
	}
}

// TestDirectoryDeactivation: a directory may only take away. A deactivated
// approver is refused, a deactivated requester's live grant is revoked and
// their pending request can't be approved; lifting it restores the signed
// state, never more.
func TestDirectoryDeactivation(t *testing.T) {
	e := newBundleEnv(t)
	ctx := context.Background()
	granted := e.Request(t, broker.RequestInput{Role: "prod", Requester: "alice", Reason: "granted before"})
	g := mustApprove(t, e, "bob", granted).Grant
	pending := e.Request(t, broker.RequestInput{Role: "prod", Requester: "alice", Reason: "pending at offboarding"})

	off := policy.Restriction{Disabled: map[string]string{"alice": "inactive in SCIM", "dave": "inactive in SCIM"},
		RemovedFrom: map[string][]string{"erin": {"sre"}}}
	changed, err := e.Svc.SetDirectory(ctx, "scim", off)
	if err != nil || !changed {
		t.Fatalf("SetDirectory = %v, %v", changed, err)
	}
	if again, err := e.Svc.SetDirectory(ctx, "scim", off); err != nil || again {
		t.Fatalf("the same restriction again changed something: %v, %v", again, err)
	}
	v, err := e.Svc.Get(ctx, "root", granted.ID)
	if err != nil || v.Grant == nil || v.Grant.Revoked.IsZero() || v.Grant.RevokedBy != "directory:scim" {
		t.Fatalf("alice's live grant %s after deactivation: %+v, %v", g.ID, v, err)
	}
	if _, err := e.Approve(t, "bob", pending); !errors.Is(err, broker.ErrUnknownPrincipal) {
		t.Fatalf("approving a deactivated requester's request = %v, want ErrUnknownPrincipal", err)
	}
	p, _ := e.Svc.Policy()
	if p.InGroup("erin", "sre") {
		t.Fatal("erin still counts in sre")
	}
	if _, err := e.TryRequest(t, broker.RequestInput{Role: "prod", Requester: "alice", Reason: "after offboarding"}); err == nil {
		t.Fatal("a deactivated person could request")
	}

	// The directory lifts it: back to the signed bundle, nothing more.
	if changed, err := e.Svc.SetDirectory(ctx, "scim", policy.Restriction{}); err != nil || !changed {
		t.Fatalf("lift = %v, %v", changed, err)
	}
	p, _ = e.Svc.Policy()
	if alice, _ := p.Principal("alice"); alice.Disabled || !p.InGroup("erin", "sre") {
		t.Fatal("lifting the restriction did not restore the signed policy")
	}
	if _, ok := p.Principal("mallory"); !ok || p.InGroup("mallory", "sre") {
		t.Fatal("lifting changed more than the restriction")
	}
}

// TestRejectionAuditsAreBounded: pushing needs no session, so a flood of
// distinct garbage is audited at most MaxRejectionAudits times a minute
// per source, and every offer is still refused.
func TestRejectionAuditsAreBounded(t *testing.T) {
	e := newBundleEnv(t)
	ctx := context.Background()
	before := auditSize(t, e)
	for i := range 3 * broker.MaxRejectionAudits {
		junk := []byte(fmt.Sprintf("junk %d\n", i))
		if _, err := e.Svc.Activate(ctx, junk, "push"); !errors.Is(err, policy.ErrBundleMalformed) {
			t.Fatalf("offer %d = %v", i, err)
		}
	}
	if got := auditSize(t, e) - before; got != broker.MaxRejectionAudits {
		t.Fatalf("%d rejections audited in a minute, want %d", got, broker.MaxRejectionAudits)
	}
	// Another source has its own allowance, and the next minute a new one.
	if _, err := e.Svc.Activate(ctx, []byte("junk\n"), "https://policy.example/b"); err == nil {
		t.Fatal("junk accepted")
	}
	e.Clock.Advance(time.Minute)
	if _, err := e.Svc.Activate(ctx, []byte("more junk\n"), "push"); err == nil {
		t.Fatal("junk accepted")
	}
	if got := auditSize(t, e) - before; got != broker.MaxRejectionAudits+2 {
		t.Fatalf("%d rejections audited, want %d", got, broker.MaxRejectionAudits+2)
	}
}
