package broker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
)

// Evidence is what a grant was decided on, for a relying party's strict
// verification (package offline): the request's approval statement, the
// approvals counted, and the signed bundle the quorum was judged under.
type Evidence struct {
	Statement []byte
	Approvals []*Approval
	Bundle    []byte
}

// Evidence returns the evidence of request id's grant to its requester, an
// approver of it, or a policy admin.
//
// Errors: ErrNoPolicy; ErrNotFound for an unknown request, or one judged
// under a policy that is not a stored bundle; ErrCredentialsPending while
// it is pending; ErrExpired, ErrDenied, ErrCancelled for a request that
// ended without a grant; ErrForbidden for anyone else.
func (s *Service) Evidence(ctx context.Context, principal, id string) (*Evidence, error) {
	p, err := s.Policy()
	if err != nil {
		return nil, err
	}
	out := &Evidence{}
	err = s.view(ctx, func(tx Tx) error {
		r, err := tx.Request(id)
		if err != nil {
			return err
		}
		g, err := tx.Grant(id)
		if err != nil {
			if r.State == StatePending {
				return fmt.Errorf("%w: request %s is pending", ErrCredentialsPending, id)
			}
			return stateError(r)
		}
		if principal != r.Requester && !slices.Contains(g.Approvers, principal) && !p.IsAdmin(principal) {
			return fmt.Errorf("%w: only the requester (%s), an approver of the grant or a policy admin may fetch the evidence of request %s", ErrForbidden, r.Requester, id)
		}
		b, err := tx.Bundle(r.PolicyHash)
		if errors.Is(err, ErrNotFound) {
			return fmt.Errorf("%w: request %s was judged under policy %s, which is not a stored bundle", ErrNotFound, id, r.PolicyHash)
		} else if err != nil {
			return err
		}
		all, err := tx.Approvals(id)
		if err != nil {
			return err
		}
		for _, a := range all {
			if a.Kind == KindApproval && slices.Contains(g.Approvers, a.Approver) {
				out.Approvals = append(out.Approvals, a)
			}
		}
		out.Statement, out.Bundle = bytes.Clone(r.Statement), b.Raw
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
