package web

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"
)

// RevocationsContentType is the media type of GET /v1/revocations: the body
// is the compact JWS itself (verify it with offline.VerifyRevocations).
const RevocationsContentType = "application/jwt"

// revocationRoutes registers, with no session (relying parties fetch it),
// the broker's signed list of revoked grants.
func (s *Server) revocationRoutes(r chi.Router) {
	r.Get("/revocations", s.revocations)
}

// revocations serves the revocation list, built and signed at each request.
func (s *Server) revocations(w http.ResponseWriter, r *http.Request) {
	jws, _, err := s.svc.Revocations(r.Context())
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	w.Header().Set("Content-Type", RevocationsContentType)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	w.Write([]byte(jws))
}

// Revocations returns the broker's signed revocation list, a compact JWS
// the caller verifies with offline.VerifyRevocations and the broker's JWKS.
func (c *Client) Revocations(ctx context.Context) (string, error) {
	var out []byte
	if err := c.do(ctx, http.MethodGet, "/v1/revocations", nil, &out); err != nil {
		return "", err
	}
	jws := strings.TrimSpace(string(out))
	if strings.Count(jws, ".") != 2 || strings.ContainsAny(jws, " \n{") {
		return "", fmt.Errorf("the broker's revocation list is not a compact JWS: %.80q", jws)
	}
	return jws, nil
}
