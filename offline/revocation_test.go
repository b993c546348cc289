package offline_test

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/failsmall/breakglass/internal/brokertest"
	"github.com/failsmall/breakglass/offline"
	"github.com/failsmall/breakglass/token"
)

func TestRevocationsRoundTrip(t *testing.T) {
	f := newFixture(t)
	jws := mustRevocations(t, f, start, time.Hour, 42, "grant-a", "grant-b")
	l, err := offline.VerifyRevocations(jws, f.keys.JWKS(), start.Add(time.Hour))
	if err != nil {
		t.Fatalf("VerifyRevocations at exactly issued+max_age: %v", err)
	}
	if l.Issuer != brokertest.Name || l.Sequence != 42 || !l.Issued.Equal(start) || l.MaxAge != time.Hour ||
		!slices.Equal(l.Revoked, []string{"grant-a", "grant-b"}) {
		t.Fatalf("list = %+v", l)
	}
	if !l.Contains("grant-b") || l.Contains("grant-c") || !l.Expires().Equal(start.Add(time.Hour)) {
		t.Fatalf("Contains/Expires wrong for %+v", l)
	}
	empty := mustRevocations(t, f, start, time.Hour, 1)
	if l, err := offline.VerifyRevocations(empty, f.keys.JWKS(), start); err != nil || len(l.Revoked) != 0 {
		t.Fatalf("empty list: %+v, %v", l, err)
	}
}

func TestVerifyRevocationsRejects(t *testing.T) {
	f := newFixture(t)
	good := mustRevocations(t, f, start, time.Hour, 3, "grant-1")
	parts := strings.Split(good, ".")
	otherKey := ed25519.NewKeyFromSeed(sha256.New().Sum(nil)[:32])
	wrongKey, err := token.SignRevocations(token.RevocationList{Issuer: brokertest.Name, Sequence: 3, Issued: start,
		MaxAge: time.Hour}, otherKey, f.keys.CurrentKID())
	if err != nil {
		t.Fatal(err)
	}
	unknownKid, err := token.SignRevocations(token.RevocationList{Issuer: brokertest.Name, Sequence: 3, Issued: start,
		MaxAge: time.Hour}, f.revKey, "nobody")
	if err != nil {
		t.Fatal(err)
	}
	credential := mustMint(t, f, f.claims)
	payload := func(json string) string {
		return parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(json)) + "." + parts[2]
	}
	tests := []struct {
		name string
		jws  string
		now  time.Time
		want error
	}{
		{"one second past max age", good, start.Add(time.Hour + time.Second), offline.ErrRevocationsExpired},
		{"issued in the future", good, start.Add(-2 * time.Minute), offline.ErrBadRevocations},
		{"signed by another key", wrongKey, start, offline.ErrBadRevocations},
		{"kid not in the jwks", unknownKid, start, offline.ErrBadRevocations},
		{"a credential, not a list", credential, start, offline.ErrBadRevocations},
		{"payload changed", payload(`{"iss":"bg.test","iat":1795640400,"seq":3,"max_age":3600,"revoked":[]}`), start, offline.ErrBadRevocations},
		{"empty", "", start, offline.ErrBadRevocations},
		{"garbage", "a.b.c", start, offline.ErrBadRevocations},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := offline.VerifyRevocations(tt.jws, f.keys.JWKS(), tt.now)
			if l != nil || !errors.Is(err, tt.want) {
				t.Fatalf("VerifyRevocations = %+v, %v; want %v", l, err, tt.want)
			}
			t.Log(err)
		})
	}
}

// TestVerifyRevocationsFields signs payloads by hand with the broker key to
// reach the checks a well-behaved signer never trips.
func TestVerifyRevocationsFields(t *testing.T) {
	f := newFixture(t)
	header := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"EdDSA","kid":"` + f.keys.CurrentKID() + `","typ":"` + offline.RevocationType + `"}`))
	sign := func(json string) string {
		in := header + "." + base64.RawURLEncoding.EncodeToString([]byte(json))
		return in + "." + base64.RawURLEncoding.EncodeToString(ed25519.Sign(f.revKey, []byte(in)))
	}
	ok := sign(`{"iss":"bg.test","iat":1795640400,"seq":3,"max_age":3600,"revoked":["g"]}`)
	if _, err := offline.VerifyRevocations(ok, f.keys.JWKS(), start); err != nil {
		t.Fatalf("hand-signed valid list: %v", err)
	}
	for name, json := range map[string]string{
		"no seq":           `{"iss":"bg.test","iat":1795640400,"max_age":3600,"revoked":[]}`,
		"no max_age":       `{"iss":"bg.test","iat":1795640400,"seq":3,"revoked":[]}`,
		"no iat":           `{"iss":"bg.test","seq":3,"max_age":3600,"revoked":[]}`,
		"no revoked":       `{"iss":"bg.test","iat":1795640400,"seq":3,"max_age":3600}`,
		"no iss":           `{"iat":1795640400,"seq":3,"max_age":3600,"revoked":[]}`,
		"zero max_age":     `{"iss":"bg.test","iat":1795640400,"seq":3,"max_age":0,"revoked":[]}`,
		"huge max_age":     `{"iss":"bg.test","iat":1795640400,"seq":3,"max_age":9223372036854775807,"revoked":[]}`,
		"negative max_age": `{"iss":"bg.test","iat":1795640400,"seq":3,"max_age":-5,"revoked":[]}`,
		"empty grant id":   `{"iss":"bg.test","iat":1795640400,"seq":3,"max_age":3600,"revoked":[""]}`,
		"not json":         `revoked`,
	} {
		if _, err := offline.VerifyRevocations(sign(json), f.keys.JWKS(), start); !errors.Is(err, offline.ErrBadRevocations) {
			t.Errorf("%s: err = %v, want ErrBadRevocations", name, err)
		}
	}
}
