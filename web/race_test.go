package web_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/failsmall/breakglass/broker"
	"github.com/failsmall/breakglass/internal/brokertest"
	"github.com/failsmall/breakglass/web"
)

// racePolicy has 50 SRE approvers; the role needs 3 of them.
func racePolicy(n, quorum int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "version: 1\ngroups:\n  - name: eng\n  - name: sre\nprincipals:\n  - {id: alice, name: Alice, groups: [eng], keys: [KEY(alice)]}\n")
	for i := range n {
		fmt.Fprintf(&b, "  - {id: sre%02d, name: SRE %d, groups: [sre], keys: [KEY(sre%02d)]}\n", i, i, i)
	}
	fmt.Fprintf(&b, `roles:
  - name: prod
    requesters: [eng]
    approval:
      - {count: %d, groups: [sre]}
    duration: {default: 30m, max: 1h}
    min_reason: 5
    pending_ttl: 1h
    jwt: {audience: [prod-api], scopes: [admin]}
`, quorum)
	return b.String()
}

func startServer(t *testing.T, e *brokertest.Env) *web.Client {
	t.Helper()
	return startBench(t, web.NewServer(web.Config{Service: e.Svc, JWKS: func() any { return e.Keys.JWKS() }}))
}

func startBench(t testing.TB, s *web.Server) *web.Client {
	t.Helper()
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	cl, err := web.NewClient(ts.URL, ts.Client())
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

// TestFiftyApprovalsRaceToOneGrant: 50 approvers sign at once over HTTP; the
// quorum (3) is met exactly once and exactly one grant exists.
func TestFiftyApprovalsRaceToOneGrant(t *testing.T) {
	ctx := context.Background()
	e := brokertest.New(t, racePolicy(50, 3), "")
	cl := startServer(t, e)
	r := e.Request(t, broker.RequestInput{Role: "prod", Requester: "alice", Reason: "race to quorum"})
	var (
		wg              sync.WaitGroup
		mu              sync.Mutex
		granted, after  int
		recorded, other []string
	)
	start := make(chan struct{})
	for i := range 50 {
		who := fmt.Sprintf("sre%02d", i)
		sig := brokertest.Sign(t, who, r.Statement)
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			res, err := cl.Approve(ctx, r.ID, sig)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil && res.Granted:
				granted++
			case err == nil:
				recorded = append(recorded, who)
			case errors.Is(err, broker.ErrAlreadyIssued):
				after++
			default:
				other = append(other, fmt.Sprintf("%s: %v", who, err))
			}
		}()
	}
	close(start)
	wg.Wait()
	if len(other) > 0 {
		t.Fatalf("unexpected errors: %v", other)
	}
	if granted != 1 || len(recorded) != 2 || after != 47 {
		t.Errorf("granted %d, recorded before the grant %d, refused after %d; want 1, 2, 47", granted, len(recorded), after)
	}
	issued, err := e.Svc.List(ctx, r.Requester, broker.RequestFilter{State: broker.StateIssued})
	if err != nil {
		t.Fatal(err)
	}
	v, err := e.Svc.Get(ctx, r.Requester, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(issued) != 1 || v.Grant == nil || len(v.Grant.Approvers) != 3 || len(v.Approvals) != 3 {
		t.Errorf("%d issued requests, grant %+v, %d approvals stored; want 1, a grant by 3, 3", len(issued), v.Grant, len(v.Approvals))
	}
}
