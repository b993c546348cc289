package broker

import (
	"bytes"
	"context"
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
// credentials are minted and stored with the approval, exactly once.
//
// Errors: ErrNoPolicy; ErrNotFound for an unknown request; ErrBadSignature,
// ErrStatementMismatch, ErrUnknownPrincipal, ErrForbidden (a disabled key or
// principal), ErrUserVerification, ErrSelfApproval, ErrNotEligible for a
// signature or signer that does not count; ErrExpired (the request is
// recorded as expired), ErrDenied, ErrCancelled, ErrRevoked,
// ErrAlreadyIssued for a request that is no longer pending;
// ErrPolicyChanged, ErrUnknownPrincipal when the policy moved on;
// ErrAuditUnavailable when the store could not commit.
func (s *Service) Approve(ctx context.Context, id string, sig []byte) (*ApprovalResult, error) {
	p, err := s.Policy()
	if err != nil {
		return nil, err
	}
	// The signature is checked in the first plan's snapshot, on a reader,
	// never in the single writer; statements never change, so a plan made
	// again after a conflict does not check it again.
	var who *signed
	var res *ApprovalResult
	err = s.write(ctx, func(now time.Time) (*Change, error) {
		res = &ApprovalResult{}
		var snap signing
		if err := s.view(ctx, func(tx Tx) error {
			return snap.read(tx, id, func(r *Request) (*signed, error) {
				if who == nil {
					var err error
					who, err = s.checkSigner(p, r, r.Statement, sig)
					return who, err
				}
				return who, nil
			})
		}); err != nil {
			return nil, err
		}
		r, expired, err := s.pending(p, snap.request, now)
		if err != nil {
			return expired, err
		}
		ch := new(Change)
		a := s.record(ch, who, &snap, r, KindApproval, r.Statement, sig, now)
		res.Request, res.Approval = r, a
		approvals := snap.approvals
		if snap.signed(a.Approver, KindApproval) {
			res.Duplicate = true
		} else {
			ch.Add(RequireApprovals{RequestID: r.ID, Count: len(approvals)}, InsertApproval{Approval: a})
			ch.Record(Event{Type: EventApprovalRecorded, Time: now, Actor: a.Approver,
				Subjects: []string{r.ID}, Data: approvalData(a)})
			approvals = append(approvals[:len(approvals):len(approvals)], a)
		}
		if err := s.grantIfQuorum(ctx, ch, p, r, approvals, res, now); err != nil {
			return nil, err
		}
		if res.Grant == nil && !ch.Empty() {
			// A cancel, denial or expiry committed since the snapshot
			// must not be followed by an approval.
			ch.Ops = append([]Op{RequireRequestState{ID: r.ID, State: StatePending}}, ch.Ops...)
		}
		return ch, nil
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
//
// Errors: those of Approve, and ErrStatementMismatch when text is not
// request id's approval statement turned into a denial.
func (s *Service) Deny(ctx context.Context, id string, text, sig []byte) (*Request, error) {
	p, err := s.Policy()
	if err != nil {
		return nil, err
	}
	var who *signed
	var out *Request
	err = s.write(ctx, func(now time.Time) (*Change, error) {
		var snap signing
		if err := s.view(ctx, func(tx Tx) error {
			return snap.read(tx, id, func(r *Request) (*signed, error) {
				if who != nil {
					return who, nil
				}
				if err := checkDenialText(r, text); err != nil {
					return nil, err
				}
				var err error
				who, err = s.checkSigner(p, r, text, sig)
				return who, err
			})
		}); err != nil {
			return nil, err
		}
		r, expired, err := s.pending(p, snap.request, now)
		if err != nil {
			return expired, err
		}
		if snap.signed(who.principal.ID, KindDenial) {
			return nil, fmt.Errorf("%w: %s already denied request %s", ErrDuplicate, who.principal.ID, r.ID)
		}
		ch := new(Change)
		a := s.record(ch, who, &snap, r, KindDenial, text, sig, now)
		ch.Add(InsertApproval{Approval: a}, SetRequestState{ID: r.ID, From: StatePending, To: StateDenied, At: now})
		ch.Record(Event{Type: EventDenialRecorded, Time: now, Actor: a.Approver,
			Subjects: []string{r.ID}, Data: approvalData(a)})
		d := *r
		d.State, d.Updated, out = StateDenied, now, &d
		return ch, nil
	})
	return out, err
}

// signing is what an approval or denial is planned from.
type signing struct {
	request   *Request
	approvals []*Approval
	// counter is the highest FIDO counter stored for the signer's key.
	counter     uint32
	counterSeen bool
}

// read reads request id, has verify check the signature over it, and reads
// what the plan needs of the signer: the approvals and the key's counter.
func (sn *signing) read(tx Tx, id string, verify func(*Request) (*signed, error)) error {
	var err error
	if sn.request, err = tx.Request(id); err != nil {
		return err
	}
	who, err := verify(sn.request)
	if err != nil {
		return err
	}
	if sn.approvals, err = tx.Approvals(id); err != nil {
		return err
	}
	if who.result.SK {
		sn.counter, sn.counterSeen, err = tx.KeyCounter(who.key.Fingerprint)
	}
	return err
}

// signed reports whether approver already signed the request with kind.
func (sn *signing) signed(approver string, kind Kind) bool {
	for _, a := range sn.approvals {
		if a.Approver == approver && a.Kind == kind {
			return true
		}
	}
	return false
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

// pending checks that request r can still be approved or denied. A request
// past its lifetime is refused with ErrExpired and expired, the change that
// records its expiry, to commit before refusing.
func (s *Service) pending(p *policy.Policy, r *Request, now time.Time) (_ *Request, expired *Change, _ error) {
	if r.State == StatePending && !now.Before(r.Expires) {
		return nil, s.expire(new(Change), r, now), fmt.Errorf("%w: request %s lapsed at %s", ErrExpired, r.ID, r.Expires.Format(time.RFC3339))
	}
	if err := stateError(r); err != nil {
		return nil, nil, err
	}
	if r.PolicyHash != p.Hash() {
		return nil, nil, fmt.Errorf("%w: request %s was made under %s, active is %s; the requester must request again", ErrPolicyChanged, r.ID, r.PolicyHash, p.Hash())
	}
	if pr, ok := p.Principal(r.Requester); !ok || pr.Disabled {
		return nil, nil, fmt.Errorf("%w: the requester %s of request %s is disabled or gone from the policy", ErrUnknownPrincipal, r.Requester, r.ID)
	}
	return r, nil, nil
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
	case StateSuperseded:
		return fmt.Errorf("%w: request %s was superseded by policy bundle %s; the requester must request again", ErrPolicyChanged, r.ID, r.SupersededBy)
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
// adds to ch the security key's counter, compared with the one sn read.
func (s *Service) record(ch *Change, who *signed, sn *signing, r *Request, kind Kind, text, sig []byte, now time.Time) *Approval {
	a := &Approval{RequestID: r.ID, Approver: who.principal.ID, Kind: kind, Statement: text, Signature: sig,
		KeyFingerprint: who.key.Fingerprint, KeyType: who.result.KeyType, UserPresent: who.result.UserPresent,
		UserVerified: who.result.UserVerified, Counter: who.result.Counter, Created: now}
	if !who.result.SK {
		return a
	}
	if sn.counterSeen && who.result.Counter <= sn.counter {
		a.CounterWarning = true
		s.cfg.Logger.Warn("security key counter did not increase: cloned key, or a key without a counter",
			"principal", who.principal.ID, "key", who.key.Fingerprint, "counter", who.result.Counter, "last", sn.counter)
	}
	if !sn.counterSeen || who.result.Counter > sn.counter {
		ch.Add(SetKeyCounter{Fingerprint: who.key.Fingerprint, Counter: who.result.Counter,
			Seen: sn.counterSeen, Last: sn.counter, At: now})
	}
	return a
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
