package token

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// signRaw signs claims with any jwt/v5 method and header, bypassing the checks
// Mint makes, to build tokens an attacker or a buggy issuer could produce.
func signRaw(t testing.TB, method jwt.SigningMethod, key any, header map[string]any, claims jwt.Claims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	for k, v := range header {
		if v == nil {
			delete(tok.Header, k)
		} else {
			tok.Header[k] = v
		}
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatalf("sign %s: %v", method.Alg(), err)
	}
	return s
}

// wireAt returns the JSON claims of jwtClaimsAt(iat), changed by mutate.
func wireAt(iat time.Time, mutate func(*jwtClaims)) *jwtClaims {
	w := jwtClaimsAt(iat).wire()
	if mutate != nil {
		mutate(w)
	}
	return w
}

// replaceSegment returns tok with its i-th dot-separated segment replaced.
func replaceSegment(tok string, i int, seg string) string {
	parts := strings.Split(tok, ".")
	parts[i] = seg
	return strings.Join(parts, ".")
}

// verifyRejectCase is a token Verify must refuse with error want, at jwtNow
// against jwksOf(jwtSeedKey(1)).
type verifyRejectCase struct {
	name  string
	token string
	want  error
	msg   string // the error message must contain it
}

// verifyRejectCases are the forged and broken tokens of TestVerifyRejects,
// also run through both verification paths by TestVerifyPathsAgree.
func verifyRejectCases(t testing.TB) []verifyRejectCase {
	t.Helper()
	key, other := jwtSeedKey(1), jwtSeedKey(2)
	pub := key.Public().(ed25519.PublicKey)
	kid := map[string]any{"kid": kidOf(key)}
	good := mustSignJWT(t, key, jwtClaimsAt(jwtNow))
	jwkJSON, err := json.Marshal(jwksOf(key).Keys[0])
	if err != nil {
		t.Fatal(err)
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	eddsa := func(mutate func(*jwtClaims)) string {
		return signRaw(t, jwt.SigningMethodEdDSA, key, kid, wireAt(jwtNow, mutate))
	}
	tampered := wireAt(jwtNow, func(w *jwtClaims) { w.Role = "prod-everything" })
	tamperedJSON, err := json.Marshal(tampered)
	if err != nil {
		t.Fatal(err)
	}
	sig := strings.Split(good, ".")[2]
	last := strings.IndexByte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", sig[len(sig)-1])
	nonCanonicalSig := sig[:len(sig)-1] + string("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"[last^1])

	return []verifyRejectCase{
		{"alg none", signRaw(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, kid, wireAt(jwtNow, nil)), ErrAlgorithm, `alg "none"`},
		{"HS256 keyed with the raw public key", signRaw(t, jwt.SigningMethodHS256, []byte(pub), kid, wireAt(jwtNow, nil)), ErrAlgorithm, `alg "HS256"`},
		{"HS256 keyed with the JWK JSON", signRaw(t, jwt.SigningMethodHS256, jwkJSON, kid, wireAt(jwtNow, nil)), ErrAlgorithm, `alg "HS256"`},
		{"RS256", signRaw(t, jwt.SigningMethodRS256, rsaKey, kid, wireAt(jwtNow, nil)), ErrAlgorithm, `alg "RS256"`},
		{"unregistered alg", replaceSegment(good, 0, base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"Ed448","kid":"x"}`))), ErrAlgorithm, `alg "Ed448"`},
		{"no alg", replaceSegment(good, 0, base64.RawURLEncoding.EncodeToString([]byte(`{"kid":"x"}`))), ErrAlgorithm, "no alg"},
		{"wrong aud", eddsa(func(w *jwtClaims) { w.Audience = jwt.ClaimStrings{"staging-db"} }), ErrAudience, `aud ["staging-db"] does not contain "prod-db"`},
		{"wrong iss", eddsa(func(w *jwtClaims) { w.Issuer = "https://evil.example" }), ErrIssuer, `iss "https://evil.example", want "https://bg.example.net"`},
		{"expired", signRaw(t, jwt.SigningMethodEdDSA, key, kid, wireAt(jwtNow.Add(-time.Hour), nil)), ErrExpired, "exp 2026-11-25T20:30:00Z"},
		{"not yet valid", eddsa(func(w *jwtClaims) { w.NotBefore = jwt.NewNumericDate(jwtNow.Add(time.Minute)) }), ErrNotYetValid, "nbf 2026-11-25T21:01:00Z"},
		{"issued in the future", signRaw(t, jwt.SigningMethodEdDSA, key, kid, wireAt(jwtNow.Add(time.Minute), func(w *jwtClaims) { w.NotBefore = nil })), ErrNotYetValid, "iat 2026-11-25T21:01:00Z"},
		{"unknown kid", signRaw(t, jwt.SigningMethodEdDSA, other, map[string]any{"kid": kidOf(other)}, wireAt(jwtNow, nil)), ErrUnknownKey, kidOf(other)},
		{"no kid", signRaw(t, jwt.SigningMethodEdDSA, key, nil, wireAt(jwtNow, nil)), ErrUnknownKey, "no kid"},
		{"kid not a string", signRaw(t, jwt.SigningMethodEdDSA, key, map[string]any{"kid": 7}, wireAt(jwtNow, nil)), ErrUnknownKey, "no kid"},
		{"known kid, other key", signRaw(t, jwt.SigningMethodEdDSA, other, kid, wireAt(jwtNow, nil)), ErrSignature, kidOf(key)},
		{"tampered payload", replaceSegment(good, 1, base64.RawURLEncoding.EncodeToString(tamperedJSON)), ErrSignature, "does not verify"},
		{"no signature", replaceSegment(good, 2, ""), ErrSignature, "does not verify"},
		{"non-canonical signature encoding", replaceSegment(good, 2, nonCanonicalSig), ErrMalformed, "base64"},
		{"missing exp", eddsa(func(w *jwtClaims) { w.ExpiresAt = nil }), ErrMissingClaim, "no exp"},
		{"missing iss", eddsa(func(w *jwtClaims) { w.Issuer = "" }), ErrMissingClaim, "no iss"},
		{"missing aud", eddsa(func(w *jwtClaims) { w.Audience = nil }), ErrMissingClaim, "no aud"},
		{"crit header", signRaw(t, jwt.SigningMethodEdDSA, key, map[string]any{"kid": kidOf(key), "crit": []string{"exp"}}, wireAt(jwtNow, nil)), ErrMalformed, "crit"},
		{"exp not a number", replaceSegment(good, 1, base64.RawURLEncoding.EncodeToString([]byte(`{"exp":"tomorrow"}`))), ErrMalformed, "claim"},
		{"two segments", "a.b", ErrMalformed, "segments"},
		{"four segments", good + ".x", ErrMalformed, "segments"},
		{"header not base64", replaceSegment(good, 0, "!!"), ErrMalformed, "header"},
		{"header not JSON", replaceSegment(good, 0, base64.RawURLEncoding.EncodeToString([]byte("alg"))), ErrMalformed, "header"},
		{"empty", "", ErrMalformed, "segments"},
	}
}

func TestVerifyRejects(t *testing.T) {
	jwks := jwksOf(jwtSeedKey(1))
	for _, tc := range verifyRejectCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Verify(tc.token, jwks, jwtOptions(jwtNow))
			if !errors.Is(err, tc.want) {
				t.Fatalf("Verify error %v, want %v", err, tc.want)
			}
			for _, other := range verifyErrors {
				if other != tc.want && errors.Is(err, other) {
					t.Errorf("error %v also matches %v", err, other)
				}
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q does not say %q", err, tc.msg)
			}
			if c != nil {
				t.Errorf("claims %+v returned with an error", c)
			}
		})
	}
}

var verifyErrors = []error{ErrMalformed, ErrAlgorithm, ErrUnknownKey, ErrSignature, ErrExpired,
	ErrNotYetValid, ErrAudience, ErrIssuer, ErrMissingClaim}

// leewayCase is a token and the options Verify checks it with; want nil
// means it must be accepted.
type leewayCase struct {
	name  string
	token string
	opts  VerifyOptions
	want  error
}

// leewayCases are the clock and leeway edges of TestVerifyLeeway, against
// jwksOf(jwtSeedKey(1)), also run through both paths by TestVerifyPathsAgree.
func leewayCases(t testing.TB) []leewayCase {
	t.Helper()
	key := jwtSeedKey(1)
	expired := mustSignJWT(t, key, jwtClaimsAt(jwtNow.Add(-30*time.Minute-20*time.Second))) // expired 20s ago
	var cases []leewayCase
	for _, tc := range []struct {
		leeway time.Duration
		want   error
	}{
		{30 * time.Second, nil},
		{20*time.Second + time.Nanosecond, nil},
		{20 * time.Second, ErrExpired}, // exp must be strictly after now - leeway
		{10 * time.Second, ErrExpired},
		{0, ErrExpired},
	} {
		opts := jwtOptions(jwtNow)
		opts.Leeway = tc.leeway
		cases = append(cases, leewayCase{"expired 20s ago, leeway " + tc.leeway.String(), expired, opts, tc.want})
	}

	// The same leeway covers a verifier whose clock is behind the issuer's.
	early := jwtOptions(jwtNow.Add(-20 * time.Second))
	fresh := mustSignJWT(t, key, jwtClaimsAt(jwtNow))
	cases = append(cases, leewayCase{"clock 20s behind, no leeway", fresh, early, ErrNotYetValid})
	early.Leeway = 30 * time.Second
	return append(cases, leewayCase{"clock 20s behind, leeway 30s", fresh, early, nil})
}

func TestVerifyLeeway(t *testing.T) {
	for _, tc := range leewayCases(t) {
		if _, err := Verify(tc.token, jwksOf(jwtSeedKey(1)), tc.opts); !errors.Is(err, tc.want) {
			t.Errorf("%s: error %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestVerifyOptionsRequired(t *testing.T) {
	tok := mustSignJWT(t, jwtSeedKey(1), jwtClaimsAt(jwtNow))
	for _, opts := range []VerifyOptions{
		{Audience: jwtAudience},
		{Issuer: jwtIssuer},
		{Issuer: jwtIssuer, Audience: jwtAudience, Leeway: -time.Second},
	} {
		if _, err := Verify(tok, jwksOf(jwtSeedKey(1)), opts); err == nil {
			t.Errorf("Verify with options %+v succeeded, want an error", opts)
		}
	}
}

// TestVerifyUnusableJWKSKey: a hand-built JWKS entry that is not an Ed25519
// key is never used, even when the kid matches.
func TestVerifyUnusableJWKSKey(t *testing.T) {
	key := jwtSeedKey(1)
	tok := mustSignJWT(t, key, jwtClaimsAt(jwtNow))
	jwks := jwksOf(key)
	jwks.Keys[0].Kty = "oct"
	_, err := Verify(tok, jwks, jwtOptions(jwtNow))
	if !errors.Is(err, ErrUnknownKey) || !strings.Contains(err.Error(), `kty "oct"`) {
		t.Errorf("error %v, want %v saying kty \"oct\"", err, ErrUnknownKey)
	}
}

// TestVerifyEveryByte flips each byte of a good token: every change must be
// rejected (in the style of x/mod/sumdb/note's tests).
func TestVerifyEveryByte(t *testing.T) {
	key := jwtSeedKey(1)
	tok := mustSignJWT(t, key, jwtClaimsAt(jwtNow))
	for i := range len(tok) {
		b := []byte(tok)
		b[i] ^= 0x01
		if c, err := Verify(string(b), jwksOf(key), jwtOptions(jwtNow)); err == nil {
			t.Fatalf("byte %d changed (%q): token accepted with claims %+v", i, b[i], c)
		}
	}
}
