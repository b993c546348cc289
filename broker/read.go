package broker

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/failsmall/breakglass/policy"
)

// RequestView is a request with its approvals and, once issued, its grant
// (without the token, which only Credentials hands out).
type RequestView struct {
	Request   *Request
	Approvals []*Approval
	Grant     *Grant
}

// Who may read what: a principal reads the requests they made, the
// requests of the roles they may approve (policy.ApproverRoles), and, as a
// policy admin, every request; all under the active policy, so a principal
// removed from it, or deactivated by a directory, reads nothing (and
// Authenticate refuses their sessions).

// visibility is what principal may read under the active policy: nil for
// everything (a policy admin).
func (s *Service) visibility(principal string) (*Visibility, error) {
	p, err := s.Policy()
	if err != nil {
		return nil, err
	}
	if err := activePrincipal(p, principal); err != nil {
		return nil, err
	}
	if p.IsAdmin(principal) {
		return nil, nil
	}
	return &Visibility{Requester: principal, Roles: policy.ApproverRoles(p, principal)}, nil
}

// activePrincipal fails with ErrUnauthenticated unless principal is in p
// and not deactivated.
func activePrincipal(p *policy.Policy, principal string) error {
	pr, ok := p.Principal(principal)
	switch {
	case !ok:
		return fmt.Errorf("%w: %s is not in the active policy (%s)", ErrUnauthenticated, principal, p.Hash())
	case pr.Disabled:
		return fmt.Errorf("%w: %s is deactivated (by the policy or a directory)", ErrUnauthenticated, principal)
	}
	return nil
}

// Get returns request id as principal may see it: their own, one of a role
// they may approve, or any as a policy admin.
//
// Errors: ErrNoPolicy; ErrUnauthenticated when principal is not active in
// the policy; ErrNotFound for an unknown request; ErrForbidden for one
// principal may not read.
func (s *Service) Get(ctx context.Context, principal, id string) (*RequestView, error) {
	vis, err := s.visibility(principal)
	if err != nil {
		return nil, err
	}
	v := &RequestView{}
	err = s.view(ctx, func(tx Tx) error {
		var err error
		if v.Request, err = tx.Request(id); err != nil {
			return err
		}
		if !vis.Sees(v.Request) {
			return fmt.Errorf("%w: %s may read their own requests, those of the roles they may approve (%s), or any as a policy admin; request %s is %s's for role %s",
				ErrForbidden, principal, strings.Join(vis.Roles, ", "), id, v.Request.Requester, v.Request.Role)
		}
		if v.Approvals, err = tx.Approvals(id); err != nil {
			return err
		}
		if v.Request.State == StateIssued || v.Request.State == StateRevoked || v.Request.State == StateExpired {
			g, err := tx.Grant(id)
			if err == nil {
				g.Token, g.SSHCert = "", ""
				v.Grant = g
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return v, nil
}

// List returns the requests matching f that principal may see (as Get),
// newest first, at most 1000.
//
// Errors: ErrNoPolicy; ErrUnauthenticated when principal is not active in
// the policy; the store's.
func (s *Service) List(ctx context.Context, principal string, f RequestFilter) ([]*Request, error) {
	if f.Limit <= 0 || f.Limit > 1000 {
		f.Limit = 1000
	}
	vis, err := s.visibility(principal)
	if err != nil {
		return nil, err
	}
	f.VisibleTo = vis
	var out []*Request
	err = s.view(ctx, func(tx Tx) error {
		var err error
		out, err = tx.Requests(f)
		return err
	})
	return out, err
}

// Status is what /v1/status shows: enough to tell at a glance whether the
// broker can issue, and under which policy.
type Status struct {
	Broker      string        `json:"broker"`
	Time        time.Time     `json:"time"`
	Policy      string        `json:"policy,omitempty"`
	PolicyError string        `json:"policy_error,omitempty"`
	PolicyAge   time.Duration `json:"-"`
	Counts      map[State]int `json:"counts"`
}

// Status reports the active policy and counts by state. It needs nothing
// but the local store, and returns only its errors.
func (s *Service) Status(ctx context.Context) (*Status, error) {
	st := s.policy.Load()
	now := s.cfg.Clock.Now()
	out := &Status{Broker: s.cfg.Name, Time: now.UTC(), PolicyAge: now.Sub(st.loaded)}
	if st.p != nil {
		out.Policy = st.p.Hash()
	} else if st.err != nil {
		out.PolicyError = st.err.Error()
	}
	err := s.view(ctx, func(tx Tx) error {
		var err error
		out.Counts, err = tx.CountByState()
		return err
	})
	return out, err
}
