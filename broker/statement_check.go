package broker

import (
	"fmt"
	"time"
)

// What you see is what you sign: before a client has its user sign a
// statement the broker sent, it checks the statement says exactly what the
// user was shown or asked for. The CLI and the console call these, so that
// neither trusts a broker (or a proxy in front of it) to have written the
// statement it claims.

// CheckRequestStatement parses stmt, the request statement Prepare returned
// for want, and checks it is a request statement with a broker-issued id
// that asks for exactly want: role, requester, reason and incident as
// given, the duration given (any, when want.Duration is zero and the role's
// default applies), and, when the statement names an SSH key, want's key.
// A statement without an SSH key is the answer for a role without ssh,
// which ignores the key sent. The broker, policy and not-after fields are
// the broker's to fill; CreateRequest checks them.
//
// Errors wrap ErrInvalid for a statement that does not parse or is not a
// request, and a *FieldMismatchError (ErrStatementMismatch) naming the first field
// that differs.
func CheckRequestStatement(stmt []byte, want RequestInput) (Statement, error) {
	st, err := parseKind(stmt, KindRequest)
	if err != nil {
		return st, err
	}
	if !ValidID(st.Request) {
		return st, fmt.Errorf("%w: request id %q is not a broker-issued id", ErrInvalid, st.Request)
	}
	fields := []field{{"role", st.Role, want.Role}, {"requester", st.Requester, want.Requester},
		{"reason", st.Reason, want.Reason}, {"incident", st.Incident, want.Incident}}
	if want.Duration != 0 {
		fields = append(fields, field{"duration", FormatDuration(st.Duration), FormatDuration(want.Duration)})
	}
	if st.SSHKey != "" {
		key := "(none)"
		if pub, err := ParseSSHKey(want.SSHKey); err == nil {
			key = CanonicalSSHKey(pub)
		}
		fields = append(fields, field{"ssh-key", st.SSHKey, key})
	}
	return st, compare(fields, "asked for")
}

// CheckApprovalStatement parses stmt, the approval statement of request r
// as the broker reported it, and checks it before approver signs it: it is
// an approval statement whose digest is r's and whose every field is r's
// (id, role, requester, reason, incident, duration, policy, not-after as
// r's expiry); then that r is still pending, and that approver did not
// make it.
//
// Errors wrap ErrInvalid for a statement that does not parse or is not an
// approval; a *FieldMismatchError (ErrStatementMismatch) naming the first
// field that differs; the
// sentinel of r's state (ErrExpired, ErrDenied, ErrCancelled, ErrRevoked,
// ErrAlreadyIssued) when it is not pending; ErrSelfApproval when approver
// is the requester.
func CheckApprovalStatement(stmt []byte, r *Request, approver string) (Statement, error) {
	st, err := parseKind(stmt, KindApproval)
	if err != nil {
		return st, err
	}
	err = compare([]field{{"digest", Digest(stmt), r.StatementDigest}, {"request", st.Request, r.ID},
		{"role", st.Role, r.Role}, {"requester", st.Requester, r.Requester}, {"reason", st.Reason, r.Reason},
		{"incident", st.Incident, r.Incident}, {"duration", FormatDuration(st.Duration), FormatDuration(r.Duration)},
		{"policy", st.Policy, r.PolicyHash},
		{"not-after", st.NotAfter.UTC().Format(time.RFC3339), r.Expires.UTC().Format(time.RFC3339)}}, "request "+r.ID+" says")
	if err != nil {
		return st, err
	}
	if err := stateError(r); err != nil {
		msg := fmt.Errorf("request %s is %s, not pending; nothing to approve", r.ID, r.State)
		if r.State == StateSuperseded {
			msg = fmt.Errorf("request %s was superseded by policy bundle %s; the requester must request again under it", r.ID, r.SupersededBy)
		}
		return st, &wrapped{sentinel: err, err: msg}
	}
	if approver == r.Requester {
		return st, fmt.Errorf("you (%s) made request %s: %w", approver, r.ID, ErrSelfApproval)
	}
	return st, nil
}

// parseKind parses stmt and checks it is of kind k.
func parseKind(stmt []byte, k Kind) (Statement, error) {
	st, err := ParseStatement(stmt)
	if err != nil {
		return st, err
	}
	if st.Kind != k {
		return st, fmt.Errorf("%w: a %s statement (\"breakglass %s v1\"), want \"breakglass %s v1\"", ErrInvalid, st.Kind, st.Kind, k)
	}
	return st, nil
}

// field is one value of a statement and the value it must have.
type field struct{ name, got, want string }

// compare returns a *FieldMismatchError for the first field whose values
// differ; source says where the wanted values come from.
func compare(fields []field, source string) error {
	for _, f := range fields {
		if f.got != f.want {
			return &FieldMismatchError{Field: f.name, Got: f.got, Want: f.want, Source: source}
		}
	}
	return nil
}

// FieldMismatchError is a statement field that is not what its signer was
// shown or asked for. It matches ErrStatementMismatch with errors.Is.
type FieldMismatchError struct {
	Field     string // the statement's key: "role", "reason"... or "digest"
	Got, Want string // the statement's value, and the one shown
	Source    string // where Want comes from: "asked for", "request ID says"
}

func (e *FieldMismatchError) Error() string {
	return fmt.Sprintf("the statement's %s is %q, %s %q", e.Field, e.Got, e.Source, e.Want)
}

func (e *FieldMismatchError) Unwrap() error { return ErrStatementMismatch }
