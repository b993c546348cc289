package broker_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/failsmall/breakglass/broker"
	"github.com/failsmall/breakglass/hwkey"
	"github.com/failsmall/breakglass/internal/brokertest"
	"github.com/failsmall/breakglass/policy"
)

// TestApprovalRefusals: each way an approval can be wrong is refused with
// its own error, and the request stays intact.
func TestApprovalRefusals(t *testing.T) {
	testApprovalRefusals(t, func(t *testing.T) *brokertest.Env { return brokertest.New(t, testPolicy, "") })
}

func testApprovalRefusals(t *testing.T, newEnv func(t *testing.T) *brokertest.Env) {
	ctx := context.Background()
	tests := []struct {
		name string
		// setup returns the request to approve and the signature to send.
		setup func(t *testing.T, e *brokertest.Env) (*broker.Request, []byte)
		want  error
	}{
		{"self-approval", func(t *testing.T, e *brokertest.Env) (*broker.Request, []byte) {
			r := e.Request(t, prodInput())
			return r, e.Sign(t, "alice", r.Statement)
		}, broker.ErrSelfApproval},
		{"ineligible principal", func(t *testing.T, e *brokertest.Env) (*broker.Request, []byte) {
			r := e.Request(t, prodInput())
			return r, e.Sign(t, "mallory", r.Statement)
		}, broker.ErrNotEligible},
		{"unknown principal", func(t *testing.T, e *brokertest.Env) (*broker.Request, []byte) {
			r := e.Request(t, prodInput())
			return r, e.Sign(t, "stranger", r.Statement)
		}, broker.ErrUnknownPrincipal},
		{"signature over another request's statement", func(t *testing.T, e *brokertest.Env) (*broker.Request, []byte) {
			other := e.Request(t, prodInput())
			r := e.Request(t, prodInput())
			return r, e.Sign(t, "bob", other.Statement)
		}, broker.ErrStatementMismatch},
		{"changed statement", func(t *testing.T, e *brokertest.Env) (*broker.Request, []byte) {
			r := e.Request(t, prodInput())
			changed := bytes.Replace(r.Statement, []byte("duration: 30m"), []byte("duration: 1h"), 1)
			return r, e.Sign(t, "bob", changed)
		}, broker.ErrStatementMismatch},
		{"wrong namespace", func(t *testing.T, e *brokertest.Env) (*broker.Request, []byte) {
			r := e.Request(t, prodInput())
			sig, err := hwkey.Sign(e.SignerFor("bob"), "file", r.Statement)
			if err != nil {
				t.Fatal(err)
			}
			return r, sig.Armor()
		}, broker.ErrBadSignature},
		{"garbage signature", func(t *testing.T, e *brokertest.Env) (*broker.Request, []byte) {
			return e.Request(t, prodInput()), []byte("-----BEGIN SSH SIGNATURE-----\nAAAA\n-----END SSH SIGNATURE-----\n")
		}, broker.ErrBadSignature},
		{"expired request", func(t *testing.T, e *brokertest.Env) (*broker.Request, []byte) {
			r := e.Request(t, prodInput())
			e.Clock.Advance(time.Hour + time.Second)
			return r, e.Sign(t, "bob", r.Statement)
		}, broker.ErrExpired},
		{"denied request", func(t *testing.T, e *brokertest.Env) (*broker.Request, []byte) {
			r := e.Request(t, prodInput())
			deny(t, e, "carol", r, "not during the freeze")
			return r, e.Sign(t, "bob", r.Statement)
		}, broker.ErrDenied},
		{"cancelled request", func(t *testing.T, e *brokertest.Env) (*broker.Request, []byte) {
			r := e.Request(t, prodInput())
			text, sig := e.Challenge(t, "alice", broker.ActionCancel, r.ID)
			if _, err := e.Svc.Cancel(ctx, text, sig); err != nil {
				t.Fatal(err)
			}
			return r, e.Sign(t, "bob", r.Statement)
		}, broker.ErrCancelled},
		{"already issued request", func(t *testing.T, e *brokertest.Env) (*broker.Request, []byte) {
			r := e.Request(t, prodInput())
			for _, who := range []string{"bob", "dave", "carol"} {
				mustApprove(t, e, who, r)
			}
			return r, e.Sign(t, "erin", r.Statement)
		}, broker.ErrAlreadyIssued},
		{"user verification required, key proves none", func(t *testing.T, e *brokertest.Env) (*broker.Request, []byte) {
			r := e.Request(t, broker.RequestInput{Role: "uv", Requester: "alice", Reason: "read the logs"})
			return r, e.Sign(t, "bob", r.Statement)
		}, broker.ErrUserVerification},
	}
	sentinels := map[error]bool{}
	for _, tt := range tests {
		sentinels[tt.want] = true
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			r, sig := tt.setup(t, e)
			before, err := e.Svc.Get(ctx, "root", r.ID)
			if err != nil {
				t.Fatal(err)
			}
			_, err = e.Svc.Approve(ctx, r.ID, sig)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			after, err := e.Svc.Get(ctx, "root", r.ID)
			if err != nil {
				t.Fatal(err)
			}
			if len(after.Approvals) != len(before.Approvals) {
				t.Errorf("refused approval was recorded: %d approvals before, %d after", len(before.Approvals), len(after.Approvals))
			}
		})
	}
	if len(sentinels) < 10 {
		t.Errorf("only %d distinct errors for %d refusals", len(sentinels), len(tests))
	}
}

