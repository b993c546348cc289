package token

import (
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestKeyringSignJWS(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	k := mustOpenKeyring(t, keyDir(t), time.Hour, func() time.Time { return now })
	claims := jwt.MapClaims{"iss": "bg.test", "seq": 7}

	t.Run("signed by the current key, verifiable with the JWKS", func(t *testing.T) {
		mustRotate(t, k)
		jws, kid, err := k.SignJWS("test+jwt", claims)
		if err != nil {
			t.Fatalf("SignJWS: %v", err)
		}
		if want := k.CurrentKID(); kid != want {
			t.Errorf("kid = %q, want the current %q", kid, want)
		}
		var got jwt.MapClaims
		tok, err := jwt.ParseWithClaims(jws, &got, func(tok *jwt.Token) (any, error) {
			j, ok := k.JWKS().Lookup(tok.Header["kid"].(string))
			if !ok {
				t.Fatalf("kid %v not in the JWKS", tok.Header["kid"])
			}
			return j.PublicKey()
		}, jwt.WithValidMethods([]string{"EdDSA"}))
		if err != nil {
			t.Fatalf("parse: %v", err)
		}
		if tok.Header["typ"] != "test+jwt" || tok.Header["kid"] != kid {
			t.Errorf("header = %v, want typ test+jwt and kid %s", tok.Header, kid)
		}
		if got["iss"] != "bg.test" || got["seq"] != float64(7) {
			t.Errorf("claims = %v, want %v", got, claims)
		}
	})
	for _, tc := range []struct {
		name, typ string
		claims    jwt.Claims
		want      string
	}{
		{"no typ", "", claims, "reserved for credentials"},
		{"the credentials' typ", "JWT", claims, "reserved for credentials"},
		{"no claims", "test+jwt", nil, "no claims"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			jws, _, err := k.SignJWS(tc.typ, tc.claims)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("SignJWS = %q, %v; want an error containing %q", jws, err, tc.want)
			}
		})
	}
}
