// Package server is the running broker: it opens the store, the keys, the
// audit log and the policy of a data folder, serves the HTTP API, runs the
// background tasks (sweeps, keyring reloads, upstream polls) and closes it
// all in order. The CLI's `serve` and `init`, tests, drills and multi-node
// tests start brokers through Open.
package server

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/failsmall/breakglass/audit"
	"github.com/failsmall/breakglass/broker"
	"github.com/failsmall/breakglass/sqlite"
	"github.com/failsmall/breakglass/token"
	"github.com/failsmall/breakglass/upstream"
)

// Server is a running broker: store, keys, service, and, when Config.Addr
// is set, the HTTP server and background tasks.
type Server struct {
	cfg  Config
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
	sync      *upstream.Syncer
	closeOnce sync.Once
	closeErr  error
}

// Open opens the store and keys of cfg.Data, loads the policy and, when
// cfg.Addr is set, serves on it. An invalid policy does not stop it: the
// broker serves health and status and refuses requests with the reason.
// The address is bound first, before anything is written: a busy port
// fails with nothing created in cfg.Data and nothing in its audit log.
// Every Open that succeeds needs a Close.
func Open(ctx context.Context, cfg Config) (*Server, error) {
	var ln net.Listener
	if cfg.Addr != "" {
		var err error
		if ln, err = Listen(cfg.Addr); err != nil {
			return nil, err
		}
	}
	return OpenListener(ctx, cfg, ln)
}

// OpenListener is Open serving on ln, a listener the caller bound already
// (with Listen) so that it can bind before it writes anything of its own
// in the data folder (`serve --dev` writes the dev keys and policy). A nil
// ln serves nothing, as an empty Config.Addr does; cfg.Addr is not read.
// OpenListener closes ln when it fails.
func OpenListener(ctx context.Context, cfg Config, ln net.Listener) (_ *Server, err error) {
	if ln != nil {
		defer func() {
			if err != nil {
				ln.Close()
			}
		}()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.SweepEvery <= 0 {
		cfg.SweepEvery = 5 * time.Second
	}
	if err := cfg.Data.mkPrivate(); err != nil {
		return nil, err
	}
	signer, verifier, err := loadAuditKey(cfg.Data, cfg.Name)
	if err != nil {
		return nil, err
	}
	hook := &commitHook{}
	db, err := sqlite.Open(cfg.Data.DB(), sqlite.Options{Logger: cfg.Logger, AfterCommit: hook.afterCommit,
		SignCheckpoint: audit.CommitSigner(signer)})
	if err != nil {
		return nil, err
	}
	al, err := openAuditLog(ctx, cfg, db, hook, signer, verifier)
	if err != nil {
		db.Close()
		return nil, err
	}
	keys, err := token.OpenKeyring(cfg.Data.Keys(), KeyRetention, time.Now)
	if err != nil {
		al.close()
		db.Close()
		return nil, err
	}
	ca, closeCA, err := openSSHCA(cfg.SSHCA, cfg.Data)
	if err != nil {
		al.close()
		db.Close()
		return nil, err
	}
	svc, err := broker.New(broker.Config{Name: cfg.Name, Store: db, Minter: token.Minter{Keyring: keys}, SSHCA: ca, Clock: cfg.Clock, Logger: cfg.Logger,
		RevocationSigner: token.RevocationPublisher{Signer: keys}, RevocationsMaxAge: cfg.RevocationsMaxAge, Receipts: al,
		BundleActivated: func(active, prev *broker.StoredBundle) {
			if err := WriteBundleFiles(cfg.Data, active, prev); err != nil {
				cfg.Logger.Error("could not write the policy bundles to disk", "dir", cfg.Data.Bundles(), "err", err)
			}
		}})
	if err != nil {
		closeCA()
		al.close()
		db.Close()
		return nil, err
	}
	s := &Server{cfg: cfg, db: db, keys: keys, svc: svc, closeCA: closeCA, audit: al}
	if s.sync, err = s.newSyncer(); err != nil {
		s.Close(ctx)
		return nil, err
	}
	if err := svc.Record(ctx, broker.EventBrokerStarted, nil, map[string]string{"name": cfg.Name, "kid": keys.CurrentKID()}); err != nil {
		cfg.Logger.Error("could not audit the start", "err", err)
	}
	s.loadBundle(ctx)
	if size, err := db.AuditSize(ctx); err == nil {
		cfg.Logger.Debug("opened the data folder", "data", string(cfg.Data), "audit_entries", size, "signing_key", keys.CurrentKID())
	}
	if ln == nil {
		return s, nil
	}
	s.serve(ln)
	return s, nil
}

// Service is the broker the server runs.
func (s *Server) Service() *broker.Service { return s.svc }

// Data is the server's data folder.
func (s *Server) Data() Dir { return s.cfg.Data }

// Store is the server's SQLite store, for tests and tools that read the
// audit log or the records directly.
func (s *Server) Store() *sqlite.DB { return s.db }

// Keyring is the JWT signing keyring.
func (s *Server) Keyring() *token.Keyring { return s.keys }

// Syncer is the poller of the upstream sources; nil when none is
// configured.
func (s *Server) Syncer() *upstream.Syncer { return s.sync }

// Addr is the address the server listens on; nil when Config.Addr was
// empty.
func (s *Server) Addr() net.Addr {
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// URL is where the broker serves ("http://host:port"); empty when
// Config.Addr was.
func (s *Server) URL() string {
	if s.ln == nil {
		return ""
	}
	return "http://" + s.ln.Addr().String()
}

// Close stops serving (waiting up to 10s, or until ctx ends, for requests
// in flight), stops the background tasks, records broker.stopped, and
// closes the audit log (which checkpoints everything committed first) and
// the store. Calls after the first return the first's result.
func (s *Server) Close(ctx context.Context) error {
	s.closeOnce.Do(func() { s.closeErr = s.close(ctx) })
	return s.closeErr
}

func (s *Server) close(ctx context.Context) error {
	if s.srv != nil {
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		s.srv.Shutdown(sctx)
		cancel()
		s.stop()
		s.wg.Wait()
	}
	if err := s.svc.Record(context.WithoutCancel(ctx), broker.EventBrokerStopped, nil, map[string]string{"name": s.cfg.Name}); err != nil {
		s.cfg.Logger.Warn("could not audit the stop", "err", err)
	}
	s.closeCA()
	s.audit.close()
	return s.db.Close()
}
