package token

import (
	"errors"
	"fmt"

	"github.com/golang-jwt/jwt/v5"
)

// SignJWS signs claims with the current key as a compact JWS with header
// {"alg":"EdDSA","kid":kid,"typ":typ} and returns it with the kid used. It is
// how other signed formats of the broker (the revocation list) get signed by
// the key relying parties already trust through the JWKS, without the private
// key leaving the Keyring. typ must be set and must not be "JWT", the typ of
// credentials, so that each verifier can tell its documents from the others.
func (k *Keyring) SignJWS(typ string, claims jwt.Claims) (jws, kid string, err error) {
	switch {
	case typ == "" || typ == "JWT":
		return "", "", fmt.Errorf("keyring: sign jws: typ %q is reserved for credentials: give the document its own typ", typ)
	case claims == nil:
		return "", "", errors.New("keyring: sign jws: no claims")
	}
	cur := k.set.Load().current()
	t := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims)
	t.Header["kid"] = cur.kid
	t.Header["typ"] = typ
	jws, err = t.SignedString(cur.priv)
	if err != nil {
		return "", "", fmt.Errorf("keyring: sign jws: %w", err)
	}
	return jws, cur.kid, nil
}
