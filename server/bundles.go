package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/failsmall/breakglass/broker"
	"github.com/failsmall/breakglass/internal/atomicfile"
	"github.com/failsmall/breakglass/policy"
)

// WriteBundleFiles writes the active and previous bundles to d's bundle
// files, each atomically (a new file renamed over the old); prev may be nil.
func WriteBundleFiles(d Dir, active, prev *broker.StoredBundle) error {
	if err := os.MkdirAll(d.Bundles(), 0o700); err != nil {
		return err
	}
	for _, f := range []struct {
		path string
		b    *broker.StoredBundle
	}{{d.ActiveBundle(), active}, {d.PreviousBundle(), prev}} {
		if f.b == nil {
			continue
		}
		if have, err := os.ReadFile(f.path); err == nil && bytes.Equal(have, f.b.Raw) {
			continue
		}
		if err := atomicfile.Write(f.path, f.b.Raw, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// LocalPolicy is a policy file that an admin key held on this machine signs
// into a new bundle whenever it changes: `serve --dev` (carol's dev key) and
// tests. It goes through the same checks as any pushed bundle, so the key
// must belong to one of the active policy's admins.
type LocalPolicy struct {
	File   string
	Admins []ssh.Signer
}

// sign signs the policy file as the bundle after active (the first
// when active is nil); nil when the file equals the active bundle's policy.
func (lp *LocalPolicy) sign(active *broker.StoredBundle, now time.Time) ([]byte, error) {
	data, err := os.ReadFile(lp.File)
	if err != nil {
		return nil, fmt.Errorf("read policy: %w", err)
	}
	b := &policy.Bundle{Serial: 1, Created: now.UTC().Truncate(time.Second), Policy: data}
	if active != nil {
		sb, err := policy.ParseSignedBundle(active.Raw)
		if err != nil {
			return nil, err
		}
		if bytes.Equal(sb.Bundle.Policy, data) {
			return nil, nil
		}
		b.Serial, b.Previous = active.Serial+1, active.Hash
		if !b.Created.After(active.Created) {
			b.Created = active.Created.Add(time.Second)
		}
	}
	return SignBundle(b, lp.Admins)
}

// SignBundle returns the bundle's encoding followed by each signer's
// signature: a signed bundle as `breakglass policy sign` writes it.
func SignBundle(b *policy.Bundle, signers []ssh.Signer) ([]byte, error) {
	out, err := b.Encode()
	if err != nil {
		return nil, err
	}
	for _, s := range signers {
		sig, err := policy.SignBundle(b, s)
		if err != nil {
			return nil, err
		}
		out = append(out, sig...)
	}
	return out, nil
}

// loadBundle is the cold start: it activates the newest bundle in the store
// (pinning cfg.Pin, or signing cfg.Local, first when asked), with no
// upstream involved. A broker with no bundle still serves status and
// refuses requests with the reason.
func (s *Server) loadBundle(ctx context.Context) {
	active, err := s.svc.LoadActive(ctx)
	if err != nil && !errors.Is(err, broker.ErrNoPolicy) {
		s.cfg.Logger.Error("could not read the policy bundles", "err", err)
	}
	// rejected is what a bundle offered here failed with; the plain absence
	// of a bundle is no rejection and is not audited as one.
	var rejected error
	if active == nil && s.cfg.Pin != nil {
		if active, rejected = s.svc.Pin(ctx, s.cfg.Pin, "init"); rejected != nil {
			s.cfg.Logger.Error("could not pin the first policy bundle", "err", rejected)
		}
	}
	if s.cfg.Local != nil {
		if lerr := s.signLocal(ctx, active); lerr != nil {
			s.cfg.Logger.Error("local policy not activated; the active bundle stays", "file", s.cfg.Local.File, "err", lerr)
			rejected = fmt.Errorf("%s: %w", filepath.Base(s.cfg.Local.File), lerr)
		}
		if b, _, aerr := s.svc.ActiveBundle(); aerr == nil {
			active = b
		}
	}
	if active == nil {
		if rejected != nil {
			s.svc.RejectPolicy(ctx, rejected)
			err = rejected
		}
		s.cfg.Logger.Error("no policy bundle: the broker refuses requests until one is pinned", "err", err)
		return
	}
	s.cfg.Logger.Info("policy bundle active", "serial", active.Serial, "hash", active.Hash, "source", active.Source)
}

func (s *Server) signLocal(ctx context.Context, active *broker.StoredBundle) error {
	raw, err := s.cfg.Local.sign(active, time.Now())
	if err != nil || raw == nil {
		return err
	}
	if active == nil {
		_, err = s.svc.Pin(ctx, raw, "local:"+filepath.Base(s.cfg.Local.File))
		return err
	}
	_, err = s.svc.Activate(ctx, raw, "local:"+filepath.Base(s.cfg.Local.File))
	return err
}
