package token

import (
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/failsmall/breakglass/broker"
)

var revocationStart = time.Date(2026, 11, 25, 21, 0, 0, 0, time.UTC)

// The keyring signs the list without handing out its key, and the result is
// the very JWS the bare key gives (Ed25519 is deterministic); its payload
// carries every field of the list.
func TestRevocationPublisherSignsWithTheKeyring(t *testing.T) {
	k := mustOpenKeyring(t, filepath.Join(t.TempDir(), "keys"), time.Hour, func() time.Time { return revocationStart })
	cur := k.set.Load().current()
	l := broker.RevocationList{Issuer: "bg.test", Sequence: 3, Issued: revocationStart, MaxAge: time.Hour, Revoked: []string{"grant-a"}}
	got, err := RevocationPublisher{Signer: k}.SignRevocations(l)
	if err != nil {
		t.Fatalf("SignRevocations: %v", err)
	}
	want, err := SignRevocations(RevocationList(l), cur.priv, cur.kid)
	if err != nil {
		t.Fatalf("SignRevocations with the bare key: %v", err)
	}
	if got != want {
		t.Errorf("publisher's JWS = %s\nwant the bare key's %s", got, want)
	}
	var c RevocationClaims
	tok, err := jwt.ParseWithClaims(got, &c, func(*jwt.Token) (any, error) { return cur.priv.Public(), nil },
		jwt.WithValidMethods([]string{"EdDSA"}), jwt.WithoutClaimsValidation())
	if err != nil {
		t.Fatalf("parse the signed list: %v", err)
	}
	if tok.Header["typ"] != RevocationType || tok.Header["kid"] != cur.kid {
		t.Errorf("header %v, want typ %q and kid %q", tok.Header, RevocationType, cur.kid)
	}
	if c.Issuer != l.Issuer || *c.Sequence != 3 || !c.IssuedAt.Equal(revocationStart) || *c.MaxAge != 3600 || !slices.Equal(c.Revoked, l.Revoked) {
		t.Errorf("claims %+v, want those of %+v", c, l)
	}
	l.MaxAge = 0
	if _, err := (RevocationPublisher{Signer: k}).SignRevocations(l); err == nil {
		t.Error("a list with no max age was signed")
	}
}

// An empty list is signed with "revoked":[], never null, so that a verifier
// can require the field.
func TestSignRevocationsEmptyList(t *testing.T) {
	k := mustOpenKeyring(t, filepath.Join(t.TempDir(), "keys"), time.Hour, func() time.Time { return revocationStart })
	s, err := SignRevocationsWith(RevocationList{Issuer: "bg.test", Sequence: 1, Issued: revocationStart, MaxAge: time.Minute}, k)
	if err != nil {
		t.Fatalf("SignRevocationsWith: %v", err)
	}
	var c RevocationClaims
	if _, _, err := jwt.NewParser().ParseUnverified(s, &c); err != nil || c.Revoked == nil || len(c.Revoked) != 0 {
		t.Errorf("revoked = %#v (%v), want an empty, non-nil list", c.Revoked, err)
	}
}

func TestSignRevocationsRefuses(t *testing.T) {
	k := mustOpenKeyring(t, filepath.Join(t.TempDir(), "keys"), time.Hour, func() time.Time { return revocationStart })
	cur := k.set.Load().current()
	good := RevocationList{Issuer: "bg.test", Sequence: 1, Issued: revocationStart, MaxAge: time.Hour}
	tests := map[string]func(l *RevocationList){
		"no issuer":          func(l *RevocationList) { l.Issuer = "" },
		"no issue time":      func(l *RevocationList) { l.Issued = time.Time{} },
		"zero max age":       func(l *RevocationList) { l.MaxAge = 0 },
		"fractional max age": func(l *RevocationList) { l.MaxAge = 1500 * time.Millisecond },
		"max age too long":   func(l *RevocationList) { l.MaxAge = MaxRevocationAge + time.Second },
		"empty grant id":     func(l *RevocationList) { l.Revoked = []string{"g", ""} },
	}
	for name, edit := range tests {
		l := good
		edit(&l)
		if s, err := SignRevocations(l, cur.priv, cur.kid); err == nil {
			t.Errorf("%s: signed %q", name, s)
		}
		if l.Check() == nil {
			t.Errorf("%s: Check accepts %+v", name, l)
		}
	}
	if _, err := SignRevocations(good, cur.priv, ""); err == nil {
		t.Error("empty kid: signed")
	}
	if _, err := SignRevocations(good, nil, "k"); err == nil {
		t.Error("no key: signed")
	}
}
