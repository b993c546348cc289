package offline

import (
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/failsmall/breakglass/token"
)

// RevocationType is the JOSE "typ" of a revocation list (token signs it).
const RevocationType = token.RevocationType

// MaxRevocationFuture is how far in the future a list's issue time may be
// (clock skew between broker and relying party).
const MaxRevocationFuture = time.Minute

// MaxRevocationAge is the longest max age a list may declare.
const MaxRevocationAge = token.MaxRevocationAge

// RevocationList is the broker's signed list of revoked grants, as
// VerifyRevocations returns it. A relying party caches it and refuses it
// once older than MaxAge. The broker signs it with token.SignRevocations.
type RevocationList = token.RevocationList

// VerifyRevocations checks that jws is a revocation list signed by a key of
// jwks and still fresh at now, and returns it. Errors wrap
// ErrBadRevocations (malformed, wrong alg or typ, unknown kid, bad signature,
// missing fields, issued more than MaxRevocationFuture after now) or
// ErrRevocationsExpired (now is after Issued + MaxAge). For a kid the JWKS
// does not hold the error also wraps token.ErrNotInJWKS: the JWKS, not the
// list, is what to fetch again.
func VerifyRevocations(jws string, jwks token.JWKS, now time.Time) (*RevocationList, error) {
	p := jwt.NewParser(jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}),
		jwt.WithStrictDecoding(), jwt.WithoutClaimsValidation())
	var c token.RevocationClaims
	var unknownKid *string // the kid, when the jwks lacks it
	_, err := p.ParseWithClaims(jws, &c, func(t *jwt.Token) (any, error) {
		if typ, _ := t.Header["typ"].(string); typ != RevocationType {
			return nil, fmt.Errorf("typ %q, want %q", t.Header["typ"], RevocationType)
		}
		kid, _ := t.Header["kid"].(string)
		k, ok := jwks.Lookup(kid)
		if !ok {
			unknownKid = &kid
			return nil, fmt.Errorf("kid %q is not in the jwks", kid)
		}
		return k.PublicKey()
	})
	if unknownKid != nil {
		// Most likely a list signed with a key the broker rotated to after
		// the JWKS was cached: the JWKS is what to fetch again.
		return nil, fmt.Errorf("%w: signed with kid %q, which is %w", ErrBadRevocations, *unknownKid, token.ErrNotInJWKS)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadRevocations, err)
	}
	if c.Sequence == nil || c.MaxAge == nil || c.IssuedAt == nil || c.Revoked == nil {
		return nil, fmt.Errorf("%w: seq, iat, max_age and revoked are all required", ErrBadRevocations)
	}
	if *c.MaxAge <= 0 || *c.MaxAge > int64(MaxRevocationAge/time.Second) {
		return nil, fmt.Errorf("%w: max_age %d is not between 1 and %d seconds", ErrBadRevocations, *c.MaxAge, int64(MaxRevocationAge/time.Second))
	}
	l := &RevocationList{Issuer: c.Issuer, Sequence: *c.Sequence, Issued: c.IssuedAt.UTC(),
		MaxAge: time.Duration(*c.MaxAge) * time.Second, Revoked: c.Revoked}
	if err := l.Check(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadRevocations, err)
	}
	if l.Issued.After(now.Add(MaxRevocationFuture)) {
		return nil, fmt.Errorf("%w: issued %s, after now %s", ErrBadRevocations, l.Issued.Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	if now.After(l.Expires()) {
		return nil, fmt.Errorf("%w: list %d issued %s with max age %s expired at %s, now is %s", ErrRevocationsExpired,
			l.Sequence, l.Issued.Format(time.RFC3339), l.MaxAge, l.Expires().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	return l, nil
}
