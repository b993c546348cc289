package token

import (
	"crypto/ed25519"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// errNotFast is verifyFast's answer for a token it does not read; Verify then
// asks verifyJWT. It never leaves the package.
var errNotFast = errors.New("token not of the shape the fast path reads")

// Bounds of the decoded segments the fast path keeps on the stack. Ours are
// about 80 and 450 bytes; a token with larger ones goes through jwt/v5.
const (
	fastHeaderMax = 256
	fastClaimsMax = 2048
)

// verifyFast is Verify's hot path for the tokens Mint makes, with
// crypto/ed25519 and no JSON reflection: a compact JWS whose header holds only
// alg "EdDSA", a kid and typ "JWT" (or no typ), and whose claims are members of
// jwtClaims in the plain JSON jsonReader reads.
//
// Its verdicts are verifyJWT's: it decides only tokens on which jwt/v5 would
// reach the signature check with the same key, signing input and decoded
// claims, so that accepting, ErrSignature, and a claims error as jwt/v5's
// Validator finds it with the same options are exactly what verifyJWT would
// return, with the same message and claims. Every other token, refused or not,
// gets errNotFast and is verifyJWT's to judge.
func verifyFast(tokenString string, jwks JWKS, opts VerifyOptions, at time.Time) (*Claims, error) {
	var seg fastSegments
	if !seg.decode(tokenString) {
		return nil, errNotFast
	}
	kid, ok := readHeader(seg.header)
	if !ok {
		return nil, errNotFast
	}
	k, ok := jwks.Lookup(kid)
	if !ok {
		return nil, errNotFast
	}
	pub, err := k.PublicKey()
	if err != nil {
		return nil, errNotFast
	}
	valid := ed25519.Verify(pub, seg.input, seg.sig[:seg.sigLen])
	// jwt/v5 decodes the claims before it checks the signature, so even a
	// bad signature is ErrSignature only when the claims decode.
	var w jwtClaims
	if !readClaims(seg.claims, &w) {
		return nil, errNotFast
	}
	if !valid {
		return nil, signatureError(kid)
	}
	if !claimsHold(&w, opts, at) {
		// The refusal is rare: let jwt/v5's own validator name it.
		err := jwt.NewValidator(parserOptions(opts, at)...).Validate(&w)
		if err == nil {
			// claimsHold stricter than jwt/v5, never seen: jwt/v5 decides.
			return nil, errNotFast
		}
		return nil, claimsError(&w, err, opts, at)
	}
	return w.claims(), nil
}

// claimsHold reports whether w passes the checks a jwt/v5 Validator built from
// parserOptions makes, as it makes them (validator.go of jwt/v5): exp required
// and now before exp+leeway; nbf and iat, when present, not after now+leeway;
// aud not empty and holding opts.Audience; iss equal to opts.Issuer. It spares
// the accepted token building that Validator; a refused one still gets it.
func claimsHold(w *jwtClaims, opts VerifyOptions, at time.Time) bool {
	switch {
	case w.ExpiresAt == nil || !at.Before(w.ExpiresAt.Add(opts.Leeway)):
		return false
	case w.NotBefore != nil && at.Before(w.NotBefore.Add(-opts.Leeway)):
		return false
	case w.IssuedAt != nil && at.Before(w.IssuedAt.Add(-opts.Leeway)):
		return false
	case len(w.Audience) == 0 || len(w.Audience) == 1 && w.Audience[0] == "" || !slices.Contains(w.Audience, opts.Audience):
		return false
	}
	return w.Issuer == opts.Issuer
}

// fastSegments is a compact JWS (RFC 7515 section 7.1) split and decoded.
type fastSegments struct {
	input  []byte // BASE64URL(header) "." BASE64URL(claims), the signing input
	header string // the decoded header JSON
	claims string // the decoded claims JSON
	sig    [ed25519.SignatureSize]byte
	sigLen int
}

// decode splits tok at exactly two dots, as jwt/v5 does, and decodes each
// segment with the strict unpadded base64url that jwt/v5's WithStrictDecoding
// uses. It reports false for anything jwt/v5 would refuse as malformed at this
// stage, and for segments larger than the fast path's buffers.
func (s *fastSegments) decode(tok string) bool {
	dot1 := strings.IndexByte(tok, '.')
	if dot1 < 0 {
		return false
	}
	dot2 := dot1 + 1 + strings.IndexByte(tok[dot1+1:], '.')
	if dot2 == dot1 || strings.IndexByte(tok[dot2+1:], '.') >= 0 {
		return false
	}
	raw := []byte(tok)
	var buf [fastHeaderMax + fastClaimsMax]byte
	hn, ok := decodeInto(buf[:fastHeaderMax], raw[:dot1])
	if !ok {
		return false
	}
	cn, ok := decodeInto(buf[hn:], raw[dot1+1:dot2])
	if !ok {
		return false
	}
	if s.sigLen, ok = decodeInto(s.sig[:], raw[dot2+1:]); !ok {
		return false
	}
	text := string(buf[:hn+cn])
	s.input, s.header, s.claims = raw[:dot2], text[:hn], text[hn:]
	return true
}

// decodeInto decodes the base64url src into dst, reporting false when src is
// not strict unpadded base64url or would not fit.
func decodeInto(dst, src []byte) (int, bool) {
	if joseB64.DecodedLen(len(src)) > len(dst) {
		return 0, false
	}
	n, err := joseB64.Decode(dst, src)
	return n, err == nil
}
