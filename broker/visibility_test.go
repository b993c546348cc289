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

func mustSession(t *testing.T, e *brokertest.Env, who string) string {
	t.Helper()
	text, sig := e.Challenge(t, who, broker.ActionSession, "")
	tok, _, err := e.Svc.OpenSession(context.Background(), text, sig)
	if err != nil {
		t.Fatalf("open a session as %s: %v", who, err)
	}
	return tok
}

// TestSessionsFollowThePolicy (issue 10, defect 5): a session ends when its
// principal is deactivated by a directory or removed from the policy, and
// works again if the directory reactivates them. Before the fix both
// sessions kept working until they expired.
func TestSessionsFollowThePolicy(t *testing.T) {
	e := brokertest.New(t, testPolicy, "")
	ctx := context.Background()
	bob, dave := mustSession(t, e, "bob"), mustSession(t, e, "dave")
	for tok, who := range map[string]string{bob: "bob", dave: "dave"} {
		if got, err := e.Svc.Authenticate(ctx, tok); err != nil || got != who {
			t.Fatalf("Authenticate(%s's session) = %q, %v", who, got, err)
		}
	}
	if _, err := e.Svc.SetDirectory(ctx, "scim", policy.Restriction{Disabled: map[string]string{"bob": "left the company"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Svc.Authenticate(ctx, bob); !errors.Is(err, broker.ErrUnauthenticated) || !strings.Contains(err.Error(), "bob is deactivated") {
		t.Errorf("bob's session after the directory deactivated him: %v, want ErrUnauthenticated saying so", err)
	}
	if _, err := e.Svc.List(ctx, "bob", broker.RequestFilter{}); !errors.Is(err, broker.ErrUnauthenticated) {
		t.Errorf("List as deactivated bob: %v, want ErrUnauthenticated", err)
	}
	if got, err := e.Svc.Authenticate(ctx, dave); err != nil || got != "dave" {
		t.Errorf("dave's session, untouched: %q, %v", got, err)
	}
	if _, err := e.Svc.SetDirectory(ctx, "scim", policy.Restriction{}); err != nil {
		t.Fatal(err)
	}
	if got, err := e.Svc.Authenticate(ctx, bob); err != nil || got != "bob" {
		t.Errorf("bob's session once reactivated: %q, %v", got, err)
	}
	// A new policy without dave ends his session.
	without := strings.Replace(testPolicy, "  - {id: dave, name: Dave, groups: [sre], keys: [KEY(dave)]}\n", "", 1)
	p, err := policy.Parse([]byte(e.Expand(without)))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Svc.SetPolicy(ctx, p); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Svc.Authenticate(ctx, dave); !errors.Is(err, broker.ErrUnauthenticated) || !strings.Contains(err.Error(), "dave is not in the active policy") {
		t.Errorf("dave's session after the policy dropped him: %v, want ErrUnauthenticated saying so", err)
	}
}

// TestReadsAreLimited (issue 10, defect 5): a principal reads the requests
// they made and those of the roles they may approve; a policy admin reads
// every request. Before the fix any session read every request.
func TestReadsAreLimited(t *testing.T) {
	e := brokertest.New(t, testPolicy, "")
	ctx := context.Background()
	prod := e.Request(t, prodInput())                                                                      // alice; approved by sre and security
	uv := e.Request(t, broker.RequestInput{Role: "uv", Requester: "mallory", Reason: "check the uv role"}) // approved by sre alone
	for _, tc := range []struct {
		who  string
		sees []string
	}{
		{"alice", []string{prod.ID}},       // her own
		{"mallory", []string{uv.ID}},       // his own
		{"carol", []string{prod.ID}},       // security approves prod, not uv
		{"bob", []string{prod.ID, uv.ID}},  // sre approves both
		{"root", []string{prod.ID, uv.ID}}, // the policy admin
	} {
		got, err := e.Svc.List(ctx, tc.who, broker.RequestFilter{})
		if err != nil {
			t.Fatalf("List as %s: %v", tc.who, err)
		}
		var ids []string
		for _, r := range got {
			ids = append(ids, r.ID)
		}
		if !sameSet(ids, tc.sees) {
			t.Errorf("List as %s = %v, want %v", tc.who, ids, tc.sees)
		}
		for _, r := range []*broker.Request{prod, uv} {
			_, err := e.Svc.Get(ctx, tc.who, r.ID)
			switch want := slices.Contains(tc.sees, r.ID); {
			case want && err != nil:
				t.Errorf("Get(%s) as %s: %v, want it", r.Role, tc.who, err)
			case !want && !errors.Is(err, broker.ErrForbidden):
				t.Errorf("Get(%s) as %s: %v, want ErrForbidden", r.Role, tc.who, err)
			}
		}
	}
	if _, err := e.Svc.Get(ctx, "nobody", prod.ID); !errors.Is(err, broker.ErrUnauthenticated) {
		t.Errorf("Get as a principal not in the policy: %v, want ErrUnauthenticated", err)
	}
}