func deny(t *testing.T, e *brokertest.Env, who string, r *broker.Request, reason string) *broker.Request {
	t.Helper()
	text, err := broker.DenialStatement(r.Statement, reason)
	if err != nil {
		t.Fatal(err)
	}
	out, err := e.Svc.Deny(context.Background(), r.ID, text, e.Sign(t, who, text))
	if err != nil {
		t.Fatalf("deny as %s: %v", who, err)
	}
	return out
}

func TestRepeatedApprovalCountsOnce(t *testing.T) {
	e := brokertest.New(t, testPolicy, "")
	r := e.Request(t, prodInput())
	mustApprove(t, e, "bob", r)
	res := mustApprove(t, e, "bob", r)
	if !res.Duplicate || res.Grant != nil {
		t.Fatalf("second approval by bob: duplicate=%v grant=%v, want duplicate and no grant", res.Duplicate, res.Grant)
	}
	v, _ := e.Svc.Get(context.Background(), "root", r.ID)
	if len(v.Approvals) != 1 {
		t.Errorf("%d approvals stored, want 1", len(v.Approvals))
	}
}

func TestDenial(t *testing.T) {
	ctx := context.Background()
	e := brokertest.New(t, testPolicy, "")
	r := e.Request(t, prodInput())
	text, _ := broker.DenialStatement(r.Statement, "no")
	if _, err := e.Svc.Deny(ctx, r.ID, text, e.Sign(t, "mallory", text)); !errors.Is(err, broker.ErrNotEligible) {
		t.Errorf("denial by mallory: err = %v, want ErrNotEligible", err)
	}
	other := e.Request(t, prodInput())
	otherText, _ := broker.DenialStatement(other.Statement, "no")
	if _, err := e.Svc.Deny(ctx, r.ID, otherText, e.Sign(t, "carol", otherText)); !errors.Is(err, broker.ErrStatementMismatch) {
		t.Errorf("denial with another request's statement: err = %v, want ErrStatementMismatch", err)
	}
	if got := deny(t, e, "carol", r, "no"); got.State != broker.StateDenied {
		t.Errorf("state after denial = %s, want denied", got.State)
	}
}

func TestCancelAndRevoke(t *testing.T) {
	ctx := context.Background()
	e := brokertest.New(t, testPolicy, "")
	r := e.Request(t, prodInput())
	text, sig := e.Challenge(t, "bob", broker.ActionCancel, r.ID)
	if _, err := e.Svc.Cancel(ctx, text, sig); !errors.Is(err, broker.ErrForbidden) {
		t.Errorf("cancel by bob: err = %v, want ErrForbidden", err)
	}
	grant := func() *broker.Request {
		r := e.Request(t, prodInput())
		for _, who := range []string{"bob", "dave", "carol"} {
			mustApprove(t, e, who, r)
		}
		return r
	}
	for _, who := range []string{"alice", "dave", "root"} {
		r := grant()
		text, sig := e.Challenge(t, who, broker.ActionRevoke, r.ID)
		g, err := e.Svc.Revoke(ctx, text, sig)
		if err != nil {
			t.Fatalf("revoke by %s: %v", who, err)
		}
		if g.RevokedBy != who {
			t.Errorf("revoked by %q, want %q", g.RevokedBy, who)
		}
		if _, err := e.Svc.Revoke(ctx, text, sig); !errors.Is(err, broker.ErrChallenge) {
			t.Errorf("reused challenge: err = %v, want ErrChallenge", err)
		}
		if _, err := e.Svc.Credentials(ctx, "alice", r.ID); !errors.Is(err, broker.ErrRevoked) {
			t.Errorf("credentials after revoke: err = %v, want ErrRevoked", err)
		}
	}
	r = grant()
	text, sig = e.Challenge(t, "mallory", broker.ActionRevoke, r.ID)
	if _, err := e.Svc.Revoke(ctx, text, sig); !errors.Is(err, broker.ErrForbidden) {
		t.Errorf("revoke by mallory: err = %v, want ErrForbidden", err)
	}
	if _, err := e.Svc.Credentials(ctx, "bob", r.ID); !errors.Is(err, broker.ErrForbidden) {
		t.Errorf("credentials for bob: err = %v, want ErrForbidden", err)
	}
	if g, err := e.Svc.Credentials(ctx, "alice", r.ID); err != nil || g.Token == "" {
		t.Errorf("credentials for alice: %v, token %q", err, g.Token)
	}
}

