package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/failsmall/breakglass/witness"
)

// runWitness runs a c2sp.org/tlog-witness: `breakglass witness serve`.
func runWitness(ctx context.Context, c *cli, args []string) error {
	if len(args) == 0 || args[0] != "serve" {
		return &exitError{2, errors.New("usage: breakglass witness serve --data DIR --name NAME --log VKEY [--log VKEY...] [--addr HOST:PORT]")}
	}
	fs := c.newFlags("witness serve")
	data := fs.String("data", "./breakglass-witness", "folder for the witness key and the last checkpoint cosigned per log")
	addr := fs.String("addr", "127.0.0.1:8090", "listen address HOST:PORT")
	name := fs.String("name", "", "the witness's name, as in its key (e.g. witness.example.net/w1)")
	var logs multiFlag
	fs.Var(&logs, "log", "a log to witness: its note verifier key (audit-key.pub of the broker), or a file holding it (repeatable)")
	if _, err := parse(fs, args[1:], 0, 0, ""); err != nil {
		return err
	}
	if *name == "" || len(logs) == 0 {
		return errUsage("witness serve needs --name and at least one --log")
	}
	known := map[string]note.Verifier{}
	for _, l := range logs {
		v, err := parseVerifier(l)
		if err != nil {
			return fmt.Errorf("--log: %w", err)
		}
		known[v.Name()] = v
	}
	key, err := loadWitnessKey(filepath.Join(*data, "witness-key"))
	if err != nil {
		return err
	}
	w, err := witness.NewServer(filepath.Join(*data, "state"), *name, key, known, time.Now)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(*data, "witness-key.pub"), []byte(w.VerifierKey()+"\n"), 0o644); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", *addr, err)
	}
	log := slog.New(slog.NewTextHandler(c.stderr, nil))
	srv := &http.Server{Handler: witnessLog(log, w.Handler()), ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 30 * time.Second}
	fmt.Fprintf(c.stdout, "witness %s serving on http://%s\nkey: %s\n", *name, ln.Addr(), w.VerifierKey())
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// witnessLog logs every refusal: a witness shown a fork or a rollback says so.
func witnessLog(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		if rec.status != http.StatusOK {
			log.Warn("witness refused a checkpoint", "status", rec.status, "reason", strings.TrimSpace(string(rec.body)), "from", r.RemoteAddr)
		} else {
			log.Info("cosigned", "from", r.RemoteAddr)
		}
	})
}

type statusRecorder struct {
	http.ResponseWriter
	status int
	body   []byte
}

func (s *statusRecorder) WriteHeader(code int) { s.status = code; s.ResponseWriter.WriteHeader(code) }
func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status != http.StatusOK && len(s.body) < 1024 {
		s.body = append(s.body, b...)
	}
	return s.ResponseWriter.Write(b)
}

// loadWitnessKey reads the witness's Ed25519 seed (base64), making it on
// first start (mode 0600).
func loadWitnessKey(path string) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		seed := make([]byte, ed25519.SeedSize)
		rand.Read(seed)
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, err
		}
		if err := writeSecret(path, []byte(base64.StdEncoding.EncodeToString(seed)+"\n")); err != nil {
			return nil, fmt.Errorf("witness key: %w", err)
		}
		return ed25519.NewKeyFromSeed(seed), nil
	}
	if err != nil {
		return nil, fmt.Errorf("witness key: %w", err)
	}
	seed, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("witness key %s: not a base64 Ed25519 seed", path)
	}
	return ed25519.NewKeyFromSeed(seed), nil
}
