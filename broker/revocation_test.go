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
	// g1 stays listed past its expiry while a relying party may still
	// accept it, and leaves at the sweep after its expiry plus the skew.
	e.Clock.Advance(g1.Expires.Sub(e.Clock.Now()))
	mustSweep(t, e)
	if l = mustRevocations(t, e, pub); !sameSet(l.Revoked, []string{g1.ID, g2.ID}) || l.Sequence != 2 {
		t.Errorf("at g1's expiry: revoked %v, sequence %d; want both, 2", l.Revoked, l.Sequence)
	}
	e.Clock.Advance(broker.DefaultMaxVerifySkew)
	l = mustRevocations(t, e, pub)
	if l.Sequence != 2 {
		t.Errorf("the clock alone moved the sequence to %d", l.Sequence)
	}
	mustSweep(t, e)
	l = mustRevocations(t, e, pub)
	if want := []string{g2.ID}; !slices.Equal(l.Revoked, want) || l.Sequence != 3 {
		t.Errorf("after g1 was delisted: revoked %v, sequence %d; want %v, 3", l.Revoked, l.Sequence, want)
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

func mustSweep(t *testing.T, e *brokertest.Env) {
	t.Helper()
	if _, err := e.Svc.Sweep(context.Background()); err != nil {
		t.Fatalf("Sweep: %v", err)
	}
}

// TestRevocationClockSteps (issue 10, defect 6): the list's sequence never
// goes back when the clock steps back, so a relying party pinned to the
// highest sequence it has seen keeps accepting fresh lists; and after a
// forward step, a grant relying parties still accept within their skew can
// still be revoked, and is listed.
func TestRevocationClockSteps(t *testing.T) {
	e := brokertest.New(t, testPolicy, "")
	pub := publishing(t, e, 0)
	grant := func() *broker.Request {
		r := e.Request(t, prodInput())
		for _, who := range []string{"bob", "dave", "carol"} {
			mustApprove(t, e, who, r)
		}
		return r
	}
	r1, r2 := grant(), grant()
	g1 := mustRevoke(t, e, "alice", r1)
	// Forward past g1's expiry and its skew: the sweep delists it.
	e.Clock.Advance(g1.Expires.Sub(e.Clock.Now()) + broker.DefaultMaxVerifySkew + time.Second)
	mustSweep(t, e)
	high := mustRevocations(t, e, pub)
	if high.Sequence != 2 || len(high.Revoked) != 0 {
		t.Fatalf("after g1's delisting: %+v, want sequence 2, nothing listed", *high)
	}
	// Back an hour: the sequence stays, so the relying party pinned to it
	// accepts the new list.
	e.Clock.Advance(-time.Hour)
	mustSweep(t, e)
	back := mustRevocations(t, e, pub)
	if back.Sequence < high.Sequence || len(back.Revoked) != 0 {
		t.Errorf("after a step back: %+v, want sequence at least %d, nothing listed", *back, high.Sequence)
	}
	jws, _, err := pub.Revocations(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := offline.CheckRevocations(jws, e.Keys.JWKS(), brokertest.Name, high.Sequence, "some-grant", e.Clock.Now()); err != nil {
		t.Errorf("a relying party pinned to sequence %d refuses the list after the step back: %v", high.Sequence, err)
	}

	// r2's grant: step forward to just past its expiry, within the skew a
	// relying party may allow; the sweep marks it expired, and it can still
	// be revoked, and is listed.
	g2, err := grantOf(e, r2)
	if err != nil {
		t.Fatal(err)
	}
	e.Clock.Advance(g2.Expires.Sub(e.Clock.Now()) + time.Minute)
	mustSweep(t, e)
	if got := mustState(t, e, r2.ID); got != broker.StateExpired {
		t.Fatalf("r2 after its grant's expiry: %s, want expired", got)
	}
	mustRevoke(t, e, "alice", r2)
	if got := mustState(t, e, r2.ID); got != broker.StateRevoked {
		t.Errorf("r2 after revocation: %s, want revoked", got)
	}
	if l := mustRevocations(t, e, pub); !slices.Equal(l.Revoked, []string{g2.ID}) || l.Sequence != high.Sequence+1 {
		t.Errorf("after revoking the expired grant: %+v, want [%s] at sequence %d", *l, g2.ID, high.Sequence+1)
	}
	// Past expiry plus the skew, nothing is left to revoke.
	r3 := grant()
	g3, err := grantOf(e, r3)
	if err != nil {
		t.Fatal(err)
	}
	e.Clock.Advance(g3.Expires.Sub(e.Clock.Now()) + broker.DefaultMaxVerifySkew)
	text, sig := e.Challenge(t, "alice", broker.ActionRevoke, r3.ID)
	if _, err := e.Svc.Revoke(context.Background(), text, sig); !errors.Is(err, broker.ErrGrantExpired) {
		t.Errorf("revoke at expiry plus the skew: err = %v, want ErrGrantExpired", err)
	}
}

func grantOf(e *brokertest.Env, r *broker.Request) (g *broker.Grant, err error) {
	err = e.DB.View(context.Background(), func(tx broker.Tx) error {
		g, err = tx.Grant(r.ID)
		return err
	})
	return g, err
}

func mustState(t *testing.T, e *brokertest.Env, id string) broker.State {
	t.Helper()
	var st broker.State
	err := e.DB.View(context.Background(), func(tx broker.Tx) error {
		r, err := tx.Request(id)
		if r != nil {
			st = r.State
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return st
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
