package web

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/failsmall/breakglass/broker"
)

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readyz says whether the broker can issue: a valid policy and a readable store.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	st, err := s.svc.Status(r.Context())
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	if st.Policy == "" {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready", "reason": st.PolicyError})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready", "policy": st.Policy})
}

// StatusJSON is /v1/status.
type StatusJSON struct {
	Broker      string               `json:"broker"`
	Time        time.Time            `json:"time"`
	Started     time.Time            `json:"started"`
	Ready       bool                 `json:"ready"`
	Policy      string               `json:"policy,omitempty"`
	PolicyError string               `json:"policy_error,omitempty"`
	PolicyAge   string               `json:"policy_age,omitempty"`
	SigningKeys []string             `json:"signing_keys"`
	Counts      map[broker.State]int `json:"counts"`
	// Bundle is the active policy bundle and its age; Sources the
	// upstreams it is refreshed from.
	Bundle  *broker.BundleState `json:"bundle,omitempty"`
	Sources []SourceJSON        `json:"sources"`
	// Witnesses are the witnesses that cosign the audit checkpoints.
	Witnesses []WitnessJSON `json:"witnesses"`
}

// WitnessJSON is how one witness is doing: the newest checkpoint size it
// cosigned and its last failure (unreachable, refusing), if after that.
type WitnessJSON struct {
	Name        string    `json:"name"`
	URL         string    `json:"url"`
	Up          bool      `json:"up"`
	Cosigned    int64     `json:"cosigned_size"`
	LastSuccess time.Time `json:"last_success,omitzero"`
	LastError   string    `json:"last_error,omitempty"`
	LastErrorAt time.Time `json:"last_error_at,omitzero"`
}

func (s *Server) witnesses() []WitnessJSON {
	if s.cfg.Witnesses == nil {
		return []WitnessJSON{}
	}
	return s.cfg.Witnesses()
}

func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	st, err := s.svc.Status(r.Context())
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	out := StatusJSON{Broker: st.Broker, Time: st.Time, Started: s.cfg.Started.UTC(), Ready: st.Policy != "",
		Policy: st.Policy, PolicyError: st.PolicyError, SigningKeys: s.cfg.KeyIDs(), Counts: st.Counts,
		Bundle: s.svc.BundleState(), Sources: s.sources(), Witnesses: s.witnesses()}
	if st.Policy != "" {
		out.PolicyAge = st.PolicyAge.Truncate(time.Second).String()
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) jwks(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "public, max-age=60")
	writeJSON(w, http.StatusOK, s.cfg.JWKS())
}

// KeyLookupJSON answers /v1/keys/lookup: which principal each key is enrolled for.
type KeyLookupJSON struct {
	Keys []KeyJSON `json:"keys"`
}

// KeyJSON is one public key and its principal ("" when enrolled for nobody).
type KeyJSON struct {
	Key         string `json:"key"`
	Fingerprint string `json:"fingerprint,omitempty"`
	Principal   string `json:"principal,omitempty"`
	Error       string `json:"error,omitempty"`
}

func (s *Server) lookupKeys(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Keys []string `json:"keys"`
	}
	if err := decode(w, r, &in); err != nil {
		writeError(w, r, s.log, err)
		return
	}
	if len(in.Keys) == 0 || len(in.Keys) > 64 {
		writeError(w, r, s.log, fmt.Errorf("%w: send 1 to 64 keys as authorized_keys lines", broker.ErrInvalid))
		return
	}
	p, err := s.svc.Policy()
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	out := KeyLookupJSON{Keys: make([]KeyJSON, len(in.Keys))}
	for i, line := range in.Keys {
		out.Keys[i].Key = line
		pub, _, _, _, err := ssh.ParseAuthorizedKey([]byte(strings.TrimSpace(line)))
		if err != nil {
			out.Keys[i].Error = fmt.Sprintf("not an authorized_keys line: %v", err)
			continue
		}
		out.Keys[i].Fingerprint = ssh.FingerprintSHA256(pub)
		if pr, _, ok := p.PrincipalByKey(pub); ok {
			out.Keys[i].Principal = pr.ID
		}
	}
	writeJSON(w, http.StatusOK, out)
}
