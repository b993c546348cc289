package token

import "github.com/failsmall/breakglass/broker"

// Minter mints grant JWTs with a Keyring for broker.Service.
type Minter struct{ Keyring *Keyring }

var _ broker.Minter = Minter{}

// MintJWT signs c with the keyring's current key and returns the kid used.
func (m Minter) MintJWT(c broker.JWTClaims) (string, string, error) {
	return m.Keyring.MintKID(Claims{Issuer: c.Issuer, Subject: c.Subject, Audience: c.Audience,
		IssuedAt: c.IssuedAt, NotBefore: c.IssuedAt, Expiry: c.Expiry, ID: c.GrantID, Role: c.Role,
		Scopes: c.Scopes, Incident: c.Incident, RequestID: c.RequestID, Approvers: c.Approvers,
		PolicyHash: c.PolicyHash, Drill: c.Drill})
}
