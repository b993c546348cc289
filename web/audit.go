package web

import (
	"context"
	"fmt"
	"net/http"
	"strconv"

	"github.com/go-chi/chi/v5"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/failsmall/breakglass/broker"
)

// AuditLog is the read side of the verifiable audit log the API serves.
// Methods return broker.ErrNotFound for indexes beyond the log and
// broker.ErrInvalid for bad ranges.
type AuditLog interface {
	// VerifierKey is the log's note verifier key (its name is the origin).
	VerifierKey() string
	// Checkpoint returns the newest signed checkpoint, with the witness
	// cosignatures kept so far.
	Checkpoint(ctx context.Context) ([]byte, error)
	// Checkpoints returns up to limit recorded checkpoints, in the order
	// they were recorded, skipping the first start.
	Checkpoints(ctx context.Context, start, limit int) ([][]byte, error)
	// Entries calls fn for entries from to to-1, in order.
	Entries(ctx context.Context, from, to int64, fn func(i int64, leaf []byte) error) error
	// Hashes returns the stored hashes at storage indexes from to to-1.
	Hashes(ctx context.Context, from, to int64) ([]tlog.Hash, error)
	ProveInclusion(ctx context.Context, index, size int64) (tlog.RecordProof, error)
	ProveConsistency(ctx context.Context, oldSize, newSize int64) (tlog.TreeProof, error)
}

// Page limits of the audit reads.
const (
	MaxAuditEntries     = 1000
	MaxAuditHashes      = 8192
	MaxAuditCheckpoints = 1000
)

// AuditEntriesJSON is a page of entries: leaves are the canonical bytes.
type AuditEntriesJSON struct {
	Entries []AuditEntryJSON `json:"entries"`
}

type AuditEntryJSON struct {
	Index int64  `json:"index"`
	Leaf  []byte `json:"leaf"`
}

// AuditHashesJSON is a run of stored hashes from Start.
type AuditHashesJSON struct {
	Start  int64    `json:"start"`
	Hashes [][]byte `json:"hashes"`
}

// AuditCheckpointsJSON is a page of recorded signed checkpoints.
type AuditCheckpointsJSON struct {
	Checkpoints []string `json:"checkpoints"`
}

// AuditProofJSON is an inclusion (Index in a tree of Size) or consistency
// (Old to Size) proof.
type AuditProofJSON struct {
	Index int64    `json:"index,omitempty"`
	Old   int64    `json:"old,omitempty"`
	Size  int64    `json:"size"`
	Proof [][]byte `json:"proof"`
}

// auditRoutes registers the audit read API: public, like the log itself.
func (s *Server) auditRoutes(r chi.Router) {
	if s.cfg.Audit == nil {
		return
	}
	r.Get("/audit/key", s.auditKey)
	r.Get("/audit/checkpoint", s.auditCheckpoint)
	r.Get("/audit/checkpoints", s.auditCheckpoints)
	r.Get("/audit/entries", s.auditEntries)
	r.Get("/audit/hashes", s.auditHashes)
	r.Get("/audit/proof/inclusion", s.auditInclusion)
	r.Get("/audit/proof/consistency", s.auditConsistency)
}

func writeText(w http.ResponseWriter, b []byte) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(b)
}

func (s *Server) auditKey(w http.ResponseWriter, r *http.Request) {
	writeText(w, []byte(s.cfg.Audit.VerifierKey()+"\n"))
}

func (s *Server) auditCheckpoint(w http.ResponseWriter, r *http.Request) {
	b, err := s.cfg.Audit.Checkpoint(r.Context())
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	writeText(w, b)
}

func (s *Server) auditCheckpoints(w http.ResponseWriter, r *http.Request) {
	start, limit, err := queryInts(r, "start", "limit")
	if err == nil && (start < 0 || limit < 0) {
		err = fmt.Errorf("%w: start and limit must not be negative", broker.ErrInvalid)
	}
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	if limit == 0 || limit > MaxAuditCheckpoints {
		limit = MaxAuditCheckpoints
	}
	cps, err := s.cfg.Audit.Checkpoints(r.Context(), int(start), int(limit))
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	out := AuditCheckpointsJSON{Checkpoints: make([]string, len(cps))}
	for i, c := range cps {
		out.Checkpoints[i] = string(c)
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) auditEntries(w http.ResponseWriter, r *http.Request) {
	from, to, err := pageRange(r, MaxAuditEntries)
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	out := AuditEntriesJSON{Entries: []AuditEntryJSON{}}
	err = s.cfg.Audit.Entries(r.Context(), from, to, func(i int64, leaf []byte) error {
		out.Entries = append(out.Entries, AuditEntryJSON{Index: i, Leaf: leaf})
		return nil
	})
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) auditHashes(w http.ResponseWriter, r *http.Request) {
	from, to, err := pageRange(r, MaxAuditHashes)
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	hs, err := s.cfg.Audit.Hashes(r.Context(), from, to)
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, AuditHashesJSON{Start: from, Hashes: hashBytes(hs)})
}

func (s *Server) auditInclusion(w http.ResponseWriter, r *http.Request) {
	index, size, err := queryInts(r, "index", "size")
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	p, err := s.cfg.Audit.ProveInclusion(r.Context(), index, size)
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, AuditProofJSON{Index: index, Size: size, Proof: hashBytes(p)})
}

func (s *Server) auditConsistency(w http.ResponseWriter, r *http.Request) {
	old, size, err := queryInts(r, "old", "new")
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	p, err := s.cfg.Audit.ProveConsistency(r.Context(), old, size)
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, AuditProofJSON{Old: old, Size: size, Proof: hashBytes(p)})
}

// CredentialsJSON is a credentials answer: the grant with its credentials
// and the audit receipt of its issuance.
type CredentialsJSON struct {
	GrantJSON
	// Receipt is the c2sp.org/tlog-proof of the grant.issued entry
	// (broker.Grant.Receipt); empty when the broker has no Receipts.
	Receipt string `json:"receipt,omitempty"`
}

// credentialsJSON is g with its credentials and the audit receipt the
// service attached: credentials never leave without their evidence.
func credentialsJSON(g *broker.Grant) CredentialsJSON {
	return CredentialsJSON{GrantJSON: grantJSON(g), Receipt: string(g.Receipt)}
}

func hashBytes(hs []tlog.Hash) [][]byte {
	out := make([][]byte, len(hs))
	for i := range hs {
		out[i] = hs[i][:]
	}
	return out
}

// pageRange reads start and end, capping end at start+max.
func pageRange(r *http.Request, max int64) (int64, int64, error) {
	from, to, err := queryInts(r, "start", "end")
	if err != nil {
		return 0, 0, err
	}
	if from < 0 || to < from {
		return 0, 0, fmt.Errorf("%w: range [%d, %d) is backwards or negative", broker.ErrInvalid, from, to)
	}
	return from, min(to, from+max), nil
}

// queryInts reads two required integer query parameters.
func queryInts(r *http.Request, a, b string) (int64, int64, error) {
	var out [2]int64
	for i, name := range []string{a, b} {
		v, err := strconv.ParseInt(r.URL.Query().Get(name), 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("%w: query parameter %s=%q is not an integer (want ?%s=N&%s=M)", broker.ErrInvalid, name, r.URL.Query().Get(name), a, b)
		}
		out[i] = v
	}
	return out[0], out[1], nil
}
