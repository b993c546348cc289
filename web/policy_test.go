package web_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/failsmall/breakglass/broker"
	"github.com/failsmall/breakglass/internal/brokertest"
	"github.com/failsmall/breakglass/policy"
	"github.com/failsmall/breakglass/web"
)

// TestPolicyEndpoints: the active bundle is served byte for byte, a pushed
// bundle short of the admin quorum is refused with bundle_rejected and its
// reason, a good one activates, and status and metrics show the bundle and
// every upstream source.
func TestPolicyEndpoints(t *testing.T) {
	ctx := context.Background()
	pol := strings.Replace(racePolicy(2, 1), "version: 1\n", "version: 1\nadmins: [sre00, sre01]\nadmin_quorum: 2\n", 1)
	e := brokertest.NewPinned(t, pol, "", "sre00", "sre01")
	lastOK := time.Date(2026, 11, 25, 20, 0, 0, 0, time.UTC)
	sources := func() []web.SourceJSON {
		return []web.SourceJSON{{Name: "https://policy.example/active.bundle", Kind: "http", LastSuccess: lastOK,
			LastError: "connection refused", LastErrorAt: lastOK.Add(time.Hour), AgeSeconds: 3600}}
	}
	s := web.NewServer(web.Config{Service: e.Svc, Sources: sources})
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	cl, err := web.NewClient(ts.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	active, _, _ := e.Svc.ActiveBundle()
	got, err := cl.ActiveBundle(ctx)
	if err != nil || string(got) != string(active.Raw) {
		t.Fatalf("GET /v1/policy/bundle = %v, %d bytes; want the active bundle's %d", err, len(got), len(active.Raw))
	}
	if got, err := cl.Bundle(ctx, active.Hash); err != nil || string(got) != string(active.Raw) {
		t.Fatalf("GET /v1/policy/bundles/{hash} = %v", err)
	}
	if _, err := cl.Bundle(ctx, "sha256:"+strings.Repeat("0", 64)); !errors.Is(err, broker.ErrNotFound) {
		t.Fatalf("unknown bundle = %v, want not_found", err)
	}

	next := &policy.Bundle{Serial: 2, Created: brokertest.Start, Previous: active.Hash}
	short := e.Bundle(t, next, pol, "sre00")
	status, body, _ := call(t, http.MethodPost, ts.URL+"/v1/policy/bundles", string(short), "Content-Type", web.BundleContentType)
	if status != http.StatusUnprocessableEntity || body.Error.Code != "bundle_rejected" || !strings.Contains(body.Error.Message, "need 2") {
		t.Fatalf("short bundle = %d %+v, want 422 bundle_rejected saying 2 are needed", status, body.Error)
	}
	if _, err := cl.PushBundle(ctx, short); !errors.Is(err, broker.ErrBundleRejected) {
		t.Fatalf("client push of a short bundle = %v, want ErrBundleRejected", err)
	}
	act, err := cl.PushBundle(ctx, e.Bundle(t, next, pol, "sre00", "sre01"))
	if err != nil || act.Outcome != broker.OutcomeActivated || act.Serial != 2 {
		t.Fatalf("push = %+v, %v", act, err)
	}

	// Anyone may push the public active bundle back: it is current, and it
	// does not make the bundle any younger.
	e.Clock.Advance(time.Hour)
	activeNow, err := cl.ActiveBundle(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if act, err := cl.PushBundle(ctx, activeNow); err != nil || act.Outcome != broker.OutcomeCurrent {
		t.Fatalf("push of the active bundle = %+v, %v; want current", act, err)
	}
	st, err := cl.Status(ctx)
	if err != nil || st.Bundle == nil || st.Bundle.AgeSeconds < 3600 {
		t.Fatalf("status after a push of the active bundle = %+v, %v; want the bundle's age kept (at least 3600s)", st.Bundle, err)
	}
	if st.Bundle.Serial != 2 || st.Bundle.Previous.Serial != 1 || len(st.Sources) != 1 || st.Sources[0].LastError == "" {
		t.Fatalf("status = %+v, %v", st, err)
	}
	pj, err := cl.Policy(ctx)
	if err != nil || pj.Bundle.AdminQuorum != 2 || len(pj.Sources) != 1 {
		t.Fatalf("GET /v1/policy = %+v, %v", pj, err)
	}
	resp, err := http.Get(ts.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		"breakglass_policy_bundle_serial 2",
		`breakglass_source_up{kind="http",source="https://policy.example/active.bundle"} 0`,
		`breakglass_source_age_seconds{kind="http",source="https://policy.example/active.bundle"} 3600`,
		"breakglass_policy_bundle_age_seconds ",
	} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}
