package web_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/failsmall/breakglass/broker"
	"github.com/failsmall/breakglass/internal/brokertest"
	"github.com/failsmall/breakglass/offline"
	"github.com/failsmall/breakglass/token"
	"github.com/failsmall/breakglass/web"
)

// TestRevocationsEndpoint: GET /v1/revocations needs no session and serves
// a JWS that verifies against the JWKS the same server publishes, listing
// the revoked grant.
func TestRevocationsEndpoint(t *testing.T) {
	ctx := context.Background()
	e := brokertest.New(t, racePolicy(1, 1), "")
	svc, err := broker.New(broker.Config{Name: brokertest.Name, Store: e.DB, Minter: tokenMinter(e), Clock: e.Clock,
		RevocationSigner: token.RevocationPublisher{Signer: e.Keys}, RevocationsMaxAge: 10 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(web.NewServer(web.Config{Service: svc, JWKS: func() any { return e.Keys.JWKS() }}).Handler())
	t.Cleanup(ts.Close)
	cl, err := web.NewClient(ts.URL, ts.Client())
	if err != nil {
		t.Fatal(err)
	}
	r := e.Request(t, broker.RequestInput{Role: "prod", Requester: "alice", Reason: "revocations endpoint"})
	res, err := e.Approve(t, "sre00", r)
	if err != nil || res.Grant == nil {
		t.Fatalf("approve: %v (grant %v)", err, res)
	}
	text, sig := e.Challenge(t, "alice", broker.ActionRevoke, r.ID)
	if _, err := e.Svc.Revoke(ctx, text, sig); err != nil {
		t.Fatalf("revoke: %v", err)
	}

	status, _, body := call(t, http.MethodGet, ts.URL+"/v1/revocations", "")
	if status != http.StatusOK || strings.Count(body, ".") != 2 {
		t.Fatalf("GET /v1/revocations = %d %.100q, want 200 and a compact JWS", status, body)
	}
	jws, err := cl.Revocations(ctx)
	if err != nil {
		t.Fatalf("client Revocations: %v", err)
	}
	data, err := cl.JWKS(ctx)
	if err != nil {
		t.Fatal(err)
	}
	jwks, err := token.ParseJWKS(data)
	if err != nil {
		t.Fatal(err)
	}
	l, err := offline.VerifyRevocations(jws, jwks, e.Clock.Now())
	if err != nil {
		t.Fatalf("VerifyRevocations: %v", err)
	}
	if want := []string{res.Grant.ID}; !slices.Equal(l.Revoked, want) || l.Sequence != 1 || l.MaxAge != 10*time.Minute || l.Issuer != brokertest.Name {
		t.Errorf("list = %+v, want issuer %s, sequence 1, max age 10m, revoked %v", *l, brokertest.Name, want)
	}
}

func TestRevocationsEndpointWithoutSigner(t *testing.T) {
	e := brokertest.New(t, racePolicy(1, 1), "")
	ts := newServer(t, e)
	status, body, raw := call(t, http.MethodGet, ts.URL+"/v1/revocations", "")
	if status != http.StatusNotFound || body.Error.Code != "not_found" || !strings.Contains(body.Error.Message, "no revocation list") {
		t.Errorf("GET /v1/revocations = %d %s, want 404 not_found saying there is no list", status, raw)
	}
	cl, _ := web.NewClient(ts.URL, nil)
	if _, err := cl.Revocations(context.Background()); !errors.Is(err, broker.ErrNotFound) {
		t.Errorf("client Revocations = %v, want ErrNotFound", err)
	}
}
