package token

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseJWKSRoundTrip(t *testing.T) {
	want := jwksOf(jwtSeedKey(1), jwtSeedKey(2))
	data, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), `"kty":"OKP","crv":"Ed25519","x":`) || !strings.Contains(string(data), `"use":"sig","alg":"EdDSA"`) {
		t.Errorf("JWKS JSON %s lacks the RFC 8037 member names", data)
	}
	got, err := ParseJWKS(data)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ParseJWKS(Marshal(s))\n got %+v\nwant %+v", got, want)
	}
	// A verifier holding the parsed set accepts the broker's token.
	mustVerify(t, mustSignJWT(t, jwtSeedKey(2), jwtClaimsAt(jwtNow)), got, jwtOptions(jwtNow))
}

func TestParseJWKSRejects(t *testing.T) {
	good := jwksOf(jwtSeedKey(1)).Keys[0]
	key := func(mutate func(m map[string]any)) string {
		m := map[string]any{"kty": good.Kty, "crv": good.Crv, "x": good.X, "kid": good.Kid, "use": good.Use, "alg": good.Alg}
		mutate(m)
		b, err := json.Marshal(map[string]any{"keys": []any{m}})
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	for _, tc := range []struct {
		name, data, want string
	}{
		{"not JSON", `{"keys":`, "unexpected end"},
		{"no keys member", `{}`, "no keys"},
		{"empty keys", `{"keys":[]}`, "no keys"},
		{"RSA key", key(func(m map[string]any) { m["kty"] = "RSA" }), `kty "RSA", want "OKP"`},
		{"EC key", key(func(m map[string]any) { m["kty"] = "EC"; m["crv"] = "P-256" }), `kty "EC"`},
		{"X25519 curve", key(func(m map[string]any) { m["crv"] = "X25519" }), `crv "X25519", want "Ed25519"`},
		{"Ed448 curve", key(func(m map[string]any) { m["crv"] = "Ed448" }), `crv "Ed448"`},
		{"short x", key(func(m map[string]any) { m["x"] = good.X[:40] }), "x is 30 bytes, want 32"},
		{"long x", key(func(m map[string]any) { m["x"] = good.X + "AAAA" }), "x is 35 bytes, want 32"},
		{"padded x", key(func(m map[string]any) { m["x"] = good.X + "=" }), "not unpadded base64url"},
		{"standard base64 x", key(func(m map[string]any) { m["x"] = "+/" + good.X[2:] }), "not unpadded base64url"},
		{"no x", key(func(m map[string]any) { delete(m, "x") }), "x is 0 bytes"},
		{"no kid", key(func(m map[string]any) { delete(m, "kid") }), "no kid"},
		{"encryption key", key(func(m map[string]any) { m["use"] = "enc" }), `use "enc"`},
		{"other alg", key(func(m map[string]any) { m["alg"] = "ES256" }), `alg "ES256"`},
		{"private key", key(func(m map[string]any) { m["d"] = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A" }), "private member d"},
		{"duplicate kid", `{"keys":[` + mustJSON(t, good) + `,` + mustJSON(t, good) + `]}`, "duplicate kid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := ParseJWKS([]byte(tc.data))
			if !errors.Is(err, ErrInvalidJWKS) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("ParseJWKS(%s) = %+v, %v; want %v saying %q", tc.data, s, err, ErrInvalidJWKS, tc.want)
			}
		})
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
