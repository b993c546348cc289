package server

import (
	"context"
	"fmt"
	"time"

	"github.com/failsmall/breakglass/broker"
	"github.com/failsmall/breakglass/upstream"
	"github.com/failsmall/breakglass/web"
)

// newSyncer builds the poller of the configured upstream sources; nil when
// there are none.
func (s *Server) newSyncer() (*upstream.Syncer, error) {
	if len(s.cfg.Sources) == 0 && s.cfg.SCIM == nil {
		return nil, nil
	}
	sy := &upstream.Syncer{Every: s.cfg.PollEvery, Timeout: s.cfg.PollTimeout, Logger: s.cfg.Logger,
		Apply: s.applySource, ApplyDirectory: s.applyDirectory}
	for _, spec := range s.cfg.Sources {
		src, err := upstream.NewSource(spec)
		if err != nil {
			return nil, err
		}
		sy.Sources = append(sy.Sources, src)
	}
	if s.cfg.SCIM != nil {
		sy.Directories = append(sy.Directories, s.cfg.SCIM)
	}
	return sy, nil
}

// applySource offers a bundle a source served.
func (s *Server) applySource(ctx context.Context, source string, raw []byte) (string, error) {
	act, err := s.svc.Activate(ctx, raw, source)
	if err != nil {
		return "", err
	}
	if act.Outcome == broker.OutcomeOlder {
		return fmt.Sprintf("older: serial %d is active", act.Bundle.Serial), nil
	}
	return fmt.Sprintf("%s serial %d", act.Outcome, act.Bundle.Serial), nil
}

// applyDirectory applies what a SCIM directory takes away.
func (s *Server) applyDirectory(ctx context.Context, source string, d *upstream.Directory) (string, error) {
	base, err := s.svc.BasePolicy()
	if err != nil {
		return "", err
	}
	r, missing := upstream.Restrictions(base, d)
	changed, err := s.svc.SetDirectory(ctx, source, r)
	if err != nil {
		return "", err
	}
	msg := fmt.Sprintf("%d deactivated", len(r.Disabled))
	if changed {
		msg += " (changed)"
	}
	if len(missing) > 0 {
		msg += fmt.Sprintf("; not in the directory: %v", missing)
	}
	return msg, nil
}

// sourceStatus converts the syncer's status for the API.
func (s *Server) sourceStatus() []web.SourceJSON {
	if s.sync == nil {
		return []web.SourceJSON{}
	}
	now := time.Now()
	var out []web.SourceJSON
	for _, st := range s.sync.Status() {
		age := -1.0
		if !st.LastSuccess.IsZero() {
			age = st.Age(now).Seconds()
		}
		out = append(out, web.SourceJSON{Name: st.Name, Kind: st.Kind, LastAttempt: st.LastAttempt, LastSuccess: st.LastSuccess,
			LastError: st.LastError, LastErrorAt: st.LastErrorAt, AgeSeconds: age, Result: st.Result})
	}
	return out
}
