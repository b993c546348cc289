package broker_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/failsmall/breakglass/broker"
	"github.com/failsmall/breakglass/internal/brokertest"
	"github.com/failsmall/breakglass/token"
)

// testPolicy: alice and mallory (engineering) may request prod, which needs
// 2 of sre AND 1 of security; erin is in both sre and security.
const testPolicy = `version: 1
admins: [root]
groups:
  - name: engineering
  - name: sre
  - name: security
  - name: ops
principals:
  - {id: alice, name: Alice, groups: [engineering], keys: [KEY(alice)]}
  - {id: mallory, name: Mallory, groups: [engineering], keys: [KEY(mallory)]}
  - {id: bob, name: Bob, groups: [sre], keys: [KEY(bob)]}
  - {id: dave, name: Dave, groups: [sre], keys: [KEY(dave)]}
  - {id: erin, name: Erin, groups: [sre, security], keys: [KEY(erin)]}
  - {id: carol, name: Carol, groups: [security], keys: [KEY(carol)]}
  - {id: root, name: Root, groups: [ops], keys: [KEY(root)]}
roles:
  - name: prod
    requesters: [engineering]
    approval:
      - {count: 2, groups: [sre]}
      - {count: 1, groups: [security]}
    duration: {default: 30m, max: 1h}
    incident: {required: true, pattern: '^INC-[0-9]+$'}
    min_reason: 10
    pending_ttl: 1h
    jwt: {audience: [prod-api], scopes: [admin]}
  - name: uv
    requesters: [engineering]
    approval:
      - {count: 1, groups: [sre]}
    duration: {default: 10m, max: 20m}
    min_reason: 5
    pending_ttl: 10m
    require_user_verification: true
    jwt: {audience: [uv-api], scopes: [read]}
`

func prodInput() broker.RequestInput {
	return broker.RequestInput{Role: "prod", Requester: "alice", Reason: "disk full on db-7", Incident: "INC-4812"}
}

func mustApprove(t *testing.T, e *brokertest.Env, who string, r *broker.Request) *broker.ApprovalResult {
	t.Helper()
	res, err := e.Approve(t, who, r)
	if err != nil {
		t.Fatalf("approve as %s: %v", who, err)
	}
	return res
}

func TestFullFlowMintsOneGrant(t *testing.T) {
	e := brokertest.New(t, testPolicy, "")
	r := e.Request(t, prodInput())
	if r.State != broker.StatePending {
		t.Fatalf("state = %s, want pending", r.State)
	}
	for _, who := range []string{"bob", "dave"} {
		if res := mustApprove(t, e, who, r); res.Grant != nil {
			t.Fatalf("grant after %s: quorum needs security too", who)
		}
	}
	res := mustApprove(t, e, "carol", r)
	if res.Grant == nil {
		t.Fatalf("no grant after bob, dave, carol; missing %v", res.Missing)
	}
	g := res.Grant
	claims, err := token.Verify(g.Token, e.Keys.JWKS(), token.VerifyOptions{Issuer: brokertest.Name, Audience: "prod-api", Now: e.Clock.Now})
	if err != nil {
		t.Fatalf("verify minted token: %v", err)
	}
	if claims.ID != g.ID || claims.RequestID != r.ID || claims.Subject != "alice" || claims.Incident != "INC-4812" || claims.PolicyHash != e.Policy.Hash() {
		t.Errorf("claims = %+v, want grant %s request %s for alice", claims, g.ID, r.ID)
	}
	if got, want := claims.Expiry.Sub(claims.IssuedAt), 30*time.Minute; got != want {
		t.Errorf("exp - iat = %s, want %s", got, want)
	}
	// A late approval is refused: the request was already granted.
	if _, err := e.Approve(t, "erin", r); !errors.Is(err, broker.ErrAlreadyIssued) {
		t.Errorf("approval after grant: err = %v, want ErrAlreadyIssued", err)
	}
	v, err := e.Svc.Get(context.Background(), "root", r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if v.Request.State != broker.StateIssued || v.Grant == nil || v.Grant.Token != "" || len(v.Approvals) != 3 {
		t.Errorf("view = state %s, grant %+v, %d approvals; want issued, a grant without token, 3 approvals", v.Request.State, v.Grant, len(v.Approvals))
	}
}

func TestTwoClauseQuorum(t *testing.T) {
	tests := []struct {
		name      string
		approvers []string
		met       bool
	}{
		{"two sre, no security", []string{"bob", "dave"}, false},
		{"one sre one security", []string{"bob", "carol"}, false},
		{"two sre and security", []string{"bob", "dave", "carol"}, true},
		{"erin counts once", []string{"erin", "bob"}, false},
		{"erin for sre, carol for security", []string{"erin", "bob", "carol"}, true},
		{"erin for security", []string{"bob", "dave", "erin"}, true},
		{"repeated approver counts once", []string{"bob", "bob", "carol"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := brokertest.New(t, testPolicy, "")
			r := e.Request(t, prodInput())
			var granted bool
			for i, who := range tt.approvers {
				res := mustApprove(t, e, who, r)
				if res.Grant != nil {
					if i != len(tt.approvers)-1 {
						t.Fatalf("granted after %v, before the last approver", tt.approvers[:i+1])
					}
					granted = true
				}
			}
			if granted != tt.met {
				t.Errorf("granted = %v, want %v", granted, tt.met)
			}
		})
	}
}

func TestExpiryNeverPastRoleMaximum(t *testing.T) {
	e := brokertest.New(t, testPolicy, "")
	in := prodInput()
	in.Duration = 2 * time.Hour
	if _, err := e.TryRequest(t, in); !errors.Is(err, broker.ErrInvalid) {
		t.Fatalf("2h on a 1h role: err = %v, want ErrInvalid", err)
	}
	in.Duration = time.Hour
	r := e.Request(t, in)
	e.Clock.Advance(50 * time.Minute) // approvals arrive late; the clock starts at issuance
	mustApprove(t, e, "bob", r)
	mustApprove(t, e, "dave", r)
	g := mustApprove(t, e, "carol", r).Grant
	claims, err := token.Verify(g.Token, e.Keys.JWKS(), token.VerifyOptions{Issuer: brokertest.Name, Audience: "prod-api", Now: e.Clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	if max := claims.IssuedAt.Add(time.Hour); claims.Expiry.After(max) {
		t.Errorf("exp %s is past iat + role max %s", claims.Expiry, max)
	}
	if !claims.Expiry.Equal(g.Expires) || !g.Issued.Equal(e.Clock.Now().Truncate(time.Second)) {
		t.Errorf("grant issued %s expires %s, token exp %s; want issued now", g.Issued, g.Expires, claims.Expiry)
	}
}
