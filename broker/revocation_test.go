package broker_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/failsmall/breakglass/broker"
	"github.com/failsmall/breakglass/internal/brokertest"
	"github.com/failsmall/breakglass/offline"
	"github.com/failsmall/breakglass/token"
)

// publishing is a second Service on e's store that signs revocation lists
// with e's keyring, as a serving broker does.
func publishing(t *testing.T, e *brokertest.Env, maxAge time.Duration) *broker.Service {
	t.Helper()
	svc, err := broker.New(broker.Config{Name: brokertest.Name, Store: e.DB, Minter: token.Minter{Keyring: e.Keys},
		Clock: e.Clock, RevocationSigner: token.RevocationPublisher{Signer: e.Keys}, RevocationsMaxAge: maxAge})
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

// mustRevocations fetches svc's list and checks its JWS says what it returned.
func mustRevocations(t *testing.T, e *brokertest.Env, svc *broker.Service) *broker.RevocationList {
	t.Helper()
	jws, l, err := svc.Revocations(context.Background())
	if err != nil {
		t.Fatalf("Revocations: %v", err)
	}
	v, err := offline.VerifyRevocations(jws, e.Keys.JWKS(), e.Clock.Now())
	if err != nil {
		t.Fatalf("VerifyRevocations: %v", err)
	}
	if v.Issuer != l.Issuer || v.Sequence != l.Sequence || !v.Issued.Equal(l.Issued) || v.MaxAge != l.MaxAge || !slices.Equal(v.Revoked, l.Revoked) {
		t.Fatalf("signed list %+v, returned %+v", *v, *l)
	}
	return l
}

func mustRevoke(t *testing.T, e *brokertest.Env, who string, r *broker.Request) *broker.Grant {
	t.Helper()
	text, sig := e.Challenge(t, who, broker.ActionRevoke, r.ID)
	g, err := e.Svc.Revoke(context.Background(), text, sig)
	if err != nil {
		t.Fatalf("revoke %s as %s: %v", r.ID, who, err)
	}
	return g
}

func TestRevocationList(t *testing.T) {
	e := brokertest.New(t, testPolicy, "")
	pub := publishing(t, e, 0)
	grant := func() *broker.Request {
		r := e.Request(t, prodInput())
		for _, who := range []string{"bob", "dave", "carol"} {
			mustApprove(t, e, who, r)
		}
		return r
	}
	l := mustRevocations(t, e, pub)
	if l.Issuer != brokertest.Name || l.Sequence != 0 || len(l.Revoked) != 0 || l.MaxAge != broker.DefaultRevocationsMaxAge {
		t.Errorf("empty list = %+v, want issuer %s, sequence 0, nothing revoked, max age %s", *l, brokertest.Name, broker.DefaultRevocationsMaxAge)
	}
	r1 := grant()
	e.Clock.Advance(10 * time.Minute) // g1 expires 10 minutes before g2
	r2, r3 := grant(), grant()
	g1 := mustRevoke(t, e, "alice", r1)
	g2 := mustRevoke(t, e, "root", r2)
	l = mustRevocations(t, e, pub)
	if want := []string{g1.ID, g2.ID}; !sameSet(l.Revoked, want) || l.Sequence != 2 {
		t.Errorf("after two revocations: revoked %v, sequence %d; want %v, 2", l.Revoked, l.Sequence, want)
	}
	if !l.Issued.Equal(e.Clock.Now().Truncate(time.Second)) {
		t.Errorf("issued %s, want now %s", l.Issued, e.Clock.Now())
	}
	if slices.Contains(l.Revoked, mustGrantID(t, e, r3)) {
		t.Errorf("the unrevoked grant of %s is listed", r3.ID)
	}
	e.Clock.Advance(g1.Expires.Sub(e.Clock.Now()))
	l = mustRevocations(t, e, pub)
	if want := []string{g2.ID}; !slices.Equal(l.Revoked, want) || l.Sequence != 3 {
		t.Errorf("after g1 expired: revoked %v, sequence %d; want %v, 3", l.Revoked, l.Sequence, want)
	}
	// Another process on the same store publishes the same list.
	other := publishing(t, e, 5*time.Minute)
	if l2 := mustRevocations(t, e, other); l2.Sequence != l.Sequence || !slices.Equal(l2.Revoked, l.Revoked) || l2.MaxAge != 5*time.Minute {
		t.Errorf("the other process's list = %+v, want sequence %d, revoked %v, max age 5m", *l2, l.Sequence, l.Revoked)
	}
	if _, _, err := e.Svc.Revocations(context.Background()); !errors.Is(err, broker.ErrNotFound) {
		t.Errorf("a broker with no signer: err = %v, want ErrNotFound", err)
	}
}

func mustGrantID(t *testing.T, e *brokertest.Env, r *broker.Request) string {
	t.Helper()
	var id string
	err := e.DB.View(context.Background(), func(tx broker.Tx) error {
		g, err := tx.Grant(r.ID)
		if g != nil {
			id = g.ID
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func sameSet(got, want []string) bool {
	got, want = slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(want))
	return slices.Equal(got, want)
}
