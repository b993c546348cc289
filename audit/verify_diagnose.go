package audit

import (
	"bytes"

	"github.com/transparency-dev/merkle/proof"
)

// diagnoseWindow is how far ahead diagnose looks for a moved entry.
const diagnoseWindow = 64

// diagnose turns the first stored-hash mismatch into the most specific
// error the evidence supports: a moved (deleted or reordered) entry, a
// rewritten entry, or a corrupted stored hash. Signed checkpoints decide
// between the last two: whichever of the entry bytes and the stored leaf
// hash still leads to the signed root is the original.
func (w *walker) diagnose(bad *EntryHashError, targets []target) error {
	if bad.Level > 0 {
		// Every leaf and lower node under it matched: only the stored node
		// itself can be wrong.
		bad.Fault = FaultStoredHash
		return bad
	}
	i := bad.Index
	if j, ok := w.findStoredLeaf(bad.Computed[:], i); ok {
		if w.entryAhead(bad.Stored[:], i) {
			return &ReorderedEntryError{Index: i, From: j}
		}
		return &DeletedEntryError{Index: i, Count: j - i}
	}
	for _, t := range targets {
		if t.Size <= i {
			continue
		}
		stored, entries, ok := w.rootsWith(i, t.Size, bad.Stored[:], bad.Computed[:])
		if !ok {
			break
		}
		bad.Size = t.Size
		switch {
		case bytes.Equal(entries, t.Hash[:]):
			bad.Fault = FaultStoredHash
		case bytes.Equal(stored, t.Hash[:]):
			bad.Fault = FaultEntryRewritten
		default:
			bad.Fault = FaultBoth
		}
		return bad
	}
	return bad
}

// findStoredLeaf looks for leaf hash h among the stored leaf hashes after i.
func (w *walker) findStoredLeaf(h []byte, i int64) (int64, bool) {
	for j := i + 1; j <= i+diagnoseWindow; j++ {
		s, err := w.src.StoredHash(storedHashIndex(0, j))
		if err != nil {
			return 0, false
		}
		if bytes.Equal(s[:], h) {
			return j, true
		}
	}
	return 0, false
}

// entryAhead reports whether an entry after i hashes to leaf hash h.
func (w *walker) entryAhead(h []byte, i int64) bool {
	for k := i + 1; k < w.size && k <= i+diagnoseWindow; k++ {
		b, err := w.src.Entry(k)
		if err != nil {
			return false
		}
		if bytes.Equal(w.hasher.HashLeaf(b), h) {
			return true
		}
	}
	return false
}

// rootsWith returns the roots at size obtained from the stored inclusion
// path of leaf i with leaf hash a and with leaf hash b.
func (w *walker) rootsWith(i, size int64, a, b []byte) ([]byte, []byte, bool) {
	nodes, err := proof.Inclusion(uint64(i), uint64(size))
	if err != nil {
		return nil, nil, false
	}
	hashes := make([][]byte, len(nodes.IDs))
	for k, id := range nodes.IDs {
		s, err := w.src.StoredHash(storedHashIndex(int(id.Level), int64(id.Index)))
		if err != nil {
			return nil, nil, false
		}
		hashes[k] = s[:]
	}
	path, err := nodes.Rehash(hashes, w.hasher.HashChildren)
	if err != nil {
		return nil, nil, false
	}
	ra, err1 := proof.RootFromInclusionProof(w.hasher, uint64(i), uint64(size), a, path)
	rb, err2 := proof.RootFromInclusionProof(w.hasher, uint64(i), uint64(size), b, path)
	if err1 != nil || err2 != nil {
		return nil, nil, false
	}
	return ra, rb, true
}
