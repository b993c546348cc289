package web

import (
	"errors"
	"net/http"

	"github.com/failsmall/breakglass/broker"
)

// errorTable maps the broker's sentinel errors to an HTTP status and a stable
// code. It is the only place that does; the first match wins, so the more
// specific errors come first.
var errorTable = []struct {
	err    error
	status int
	code   string
}{
	{broker.ErrBundleRejected, http.StatusUnprocessableEntity, "bundle_rejected"},
	{broker.ErrNoPolicy, http.StatusServiceUnavailable, "no_policy"},
	{broker.ErrAuditUnavailable, http.StatusServiceUnavailable, "audit_unavailable"},
	{broker.ErrIntegrity, http.StatusInternalServerError, "integrity"},
	{broker.ErrPolicyChanged, http.StatusConflict, "policy_changed"},
	{broker.ErrUnauthenticated, http.StatusUnauthorized, "unauthenticated"},
	{broker.ErrSelfApproval, http.StatusForbidden, "self_approval"},
	{broker.ErrNotEligible, http.StatusForbidden, "not_eligible"},
	{broker.ErrUserVerification, http.StatusForbidden, "user_verification_required"},
	{broker.ErrUnknownPrincipal, http.StatusForbidden, "unknown_principal"},
	{broker.ErrForbidden, http.StatusForbidden, "forbidden"},
	{broker.ErrStatementMismatch, http.StatusBadRequest, "statement_mismatch"},
	{broker.ErrBadSignature, http.StatusBadRequest, "bad_signature"},
	{broker.ErrChallenge, http.StatusBadRequest, "bad_challenge"},
	{broker.ErrExpired, http.StatusGone, "request_expired"},
	{broker.ErrDenied, http.StatusConflict, "request_denied"},
	{broker.ErrCancelled, http.StatusConflict, "request_cancelled"},
	{broker.ErrAlreadyIssued, http.StatusConflict, "already_issued"},
	{broker.ErrRevoked, http.StatusGone, "revoked"},
	{broker.ErrGrantExpired, http.StatusGone, "grant_expired"},
	{broker.ErrCredentialsPending, http.StatusConflict, "not_granted"},
	{broker.ErrQuorumNotMet, http.StatusConflict, "quorum_not_met"},
	{broker.ErrNotFound, http.StatusNotFound, "not_found"},
	{broker.ErrDuplicate, http.StatusConflict, "duplicate"},
	{broker.ErrConflict, http.StatusConflict, "conflict"},
	{broker.ErrInvalid, http.StatusBadRequest, "invalid"},
	{errBadBody, http.StatusBadRequest, "bad_body"},
	{errTooLarge, http.StatusRequestEntityTooLarge, "too_large"},
	{errRateLimited, http.StatusTooManyRequests, "rate_limited"},
	{errBusy, http.StatusServiceUnavailable, "busy"},
	{errNoRoute, http.StatusNotFound, "no_route"},
	{errNoMethod, http.StatusMethodNotAllowed, "method_not_allowed"},
}

var (
	errBadBody  = errors.New("bad request body")
	errTooLarge = errors.New("request body too large")
	errNoRoute  = errors.New("no such API route; see the README for the API")
	errNoMethod = errors.New("method not allowed on this route")
)

// classify returns the status and code for err; ok is false for errors the
// table doesn't know, which are internal and shown as a generic 500.
func classify(err error) (status int, code string, ok bool) {
	for _, e := range errorTable {
		if errors.Is(err, e.err) {
			return e.status, e.code, true
		}
	}
	return http.StatusInternalServerError, "internal", false
}

// codeError is the error a Client returns for an API error response.
type codeError struct {
	err     error
	status  int
	code    string
	message string
}

func (e *codeError) Error() string { return e.message }

// Unwrap lets callers of the Client use errors.Is with the broker's sentinels.
func (e *codeError) Unwrap() error { return e.err }

// errorForCode maps a code from the wire back to its sentinel.
func errorForCode(code string) error {
	for _, e := range errorTable {
		if e.code == code {
			return e.err
		}
	}
	return nil
}
