package token

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
)

// ErrInvalidJWKS is wrapped by every error ParseJWKS returns.
var ErrInvalidJWKS = errors.New("invalid jwks")

// JWKS is a JSON Web Key Set (RFC 7517 section 5) holding the public halves of
// the broker's signing keys.
type JWKS struct {
	Keys []JWK `json:"keys"`
}

// JWK is an Ed25519 public key as an RFC 8037 octet key pair:
// kty "OKP", crv "Ed25519", x the 32-byte public key in unpadded base64url.
// Kid is the RFC 7638 thumbprint of the key; Use is "sig" and Alg "EdDSA".
type JWK struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Kid string `json:"kid"`
	Use string `json:"use,omitempty"`
	Alg string `json:"alg,omitempty"`
}

const (
	jwkKtyOKP     = "OKP"
	jwkCrvEd25519 = "Ed25519"
	jwkUseSig     = "sig"
	algEdDSA      = "EdDSA"
)

// joseB64 is the JOSE base64url encoding: no padding, and strict, so that every
// byte string has exactly one accepted encoding.
var joseB64 = base64.RawURLEncoding.Strict()

// newJWK returns the JWK of pub, with its thumbprint as kid.
func newJWK(pub ed25519.PublicKey) JWK {
	x := joseB64.EncodeToString(pub)
	return JWK{Kty: jwkKtyOKP, Crv: jwkCrvEd25519, X: x, Kid: thumbprint(x), Use: jwkUseSig, Alg: algEdDSA}
}

// thumbprint is the RFC 7638 JWK thumbprint of an Ed25519 key (RFC 8037
// appendix A.3): base64url(SHA-256 of the required members in lexicographic
// order, no whitespace).
func thumbprint(x string) string {
	sum := sha256.Sum256([]byte(`{"crv":"Ed25519","kty":"OKP","x":"` + x + `"}`))
	return joseB64.EncodeToString(sum[:])
}

// PublicKey checks that j is a usable Ed25519 signing key and returns it.
func (j JWK) PublicKey() (ed25519.PublicKey, error) {
	switch {
	case j.Kty != jwkKtyOKP:
		return nil, fmt.Errorf("kty %q, want %q", j.Kty, jwkKtyOKP)
	case j.Crv != jwkCrvEd25519:
		return nil, fmt.Errorf("crv %q, want %q", j.Crv, jwkCrvEd25519)
	case j.Use != "" && j.Use != jwkUseSig:
		return nil, fmt.Errorf("use %q, want %q", j.Use, jwkUseSig)
	case j.Alg != "" && j.Alg != algEdDSA:
		return nil, fmt.Errorf("alg %q, want %q", j.Alg, algEdDSA)
	}
	pub, err := joseB64.DecodeString(j.X)
	if err != nil {
		return nil, fmt.Errorf("x is not unpadded base64url: %v", err)
	}
	if len(pub) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("x is %d bytes, want %d", len(pub), ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(pub), nil
}

// Lookup returns the key named kid, or false.
func (s JWKS) Lookup(kid string) (JWK, bool) {
	for _, k := range s.Keys {
		if k.Kid == kid {
			return k, true
		}
	}
	return JWK{}, false
}

// wireJWK also decodes the private member "d" so that ParseJWKS can refuse a
// set that leaks a private key.
type wireJWK struct {
	JWK
	D *string `json:"d"`
}

// ParseJWKS decodes and checks a JWKS. It is strict: every key must be an
// Ed25519 OKP key with a 32-byte x, a non-empty kid unique in the set, use
// "sig" and alg "EdDSA" when present, and no private member; the set must not
// be empty. Errors wrap ErrInvalidJWKS and name the offending key.
func ParseJWKS(data []byte) (JWKS, error) {
	var wire struct {
		Keys *[]wireJWK `json:"keys"`
	}
	if err := json.Unmarshal(data, &wire); err != nil {
		return JWKS{}, fmt.Errorf("%w: %v", ErrInvalidJWKS, err)
	}
	if wire.Keys == nil || len(*wire.Keys) == 0 {
		return JWKS{}, fmt.Errorf("%w: no keys", ErrInvalidJWKS)
	}
	set := JWKS{Keys: make([]JWK, 0, len(*wire.Keys))}
	for i, w := range *wire.Keys {
		if err := checkWireJWK(w, set); err != nil {
			return JWKS{}, fmt.Errorf("%w: key %d (kid %q): %v", ErrInvalidJWKS, i, w.Kid, err)
		}
		set.Keys = append(set.Keys, w.JWK)
	}
	return set, nil
}

func checkWireJWK(w wireJWK, seen JWKS) error {
	if w.D != nil {
		return errors.New("contains the private member d")
	}
	if w.Kid == "" {
		return errors.New("no kid")
	}
	if _, dup := seen.Lookup(w.Kid); dup {
		return errors.New("duplicate kid")
	}
	_, err := w.PublicKey()
	return err
}
