package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/failsmall/breakglass/broker"
	"github.com/failsmall/breakglass/policy"
	"github.com/failsmall/breakglass/upstream"
	"github.com/failsmall/breakglass/web"
)

// The bundle files the broker keeps on disk, next to its database: the
// active and previous signed bundles, for operators and relying parties
// (a copy; the database is the broker's own record).
func (d dataDir) bundles() string        { return filepath.Join(string(d), "bundles") }
func (d dataDir) activeBundle() string   { return filepath.Join(d.bundles(), "active.bundle") }
func (d dataDir) previousBundle() string { return filepath.Join(d.bundles(), "previous.bundle") }

// writeBundleFiles writes the active and previous bundles to disk, each
// atomically (a new file renamed over the old).
func writeBundleFiles(d dataDir, active, prev *broker.StoredBundle) error {
	if err := os.MkdirAll(d.bundles(), 0o700); err != nil {
		return err
	}
	for _, f := range []struct {
		path string
		b    *broker.StoredBundle
	}{{d.activeBundle(), active}, {d.previousBundle(), prev}} {
		if f.b == nil {
			continue
		}
		if have, err := os.ReadFile(f.path); err == nil && bytes.Equal(have, f.b.Raw) {
			continue
		}
		if err := writeFileAtomic(f.path, f.b.Raw, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// localPolicy is a policy file that an admin key held on this machine signs
// into a new bundle whenever it changes: `serve --dev` (carol's dev key) and
// tests. It goes through the same checks as any pushed bundle, so the key
// must belong to one of the active policy's admins.
type localPolicy struct {
	File   string
	Admins []ssh.Signer
}

// signLocal signs the policy file as the bundle after active (the first
// when active is nil); nil when the file equals the active bundle's policy.
func (lp *localPolicy) signLocal(active *broker.StoredBundle, now time.Time) ([]byte, error) {
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
	return signBundle(b, lp.Admins)
}

// signBundle returns the bundle's encoding followed by each signer's
// signature.
func signBundle(b *policy.Bundle, signers []ssh.Signer) ([]byte, error) {
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
func (a *app) loadBundle(ctx context.Context) {
	active, err := a.svc.LoadActive(ctx)
	if err != nil && !errors.Is(err, broker.ErrNoPolicy) {
		a.cfg.Logger.Error("could not read the policy bundles", "err", err)
	}
	// rejected is what a bundle offered here failed with; the plain absence
	// of a bundle is no rejection and is not audited as one.
	var rejected error
	if active == nil && a.cfg.Pin != nil {
		if active, rejected = a.svc.Pin(ctx, a.cfg.Pin, "init"); rejected != nil {
			a.cfg.Logger.Error("could not pin the first policy bundle", "err", rejected)
		}
	}
	if a.cfg.Local != nil {
		if lerr := a.signLocal(ctx, active); lerr != nil {
			a.cfg.Logger.Error("local policy not activated; the active bundle stays", "file", a.cfg.Local.File, "err", lerr)
			rejected = fmt.Errorf("%s: %w", filepath.Base(a.cfg.Local.File), lerr)
		}
		if b, _, aerr := a.svc.ActiveBundle(); aerr == nil {
			active = b
		}
	}
	if active == nil {
		if rejected != nil {
			a.svc.RejectPolicy(ctx, rejected)
			err = rejected
		}
		a.cfg.Logger.Error("no policy bundle: the broker refuses requests until one is pinned", "err", err)
		return
	}
	a.cfg.Logger.Info("policy bundle active", "serial", active.Serial, "hash", active.Hash, "source", active.Source)
}

func (a *app) signLocal(ctx context.Context, active *broker.StoredBundle) error {
	raw, err := a.cfg.Local.signLocal(active, time.Now())
	if err != nil || raw == nil {
		return err
	}
	if active == nil {
		_, err = a.svc.Pin(ctx, raw, "local:"+filepath.Base(a.cfg.Local.File))
		return err
	}
	_, err = a.svc.Activate(ctx, raw, "local:"+filepath.Base(a.cfg.Local.File))
	return err
}

// newSyncer builds the poller of the configured upstream sources; nil when
// there are none.
func (a *app) newSyncer() (*upstream.Syncer, error) {
	if len(a.cfg.Sources) == 0 && a.cfg.SCIM == nil {
		return nil, nil
	}
	s := &upstream.Syncer{Every: a.cfg.PollEvery, Timeout: a.cfg.PollTimeout, Logger: a.cfg.Logger,
		Apply: a.applySource, ApplyDirectory: a.applyDirectory}
	for _, spec := range a.cfg.Sources {
		src, err := upstream.NewSource(spec)
		if err != nil {
			return nil, err
		}
		s.Sources = append(s.Sources, src)
	}
	if a.cfg.SCIM != nil {
		s.Directories = append(s.Directories, a.cfg.SCIM)
	}
	return s, nil
}

// applySource offers a bundle a source served.
func (a *app) applySource(ctx context.Context, source string, raw []byte) (string, error) {
	act, err := a.svc.Activate(ctx, raw, source)
	if err != nil {
		return "", err
	}
	if act.Outcome == broker.OutcomeOlder {
		return fmt.Sprintf("older: serial %d is active", act.Bundle.Serial), nil
	}
	return fmt.Sprintf("%s serial %d", act.Outcome, act.Bundle.Serial), nil
}

// applyDirectory applies what a SCIM directory takes away.
func (a *app) applyDirectory(ctx context.Context, source string, d *upstream.Directory) (string, error) {
	base, err := a.svc.BasePolicy()
	if err != nil {
		return "", err
	}
	r, missing := upstream.Restrictions(base, d)
	changed, err := a.svc.SetDirectory(ctx, source, r)
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
func (a *app) sourceStatus() []web.SourceJSON {
	if a.sync == nil {
		return []web.SourceJSON{}
	}
	now := time.Now()
	var out []web.SourceJSON
	for _, s := range a.sync.Status() {
		age := -1.0
		if !s.LastSuccess.IsZero() {
			age = s.Age(now).Seconds()
		}
		out = append(out, web.SourceJSON{Name: s.Name, Kind: s.Kind, LastAttempt: s.LastAttempt, LastSuccess: s.LastSuccess,
			LastError: s.LastError, LastErrorAt: s.LastErrorAt, AgeSeconds: age, Result: s.Result})
	}
	return out
}

// runInit pins the first signed policy bundle of a broker's data folder.
func runInit(ctx context.Context, c *cli, args []string) error {
	flags := c.newFlags("init")
	config := flags.String("config", "", "the broker's YAML config (for name and data)")
	data := flags.String("data", "./breakglass-data", "the broker's data folder")
	name := flags.String("name", "", "the broker's name (as `serve` will use it)")
	pos, err := parse(flags, args, 1, 1, "BUNDLE")
	if err != nil {
		return err
	}
	set := map[string]bool{}
	flags.Visit(func(f *flag.Flag) { set[f.Name] = true })
	cfg := serveFile{Data: *data, Name: *name}
	if *config != "" {
		if err := readServeFile(*config, &cfg, set); err != nil {
			return err
		}
	}
	if cfg.Name == "" {
		return errUsage("no broker name: pass --name or --config, the same as for `breakglass serve`")
	}
	raw, err := os.ReadFile(pos[0])
	if err != nil {
		return fmt.Errorf("read the bundle: %w", err)
	}
	a, err := openApp(ctx, appConfig{Name: cfg.Name, Data: dataDir(cfg.Data)})
	if err != nil {
		return err
	}
	b, err := a.svc.Pin(ctx, raw, "init")
	if cerr := a.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("%s: %w", pos[0], err)
	}
	if err := writeBundleFiles(dataDir(cfg.Data), b, nil); err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "pinned policy bundle serial %d %s in %s\n", b.Serial, b.Hash, cfg.Data)
	return nil
}
