package broker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/failsmall/breakglass/policy"
)

// RequestInput is what a requester asks for.
type RequestInput struct {
	Role, Requester, Reason, Incident string
	// Duration is how long the grant should last; zero means the role's default.
	Duration time.Duration
	// SSHKey is the requester's SSH public key (an authorized_keys line)
	// that the grant's certificate is for. Required for roles with ssh,
	// ignored for roles without (a client may always send its key).
	SSHKey string
}

// notAfterSlack is how long a prepared request statement stays acceptable
// beyond the role's pending lifetime, for the round trip of signing it.
const notAfterSlack = 5 * time.Minute

// Prepare checks in against the active policy and returns the request
// statement for the requester to sign, with a fresh request id. Prepare
// stores nothing: the request exists once CreateRequest accepts the signed
// statement.
//
// Errors: ErrNoPolicy; ErrInvalid for an unknown role, a reason, incident,
// duration or SSH key the role refuses; ErrUnknownPrincipal; ErrForbidden
// when the requester is disabled or may not request the role.
func (s *Service) Prepare(ctx context.Context, in RequestInput) ([]byte, error) {
	p, err := s.Policy()
	if err != nil {
		return nil, err
	}
	d, err := policy.CheckRequest(p, policy.RequestInput{Role: in.Role, Requester: in.Requester,
		Reason: in.Reason, Incident: in.Incident, Duration: in.Duration})
	if err != nil {
		return nil, policyError(err)
	}
	role, _ := p.Role(in.Role)
	now := s.cfg.Clock.Now()
	st := Statement{Kind: KindRequest, Broker: s.cfg.Name, Request: NewID(now), Role: in.Role,
		Requester: in.Requester, Duration: d, Incident: in.Incident, Reason: in.Reason,
		Policy: p.Hash(), NotAfter: now.Add(role.PendingTTL).Truncate(time.Second)}
	if role.SSH != nil && in.SSHKey != "" {
		pub, err := ParseSSHKey(in.SSHKey)
		if err != nil {
			return nil, err
		}
		st.SSHKey = CanonicalSSHKey(pub)
	}
	if err := s.checkSSHRole(role, st.SSHKey); err != nil {
		return nil, err
	}
	return st.Encode()
}

// CreateRequest accepts a request statement from Prepare signed by the
// requester named in it, and stores the request as pending.
//
// Errors: ErrNoPolicy; ErrInvalid for a malformed statement or one that
// does not fit this broker or the role; ErrPolicyChanged when it was
// prepared under another policy; ErrExpired when it lapsed; ErrBadSignature,
// ErrStatementMismatch, ErrUnknownPrincipal for a signature that does not
// verify; ErrForbidden when another principal (or a disabled key) signed
// it; ErrConflict when the request exists already; ErrAuditUnavailable.
func (s *Service) CreateRequest(ctx context.Context, text, sig []byte) (*Request, error) {
	p, err := s.Policy()
	if err != nil {
		return nil, err
	}
	st, err := ParseStatement(text)
	if err != nil {
		return nil, err
	}
	if st.Kind != KindRequest {
		return nil, fmt.Errorf("%w: a request must be a \"breakglass request v1\" statement, not %s", ErrInvalid, st.Kind)
	}
	now := s.cfg.Clock.Now()
	if err := s.checkRequestStatement(p, st, now); err != nil {
		return nil, err
	}
	who, err := verifySignature(p, sig, text)
	if err != nil {
		return nil, err
	}
	if who.principal.ID != st.Requester {
		return nil, fmt.Errorf("%w: the statement names requester %s but was signed by %s's key", ErrForbidden, st.Requester, who.principal.ID)
	}
	approval := st
	approval.Kind = KindApproval
	atext, err := approval.Encode()
	if err != nil {
		return nil, err
	}
	r := &Request{ID: st.Request, Role: st.Role, Requester: st.Requester, Reason: st.Reason,
		Incident: st.Incident, Duration: st.Duration, Created: now, Expires: st.NotAfter,
		State: StatePending, Updated: now, PolicyHash: st.Policy, Statement: atext,
		StatementDigest: Digest(atext), RequestStatement: text, RequestSignature: sig}
	// The id is the statement's, drawn by Prepare: the insert is the only
	// precondition, so a conflict means the request exists already.
	ch := new(Change).Add(InsertRequest{Request: r})
	ch.Record(Event{Type: EventRequestCreated, Time: now, Actor: r.Requester,
		Subjects: []string{r.ID}, Data: signedData(text, sig, who)})
	if err = ch.Err(); err == nil {
		err = s.cfg.Store.Commit(ctx, ch)
	}
	if errors.Is(err, ErrConflict) {
		err = fmt.Errorf("%w: request %s already exists; prepare a new one", ErrConflict, r.ID)
	}
	if err != nil {
		return nil, err
	}
	s.cfg.Logger.Info("request created", "request", r.ID, "role", r.Role, "requester", r.Requester)
	return r, nil
}

