package sqlite

import (
	"fmt"
	"math/bits"
	"strings"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/failsmall/breakglass/audit"
)

// Audit appends inside a group commit. The leaves that a batch's changes
// append are hashed as each change applies (so each change learns its leaf
// numbers and the next change builds on them) but written to the audit
// tables once per batch, a few multi-row inserts for the whole batch, just
// before the checkpoint and the commit. The hashes a new leaf needs are
// those of the tree's right edge, at most one per level, which the writer
// keeps in memory from one commit to the next; each batch checks that the
// log's size in the database is still the size that edge is for, so a
// second process writing the same file only costs a reload, never a wrong
// hash.

// edge is the right edge of the tree of size leaves: for every level l
// where bit l of size is set, h[l] is the stored hash of the complete
// subtree (l, size>>l - 1). Those are every hash tlog reads to append leaf
// size (StoredHashes) and to compute the tree hash of size (TreeHash).
type edge struct {
	size int64
	h    [63]tlog.Hash
}

// loadEdge reads the right edge of the tree of size leaves through r.
func loadEdge(size int64, r tlog.HashReader) (edge, error) {
	e := edge{size: size}
	var levels []int
	var idx []int64
	for l := 0; size>>l > 0; l++ {
		if size>>l&1 == 1 {
			levels = append(levels, l)
			idx = append(idx, tlog.StoredHashIndex(l, size>>l-1))
		}
	}
	if len(idx) == 0 {
		return e, nil
	}
	hs, err := r.ReadHashes(idx)
	if err != nil {
		return edge{}, fmt.Errorf("sqlite: read the audit tree's right edge at size %d: %w", size, err)
	}
	for i, l := range levels {
		e.h[l] = hs[i]
	}
	return e, nil
}

// ReadHashes implements tlog.HashReader for the hashes of the right edge
// and refuses any other index: tlog asks for nothing else when appending
// or computing the tree hash, and a hash this cannot vouch for must not be
// guessed.
func (e *edge) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		l, n := tlog.SplitStoredHashIndex(x)
		if l >= len(e.h) || e.size>>l&1 == 0 || e.size>>l-1 != n {
			return nil, fmt.Errorf("sqlite: stored hash %d (level %d, node %d) is not on the right edge of the tree of %d leaves", x, l, n, e.size)
		}
		out[i] = e.h[l]
	}
	return out, nil
}

// push records leaf e.size, whose stored hashes (audit.StoredHashes) are
// hashes: the subtree they complete joins the edge, the ones it absorbed
// leave it.
func (e *edge) push(hashes []tlog.Hash) {
	m := bits.TrailingZeros64(uint64(e.size + 1))
	e.h[m] = hashes[m]
	e.size++
}

// pendingLeaf is an appended leaf not yet written to the audit tables.
type pendingLeaf struct {
	typ      string
	subjects []string
	leaf     []byte
	hashes   []tlog.Hash
}

// logBatch is the audit log as the changes of one group commit see it.
type logBatch struct {
	loaded  bool
	base    int64 // the log's size in the database when the batch began
	edge    edge  // the right edge at base + len(pending)
	pending []pendingLeaf
	flushed int // pending[:flushed] are written to the tables
}

// logMark is a logBatch's state before a change, to return to if the
// change is rolled back.
type logMark struct {
	edge             edge
	pending, flushed int
}

func (lb *logBatch) mark() logMark {
	return logMark{edge: lb.edge, pending: len(lb.pending), flushed: lb.flushed}
}

// reset returns to m after its change was rolled back to its savepoint,
// which also undid any rows a flush inside the change wrote: those leaves
// are pending again.
func (lb *logBatch) reset(m logMark) {
	if !lb.loaded {
		return
	}
	lb.edge, lb.pending, lb.flushed = m.edge, lb.pending[:m.pending], m.flushed
}

// size is the log's size with the leaves appended so far in this batch.
func (lb *logBatch) size() int64 { return lb.edge.size }

// load reads the log's size in this transaction, once a batch, and takes
// the writer's edge if it is the edge of that size, else reads it.
func (t *Tx) loadLog() (*logBatch, error) {
	lb := t.log
	if lb.loaded {
		return lb, nil
	}
	n, err := auditSize(t.ctx, t.tx)
	if err != nil {
		return nil, err
	}
	if t.db.edgeSet && t.db.edge.size == n {
		lb.edge = t.db.edge
	} else if lb.edge, err = loadEdge(n, hashReader{t.ctx, t.tx}); err != nil {
		return nil, err
	}
	lb.base, lb.loaded = n, true
	return lb, nil
}

