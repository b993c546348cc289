package broker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/failsmall/breakglass/policy"
)

// ApprovalResult is what an approval did.
type ApprovalResult struct {
	Request  *Request
	Approval *Approval
	// Duplicate is set when this approver had already approved: the
	// approval counts once and nothing changed.
	Duplicate bool
	// Grant is set when this approval met the quorum and the grant was minted.
	Grant *Grant
	// Missing says, per unmet clause, what the quorum still needs.
	Missing []string
	// Stale is set when the role asked for one more approval because the
	// policy bundle is older than its stale_after.
	Stale bool
}

// Approve records an approver's signature over request id's approval
// statement. When the approvals then meet the role's quorum, the grant and its
// credentials are minted in the same transaction, exactly once.
func (s *Service) Approve(ctx context.Context, id string, sig []byte) (*ApprovalResult, error) {
	p, err := s.Policy()
	if err != nil {
		return nil, err
	}
	// Signatures are checked before the write transaction, so that the
	// single writer never waits on cryptography; statements never change.
	r, err := s.request(ctx, id)
	if err != nil {
		return nil, err
	}
	who, err := s.checkSigner(p, r, r.Statement, sig)
	if err != nil {
		return nil, err
	}
	res := &ApprovalResult{}
	err = s.update(ctx, func(tx Tx, now time.Time) error {
		r, err := s.pending(tx, p, id, now)
		if err != nil {
			return err
		}
		a, err := s.record(tx, who, r, KindApproval, r.Statement, sig, now)
		if err != nil {
			return err
		}
		res.Request, res.Approval = r, a
		if err := tx.InsertApproval(a); errors.Is(err, ErrDuplicate) {
			res.Duplicate = true
		} else if err != nil {
			return err
		} else if _, err := tx.Append(Event{Type: EventApprovalRecorded, Time: now, Actor: a.Approver,
			Subjects: []string{r.ID}, Data: approvalData(a)}); err != nil {
			return err
		}
		return s.grantIfQuorum(tx, p, r, res, now)
	})
	if err != nil {
		return nil, err
	}
	if res.Grant != nil {
		s.cfg.Logger.Info("grant issued", "request", id, "grant", res.Grant.ID, "approvers", res.Grant.Approvers)
	}
	return res, nil
}