// checkRequestStatement checks a request statement against this broker, the
// active policy and the clock.
func (s *Service) checkRequestStatement(p *policy.Policy, st Statement, now time.Time) error {
	switch {
	case st.Broker != s.cfg.Name:
		return fmt.Errorf("%w: the statement is for broker %q, this is %q", ErrInvalid, st.Broker, s.cfg.Name)
	case st.Policy != p.Hash():
		return fmt.Errorf("%w: statement says %s, active is %s; prepare the request again", ErrPolicyChanged, st.Policy, p.Hash())
	case !ValidID(st.Request):
		return fmt.Errorf("%w: request id %q is not a broker-issued id", ErrInvalid, st.Request)
	}
	d, err := policy.CheckRequest(p, policy.RequestInput{Role: st.Role, Requester: st.Requester,
		Reason: st.Reason, Incident: st.Incident, Duration: st.Duration})
	if err != nil {
		return policyError(err)
	}
	role, _ := p.Role(st.Role)
	switch {
	case d != st.Duration:
		return fmt.Errorf("%w: statement duration %s, policy allows %s", ErrInvalid, FormatDuration(st.Duration), FormatDuration(d))
	case !st.NotAfter.After(now):
		return fmt.Errorf("%w: the request statement lapsed at %s; prepare it again", ErrExpired, st.NotAfter.Format(time.RFC3339))
	case st.NotAfter.After(now.Add(role.PendingTTL + notAfterSlack)):
		return fmt.Errorf("%w: not-after %s is beyond the role's pending lifetime %s", ErrInvalid, st.NotAfter.Format(time.RFC3339), FormatDuration(role.PendingTTL))
	}
	return s.checkSSHRole(role, st.SSHKey)
}

// policyError maps policy's evaluation errors onto broker sentinels, keeping
// the policy's message.
func policyError(err error) error {
	for _, m := range []struct{ from, to error }{
		{policy.ErrUnknownRole, ErrInvalid}, {policy.ErrUnknownPrincipal, ErrUnknownPrincipal},
		{policy.ErrDisabled, ErrForbidden}, {policy.ErrNotRequester, ErrForbidden},
		{policy.ErrSelfApproval, ErrSelfApproval}, {policy.ErrNotEligible, ErrNotEligible},
		{policy.ErrReason, ErrInvalid}, {policy.ErrIncident, ErrInvalid}, {policy.ErrDuration, ErrInvalid},
	} {
		if errors.Is(err, m.from) {
			return &wrapped{sentinel: m.to, err: err}
		}
	}
	return err
}

// wrapped is err, also matching sentinel with errors.Is; its message is err's.
type wrapped struct{ sentinel, err error }

func (w *wrapped) Error() string   { return w.err.Error() }
func (w *wrapped) Unwrap() []error { return []error{w.sentinel, w.err} }

// signedData is the audit record of a signature: the statement itself, so the
// log alone proves each step.
func signedData(text, sig []byte, who *signed) []byte {
	d := map[string]any{"statement": string(text), "signature": string(sig),
		"signer": who.principal.ID, "key": who.key.Fingerprint}
	if who.result.SK {
		d["flags"] = who.result.Flags
		d["counter"] = who.result.Counter
	}
	return mustJSON(d)
}