// appendLeaf adds leaf, an encoded audit.Entry of type typ about subjects,
// as leaf n = the current log size and returns n. Its hashes are computed
// now, its rows written by flushLog before the batch commits.
func (t *Tx) appendLeaf(typ string, subjects []string, leaf []byte) (int64, error) {
	if !t.writable {
		return 0, errReadOnly
	}
	lb, err := t.loadLog()
	if err != nil {
		return 0, err
	}
	n := lb.size()
	hashes, err := audit.StoredHashes(n, leaf, &lb.edge)
	if err != nil {
		return 0, fmt.Errorf("sqlite: append leaf %d: %w", n, err)
	}
	lb.edge.push(hashes)
	lb.pending = append(lb.pending, pendingLeaf{typ: typ, subjects: subjects, leaf: leaf, hashes: hashes})
	return n, nil
}

// flushLog writes the pending leaves of the batch: their entries, their
// stored hashes and their subject index rows, a multi-row insert per table
// and chunk, and the full tiles they complete. A failure leaves rows that
// must not commit without the rest; the caller rolls back.
func (t *Tx) flushLog() error {
	lb := t.log
	if lb == nil || lb.flushed == len(lb.pending) {
		return nil
	}
	if err := t.writeLeaves(lb); err != nil {
		t.broken = err
		return err
	}
	lb.flushed = len(lb.pending)
	return nil
}

// writeLeaves writes pending[flushed:] of lb.
func (t *Tx) writeLeaves(lb *logBatch) error {
	rows := lb.pending[lb.flushed:]
	first := lb.base + int64(lb.flushed)
	err := insertChunked(t, `INSERT INTO audit_entries (idx, leaf) VALUES `, "(?, ?)", len(rows), func(args []any, i int) []any {
		return append(args, first+int64(i), rows[i].leaf)
	})
	if err != nil {
		return fmt.Errorf("sqlite: append leaves %d to %d: %w", first, first+int64(len(rows))-1, err)
	}
	var hashes []tlog.Hash
	var subj []any
	nsubj := 0
	for i, r := range rows {
		hashes = append(hashes, r.hashes...)
		for _, s := range r.subjects {
			subj = append(subj, s, r.typ, first+int64(i))
			nsubj++
		}
	}
	base := tlog.StoredHashIndex(0, first)
	err = insertChunked(t, `INSERT INTO audit_hashes (idx, hash) VALUES `, "(?, ?)", len(hashes), func(args []any, i int) []any {
		return append(args, base+int64(i), hashes[i][:])
	})
	if err != nil {
		return fmt.Errorf("sqlite: stored hashes of leaves %d to %d: %w", first, first+int64(len(rows))-1, err)
	}
	err = insertChunked(t, `INSERT OR IGNORE INTO audit_subjects (subject, type, idx) VALUES `, "(?, ?, ?)", nsubj, func(args []any, i int) []any {
		return append(args, subj[3*i:3*i+3]...)
	})
	if err != nil {
		return fmt.Errorf("sqlite: index the subjects of leaves %d to %d: %w", first, first+int64(len(rows))-1, err)
	}
	if err := t.storeTiles(first, first+int64(len(rows))); err != nil {
		return fmt.Errorf("sqlite: audit tiles of leaves %d to %d: %w", first, first+int64(len(rows))-1, err)
	}
	return nil
}

// chunkRows are the row counts of the multi-row inserts: count rows go as
// the fewest statements of these sizes, so that only a few statement texts
// (each prepared once and cached) exist per table.
var chunkRows = []int{256, 64, 16, 4, 1}

// insertChunked inserts count rows of head+row..., the arguments of row i
// appended by arg.
func insertChunked(t *Tx, head, row string, count int, arg func(args []any, i int) []any) error {
	var args []any
	for done := 0; done < count; {
		k := 0
		for _, c := range chunkRows {
			if count-done >= c {
				k = c
				break
			}
		}
		args = args[:0]
		for i := done; i < done+k; i++ {
			args = arg(args, i)
		}
		if _, err := t.exec(insertRows(head, row, k), args...); err != nil {
			return err
		}
		done += k
	}
	return nil
}

// insertRows returns head followed by count copies of row, comma-separated.
// The text depends only on count, so each count's prepared statement is
// cached and reused.
func insertRows(head, row string, count int) string {
	var b strings.Builder
	b.Grow(len(head) + count*(len(row)+2))
	b.WriteString(head)
	for i := range count {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(row)
	}
	return b.String()
}
