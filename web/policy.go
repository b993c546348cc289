package web

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/failsmall/breakglass/broker"
	"github.com/failsmall/breakglass/policy"
)

// BundleContentType is the media type of a signed policy bundle file.
const BundleContentType = "application/vnd.breakglass.policy-bundle"

// MaxBundleBody bounds a pushed bundle: the largest policy and its
// signatures.
const MaxBundleBody = policy.MaxSize + 1<<20

// SourceJSON is one upstream source's health in /v1/status and /v1/policy.
type SourceJSON struct {
	Name        string    `json:"name"`
	Kind        string    `json:"kind"`
	LastAttempt time.Time `json:"last_attempt,omitzero"`
	LastSuccess time.Time `json:"last_success,omitzero"`
	LastError   string    `json:"last_error,omitempty"`
	LastErrorAt time.Time `json:"last_error_at,omitzero"`
	// AgeSeconds is the time since LastSuccess; -1 when it never succeeded.
	AgeSeconds float64 `json:"age_seconds"`
	Result     string  `json:"result,omitempty"`
}

// PolicyJSON is GET /v1/policy: the active bundle and the sources.
type PolicyJSON struct {
	Bundle  *broker.BundleState `json:"bundle,omitempty"`
	Error   string              `json:"error,omitempty"`
	Sources []SourceJSON        `json:"sources"`
}

// ActivationJSON answers a pushed bundle.
type ActivationJSON struct {
	Outcome string   `json:"outcome"`
	Serial  uint64   `json:"serial"`
	Hash    string   `json:"hash"`
	Signers []string `json:"signers,omitempty"`
}

// EvidenceJSON is GET /v1/requests/{id}/evidence; its fields are those of
// offline.Evidence, which the CLI writes.
type EvidenceJSON struct {
	Statement string             `json:"statement"`
	Approvals []EvidenceApproval `json:"approvals"`
	Bundle    string             `json:"bundle"`
}

// EvidenceApproval is one counted approval.
type EvidenceApproval struct {
	Statement string `json:"statement"`
	Signature string `json:"signature"`
}

// policyRoutes registers the policy bundle API. Reading and pushing need no
// session: a bundle is public and carries its own authority, its admins'
// signatures, which the broker checks against the active bundle.
func (s *Server) policyRoutes(r chi.Router) {
	r.Get("/policy", s.policyState)
	r.Get("/policy/bundle", s.activeBundle)
	r.Get("/policy/bundles/{hash}", s.bundleByHash)
	r.With(s.limit(s.cfg.Limits.Pushes, "bundle pushes")).Post("/policy/bundles", s.pushBundle)
	r.With(s.session).Get("/requests/{id}/evidence", s.evidence)
}

func (s *Server) sources() []SourceJSON {
	if s.cfg.Sources == nil {
		return []SourceJSON{}
	}
	return s.cfg.Sources()
}

