package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/failsmall/breakglass/broker"
	"github.com/failsmall/breakglass/web"
)

// Listen binds addr ("host:port"; port 0 picks one) for OpenListener. A
// busy address fails with what to do.
func Listen(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w (is another broker running? pick another --addr)", addr, err)
	}
	return ln, nil
}

// serve starts serving on ln, and the background tasks with it.
func (s *Server) serve(ln net.Listener) {
	s.ln = ln
	s.cfg.Logger.Debug("serving", "addr", ln.Addr().String())
	h := web.NewServer(web.Config{Service: s.svc, Logger: s.cfg.Logger, Started: time.Now(),
		JWKS: func() any { return s.keys.JWKS() }, KeyIDs: s.kids, Audit: s.audit, AuditPublic: s.cfg.AuditPublic,
		Sources: s.sourceStatus, Witnesses: s.witnessStatus, Limits: s.cfg.Limits})
	s.srv = &http.Server{Handler: h.Handler(), ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10,
		ErrorLog: slog.NewLogLogger(s.cfg.Logger.Handler(), slog.LevelWarn)}
	ctx, stop := context.WithCancel(context.Background())
	s.stop = stop
	s.wg.Add(2)
	if s.sync != nil {
		s.wg.Add(1)
		go func() { defer s.wg.Done(); s.sync.Run(ctx) }()
	}
	go func() {
		defer s.wg.Done()
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.cfg.Logger.Error("http server stopped", "err", err)
		}
	}()
	go func() { defer s.wg.Done(); s.background(ctx) }()
}

// background expires lapsed requests and grants, and re-reads the keyring
// that `breakglass keys rotate` may have changed.
func (s *Server) background(ctx context.Context) {
	t := time.NewTicker(s.cfg.SweepEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if n, err := s.svc.Sweep(ctx); err != nil {
			s.cfg.Logger.Warn("sweep", "err", err)
		} else if n > 0 {
			s.cfg.Logger.Info("expired", "count", n)
		}
		// Another process sharing the store may have activated a bundle.
		if _, err := s.svc.LoadActive(ctx); err != nil && !errors.Is(err, broker.ErrNoPolicy) {
			s.cfg.Logger.Warn("reload policy bundles", "err", err)
		}
		if changed, err := s.keys.Reload(); err != nil {
			s.cfg.Logger.Warn("keyring reload", "err", err)
		} else if changed {
			s.cfg.Logger.Info("signing keys changed", "current", s.keys.CurrentKID())
		}
	}
}

// kids are the key ids the JWKS publishes.
func (s *Server) kids() []string {
	var out []string
	for _, k := range s.keys.Keys() {
		if k.Published {
			out = append(out, k.KID)
		}
	}
	return out
}
