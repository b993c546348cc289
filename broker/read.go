package broker

import (
	"context"
	"time"
)

// RequestView is a request with its approvals and, once issued, its grant
// (without the token, which only Credentials hands out).
type RequestView struct {
	Request   *Request
	Approvals []*Approval
	Grant     *Grant
}

// Get returns request id as any authenticated principal may see it;
// ErrNotFound for an unknown request.
func (s *Service) Get(ctx context.Context, id string) (*RequestView, error) {
	v := &RequestView{}
	err := s.view(ctx, func(tx Tx) error {
		var err error
		if v.Request, err = tx.Request(id); err != nil {
			return err
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

// List returns requests matching f, newest first, at most 1000. It returns
// only the store's errors.
func (s *Service) List(ctx context.Context, f RequestFilter) ([]*Request, error) {
	if f.Limit <= 0 || f.Limit > 1000 {
		f.Limit = 1000
	}
	var out []*Request
	err := s.view(ctx, func(tx Tx) error {
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
