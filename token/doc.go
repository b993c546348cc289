// Package token mints and verifies the credentials breakglass issues once a
// quorum has approved a request: JWTs (EdDSA over Ed25519, published as a JWKS)
// and short-lived OpenSSH user certificates.
//
// JWTs are signed by a [Keyring], a directory of Ed25519 keys that can be
// rotated while the broker runs. A relying party verifies them offline with
// [Verify] and a cached [JWKS]; no call to the broker is needed. Verify accepts
// only alg "EdDSA" and only keys named by the token's kid, which rules out the
// alg "none" and HMAC key-confusion attacks by construction.
//
// Errors from Verify wrap one sentinel each ([ErrMalformed], [ErrAlgorithm],
// [ErrUnknownKey], [ErrSignature], [ErrExpired], [ErrNotYetValid],
// [ErrAudience], [ErrIssuer], [ErrMissingClaim]) so callers can branch with
// errors.Is while the message says exactly what was wrong.
package token