func TestRequestRefusals(t *testing.T) {
	ctx := context.Background()
	e := brokertest.New(t, testPolicy, "")
	text, err := e.Svc.Prepare(ctx, prodInput())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Svc.CreateRequest(ctx, text, e.Sign(t, "mallory", text)); !errors.Is(err, broker.ErrForbidden) {
		t.Errorf("alice's statement signed by mallory: err = %v, want ErrForbidden", err)
	}
	if _, err := e.Svc.CreateRequest(ctx, text, e.Sign(t, "alice", text)); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Svc.CreateRequest(ctx, text, e.Sign(t, "alice", text)); !errors.Is(err, broker.ErrConflict) {
		t.Errorf("same request twice: err = %v, want ErrConflict", err)
	}
	for name, in := range map[string]broker.RequestInput{
		"no incident":       {Role: "prod", Requester: "alice", Reason: "disk full on db-7"},
		"bad incident":      {Role: "prod", Requester: "alice", Reason: "disk full on db-7", Incident: "JIRA-1"},
		"short reason":      {Role: "prod", Requester: "alice", Reason: "x", Incident: "INC-1"},
		"newline in reason": {Role: "prod", Requester: "alice", Reason: "disk full\nrole: root", Incident: "INC-1"},
		"unknown role":      {Role: "nope", Requester: "alice", Reason: "disk full on db-7"},
	} {
		if _, err := e.Svc.Prepare(ctx, in); !errors.Is(err, broker.ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", name, err)
		}
	}
	if _, err := e.Svc.Prepare(ctx, broker.RequestInput{Role: "prod", Requester: "bob", Reason: "disk full on db-7", Incident: "INC-1"}); !errors.Is(err, broker.ErrForbidden) {
		t.Errorf("bob (sre) requests prod: err = %v, want ErrForbidden", err)
	}
}

func TestPolicyChangeInvalidatesPendingRequests(t *testing.T) {
	e := brokertest.New(t, testPolicy, "")
	r := e.Request(t, prodInput())
	p2, err := policy.Parse(append(e.Policy.Bytes(), []byte("# changed\n")...))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Svc.SetPolicy(context.Background(), p2); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Approve(t, "bob", r); !errors.Is(err, broker.ErrPolicyChanged) {
		t.Errorf("approval under a new policy: err = %v, want ErrPolicyChanged", err)
	}
}

func TestSweepExpires(t *testing.T) {
	ctx := context.Background()
	e := brokertest.New(t, testPolicy, "")
	pending := e.Request(t, prodInput())
	granted := e.Request(t, prodInput())
	for _, who := range []string{"bob", "dave", "carol"} {
		mustApprove(t, e, who, granted)
	}
	e.Clock.Advance(61 * time.Minute)
	n, err := e.Svc.Sweep(ctx)
	if err != nil || n != 2 {
		t.Fatalf("sweep = %d, %v; want 2 expired", n, err)
	}
	for _, id := range []string{pending.ID, granted.ID} {
		v, _ := e.Svc.Get(ctx, "root", id)
		if v.Request.State != broker.StateExpired {
			t.Errorf("request %s is %s, want expired", id, v.Request.State)
		}
	}
	if _, err := e.Svc.Credentials(ctx, "alice", granted.ID); !errors.Is(err, broker.ErrGrantExpired) {
		t.Errorf("credentials after expiry: err = %v, want ErrGrantExpired", err)
	}
}

func TestSessions(t *testing.T) {
	ctx := context.Background()
	e := brokertest.New(t, testPolicy, "")
	text, sig := e.Challenge(t, "bob", broker.ActionSession, "")
	tok, _, err := e.Svc.OpenSession(ctx, text, sig)
	if err != nil {
		t.Fatal(err)
	}
	if who, err := e.Svc.Authenticate(ctx, tok); err != nil || who != "bob" {
		t.Errorf("Authenticate = %q, %v; want bob", who, err)
	}
	if _, _, err := e.Svc.OpenSession(ctx, text, sig); !errors.Is(err, broker.ErrChallenge) {
		t.Errorf("challenge reused: err = %v, want ErrChallenge", err)
	}
	text, _ = e.Challenge(t, "bob", broker.ActionSession, "")
	if _, _, err := e.Svc.OpenSession(ctx, text, e.Sign(t, "carol", text)); !errors.Is(err, broker.ErrForbidden) {
		t.Errorf("bob's challenge signed by carol: err = %v, want ErrForbidden", err)
	}
	e.Clock.Advance(16 * time.Minute)
	if _, err := e.Svc.Authenticate(ctx, tok); !errors.Is(err, broker.ErrUnauthenticated) {
		t.Errorf("expired session: err = %v, want ErrUnauthenticated", err)
	}
}
