package token

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Claims of a breakglass credential. Times travel as whole seconds (RFC 7519
// NumericDate); sub-second parts are truncated when minting.
type Claims struct {
	Issuer     string    // iss: the broker
	Subject    string    // sub: requester principal id
	Audience   []string  // aud: relying parties
	IssuedAt   time.Time // iat
	NotBefore  time.Time // nbf
	Expiry     time.Time // exp
	ID         string    // jti: grant id
	Role       string    // role
	Scopes     []string  // scope: space-separated, as RFC 8693
	Incident   string    // incident
	RequestID  string    // request_id
	Approvers  []string  // approvers
	PolicyHash string    // policy: hash of the policy bundle the grant was decided under
	Drill      bool      // drill: omitted when false
}

// jwtClaims is the JSON form of Claims.
type jwtClaims struct {
	jwt.RegisteredClaims
	Role      string   `json:"role,omitempty"`
	Scope     string   `json:"scope,omitempty"`
	Incident  string   `json:"incident,omitempty"`
	RequestID string   `json:"request_id,omitempty"`
	Approvers []string `json:"approvers,omitempty"`
	Policy    string   `json:"policy,omitempty"`
	Drill     bool     `json:"drill,omitempty"`
}

// check reports why c cannot be minted: a credential Verify would reject, or a
// scope that would not survive the space-separated encoding.
func (c Claims) check() error {
	switch {
	case c.Issuer == "":
		return errors.New("no issuer")
	case len(c.Audience) == 0 || slices.Contains(c.Audience, ""):
		return errors.New("no audience, or an empty one")
	case c.Expiry.IsZero():
		return errors.New("no expiry")
	case !c.IssuedAt.IsZero() && !c.Expiry.After(c.IssuedAt):
		return fmt.Errorf("expiry %s is not after issued-at %s", c.Expiry.Format(time.RFC3339), c.IssuedAt.Format(time.RFC3339))
	}
	for _, s := range c.Scopes {
		if s == "" || strings.ContainsFunc(s, isSpace) {
			return fmt.Errorf("scope %q is empty or contains white space", s)
		}
	}
	return nil
}

func isSpace(r rune) bool { return r == ' ' || r == '\t' || r == '\n' || r == '\r' }

func numericDate(t time.Time) *jwt.NumericDate {
	if t.IsZero() {
		return nil
	}
	return jwt.NewNumericDate(t)
}

func timeOf(d *jwt.NumericDate) time.Time {
	if d == nil {
		return time.Time{}
	}
	return d.UTC()
}

func (c Claims) wire() *jwtClaims {
	return &jwtClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    c.Issuer,
			Subject:   c.Subject,
			Audience:  jwt.ClaimStrings(c.Audience),
			ExpiresAt: numericDate(c.Expiry),
			NotBefore: numericDate(c.NotBefore),
			IssuedAt:  numericDate(c.IssuedAt),
			ID:        c.ID,
		},
		Role:      c.Role,
		Scope:     strings.Join(c.Scopes, " "),
		Incident:  c.Incident,
		RequestID: c.RequestID,
		Approvers: c.Approvers,
		Policy:    c.PolicyHash,
		Drill:     c.Drill,
	}
}

func (w *jwtClaims) claims() *Claims {
	return &Claims{
		Issuer:     w.Issuer,
		Subject:    w.Subject,
		Audience:   []string(w.Audience),
		IssuedAt:   timeOf(w.IssuedAt),
		NotBefore:  timeOf(w.NotBefore),
		Expiry:     timeOf(w.ExpiresAt),
		ID:         w.ID,
		Role:       w.Role,
		Scopes:     strings.Fields(w.Scope),
		Incident:   w.Incident,
		RequestID:  w.RequestID,
		Approvers:  w.Approvers,
		PolicyHash: w.Policy,
		Drill:      w.Drill,
	}
}

// signJWT returns c as a compact JWS signed by key with alg EdDSA, header
// {"alg":"EdDSA","kid":kid,"typ":"JWT"}. Ed25519 signatures are deterministic,
// so the same inputs always give the same token.
func signJWT(key ed25519.PrivateKey, kid string, c Claims) (string, error) {
	if err := c.check(); err != nil {
		return "", fmt.Errorf("mint: %w", err)
	}
	t := jwt.NewWithClaims(jwt.SigningMethodEdDSA, c.wire())
	t.Header["kid"] = kid
	s, err := t.SignedString(key)
	if err != nil {
		return "", fmt.Errorf("mint: sign: %w", err)
	}
	return s, nil
}
