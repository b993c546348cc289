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

// BenchmarkVerifyOverBare reports the time of Verify (sub-benchmark fast)
// and of the jwt/v5 path (jwt-v5) as a multiple of the bare ed25519.Verify
// they contain: metric verify/bare, whose target is at most 1.15. Each
// alternates with the bare verify in blocks of 16, so that on a shared machine
// both see the same load, which separate benchmarks a few seconds apart do not.
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
	for _, path := range []struct {
		name   string
		verify func() error
	}{
		{"fast", func() error { _, err := Verify(tok, jwks, opts); return err }},
		{"jwt-v5", func() error { _, err := verifyJWT(tok, jwks, opts, jwtNow); return err }},
	} {
		b.Run(path.name, func(b *testing.B) {
			const block = 16
			var verify, bare time.Duration
			for b.Loop() {
				start := time.Now()
				for range block {
					if err := path.verify(); err != nil {
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
		})
	}
}
