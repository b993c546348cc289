package server

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"sync/atomic"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/failsmall/breakglass/audit"
	"github.com/failsmall/breakglass/broker"
	"github.com/failsmall/breakglass/internal/atomicfile"
	"github.com/failsmall/breakglass/sqlite"
	"github.com/failsmall/breakglass/web"
)

// The broker's audit log wiring: the checkpoint key and file in the data
// folder, the checkpointer, and the read side the API serves.

// loadAuditKey reads the checkpoint signing key, generating it (0600, with
// its public half beside it) on first start. Its name is the log's origin,
// the broker name.
func loadAuditKey(d Dir, origin string) (note.Signer, note.Verifier, error) {
	b, err := os.ReadFile(d.AuditKey())
	if errors.Is(err, fs.ErrNotExist) {
		skey, vkey, err := audit.GenerateKey(origin)
		if err != nil {
			return nil, nil, fmt.Errorf("audit key: %w", err)
		}
		if err := atomicfile.WriteSecret(d.AuditKey(), []byte(skey+"\n")); err != nil {
			return nil, nil, fmt.Errorf("audit key: %w", err)
		}
		if err := os.WriteFile(d.AuditPub(), []byte(vkey+"\n"), 0o644); err != nil {
			return nil, nil, fmt.Errorf("audit key: %w", err)
		}
		b = []byte(skey)
	} else if err != nil {
		return nil, nil, fmt.Errorf("audit key: %w", err)
	}
	s, err := note.NewSigner(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, nil, fmt.Errorf("audit key %s: %w", d.AuditKey(), err)
	}
	if s.Name() != origin {
		return nil, nil, fmt.Errorf("audit key %s signs for %q, but the broker is named %q: the log's origin cannot change; use the old name or a new data folder",
			d.AuditKey(), s.Name(), origin)
	}
	v, err := ReadVerifierKey(d.AuditPub())
	if err != nil {
		return nil, nil, err
	}
	if v.Name() != s.Name() || v.KeyHash() != s.KeyHash() {
		return nil, nil, fmt.Errorf("audit key %s and %s are not a pair", d.AuditKey(), d.AuditPub())
	}
	return s, v, nil
}

// ReadVerifierKey reads a note verifier key file (one line), such as a
// data folder's AuditPub.
func ReadVerifierKey(path string) (note.Verifier, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("log key: %w", err)
	}
	v, err := note.NewVerifier(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, fmt.Errorf("log key %s: %w", path, err)
	}
	return v, nil
}

// auditLog is the read side of the log for the API: web.AuditLog.
type auditLog struct {
	db   *sqlite.DB
	cp   *audit.Checkpointer
	vkey string
}

var _ web.AuditLog = (*auditLog)(nil)

func (l *auditLog) VerifierKey() string { return l.vkey }

func (l *auditLog) Checkpoint(ctx context.Context) ([]byte, error) {
	if signed, _ := l.cp.Latest(); signed != nil {
		return signed, nil
	}
	signed, _, err := l.cp.Sync(ctx)
	return signed, err
}

func (l *auditLog) Checkpoints(ctx context.Context, start, limit int) ([][]byte, error) {
	return l.db.RecordedCheckpoints(ctx, start, limit)
}

func (l *auditLog) Entries(ctx context.Context, from, to int64, fn func(int64, []byte) error) error {
	return l.db.AuditEntries(ctx, from, to, fn)
}

func (l *auditLog) Hashes(ctx context.Context, from, to int64) ([]tlog.Hash, error) {
	idx := make([]int64, 0, to-from)
	for i := from; i < to; i++ {
		idx = append(idx, i)
	}
	return l.db.ReadHashes(idx)
}

// checkRange checks 0 <= lo <= hi <= the committed log size.
func (l *auditLog) checkRange(ctx context.Context, lo, hi int64) error {
	n, err := l.db.AuditSize(ctx)
	if err != nil {
		return err
	}
	if lo < 0 || lo > hi {
		return fmt.Errorf("%w: audit range %d, %d", broker.ErrInvalid, lo, hi)
	}
	if hi > n {
		return fmt.Errorf("%w: the audit log has %d entries, not %d", broker.ErrNotFound, n, hi)
	}
	return nil
}

