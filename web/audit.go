package web

import (
	"context"
	"encoding/binary"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/failsmall/breakglass/audit"
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

// auditRoutes registers the audit read API under /v1. The key, the
// checkpoints, the stored hashes and the proofs are public: they are what
// witnesses and relying parties check the log with. The entries' contents
// (reasons, requesters, approvers, statements) need a session unless the
// broker's config makes them public (Config.AuditPublic).
func (s *Server) auditRoutes(r chi.Router) {
	if s.cfg.Audit == nil {
		return
	}
	r.Get("/audit/key", s.auditKey)
	r.Get("/audit/checkpoint", s.auditCheckpoint)
	r.Get("/audit/checkpoints", s.auditCheckpoints)
	r.With(s.auditContents).Get("/audit/entries", s.auditEntries)
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

// auditContents guards the routes that serve entry contents: a session,
// unless Config.AuditPublic serves them to anyone.
func (s *Server) auditContents(next http.Handler) http.Handler {
	if s.cfg.AuditPublic {
		return next
	}
	return s.session(next)
}

// TileHeight is the height of the c2sp.org/tlog-tiles tiles the broker
// serves: 8, 256 hashes (or entries) a full tile, as tlog-tiles requires.
const TileHeight = 8

// TilePath is the c2sp.org/tlog-tiles path of t (height TileHeight):
// tile/<L>/<N>[.p/<W>] for hash tiles, tile/entries/<N>[.p/<W>] for the
// entry bundles (t.L == -1), with N in groups of three digits (x001/x234/067).
// It is sumdb's Tile.Path without the height.
func TilePath(t tlog.Tile) string {
	p := strings.TrimPrefix(t.Path(), "tile/"+strconv.Itoa(t.H)+"/")
	if rest, ok := strings.CutPrefix(p, "data/"); ok {
		return "tile/entries/" + rest
	}
	return "tile/" + p
}

// tileRoutes registers the log in the c2sp.org/tlog-tiles layout at the
// root: /checkpoint and the hash tiles for anyone, the entry bundles with
// the entries' access rule (auditContents).
func (s *Server) tileRoutes(r chi.Router) {
	if s.cfg.Audit == nil {
		return
	}
	r.Get("/checkpoint", s.auditCheckpoint)
	r.With(s.auditContents).Get("/tile/entries/*", s.entryBundle)
	r.Get("/tile/*", s.hashTile)
}

// parseTile reads the tile the request's path names (after /tile/); data
// selects the entry bundles. Paths that are not canonical are refused, so
// each tile has one URL.
func parseTile(r *http.Request, data bool) (tlog.Tile, error) {
	rest := chi.URLParam(r, "*")
	sumdb := "tile/" + strconv.Itoa(TileHeight) + "/"
	if data {
		sumdb += "data/"
	}
	t, err := tlog.ParseTilePath(sumdb + rest)
	if err != nil || (t.L < 0) != data {
		want := "tile/<L>/<N>[.p/<W>]"
		if data {
			want = "tile/entries/<N>[.p/<W>]"
		}
		return tlog.Tile{}, fmt.Errorf("%w: %s is not a c2sp.org/tlog-tiles path (%s, N in groups of three digits such as x001/234, W from 1 to 255)",
			broker.ErrNotFound, r.URL.Path, want)
	}
	return t, nil
}

// treeSize is the size of the newest signed checkpoint: the tiles served
// are those of that tree (or of an older one), never of entries no
// checkpoint covers yet.
func (s *Server) treeSize(ctx context.Context) (int64, error) {
	signed, err := s.cfg.Audit.Checkpoint(ctx)
	if err != nil {
		return 0, err
	}
	v, err := note.NewVerifier(s.cfg.Audit.VerifierKey())
	if err != nil {
		return 0, fmt.Errorf("audit log key: %w", err)
	}
	cp, _, err := audit.Open(signed, v)
	if err != nil {
		return 0, fmt.Errorf("the newest checkpoint: %w", err)
	}
	return cp.Size, nil
}

// tileCovered reports whether every hash (or entry) of t is fixed by a tree
// of size leaves: its last hash at level t.L*t.H is complete.
func tileCovered(t tlog.Tile, size int64) bool {
	shift := t.H * max(t.L, 0)
	if shift >= 63 {
		return false
	}
	n := size >> shift // complete hashes at the tile's level
	return t.N <= n>>t.H && t.N<<t.H+int64(t.W) <= n
}

func (s *Server) hashTile(w http.ResponseWriter, r *http.Request) {
	t, err := parseTile(r, false)
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	size, err := s.treeSize(r.Context())
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	if !tileCovered(t, size) {
		writeError(w, r, s.log, fmt.Errorf("%w: tile %s is beyond the newest checkpoint (size %d)", broker.ErrNotFound, TilePath(t), size))
		return
	}
	data, err := tlog.ReadTileData(t, auditHashReader{r.Context(), s.cfg.Audit})
	if err != nil {
		writeError(w, r, s.log, fmt.Errorf("tile %s: %w", TilePath(t), err))
		return
	}
	writeTile(w, data, true)
}

func (s *Server) entryBundle(w http.ResponseWriter, r *http.Request) {
	t, err := parseTile(r, true)
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	size, err := s.treeSize(r.Context())
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	if !tileCovered(t, size) {
		writeError(w, r, s.log, fmt.Errorf("%w: entry bundle %s is beyond the newest checkpoint (size %d)", broker.ErrNotFound, TilePath(t), size))
		return
	}
	from := t.N << t.H
	var b []byte
	next := from
	err = s.cfg.Audit.Entries(r.Context(), from, from+int64(t.W), func(i int64, leaf []byte) error {
		if i != next {
			return fmt.Errorf("audit log: entry %d in place of %d", i, next)
		}
		if len(leaf) > 0xffff {
			return fmt.Errorf("audit entry %d is %d bytes, over the 64 KiB an entry bundle holds", i, len(leaf))
		}
		b = binary.BigEndian.AppendUint16(b, uint16(len(leaf)))
		b = append(b, leaf...)
		next++
		return nil
	})
	if err == nil && next != from+int64(t.W) {
		err = fmt.Errorf("audit log: %d entries in bundle %s, want %d", next-from, TilePath(t), t.W)
	}
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	writeTile(w, b, s.cfg.AuditPublic)
}

// writeTile sends a tile: the same path always has the same bytes, so it
// may be cached for good; by shared caches only when public.
func writeTile(w http.ResponseWriter, data []byte, public bool) {
	w.Header().Set("Content-Type", "application/octet-stream")
	if public {
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		w.Header().Set("Cache-Control", "private, max-age=31536000, immutable")
		w.Header().Set("Vary", "Authorization")
	}
	w.Write(data)
}

// auditHashReader is a tlog.HashReader over AuditLog.Hashes. A tile's
// stored hashes are increasing indexes; the runs among them with small gaps
// (a level-0 tile's hashes, with the few higher-level ones between them)
// are read in one range.
type auditHashReader struct {
	ctx context.Context
	log AuditLog
}

// maxHashGap is the widest gap between two wanted stored hashes read in
// one range.
const maxHashGap = 16

func (r auditHashReader) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, 0, len(indexes))
	for i := 0; i < len(indexes); {
		j := i + 1
		for j < len(indexes) && indexes[j] > indexes[j-1] && indexes[j]-indexes[j-1] <= maxHashGap {
			j++
		}
		lo, hi := indexes[i], indexes[j-1]+1
		hs, err := r.log.Hashes(r.ctx, lo, hi)
		if err != nil {
			return nil, err
		}
		if int64(len(hs)) != hi-lo {
			return nil, fmt.Errorf("audit log: %d stored hashes for [%d, %d)", len(hs), lo, hi)
		}
		for _, x := range indexes[i:j] {
			out = append(out, hs[x-lo])
		}
		i = j
	}
	return out, nil
}
