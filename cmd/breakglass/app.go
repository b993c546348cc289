package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/failsmall/breakglass/audit"
	"github.com/failsmall/breakglass/broker"
	"github.com/failsmall/breakglass/sqlite"
	"github.com/failsmall/breakglass/token"
	"github.com/failsmall/breakglass/upstream"
	"github.com/failsmall/breakglass/web"
)

// keyRetention keeps a retired signing key in the JWKS for longer than any
// token it signed can live (policy caps durations at 24h) plus clock skew.
const keyRetention = 25 * time.Hour

// dataDir lays out the broker's data folder.
type dataDir string

func (d dataDir) db() string      { return filepath.Join(string(d), "breakglass.db") }
func (d dataDir) keys() string    { return filepath.Join(string(d), "keys") }
func (d dataDir) devKeys() string { return filepath.Join(string(d), "dev-keys") }
func (d dataDir) policy() string  { return filepath.Join(string(d), "policy.yaml") }

// appConfig is everything a running broker needs.
type appConfig struct {
	Name   string
	Data   dataDir
	Logger *slog.Logger
	// Pin is a signed bundle to pin when the store has none (init).
	Pin []byte
	// Local is a policy file signed with local admin keys whenever it
	// changes (serve --dev, tests); nil for none.
	Local *localPolicy
	// Sources are the upstream bundle sources (URLs and paths), SCIM the
	// live directory; PollEvery and PollTimeout pace them.
	Sources                []string
	SCIM                   *upstream.SCIMSource
	PollEvery, PollTimeout time.Duration
	// SweepEvery is how often lapsed requests and grants are expired and
	// the keyring re-read.
	SweepEvery time.Duration
	// SSHCA says where the SSH CA key is (see sshCASource).
	SSHCA sshCASource
	// Witnesses cosign the audit checkpoints.
	Witnesses []audit.WitnessConfig
	// RevocationsMaxAge is the max age of the published revocation list
	// (default broker.DefaultRevocationsMaxAge).
	RevocationsMaxAge time.Duration
	// Clock is the service's clock (nil: the wall clock); tests set it to
	// issue grants whose validity has already lapsed.
	Clock broker.Clock
}

// app is a running broker: store, keys, service and HTTP server.
type app struct {
	cfg  appConfig
	db   *sqlite.DB
	keys *token.Keyring
	svc  *broker.Service
	srv  *http.Server
	ln   net.Listener
	stop context.CancelFunc
	wg   sync.WaitGroup
	// closeCA releases the SSH CA's agent connection.
	closeCA func()
	audit   *auditLog
	// sync polls the upstream sources; nil when none is configured.
	sync *upstream.Syncer
}

// openApp opens the store and keys and loads the policy. An invalid policy
// does not stop it: the broker serves health and status and refuses
// requests with the reason.
func openApp(ctx context.Context, cfg appConfig) (*app, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.SweepEvery <= 0 {
		cfg.SweepEvery = 5 * time.Second
	}
	if err := os.MkdirAll(string(cfg.Data), 0o700); err != nil {
		return nil, fmt.Errorf("data folder: %w", err)
	}
	signer, verifier, err := loadAuditKey(cfg.Data, cfg.Name)
	if err != nil {
		return nil, err
	}
	hook := &commitHook{}
	db, err := sqlite.Open(cfg.Data.db(), sqlite.Options{Logger: cfg.Logger, AfterCommit: hook.afterCommit,
		SignCheckpoint: audit.CommitSigner(signer)})
	if err != nil {
		return nil, err
	}
	al, err := openAuditLog(ctx, cfg, db, hook, signer, verifier)
	if err != nil {
		db.Close()
		return nil, err
	}
	keys, err := token.OpenKeyring(cfg.Data.keys(), keyRetention, time.Now)
	if err != nil {
		db.Close()
		return nil, err
	}
	ca, closeCA, err := openSSHCA(cfg.SSHCA, cfg.Data)
	if err != nil {
		db.Close()
		return nil, err
	}
	svc, err := broker.New(broker.Config{Name: cfg.Name, Store: db, Minter: token.Minter{Keyring: keys}, SSHCA: ca, Clock: cfg.Clock, Logger: cfg.Logger,
		RevocationSigner: token.RevocationPublisher{Signer: keys}, RevocationsMaxAge: cfg.RevocationsMaxAge, Receipts: al,
		BundleActivated: func(active, prev *broker.StoredBundle) {
			if err := writeBundleFiles(cfg.Data, active, prev); err != nil {
				cfg.Logger.Error("could not write the policy bundles to disk", "dir", cfg.Data.bundles(), "err", err)
			}
		}})
	if err != nil {
		closeCA()
		db.Close()
		return nil, err
	}
	a := &app{cfg: cfg, db: db, keys: keys, svc: svc, closeCA: closeCA, audit: al}
	if a.sync, err = a.newSyncer(); err != nil {
		a.Close()
		return nil, err
	}
	if err := svc.Record(ctx, broker.EventBrokerStarted, nil, map[string]string{"name": cfg.Name, "kid": keys.CurrentKID()}); err != nil {
		cfg.Logger.Error("could not audit the start", "err", err)
	}
	a.loadBundle(ctx)
	return a, nil
}