func (l *auditLog) ProveInclusion(ctx context.Context, index, size int64) (tlog.RecordProof, error) {
	if index >= size {
		return nil, fmt.Errorf("%w: index %d must be below size %d", broker.ErrInvalid, index, size)
	}
	if err := l.checkRange(ctx, index, size); err != nil {
		return nil, err
	}
	return audit.ProveInclusion(index, size, l.db)
}

func (l *auditLog) ProveConsistency(ctx context.Context, oldSize, newSize int64) (tlog.TreeProof, error) {
	if err := l.checkRange(ctx, oldSize, newSize); err != nil {
		return nil, err
	}
	return audit.ProveConsistency(oldSize, newSize, l.db)
}

// GrantReceipt proves the grant.issued entry of grant id in the newest
// checkpoint, signing one first if none covers it yet. The receipt's extra
// carries the entry's canonical bytes, the leaf, so a relying party can
// check offline that the proven entry issued its credential.
func (l *auditLog) GrantReceipt(ctx context.Context, id string) ([]byte, error) {
	idx, err := l.db.AuditIndex(ctx, broker.EventGrantIssued, id)
	if err != nil {
		return nil, err
	}
	var leaf []byte
	if err := l.db.AuditEntries(ctx, idx, idx+1, func(_ int64, b []byte) error { leaf = b; return nil }); err != nil {
		return nil, err
	}
	if len(leaf) == 0 {
		return nil, fmt.Errorf("audit entry %d (grant.issued of %s) is missing", idx, id)
	}
	signed, cp := l.cp.Latest()
	if signed == nil || cp.Size <= idx {
		if signed, cp, err = l.cp.Sync(ctx); err != nil {
			return nil, err
		}
	}
	p, err := audit.ProveInclusion(idx, cp.Size, l.db)
	if err != nil {
		return nil, err
	}
	r := audit.Receipt{Index: idx, Proof: p, Checkpoint: signed, Extra: leaf}
	return r.Marshal(), nil
}

// commitHook forwards the store's AfterCommit to the checkpointer, which is
// made after the store.
type commitHook struct {
	cp atomic.Pointer[audit.Checkpointer]
}

func (h *commitHook) afterCommit() {
	if c := h.cp.Load(); c != nil {
		c.Notify()
	}
}

// openAuditLog loads (or makes) the checkpoint key, refuses a database
// behind the checkpoint file, and starts the checkpointer.
func openAuditLog(ctx context.Context, cfg Config, db *sqlite.DB, hook *commitHook, s note.Signer, v note.Verifier) (*auditLog, error) {
	cp, err := audit.NewCheckpointer(ctx, audit.CheckpointerConfig{Store: db.CheckpointStore(), Signer: s, Verifier: v,
		File: cfg.Data.Checkpoint(), Mirror: cfg.Data.CheckpointMirror(), Witnesses: cfg.Witnesses, Logger: cfg.Logger})
	if err != nil {
		return nil, err
	}
	hook.cp.Store(cp)
	vkey, err := os.ReadFile(cfg.Data.AuditPub())
	if err != nil {
		cp.Close()
		return nil, err
	}
	return &auditLog{db: db, cp: cp, vkey: strings.TrimSpace(string(vkey))}, nil
}

// close stops the checkpointer, which first checkpoints everything
// committed.
func (l *auditLog) close() { l.cp.Close() }

// witnessStatus converts the checkpointer's witness status for the API.
func (s *Server) witnessStatus() []web.WitnessJSON {
	out := []web.WitnessJSON{}
	if s.audit == nil {
		return out
	}
	for _, w := range s.audit.cp.Witnesses() {
		out = append(out, web.WitnessJSON{Name: w.Name, URL: w.URL, Up: w.Up(), Cosigned: w.Cosigned,
			LastSuccess: w.LastSuccess, LastError: w.LastError, LastErrorAt: w.LastErrorAt})
	}
	return out
}
