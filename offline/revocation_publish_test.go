package offline_test

import (
	"slices"
	"testing"
	"time"

	"github.com/failsmall/breakglass/broker"
	"github.com/failsmall/breakglass/internal/brokertest"
	"github.com/failsmall/breakglass/offline"
)

// The keyring signs the list without handing out its key, and the result is
// the very JWS the bare key gives (Ed25519 is deterministic).
func TestRevocationPublisherSignsWithTheKeyring(t *testing.T) {
	f := newFixture(t)
	l := broker.RevocationList{Issuer: brokertest.Name, Sequence: 3, Issued: start, MaxAge: time.Hour, Revoked: []string{"grant-a"}}
	got, err := offline.RevocationPublisher{Signer: f.keys}.SignRevocations(l)
	if err != nil {
		t.Fatalf("SignRevocations: %v", err)
	}
	if want := mustRevocations(t, f, start, time.Hour, 3, "grant-a"); got != want {
		t.Errorf("publisher's JWS = %s\nwant the bare key's %s", got, want)
	}
	v, err := offline.VerifyRevocations(got, f.keys.JWKS(), start.Add(time.Minute))
	if err != nil {
		t.Fatalf("VerifyRevocations: %v", err)
	}
	if v.Sequence != 3 || !v.Issued.Equal(start) || v.MaxAge != time.Hour || !slices.Equal(v.Revoked, l.Revoked) {
		t.Errorf("verified %+v, want %+v", *v, l)
	}
	l.MaxAge = 0
	if _, err := (offline.RevocationPublisher{Signer: f.keys}).SignRevocations(l); err == nil {
		t.Error("a list with no max age was signed")
	}
}