func (s *Server) policyState(w http.ResponseWriter, r *http.Request) {
	out := PolicyJSON{Bundle: s.svc.BundleState(), Sources: s.sources()}
	if out.Bundle == nil {
		if _, err := s.svc.Policy(); err != nil {
			out.Error = err.Error()
		} else {
			out.Error = "the active policy is not from a bundle"
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func writeBundle(w http.ResponseWriter, b *broker.StoredBundle) {
	w.Header().Set("Content-Type", BundleContentType)
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Breakglass-Bundle-Serial", fmt.Sprint(b.Serial))
	w.Header().Set("X-Breakglass-Bundle-Hash", b.Hash)
	w.WriteHeader(http.StatusOK)
	w.Write(b.Raw)
}

func (s *Server) activeBundle(w http.ResponseWriter, r *http.Request) {
	b, _, err := s.svc.ActiveBundle()
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	writeBundle(w, b)
}

func (s *Server) bundleByHash(w http.ResponseWriter, r *http.Request) {
	b, err := s.svc.StoredBundle(r.Context(), chi.URLParam(r, "hash"))
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	writeBundle(w, b)
}

// pushBundle reads a pushed bundle no further than the size its header
// declares allows (policy.SignedBundleSize), refusing a body that says it
// is larger before reading it, with at most Limits.ConcurrentPushes being
// read and checked at once.
func (s *Server) pushBundle(w http.ResponseWriter, r *http.Request) {
	if r.ContentLength > MaxBundleBody {
		writeError(w, r, s.log, fmt.Errorf("%w: the body is %d bytes, a signed bundle is at most %d", errTooLarge, r.ContentLength, MaxBundleBody))
		return
	}
	release, ok := s.pushSlot(w, r)
	if !ok {
		return
	}
	defer release()
	raw, err := readBundle(w, r)
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	act, err := s.svc.Push(r.Context(), raw)
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, ActivationJSON{Outcome: act.Outcome, Serial: act.Bundle.Serial, Hash: act.Bundle.Hash, Signers: act.Signers})
}

// readBundle reads a pushed signed bundle: its header first, then no more
// than the header's declared policy size and the most signatures allow. A
// body whose header does not parse is returned as far as it was read.
func readBundle(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	body := http.MaxBytesReader(w, r.Body, MaxBundleBody)
	head := make([]byte, policy.MaxBundleHead)
	n, err := io.ReadFull(body, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: %v", errBadBody, err)
	}
	head = head[:n]
	limit, err := policy.SignedBundleSize(head)
	if err != nil {
		// Not a bundle: its head is enough for the broker to refuse, and
		// audit, it as it refuses every malformed bundle.
		return head, nil
	}
	if r.ContentLength > int64(limit) {
		return nil, fmt.Errorf("%w: the body is %d bytes, more than the %d its header allows (the policy size it declares and %d signatures)",
			errTooLarge, r.ContentLength, limit, policy.MaxBundleSignatures)
	}
	var buf bytes.Buffer
	if r.ContentLength > 0 {
		buf.Grow(int(r.ContentLength) + 1) // at most limit+1: checked above
	}
	buf.Write(head)
	if _, err := buf.ReadFrom(io.LimitReader(body, int64(limit-n+1))); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, fmt.Errorf("%w: a bundle of more than %d bytes", errTooLarge, MaxBundleBody)
		}
		return nil, fmt.Errorf("%w: %v", errBadBody, err)
	}
	if buf.Len() > limit {
		return nil, fmt.Errorf("%w: more than the %d bytes its header allows (the policy size it declares and %d signatures)",
			errTooLarge, limit, policy.MaxBundleSignatures)
	}
	return buf.Bytes(), nil
}

func (s *Server) evidence(w http.ResponseWriter, r *http.Request) {
	ev, err := s.svc.Evidence(r.Context(), principalOf(r), chi.URLParam(r, "id"))
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	out := EvidenceJSON{Statement: string(ev.Statement), Bundle: string(ev.Bundle), Approvals: []EvidenceApproval{}}
	for _, a := range ev.Approvals {
		out.Approvals = append(out.Approvals, EvidenceApproval{Statement: string(a.Statement), Signature: string(a.Signature)})
	}
	writeJSON(w, http.StatusOK, out)
}

// rawBody is a request body sent as is.
type rawBody struct {
	data        []byte
	contentType string
}

// Policy returns GET /v1/policy.
func (c *Client) Policy(ctx context.Context) (*PolicyJSON, error) {
	var out PolicyJSON
	return &out, c.do(ctx, http.MethodGet, "/v1/policy", nil, &out)
}

// ActiveBundle returns the active signed bundle file.
func (c *Client) ActiveBundle(ctx context.Context) ([]byte, error) {
	var out []byte
	return out, c.do(ctx, http.MethodGet, "/v1/policy/bundle", nil, &out)
}

// Bundle returns the stored bundle with this hash.
func (c *Client) Bundle(ctx context.Context, hash string) ([]byte, error) {
	var out []byte
	return out, c.do(ctx, http.MethodGet, "/v1/policy/bundles/"+url.PathEscape(hash), nil, &out)
}

// PushBundle offers a signed bundle to the broker.
func (c *Client) PushBundle(ctx context.Context, signed []byte) (*ActivationJSON, error) {
	var out ActivationJSON
	return &out, c.do(ctx, http.MethodPost, "/v1/policy/bundles", rawBody{signed, BundleContentType}, &out)
}

// Evidence returns a grant's evidence; the session's principal must be its
// requester, an approver or a policy admin. Its JSON, with "version": 1,
// is an offline.Evidence.
func (c *Client) Evidence(ctx context.Context, id string) (*EvidenceJSON, error) {
	var out EvidenceJSON
	return &out, c.do(ctx, http.MethodGet, "/v1/requests/"+url.PathEscape(id)+"/evidence", nil, &out)
}
