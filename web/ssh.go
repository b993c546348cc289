package web

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"
	"golang.org/x/crypto/ssh"
)

// SSHCAJSON is the broker's SSH CA as /v1/ssh/ca serves it.
type SSHCAJSON struct {
	// PublicKey is the CA key as an authorized_keys line, for sshd's
	// TrustedUserCAKeys file.
	PublicKey   string `json:"public_key"`
	Fingerprint string `json:"fingerprint"`
}

// sshRoutes serves what sshd needs to trust the broker's certificates, with
// no session: the CA public key and the KRL of revoked certificates are
// public, and a config agent or cron job fetches them unattended.
func (s *Server) sshRoutes(r chi.Router) {
	r.Get("/ssh/ca", s.sshCA)
	r.Get("/ssh/krl", s.sshKRL)
}

func (s *Server) sshCA(w http.ResponseWriter, r *http.Request) {
	pub, err := s.svc.SSHCA()
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, SSHCAJSON{PublicKey: strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub))),
		Fingerprint: ssh.FingerprintSHA256(pub)})
}

// sshKRL serves the OpenSSH KRL, generated from the store at each request.
func (s *Server) sshKRL(w http.ResponseWriter, r *http.Request) {
	krl, err := s.svc.SSHKRL(r.Context())
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	w.Write(krl)
}

// SSHCA returns the broker's SSH CA public key.
func (c *Client) SSHCA(ctx context.Context) (*SSHCAJSON, error) {
	var out SSHCAJSON
	if err := c.do(ctx, http.MethodGet, "/v1/ssh/ca", nil, &out); err != nil {
		return nil, err
	}
	if _, _, _, _, err := ssh.ParseAuthorizedKey([]byte(out.PublicKey)); err != nil {
		return nil, fmt.Errorf("the broker's SSH CA key %.60q does not parse: %w", out.PublicKey, err)
	}
	return &out, nil
}

// SSHKRL returns the broker's KRL of revoked certificates, as served.
func (c *Client) SSHKRL(ctx context.Context) ([]byte, error) {
	var out []byte
	return out, c.do(ctx, http.MethodGet, "/v1/ssh/krl", nil, &out)
}
