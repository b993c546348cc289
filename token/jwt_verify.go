package token

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Errors returned by Verify, each wrapped with the details of what was wrong.
var (
	ErrMalformed    = errors.New("malformed token")
	ErrAlgorithm    = errors.New("token algorithm not accepted")
	ErrUnknownKey   = errors.New("token signing key unknown")
	ErrSignature    = errors.New("token signature invalid")
	ErrExpired      = errors.New("token expired")
	ErrNotYetValid  = errors.New("token not yet valid")
	ErrAudience     = errors.New("token audience not accepted")
	ErrIssuer       = errors.New("token issuer not accepted")
	ErrMissingClaim = errors.New("token missing a required claim")
)

// ErrNotInJWKS comes with ErrUnknownKey when the token names a kid the JWKS
// does not hold (and with offline.ErrBadRevocations for a revocation list
// that does): most likely the broker rotated its signing key after the
// JWKS was cached, so the remedy is to fetch the JWKS again. It refines
// the error it comes with and is not one of Verify's verdicts.
var ErrNotInJWKS = errors.New("not in the jwks")

// VerifyOptions say what a relying party accepts.
type VerifyOptions struct {
	Issuer   string           // required; iss must equal it
	Audience string           // required; aud must contain it
	Leeway   time.Duration    // clock skew allowed on exp, nbf and iat; not negative
	Now      func() time.Time // nil means time.Now
}

// Verify checks tokenString against jwks and opts and returns its claims.
//
// It accepts only alg "EdDSA" signed by the JWKS key named in the header's kid,
// requires exp, iss and aud, and checks that iss equals opts.Issuer, aud
// contains opts.Audience, exp is not past, and nbf and iat are not in the
// future, each within opts.Leeway. The error wraps exactly one of ErrMalformed,
// ErrAlgorithm, ErrUnknownKey, ErrSignature, ErrExpired, ErrNotYetValid (nbf or
// iat in the future), ErrAudience, ErrIssuer or ErrMissingClaim; when several
// claims are wrong the first in the order missing, issuer, audience, expired,
// not yet valid is reported. Claims are never returned with an error.
//
// Tokens of the form Mint makes are read by a decoder of our own around
// crypto/ed25519, every other one by golang-jwt/jwt/v5's parser; both give
// the same verdict, message and claims for every token.
func Verify(tokenString string, jwks JWKS, opts VerifyOptions) (*Claims, error) {
	if opts.Issuer == "" || opts.Audience == "" || opts.Leeway < 0 {
		return nil, errors.New("verify: options need an issuer, an audience and a leeway not negative")
	}
	at := time.Now()
	if opts.Now != nil {
		at = opts.Now()
	}
	if c, err := verifyFast(tokenString, jwks, opts, at); err != errNotFast {
		return c, err
	}
	return verifyJWT(tokenString, jwks, opts, at)
}

// verifyJWT is Verify through golang-jwt/jwt/v5's parser. It is the reference:
// verifyFast decides a token only when its verdict, error message and claims
// are the ones verifyJWT gives, and hands every other token here.
func verifyJWT(tokenString string, jwks JWKS, opts VerifyOptions, at time.Time) (*Claims, error) {
	p := jwt.NewParser(parserOptions(opts, at)...)
	var w jwtClaims
	var keyErr error
	t, err := p.ParseWithClaims(tokenString, &w, func(t *jwt.Token) (any, error) {
		pub, err := verificationKey(t, jwks)
		keyErr = err
		return pub, err
	})
	if err != nil {
		return nil, verifyError(t, &w, err, keyErr, opts, at)
	}
	return w.claims(), nil
}

// parserOptions are the rules of Verify as jwt/v5 options; the fast path
// validates its claims with a jwt.Validator built from the same list.
func parserOptions(opts VerifyOptions, at time.Time) []jwt.ParserOption {
	return []jwt.ParserOption{
		jwt.WithValidMethods([]string{algEdDSA}),
		jwt.WithStrictDecoding(),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithIssuer(opts.Issuer),
		jwt.WithAudience(opts.Audience),
		jwt.WithLeeway(opts.Leeway),
		jwt.WithTimeFunc(func() time.Time { return at }),
	}
}

