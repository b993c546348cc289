package offline

import (
	"fmt"
	"time"

	"github.com/failsmall/breakglass/token"
)

// CheckRevocations is the one revocation verdict, for strict and
// non-strict verification alike: jws must be a revocation list signed by a
// key of jwks and fresh at now (VerifyRevocations), issued by issuer, and
// numbered at least minSequence (the highest the relying party has seen; 0
// for none); and grant, a credential's jti, must not be in it. It returns
// the list it checked.
//
// Errors wrap those of VerifyRevocations (ErrBadRevocations,
// ErrRevocationsExpired), ErrBadRevocations for another issuer or an empty
// grant id, ErrRevocationsRollback for an older list, and a *RevokedError
// (ErrRevoked) when the list revokes grant.
func CheckRevocations(jws string, jwks token.JWKS, issuer string, minSequence uint64, grant string, now time.Time) (*RevocationList, error) {
	l, err := VerifyRevocations(jws, jwks, now)
	if err != nil {
		return nil, err
	}
	switch {
	case l.Issuer != issuer:
		return nil, fmt.Errorf("%w: issued by %q, not by %q, the issuer you accept", ErrBadRevocations, l.Issuer, issuer)
	case l.Sequence < minSequence:
		return nil, fmt.Errorf("%w: sequence %d, already saw %d", ErrRevocationsRollback, l.Sequence, minSequence)
	case grant == "":
		return nil, fmt.Errorf("%w: the credential has no jti to look up in the revocation list", ErrBadRevocations)
	case l.Contains(grant):
		return nil, &RevokedError{Grant: grant, Sequence: l.Sequence, Issued: l.Issued}
	}
	return l, nil
}

// RevokedError is the verdict that a revocation list revokes a grant.
type RevokedError struct {
	Grant    string
	Sequence uint64    // the list's
	Issued   time.Time // the list's
}

func (e *RevokedError) Error() string {
	return fmt.Sprintf("%v: grant %s is in revocation list %d issued %s", ErrRevoked, e.Grant, e.Sequence, e.Issued.Format(time.RFC3339))
}

func (e *RevokedError) Unwrap() error { return ErrRevoked }
