package token

import (
	"crypto/ed25519"
	"encoding/base64"
	"strings"
	"testing"
	"time"
)

// BenchmarkVerify is the relying party's cost per credential, through the
// fast path; compare it with BenchmarkEd25519Verify, the bare signature check
// it contains (the target is within 15%).
func BenchmarkVerify(b *testing.B) {
	key := jwtSeedKey(1)
	tok := mustSignJWT(b, key, jwtClaimsAt(jwtNow))
	jwks, opts := jwksOf(key), jwtOptions(jwtNow)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Verify(tok, jwks, opts); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyJWT is the same verification through golang-jwt/jwt/v5's
// parser, the path every token the fast path does not read takes.
func BenchmarkVerifyJWT(b *testing.B) {
	key := jwtSeedKey(1)
	tok := mustSignJWT(b, key, jwtClaimsAt(jwtNow))
	jwks, opts := jwksOf(key), jwtOptions(jwtNow)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := verifyJWT(tok, jwks, opts, jwtNow); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEd25519Verify checks the same token's signature over the same
// signing input with crypto/ed25519 alone.
func BenchmarkEd25519Verify(b *testing.B) {
	key := jwtSeedKey(1)
	tok := mustSignJWT(b, key, jwtClaimsAt(jwtNow))
	i := strings.LastIndexByte(tok, '.')
	input := []byte(tok[:i])
	sig, err := base64.RawURLEncoding.DecodeString(tok[i+1:])
	if err != nil {
		b.Fatal(err)
	}
	pub := key.Public().(ed25519.PublicKey)
	b.ReportAllocs()
	for b.Loop() {
		if !ed25519.Verify(pub, input, sig) {
			b.Fatal("signature does not verify")
		}
	}
}

func BenchmarkMint(b *testing.B) {
	k, err := OpenKeyring(mustKeyDir(b, jwtSeedKey(1), jwtNow), time.Hour, func() time.Time { return jwtNow })
	if err != nil {
		b.Fatal(err)
	}
	c := jwtClaimsAt(jwtNow)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := k.Mint(c); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyOverBare reports Verify's time as a multiple of the bare
// ed25519.Verify it contains (metric verify/bare; the target is at most 1.15).
// The two alternate in short blocks, so that on a shared machine both see the
// same load, which separate benchmarks a few seconds apart do not.
func BenchmarkVerifyOverBare(b *testing.B) {
	key := jwtSeedKey(1)
	tok := mustSignJWT(b, key, jwtClaimsAt(jwtNow))
	jwks, opts := jwksOf(key), jwtOptions(jwtNow)
	i := strings.LastIndexByte(tok, '.')
	input := []byte(tok[:i])
	sig, err := base64.RawURLEncoding.DecodeString(tok[i+1:])
	if err != nil {
		b.Fatal(err)
	}
	pub := key.Public().(ed25519.PublicKey)
	const block = 16
	var verify, bare time.Duration
	for b.Loop() {
		start := time.Now()
		for range block {
			if _, err := Verify(tok, jwks, opts); err != nil {
				b.Fatal(err)
			}
		}
		mid := time.Now()
		for range block {
			if !ed25519.Verify(pub, input, sig) {
				b.Fatal("signature does not verify")
			}
		}
		verify, bare = verify+mid.Sub(start), bare+time.Since(mid)
	}
	b.ReportMetric(float64(verify)/float64(bare), "verify/bare")
}
