package token

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// jwtNow is the fixed instant the JWT tests run at.
var jwtNow = time.Date(2026, 11, 25, 21, 0, 0, 0, time.UTC)

const (
	jwtIssuer   = "https://bg.example.net"
	jwtAudience = "prod-db"
)

// jwtSeedKey returns the fixed Ed25519 key derived from seed byte b.
func jwtSeedKey(b byte) ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{b}, ed25519.SeedSize))
}

// jwtClaimsAt returns a full credential issued at iat, valid for 30 minutes.
func jwtClaimsAt(iat time.Time) Claims {
	return Claims{
		Issuer:     jwtIssuer,
		Subject:    "alice",
		Audience:   []string{jwtAudience, "prod-web"},
		IssuedAt:   iat,
		NotBefore:  iat,
		Expiry:     iat.Add(30 * time.Minute),
		ID:         "01JD2XGRANT0000000000000001",
		Role:       "prod-ssh-root",
		Scopes:     []string{"db:admin", "ssh:root"},
		Incident:   "INC-4812",
		RequestID:  "01JD2XREQ00000000000000001",
		Approvers:  []string{"bob", "carol"},
		PolicyHash: "sha256:4be1c0ffee",
		Drill:      true,
	}
}

func jwtOptions(now time.Time) VerifyOptions {
	return VerifyOptions{Issuer: jwtIssuer, Audience: jwtAudience, Now: func() time.Time { return now }}
}

func jwksOf(keys ...ed25519.PrivateKey) JWKS {
	var s JWKS
	for _, k := range keys {
		s.Keys = append(s.Keys, newJWK(k.Public().(ed25519.PublicKey)))
	}
	return s
}

func kidOf(k ed25519.PrivateKey) string { return newJWK(k.Public().(ed25519.PublicKey)).Kid }

func mustSignJWT(t testing.TB, key ed25519.PrivateKey, c Claims) string {
	t.Helper()
	s, err := signJWT(key, kidOf(key), c)
	if err != nil {
		t.Fatalf("signJWT: %v", err)
	}
	return s
}

func mustVerify(t testing.TB, tok string, jwks JWKS, opts VerifyOptions) *Claims {
	t.Helper()
	c, err := Verify(tok, jwks, opts)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	return c
}

// mustKeyDir returns a key directory holding key as its only key, created at created.
func mustKeyDir(t testing.TB, key ed25519.PrivateKey, created time.Time) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "keys")
	if err := prepareDir(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := writeKeyFile(dir, newRingKey(key, created)); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestMintGolden(t *testing.T) {
	dir := mustKeyDir(t, jwtSeedKey(1), jwtNow.Add(-time.Hour))
	k, err := OpenKeyring(dir, time.Hour, func() time.Time { return jwtNow })
	if err != nil {
		t.Fatal(err)
	}
	got, err := k.Mint(jwtClaimsAt(jwtNow))
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "jwt-golden.txt")
	if os.Getenv("BREAKGLASS_UPDATE_GOLDEN") != "" {
		if err := os.WriteFile(golden, []byte(got+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got != strings.TrimSpace(string(want)) {
		t.Errorf("minted token differs from %s\n got: %s\nwant: %s", golden, got, want)
	}
	c := mustVerify(t, got, k.JWKS(), jwtOptions(jwtNow))
	if want := jwtClaimsAt(jwtNow); !reflect.DeepEqual(*c, want) {
		t.Errorf("verified claims:\n got %+v\nwant %+v", *c, want)
	}
}

// TestMintJSON pins the header and the JSON claim names relying parties read.
func TestMintJSON(t *testing.T) {
	tok := mustSignJWT(t, jwtSeedKey(1), jwtClaimsAt(jwtNow))
	parts := strings.Split(tok, ".")
	header, payload := decodeSegment(t, parts[0]), decodeSegment(t, parts[1])
	wantHeader := `{"alg":"EdDSA","kid":"` + kidOf(jwtSeedKey(1)) + `","typ":"JWT"}`
	if string(header) != wantHeader {
		t.Errorf("header %s, want %s", header, wantHeader)
	}
	var m map[string]any
	if err := json.Unmarshal(payload, &m); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"iss": jwtIssuer, "sub": "alice", "aud": []any{jwtAudience, "prod-web"},
		"iat": float64(jwtNow.Unix()), "nbf": float64(jwtNow.Unix()), "exp": float64(jwtNow.Add(30 * time.Minute).Unix()),
		"jti": "01JD2XGRANT0000000000000001", "role": "prod-ssh-root", "scope": "db:admin ssh:root",
		"incident": "INC-4812", "request_id": "01JD2XREQ00000000000000001", "approvers": []any{"bob", "carol"},
		"policy": "sha256:4be1c0ffee", "drill": true,
	}
	if !reflect.DeepEqual(m, want) {
		t.Errorf("payload %s\nwant %v", payload, want)
	}

	c := jwtClaimsAt(jwtNow.Add(500 * time.Millisecond)) // sub-second part is dropped
	c.Drill = false
	payload = decodeSegment(t, strings.Split(mustSignJWT(t, jwtSeedKey(1), c), ".")[1])
	if bytes.Contains(payload, []byte(`"drill"`)) {
		t.Errorf("payload %s has drill, want it omitted when false", payload)
	}
	if !bytes.Contains(payload, []byte(`"iat":1795640400,`)) {
		t.Errorf("payload %s: want iat in whole seconds 1795640400", payload)
	}
}

func decodeSegment(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatalf("segment %q: %v", s, err)
	}
	return b
}

func TestMintRejectsBadClaims(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*Claims)
		want   string
	}{
		{"no issuer", func(c *Claims) { c.Issuer = "" }, "no issuer"},
		{"no audience", func(c *Claims) { c.Audience = nil }, "no audience"},
		{"empty audience", func(c *Claims) { c.Audience = []string{"a", ""} }, "no audience"},
		{"no expiry", func(c *Claims) { c.Expiry = time.Time{} }, "no expiry"},
		{"expiry before issued", func(c *Claims) { c.Expiry = c.IssuedAt.Add(-time.Second) }, "not after issued-at"},
		{"scope with space", func(c *Claims) { c.Scopes = []string{"db admin"} }, `scope "db admin"`},
		{"empty scope", func(c *Claims) { c.Scopes = []string{""} }, `scope ""`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := jwtClaimsAt(jwtNow)
			tc.mutate(&c)
			_, err := signJWT(jwtSeedKey(1), kidOf(jwtSeedKey(1)), c)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// TestRFC8037Vectors checks the JWK encoding and thumbprint (kid) against
// RFC 8037 appendices A.1-A.3.
func TestRFC8037Vectors(t *testing.T) {
	seed, err := base64.RawURLEncoding.DecodeString("nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A")
	if err != nil {
		t.Fatal(err)
	}
	got := newJWK(ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey))
	want := JWK{Kty: "OKP", Crv: "Ed25519", X: "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
		Kid: "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k", Use: "sig", Alg: "EdDSA"}
	if got != want {
		t.Errorf("JWK\n got %+v\nwant %+v", got, want)
	}
}

func TestScopesRoundTrip(t *testing.T) {
	for _, scopes := range [][]string{nil, {"one"}, {"a", "b", "c"}} {
		c := jwtClaimsAt(jwtNow)
		c.Scopes = scopes
		got := mustVerify(t, mustSignJWT(t, jwtSeedKey(1), c), jwksOf(jwtSeedKey(1)), jwtOptions(jwtNow)).Scopes
		if !slices.Equal(got, scopes) {
			t.Errorf("scopes %q came back as %q", scopes, got)
		}
	}
}
