package token

import (
	"errors"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// TestVerifyNotInJWKS: a token naming a kid the JWKS lacks (a JWKS cached
// before the broker rotated its signing key) comes with ErrNotInJWKS, so a
// relying party can tell it to fetch the JWKS again; a token with no kid
// or a bad signature does not.
func TestVerifyNotInJWKS(t *testing.T) {
	old, rotated := jwtSeedKey(1), jwtSeedKey(2)
	stale := jwksOf(old)
	tok := mustSignJWT(t, rotated, jwtClaimsAt(jwtNow))
	_, err := Verify(tok, stale, jwtOptions(jwtNow))
	if !errors.Is(err, ErrUnknownKey) || !errors.Is(err, ErrNotInJWKS) {
		t.Fatalf("token of the rotated key against the stale JWKS: %v, want %v and %v", err, ErrUnknownKey, ErrNotInJWKS)
	}
	if want := `token signing key unknown: kid "` + kidOf(rotated) + `" is not in the jwks`; err.Error() != want {
		t.Errorf("message %q, want %q", err, want)
	}
	if _, err := Verify(tok, jwksOf(old, rotated), jwtOptions(jwtNow)); err != nil {
		t.Fatalf("the same token against the fresh JWKS: %v", err)
	}
	for name, tok := range map[string]string{
		"no kid":               signRaw(t, jwt.SigningMethodEdDSA, old, nil, wireAt(jwtNow, nil)),
		"known kid, other key": signRaw(t, jwt.SigningMethodEdDSA, rotated, map[string]any{"kid": kidOf(old)}, wireAt(jwtNow, nil)),
	} {
		if _, err := Verify(tok, stale, jwtOptions(jwtNow)); err == nil || errors.Is(err, ErrNotInJWKS) {
			t.Errorf("%s: %v, want an error without %v", name, err, ErrNotInJWKS)
		}
	}
}