// listen starts serving on addr ("host:port"; port 0 picks one).
func (a *app) listen(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w (is another broker running? pick another --addr)", addr, err)
	}
	a.ln = ln
	s := web.NewServer(web.Config{Service: a.svc, Logger: a.cfg.Logger, Started: time.Now(),
		JWKS: func() any { return a.keys.JWKS() }, KeyIDs: a.kids, Audit: a.audit, Sources: a.sourceStatus})
	a.srv = &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10,
		ErrorLog: slog.NewLogLogger(a.cfg.Logger.Handler(), slog.LevelWarn)}
	ctx, stop := context.WithCancel(context.Background())
	a.stop = stop
	a.wg.Add(2)
	if a.sync != nil {
		a.wg.Add(1)
		go func() { defer a.wg.Done(); a.sync.Run(ctx) }()
	}
	go func() {
		defer a.wg.Done()
		if err := a.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.cfg.Logger.Error("http server stopped", "err", err)
		}
	}()
	go func() { defer a.wg.Done(); a.background(ctx) }()
	return nil
}

// URL is where the broker serves.
func (a *app) URL() string { return "http://" + a.ln.Addr().String() }

// background expires lapsed requests and grants, and re-reads the keyring
// that `breakglass keys rotate` may have changed.
func (a *app) background(ctx context.Context) {
	t := time.NewTicker(a.cfg.SweepEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if n, err := a.svc.Sweep(ctx); err != nil {
			a.cfg.Logger.Warn("sweep", "err", err)
		} else if n > 0 {
			a.cfg.Logger.Info("expired", "count", n)
		}
		// Another process sharing the store may have activated a bundle.
		if _, err := a.svc.LoadActive(ctx); err != nil && !errors.Is(err, broker.ErrNoPolicy) {
			a.cfg.Logger.Warn("reload policy bundles", "err", err)
		}
		if changed, err := a.keys.Reload(); err != nil {
			a.cfg.Logger.Warn("keyring reload", "err", err)
		} else if changed {
			a.cfg.Logger.Info("signing keys changed", "current", a.keys.CurrentKID())
		}
	}
}

func (a *app) kids() []string {
	var out []string
	for _, k := range a.keys.Keys() {
		if k.Published {
			out = append(out, k.KID)
		}
	}
	return out
}

// Close stops serving, records the stop and closes the store.
func (a *app) Close() error {
	if a.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		a.srv.Shutdown(ctx)
		cancel()
		a.stop()
		a.wg.Wait()
	}
	if err := a.svc.Record(context.Background(), broker.EventBrokerStopped, nil, map[string]string{"name": a.cfg.Name}); err != nil {
		a.cfg.Logger.Warn("could not audit the stop", "err", err)
	}
	a.closeCA()
	a.audit.close()
	return a.db.Close()
}
