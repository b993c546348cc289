package token

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// verifyBoth runs tok through the jwt/v5 path, the fast path and Verify, and
// fails t unless Verify gives the jwt/v5 verdict and the fast path either
// hands the token on (errNotFast) or gives that verdict too: the same error
// message, the same sentinel, equal claims. It reports whether the fast path
// decided.
func verifyBoth(t testing.TB, tok string, jwks JWKS, opts VerifyOptions) (decided bool) {
	t.Helper()
	at := opts.Now()
	want, wantErr := verifyJWT(tok, jwks, opts, at)
	sameVerdict(t, "Verify", tok, want, wantErr)(Verify(tok, jwks, opts))
	got, err := verifyFast(tok, jwks, opts, at)
	if err == errNotFast {
		if got != nil {
			t.Errorf("token %q: the fast path handed it on with claims %+v", tok, got)
		}
		return false
	}
	sameVerdict(t, "the fast path", tok, want, wantErr)(got, err)
	return true
}

// sameVerdict returns a check that a path gave claims want and error wantErr.
func sameVerdict(t testing.TB, path, tok string, want *Claims, wantErr error) func(*Claims, error) {
	return func(got *Claims, err error) {
		t.Helper()
		if errText(err) != errText(wantErr) || errClass(err) != errClass(wantErr) {
			t.Errorf("token %q: %s says %v, jwt/v5 says %v", tok, path, err, wantErr)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("token %q: %s gives claims\n%#v\njwt/v5 gives\n%#v", tok, path, got, want)
		}
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// errClass is the sentinel of Verify's contract that err wraps, or nil.
func errClass(err error) error {
	for _, s := range verifyErrors {
		if errors.Is(err, s) {
			return s
		}
	}
	return nil
}

// decidedAfterSignature reports whether a token refused with want (nil:
// accepted) has passed jwt/v5's checks up to its signature check. The fast
// path must decide every such token of the shape Mint makes.
func decidedAfterSignature(want error) bool {
	switch want {
	case ErrMalformed, ErrAlgorithm, ErrUnknownKey:
		return false
	}
	return true
}

// signJSON signs the given header and claims JSON as a compact JWS, with none
// of the checks or encodings of jwt/v5, to make the JSON the fast path must
// read or refuse.
func signJSON(key ed25519.PrivateKey, header, claims string) string {
	input := base64.RawURLEncoding.EncodeToString([]byte(header)) + "." + base64.RawURLEncoding.EncodeToString([]byte(claims))
	return input + "." + base64.RawURLEncoding.EncodeToString(ed25519.Sign(key, []byte(input)))
}

func mintHeader() string { return `{"alg":"EdDSA","kid":"` + kidOf(jwtSeedKey(1)) + `","typ":"JWT"}` }

func TestVerifyPathsAgree(t *testing.T) {
	key := jwtSeedKey(1)
	jwks, opts := jwksOf(key), jwtOptions(jwtNow)
	t.Run("rejects", func(t *testing.T) {
		for _, tc := range verifyRejectCases(t) {
			if decided := verifyBoth(t, tc.token, jwks, opts); decided != decidedAfterSignature(tc.want) {
				t.Errorf("%s: the fast path decided %t, want %t", tc.name, decided, !decided)
			}
		}
	})
	t.Run("leeway", func(t *testing.T) {
		for _, tc := range leewayCases(t) {
			if !verifyBoth(t, tc.token, jwks, tc.opts) {
				t.Errorf("%s: the fast path handed on a minted token", tc.name)
			}
		}
	})
	t.Run("minted", func(t *testing.T) {
		for _, tok := range mintedTokens(t) {
			if !verifyBoth(t, tok, jwks, opts) {
				t.Errorf("the fast path handed on the minted token %q", tok)
			}
		}
	})
	t.Run("unusable jwks key", func(t *testing.T) {
		bad := jwksOf(key)
		bad.Keys[0].Kty = "oct"
		if verifyBoth(t, mustSignJWT(t, key, jwtClaimsAt(jwtNow)), bad, opts) {
			t.Error("the fast path decided a token whose JWKS key is unusable")
		}
	})
	t.Run("every byte", func(t *testing.T) {
		tok := mustSignJWT(t, key, jwtClaimsAt(jwtNow))
		for i := range len(tok) {
			b := []byte(tok)
			b[i] ^= 0x01
			verifyBoth(t, string(b), jwks, opts)
		}
	})
}

// mintedTokens are tokens as Mint makes them: the golden one, and the claims
// of the other acceptance tests.
func mintedTokens(t testing.TB) []string {
	golden, err := os.ReadFile(filepath.Join("testdata", "jwt-golden.txt"))
	if err != nil {
		t.Fatal(err)
	}
	toks := []string{strings.TrimSpace(string(golden))}
	for _, edit := range []func(*Claims){
		func(c *Claims) {},
		func(c *Claims) { c.Scopes = nil },
		func(c *Claims) { c.Scopes = []string{"one"} },
		func(c *Claims) { c.Drill, c.Approvers, c.Audience = false, nil, []string{jwtAudience} },
		func(c *Claims) { *c = Claims{Issuer: c.Issuer, Audience: c.Audience, Expiry: c.Expiry} },
		func(c *Claims) { c.Subject, c.Incident = "zoë", "INC-4812 «prod»" },
	} {
		c := jwtClaimsAt(jwtNow)
		edit(&c)
		toks = append(toks, mustSignJWT(t, jwtSeedKey(1), c))
	}
	return toks
}

// handMadeCase is header and claims JSON signed with the JWKS key: what a
// buggy issuer holding it, or another library, could send. fast says whether
// the fast path reads it; either way both paths must agree.
type handMadeCase struct {
	name           string
	header, claims string
	fast           bool
}

// claimsWith returns the JSON of a credential valid at jwtNow with members
// (each `"name":value,`) before iss, aud and exp.
func claimsWith(members string) string {
	return `{` + members + `"iss":"https://bg.example.net","aud":"prod-db","exp":1795642200}`
}

func handMadeCases() []handMadeCase {
	h, kid := mintHeader(), kidOf(jwtSeedKey(1))
	return []handMadeCase{
		{"aud a string", h, claimsWith(""), true},
		{"white space between tokens", " {\n\t\"typ\" : \"JWT\" , \"kid\":\"" + kid + "\",\r\"alg\":\"EdDSA\" } ",
			"{ \"iss\" :\"https://bg.example.net\",\n\"aud\": [ \"prod-db\" , \"x\" ] ,\t\"exp\" : 1795642200 } ", true},
		{"no typ", `{"alg":"EdDSA","kid":"` + kid + `"}`, claimsWith(""), true},
		{"typ of another kind", `{"alg":"EdDSA","kid":"` + kid + `","typ":"at+jwt"}`, claimsWith(""), false},
		{"header member x5u", `{"alg":"EdDSA","kid":"` + kid + `","x5u":"https://evil.example"}`, claimsWith(""), false},
		{"kid escaped", `{"alg":"EdDSA","kid":"\u0055` + kid[1:] + `"}`, claimsWith(""), false},
		{"alg twice", `{"alg":"none","alg":"EdDSA","kid":"` + kid + `"}`, claimsWith(""), false},
		{"empty kid", `{"alg":"EdDSA","kid":""}`, claimsWith(""), false},
		{"header array", `["EdDSA"]`, claimsWith(""), false},
		{"empty approvers", h, claimsWith(`"approvers":[],`), true},
		{"empty aud array", h, `{"iss":"https://bg.example.net","aud":[],"exp":1795642200}`, true},
		{"aud empty string", h, `{"iss":"https://bg.example.net","aud":"","exp":1795642200}`, true},
		{"aud not strings", h, `{"iss":"https://bg.example.net","aud":["prod-db",1],"exp":1795642200}`, false},
		{"empty object", h, `{}`, true},
		{"exp zero", h, `{"iss":"https://bg.example.net","aud":"prod-db","exp":0}`, true},
		{"exp of 15 digits", h, `{"iss":"https://bg.example.net","aud":"prod-db","exp":999999999999999}`, true},
		{"exp of 16 digits", h, `{"iss":"https://bg.example.net","aud":"prod-db","exp":9999999999999999}`, false},
		{"drill false", h, claimsWith(`"drill":false,`), true},
		{"non-ASCII sub", h, claimsWith(`"sub":"zoë",`), true},
		{"invalid UTF-8 in sub", h, claimsWith("\"sub\":\"zo\xeb\","), false},
		{"control character in sub", h, claimsWith("\"sub\":\"a\tb\","), false},
		{"escaped sub", h, claimsWith(`"sub":"al\u0069ce",`), false},
		{"iss in capitals", h, `{"ISS":"https://bg.example.net","aud":"prod-db","exp":1795642200}`, false},
		{"iss twice", h, claimsWith(`"iss":"https://evil.example",`), false},
		{"nbf null", h, claimsWith(`"nbf":null,`), false},
		{"exp with a fraction", h, `{"iss":"https://bg.example.net","aud":"prod-db","exp":1795642200.5}`, false},
		{"exp with an exponent", h, `{"iss":"https://bg.example.net","aud":"prod-db","exp":1.7956422e9}`, false},
		{"exp quoted", h, `{"iss":"https://bg.example.net","aud":"prod-db","exp":"1795642200"}`, false},
		{"exp with a leading zero", h, `{"iss":"https://bg.example.net","aud":"prod-db","exp":01795642200}`, false},
		{"nbf negative", h, claimsWith(`"nbf":-1,`), false},
		{"unknown claim", h, claimsWith(`"foo":1,`), false},
		{"nested claim", h, claimsWith(`"cnf":{"jkt":"x"},`), false},
		{"drill a string", h, claimsWith(`"drill":"yes",`), false},
		{"drill truex", h, claimsWith(`"drill":truex,`), false},
		{"trailing comma", h, `{"iss":"https://bg.example.net","aud":"prod-db","exp":1795642200,}`, false},
		{"trailing data", h, claimsWith("") + `{}`, false},
		{"claims an array", h, `[{"iss":"https://bg.example.net"}]`, false},
		{"claims null", h, `null`, false},
		{"claims cut short", h, `{"iss":"https://bg.example.net","aud":"prod-db","exp":17956`, false},
	}
}

func TestVerifyPathsHandMade(t *testing.T) {
	key := jwtSeedKey(1)
	for _, tc := range handMadeCases() {
		t.Run(tc.name, func(t *testing.T) {
			tok := signJSON(key, tc.header, tc.claims)
			if got := verifyBoth(t, tok, jwksOf(key), jwtOptions(jwtNow)); got != tc.fast {
				t.Errorf("the fast path decided %t, want %t", got, tc.fast)
			}
		})
	}
}

// FuzzVerifyPaths mutates tokens, good and forged: both paths must agree.
// Most mutations break the signature; FuzzVerifyPathsSigned reaches behind it.
func FuzzVerifyPaths(f *testing.F) {
	key := jwtSeedKey(1)
	for _, tok := range mintedTokens(f) {
		f.Add(tok)
	}
	for _, tc := range verifyRejectCases(f) {
		f.Add(tc.token)
	}
	jwks, opts := jwksOf(key), jwtOptions(jwtNow)
	f.Fuzz(func(t *testing.T, tok string) {
		verifyBoth(t, tok, jwks, opts)
	})
}

// FuzzVerifyPathsSigned signs mutated header and claims JSON with the JWKS
// key, so that the mutations reach the fast path's JSON reader and the claims
// checks; both paths must agree, leeway and clock included.
func FuzzVerifyPathsSigned(f *testing.F) {
	key := jwtSeedKey(1)
	for _, tok := range mintedTokens(f) {
		parts := strings.Split(tok, ".")
		h, _ := base64.RawURLEncoding.DecodeString(parts[0])
		c, _ := base64.RawURLEncoding.DecodeString(parts[1])
		f.Add(string(h), string(c), int16(0), int16(0))
	}
	for _, tc := range handMadeCases() {
		f.Add(tc.header, tc.claims, int16(0), int16(0))
	}
	f.Add(mintHeader(), claimsWith(""), int16(1800), int16(-30))
	jwks := jwksOf(key)
	f.Fuzz(func(t *testing.T, header, claims string, skew, leeway int16) {
		opts := jwtOptions(jwtNow.Add(time.Duration(skew) * time.Second))
		opts.Leeway = time.Duration(max(leeway, 0)) * time.Second
		verifyBoth(t, signJSON(key, header, claims), jwks, opts)
	})
}
