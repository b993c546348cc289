package web

import (
	"fmt"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/failsmall/breakglass/broker"
)

// ChallengeJSON asks for a challenge.
type ChallengeJSON struct {
	Principal string `json:"principal"`
	Action    string `json:"action"`
	Subject   string `json:"subject,omitempty"`
}

// SessionJSON answers /v1/sessions.
type SessionJSON struct {
	Token     string    `json:"token"`
	Principal string    `json:"principal"`
	Expires   time.Time `json:"expires"`
}

func (s *Server) newChallenge(w http.ResponseWriter, r *http.Request) {
	var in ChallengeJSON
	if err := decode(w, r, &in); err != nil {
		writeError(w, r, s.log, err)
		return
	}
	text, err := s.svc.NewChallenge(r.Context(), in.Principal, in.Action, in.Subject)
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"challenge": string(text)})
}

func (s *Server) openSession(w http.ResponseWriter, r *http.Request) {
	var in SignedJSON
	if err := decode(w, r, &in); err != nil {
		writeError(w, r, s.log, err)
		return
	}
	tok, sess, err := s.svc.OpenSession(r.Context(), []byte(in.Statement), []byte(in.Signature))
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, SessionJSON{Token: tok, Principal: sess.Principal, Expires: sess.Expires.UTC()})
}

// signedFor decodes a signed challenge whose subject must be the URL's request id.
func signedFor(w http.ResponseWriter, r *http.Request) (SignedJSON, error) {
	var in SignedJSON
	if err := decode(w, r, &in); err != nil {
		return in, err
	}
	c, err := broker.ParseChallenge([]byte(in.Statement))
	if err != nil {
		return in, err
	}
	if id := chi.URLParam(r, "id"); c.Subject != id {
		return in, fmt.Errorf("%w: the challenge is for request %q, the URL names %q", broker.ErrChallenge, c.Subject, id)
	}
	return in, nil
}

func (s *Server) cancel(w http.ResponseWriter, r *http.Request) {
	in, err := signedFor(w, r)
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	req, err := s.svc.Cancel(r.Context(), []byte(in.Statement), []byte(in.Signature))
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, requestJSON(req))
}

func (s *Server) revoke(w http.ResponseWriter, r *http.Request) {
	in, err := signedFor(w, r)
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	g, err := s.svc.Revoke(r.Context(), []byte(in.Statement), []byte(in.Signature))
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, grantJSON(g))
}