// verificationKey returns the public key of the JWKS entry the header's kid
// names. jwt/v5 has already checked alg when it calls this.
func verificationKey(t *jwt.Token, jwks JWKS) (any, error) {
	if _, ok := t.Header["crit"]; ok {
		return nil, fmt.Errorf("%w: header has crit %v, no extension is understood", ErrMalformed, t.Header["crit"])
	}
	kid, ok := t.Header["kid"].(string)
	if !ok || kid == "" {
		return nil, fmt.Errorf("%w: header has no kid", ErrUnknownKey)
	}
	k, ok := jwks.Lookup(kid)
	if !ok {
		return nil, fmt.Errorf("%w: kid %q is %w", ErrUnknownKey, kid, ErrNotInJWKS)
	}
	pub, err := k.PublicKey()
	if err != nil {
		return nil, fmt.Errorf("%w: jwks key %q is unusable: %v", ErrUnknownKey, kid, err)
	}
	return pub, nil
}

// verifyError maps a jwt/v5 parse error to one of our sentinels. The alg is
// checked first because jwt/v5 reports a refused alg as a bad signature.
func verifyError(t *jwt.Token, w *jwtClaims, err, keyErr error, opts VerifyOptions, at time.Time) error {
	if t == nil || t.Header == nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	alg, ok := t.Header["alg"].(string)
	if !ok {
		return fmt.Errorf("%w: header has no alg string, only %q is accepted", ErrAlgorithm, algEdDSA)
	}
	if alg != algEdDSA {
		return fmt.Errorf("%w: alg %q, only %q is accepted", ErrAlgorithm, alg, algEdDSA)
	}
	switch {
	case keyErr != nil:
		return keyErr
	case errors.Is(err, jwt.ErrTokenMalformed):
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return signatureError(t.Header["kid"])
	case errors.Is(err, jwt.ErrTokenInvalidClaims):
		return claimsError(w, err, opts, at)
	}
	return fmt.Errorf("%w: %v", ErrMalformed, err)
}

// signatureError reports a signature that does not verify with the key kid
// names.
func signatureError(kid any) error {
	return fmt.Errorf("%w: does not verify with key %q", ErrSignature, kid)
}

// claimsError reports the first wrong claim of a token whose signature holds.
func claimsError(w *jwtClaims, err error, opts VerifyOptions, at time.Time) error {
	switch {
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return fmt.Errorf("%w: %s", ErrMissingClaim, missingClaims(w))
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return fmt.Errorf("%w: iss %q, want %q", ErrIssuer, w.Issuer, opts.Issuer)
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return fmt.Errorf("%w: aud %q does not contain %q", ErrAudience, []string(w.Audience), opts.Audience)
	case errors.Is(err, jwt.ErrTokenExpired):
		return fmt.Errorf("%w: exp %s is not after now %s (leeway %s)", ErrExpired, rfc3339(w.ExpiresAt), at.UTC().Format(time.RFC3339), opts.Leeway)
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return fmt.Errorf("%w: nbf %s is after now %s (leeway %s)", ErrNotYetValid, rfc3339(w.NotBefore), at.UTC().Format(time.RFC3339), opts.Leeway)
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return fmt.Errorf("%w: iat %s is after now %s (leeway %s)", ErrNotYetValid, rfc3339(w.IssuedAt), at.UTC().Format(time.RFC3339), opts.Leeway)
	}
	return fmt.Errorf("%w: %v", ErrMalformed, err)
}

func missingClaims(w *jwtClaims) string {
	var missing []string
	if w.ExpiresAt == nil {
		missing = append(missing, "exp")
	}
	if w.Issuer == "" {
		missing = append(missing, "iss")
	}
	if len(w.Audience) == 0 || len(w.Audience) == 1 && w.Audience[0] == "" {
		missing = append(missing, "aud")
	}
	return "no " + strings.Join(missing, ", no ")
}

func rfc3339(d *jwt.NumericDate) string {
	return timeOf(d).Format(time.RFC3339)
}
