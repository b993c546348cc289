package broker

import "errors"

// Sentinel errors. Each tells the caller what happened and so what to do; the
// web package maps each to one HTTP status and a stable code. Service methods
// wrap them with details, so compare with errors.Is.
var (
	ErrNotFound        = errors.New("not found")
	ErrConflict        = errors.New("conflict")
	ErrInvalid         = errors.New("invalid input")
	ErrNoPolicy        = errors.New("no valid policy is loaded")
	ErrPolicyChanged   = errors.New("the policy changed since the request was made")
	ErrUnauthenticated = errors.New("not authenticated")
	ErrForbidden       = errors.New("not allowed")

	ErrUnknownPrincipal   = errors.New("unknown principal")
	ErrSelfApproval       = errors.New("requesters may not approve their own request")
	ErrNotEligible        = errors.New("not an eligible approver for this role")
	ErrBadSignature       = errors.New("bad signature")
	ErrStatementMismatch  = errors.New("signature is not over this request's statement")
	ErrUserVerification   = errors.New("the role requires user verification (PIN or biometric) on the approver's key")
	ErrExpired            = errors.New("request expired")
	ErrDenied             = errors.New("request was denied")
	ErrCancelled          = errors.New("request was cancelled")
	ErrAlreadyIssued      = errors.New("request was already granted")
	ErrRevoked            = errors.New("grant was revoked")
	ErrGrantExpired       = errors.New("grant expired")
	ErrQuorumNotMet       = errors.New("quorum not met")
	ErrChallenge          = errors.New("bad or used challenge")
	ErrAuditUnavailable   = errors.New("audit log unavailable: refusing to change state")
	ErrDuplicate          = errors.New("duplicate")
	ErrCredentialsPending = errors.New("no credentials yet: the request has not been granted")
	// ErrIntegrity: the store's rows disagree with the audit log (an
	// edited database); the broker refuses to act on them.
	ErrIntegrity = errors.New("the database disagrees with the audit log")
)
