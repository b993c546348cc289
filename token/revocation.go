package token

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/failsmall/breakglass/broker"
)

// RevocationType is the JOSE "typ" of a revocation list, so that neither a
// credential nor any other JWT signed by the broker passes as one.
const RevocationType = "breakglass-revocations+jwt"

// MaxRevocationAge is the longest max age a list may declare.
const MaxRevocationAge = 30 * 24 * time.Hour

// RevocationList is the broker's signed list of revoked grants: what
// SignRevocations signs and offline.VerifyRevocations gives back to a
// relying party, which caches it and refuses it once older than MaxAge.
type RevocationList struct {
	Issuer   string        // the broker name, as in credentials' iss
	Sequence uint64        // increases with every list the broker publishes
	Issued   time.Time     // whole seconds
	MaxAge   time.Duration // whole seconds, positive
	Revoked  []string      // grant ids (a credential's jti)
}

// Contains reports whether grant id is revoked.
func (l *RevocationList) Contains(id string) bool { return slices.Contains(l.Revoked, id) }

// Expires is when the list stops being acceptable: Issued + MaxAge.
func (l *RevocationList) Expires() time.Time { return l.Issued.Add(l.MaxAge) }

// Check reports the first field that makes l no list to sign or accept: no
// issuer, no issue time, a max age that is not whole seconds between 1s and
// MaxRevocationAge, or an empty grant id.
func (l *RevocationList) Check() error {
	switch {
	case l.Issuer == "":
		return errors.New("no issuer")
	case l.Issued.IsZero():
		return errors.New("no issue time")
	case l.MaxAge <= 0 || l.MaxAge > MaxRevocationAge || l.MaxAge%time.Second != 0:
		return fmt.Errorf("max age %s is not a whole number of seconds between 1s and %s", l.MaxAge, MaxRevocationAge)
	case slices.Contains(l.Revoked, ""):
		return errors.New("an empty grant id")
	}
	return nil
}

// RevocationClaims is the JWT payload of a revocation list:
// {"iss":..., "iat":<seconds>, "seq":N, "max_age":<seconds>, "revoked":[...]}.
// The pointers tell a verifier a missing field from a zero one.
type RevocationClaims struct {
	jwt.RegisteredClaims
	Sequence *uint64  `json:"seq"`
	MaxAge   *int64   `json:"max_age"`
	Revoked  []string `json:"revoked"`
}

// JWSSigner signs claims as a compact EdDSA JWS with header typ and the
// kid of the key it used; *Keyring is one, with its current key.
type JWSSigner interface {
	SignJWS(typ string, claims jwt.Claims) (jws, kid string, err error)
}

// SignRevocations returns list as a compact JWS signed with EdDSA by signer,
// header {"alg":"EdDSA","kid":kid,"typ":RevocationType}. signer should be
// the broker's current JWT key, so that relying parties verify the list with
// the JWKS they already cache; SignRevocationsWith signs with a Keyring
// without taking its private key out.
func SignRevocations(list RevocationList, signer ed25519.PrivateKey, kid string) (string, error) {
	if kid == "" || len(signer) != ed25519.PrivateKeySize {
		return "", errors.New("sign revocations: need an ed25519 key and its kid")
	}
	return SignRevocationsWith(list, keySigner{signer, kid})
}

// SignRevocationsWith is SignRevocations with the key held by signer. It
// refuses a list that fails Check.
func SignRevocationsWith(list RevocationList, signer JWSSigner) (string, error) {
	if err := list.Check(); err != nil {
		return "", fmt.Errorf("sign revocations: %w", err)
	}
	seq, age := list.Sequence, int64(list.MaxAge/time.Second)
	revoked := list.Revoked
	if revoked == nil {
		revoked = []string{}
	}
	s, _, err := signer.SignJWS(RevocationType, RevocationClaims{
		RegisteredClaims: jwt.RegisteredClaims{Issuer: list.Issuer, IssuedAt: jwt.NewNumericDate(list.Issued.Truncate(time.Second))},
		Sequence:         &seq, MaxAge: &age, Revoked: revoked,
	})
	if err != nil {
		return "", fmt.Errorf("sign revocations: %w", err)
	}
	return s, nil
}

// keySigner is a JWSSigner over a bare key.
type keySigner struct {
	priv ed25519.PrivateKey
	kid  string
}

func (k keySigner) SignJWS(typ string, claims jwt.Claims) (string, string, error) {
	t := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims)
	t.Header["kid"] = k.kid
	t.Header["typ"] = typ
	s, err := t.SignedString(k.priv)
	return s, k.kid, err
}

// RevocationPublisher signs the broker's revocation list with Signer (the
// broker's JWT keyring): it is the broker.RevocationSigner a serving
// broker uses.
type RevocationPublisher struct{ Signer JWSSigner }

var _ broker.RevocationSigner = RevocationPublisher{}

// SignRevocations signs l, whose fields are those of RevocationList.
func (p RevocationPublisher) SignRevocations(l broker.RevocationList) (string, error) {
	return SignRevocationsWith(RevocationList(l), p.Signer)
}
