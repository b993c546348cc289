package web

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/failsmall/breakglass/broker"
)

// PrepareJSON asks for a request statement to sign.
type PrepareJSON struct {
	Role      string `json:"role"`
	Requester string `json:"requester"`
	Reason    string `json:"reason"`
	Incident  string `json:"incident,omitempty"`
	Duration  string `json:"duration,omitempty"`
	// SSHKey is the requester's public key (an authorized_keys line) for
	// the certificate of a role with ssh; ignored for other roles.
	SSHKey string `json:"ssh_key,omitempty"`
}

// SignedJSON carries a signed statement or challenge and its SSHSIG.
type SignedJSON struct {
	Statement string `json:"statement"`
	Signature string `json:"signature"`
}

func (s *Server) prepareRequest(w http.ResponseWriter, r *http.Request) {
	var in PrepareJSON
	if err := decode(w, r, &in); err != nil {
		writeError(w, r, s.log, err)
		return
	}
	var d time.Duration
	if in.Duration != "" {
		var err error
		if d, err = broker.ParseDuration(in.Duration); err != nil {
			writeError(w, r, s.log, fmt.Errorf("%w: duration: %v", broker.ErrInvalid, err))
			return
		}
	}
	text, err := s.svc.Prepare(r.Context(), broker.RequestInput{Role: in.Role, Requester: in.Requester,
		Reason: in.Reason, Incident: in.Incident, Duration: d, SSHKey: in.SSHKey})
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"statement": string(text)})
}

func (s *Server) createRequest(w http.ResponseWriter, r *http.Request) {
	var in SignedJSON
	if err := decode(w, r, &in); err != nil {
		writeError(w, r, s.log, err)
		return
	}
	req, err := s.svc.CreateRequest(r.Context(), []byte(in.Statement), []byte(in.Signature))
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusCreated, requestJSON(req))
}

func (s *Server) listRequests(w http.ResponseWriter, r *http.Request) {
	var f broker.RequestFilter
	q := r.URL.Query()
	if v := q.Get("state"); v != "" {
		st, err := broker.ParseState(v)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		f.State = st
	}
	f.Requester = q.Get("requester")
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			writeError(w, r, s.log, fmt.Errorf("%w: limit must be 1 to 1000", broker.ErrInvalid))
			return
		}
		f.Limit = n
	}
	reqs, err := s.svc.List(r.Context(), principalOf(r), f)
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	out := struct {
		Requests []RequestJSON `json:"requests"`
	}{Requests: make([]RequestJSON, 0, len(reqs))}
	for _, req := range reqs {
		out.Requests = append(out.Requests, requestJSON(req))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) getRequest(w http.ResponseWriter, r *http.Request) {
	v, err := s.svc.Get(r.Context(), principalOf(r), chi.URLParam(r, "id"))
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, viewJSON(v))
}

func (s *Server) credentials(w http.ResponseWriter, r *http.Request) {
	g, err := s.svc.Credentials(r.Context(), principalOf(r), chi.URLParam(r, "id"))
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, credentialsJSON(g))
}