// Deny records an eligible approver's signed denial, which ends the request.
// text is the denial statement: the request's approval statement with kind
// denial and the approver's reason.
func (s *Service) Deny(ctx context.Context, id string, text, sig []byte) (*Request, error) {
	p, err := s.Policy()
	if err != nil {
		return nil, err
	}
	r, err := s.request(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := checkDenialText(r, text); err != nil {
		return nil, err
	}
	who, err := s.checkSigner(p, r, text, sig)
	if err != nil {
		return nil, err
	}
	var out *Request
	err = s.update(ctx, func(tx Tx, now time.Time) error {
		r, err := s.pending(tx, p, id, now)
		if err != nil {
			return err
		}
		a, err := s.record(tx, who, r, KindDenial, text, sig, now)
		if err != nil {
			return err
		}
		if err := tx.InsertApproval(a); err != nil {
			return err
		}
		if err := tx.SetRequestState(r.ID, StatePending, StateDenied, now); err != nil {
			return err
		}
		r.State, r.Updated, out = StateDenied, now, r
		_, err = tx.Append(Event{Type: EventDenialRecorded, Time: now, Actor: a.Approver,
			Subjects: []string{r.ID}, Data: approvalData(a)})
		return err
	})
	return out, err
}

// request reads request id outside any write transaction.
func (s *Service) request(ctx context.Context, id string) (*Request, error) {
	var r *Request
	err := s.cfg.Store.View(ctx, func(tx Tx) error {
		var err error
		r, err = tx.Request(id)
		return err
	})
	return r, err
}

// DenialStatement returns the denial statement for request r with reason.
func DenialStatement(approval []byte, reason string) ([]byte, error) {
	st, err := ParseStatement(approval)
	if err != nil {
		return nil, err
	}
	if st.Kind != KindApproval {
		return nil, fmt.Errorf("%w: want an approval statement, got %s", ErrInvalid, st.Kind)
	}
	if reason == "" {
		return nil, fmt.Errorf("%w: a denial needs a reason", ErrInvalid)
	}
	st.Kind, st.DenialReason = KindDenial, reason
	return st.Encode()
}

func checkDenialText(r *Request, text []byte) error {
	st, err := ParseStatement(text)
	if err != nil {
		return err
	}
	want, err := DenialStatement(r.Statement, st.DenialReason)
	if err != nil {
		return err
	}
	if !bytes.Equal(want, text) {
		return fmt.Errorf("%w: the denial statement differs from request %s's statement", ErrStatementMismatch, r.ID)
	}
	return nil
}

// pending loads request id and checks it can still be approved or denied. A
// request past its lifetime is marked expired, committed, and refused.
func (s *Service) pending(tx Tx, p *policy.Policy, id string, now time.Time) (*Request, error) {
	r, err := tx.Request(id)
	if err != nil {
		return nil, err
	}
	if r.State == StatePending && !now.Before(r.Expires) {
		if err := s.expire(tx, r, now); err != nil {
			return nil, err
		}
		return nil, &deferredError{fmt.Errorf("%w: request %s lapsed at %s", ErrExpired, r.ID, r.Expires.Format(time.RFC3339))}
	}
	if err := stateError(r); err != nil {
		return nil, err
	}
	if r.PolicyHash != p.Hash() {
		return nil, fmt.Errorf("%w: request %s was made under %s, active is %s; the requester must request again", ErrPolicyChanged, r.ID, r.PolicyHash, p.Hash())
	}
	if pr, ok := p.Principal(r.Requester); !ok || pr.Disabled {
		return nil, fmt.Errorf("%w: the requester %s of request %s is disabled or gone from the policy", ErrUnknownPrincipal, r.Requester, r.ID)
	}
	return r, nil
}

// stateError says why a request that is not pending can't be acted on.
func stateError(r *Request) error {
	switch r.State {
	case StatePending:
		return nil
	case StateExpired:
		return fmt.Errorf("%w: request %s", ErrExpired, r.ID)
	case StateDenied:
		return fmt.Errorf("%w: request %s", ErrDenied, r.ID)
	case StateCancelled:
		return fmt.Errorf("%w: request %s", ErrCancelled, r.ID)
	case StateRevoked:
		return fmt.Errorf("%w: request %s", ErrRevoked, r.ID)
	default:
		return fmt.Errorf("%w: request %s is %s", ErrAlreadyIssued, r.ID, r.State)
	}
}

// checkSigner verifies sig over text (r's approval or denial statement) by an
// eligible approver of r who proves what the role demands.
func (s *Service) checkSigner(p *policy.Policy, r *Request, text, sig []byte) (*signed, error) {
	who, err := verifySignature(p, sig, text)
	if err != nil {
		return nil, err
	}
	if err := policy.CheckApprover(p, r.Role, r.Requester, who.principal.ID); err != nil {
		return nil, policyError(err)
	}
	role, _ := p.Role(r.Role)
	if role.RequireUserVerification && !who.result.UserVerified {
		return nil, fmt.Errorf("%w: key %s (%s) did not prove it", ErrUserVerification, who.key.Fingerprint, who.result.KeyType)
	}
	return who, nil
}

// record builds the approval or denial record of a verified signature and
// tracks the security key's counter.
func (s *Service) record(tx Tx, who *signed, r *Request, kind Kind, text, sig []byte, now time.Time) (*Approval, error) {
	a := &Approval{RequestID: r.ID, Approver: who.principal.ID, Kind: kind, Statement: text, Signature: sig,
		KeyFingerprint: who.key.Fingerprint, KeyType: who.result.KeyType, UserPresent: who.result.UserPresent,
		UserVerified: who.result.UserVerified, Counter: who.result.Counter, Created: now}
	if !who.result.SK {
		return a, nil
	}
	last, seen, err := tx.KeyCounter(who.key.Fingerprint)
	if err != nil {
		return nil, err
	}
	if seen && who.result.Counter <= last {
		a.CounterWarning = true
		s.cfg.Logger.Warn("security key counter did not increase: cloned key, or a key without a counter",
			"principal", who.principal.ID, "key", who.key.Fingerprint, "counter", who.result.Counter, "last", last)
	}
	if !seen || who.result.Counter > last {
		if err := tx.SetKeyCounter(who.key.Fingerprint, who.result.Counter, now); err != nil {
			return nil, err
		}
	}
	return a, nil
}

func approvalData(a *Approval) []byte {
	d := map[string]any{"statement": string(a.Statement), "signature": string(a.Signature),
		"approver": a.Approver, "key": a.KeyFingerprint, "key_type": a.KeyType}
	if a.Counter != 0 || a.CounterWarning {
		d["counter"], d["counter_warning"] = a.Counter, a.CounterWarning
		d["user_present"], d["user_verified"] = a.UserPresent, a.UserVerified
	}
	return mustJSON(d)
}
