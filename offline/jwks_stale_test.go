package offline_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/failsmall/breakglass/internal/brokertest"
	"github.com/failsmall/breakglass/offline"
	"github.com/failsmall/breakglass/token"
)

// TestRevocationsNotInJWKS: a list signed with a kid the cached JWKS lacks
// is an invalid list that also says the JWKS is what is stale
// (token.ErrNotInJWKS); a list whose signature fails under a known kid is
// only an invalid list.
func TestRevocationsNotInJWKS(t *testing.T) {
	f := newFixture(t)
	list := token.RevocationList{Issuer: brokertest.Name, Sequence: 3, Issued: start, MaxAge: time.Hour}
	rotated, err := token.SignRevocations(list, f.revKey, "rotated-kid")
	if err != nil {
		t.Fatal(err)
	}
	_, err = offline.VerifyRevocations(rotated, f.keys.JWKS(), start)
	if !errors.Is(err, offline.ErrBadRevocations) || !errors.Is(err, token.ErrNotInJWKS) {
		t.Fatalf("list of an unknown kid: %v, want %v and %v", err, offline.ErrBadRevocations, token.ErrNotInJWKS)
	}
	if !strings.Contains(err.Error(), `kid "rotated-kid", which is not in the jwks`) {
		t.Errorf("message %q does not name the kid", err)
	}
	_, err = offline.CheckRevocations(rotated, f.keys.JWKS(), brokertest.Name, 0, "grant-1", start)
	if !errors.Is(err, token.ErrNotInJWKS) {
		t.Errorf("CheckRevocations: %v, want %v", err, token.ErrNotInJWKS)
	}
	good := mustRevocations(t, f, start, time.Hour, 3)
	tampered := good[:strings.LastIndexByte(good, '.')+1] + "AAAA"
	if _, err := offline.VerifyRevocations(tampered, f.keys.JWKS(), start); !errors.Is(err, offline.ErrBadRevocations) || errors.Is(err, token.ErrNotInJWKS) {
		t.Errorf("list with a bad signature: %v, want %v alone", err, offline.ErrBadRevocations)
	}
}
