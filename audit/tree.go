package audit

import (
	"errors"
	"fmt"

	"golang.org/x/mod/sumdb/tlog"
)

// The writer side of the log uses golang.org/x/mod/sumdb/tlog: an RFC 6962
// Merkle tree whose hashes are stored at tlog.StoredHashIndex(level, n).
// Leaf hash: SHA-256(0x00 || entry); node hash: SHA-256(0x01 || left || right).

// ErrProof is wrapped by every proof construction or check failure.
var ErrProof = errors.New("audit proof")

// StoredHashes returns the hashes to store when appending leaf n (the
// canonical entry bytes), to be written starting at tlog.StoredHashIndex(0, n).
// r MUST return the hashes stored for leaves 0..n-1.
func StoredHashes(n int64, leaf []byte, r tlog.HashReader) ([]tlog.Hash, error) {
	if n < 0 {
		return nil, fmt.Errorf("%w: negative leaf index %d", ErrProof, n)
	}
	h, err := tlog.StoredHashes(n, leaf, r)
	if err != nil {
		return nil, fmt.Errorf("stored hashes for leaf %d: %w", n, err)
	}
	return h, nil
}

// TreeHash returns the root hash of the tree of the first size leaves.
func TreeHash(size int64, r tlog.HashReader) (tlog.Hash, error) {
	if size < 0 {
		return tlog.Hash{}, fmt.Errorf("%w: negative tree size %d", ErrProof, size)
	}
	h, err := tlog.TreeHash(size, r)
	if err != nil {
		return tlog.Hash{}, fmt.Errorf("tree hash at size %d: %w", size, err)
	}
	return h, nil
}

// ProveInclusion returns the RFC 6962 inclusion proof (leaf's sibling first,
// root's child last) of leaf index in the tree of the given size.
func ProveInclusion(index, size int64, r tlog.HashReader) (tlog.RecordProof, error) {
	if index < 0 || index >= size {
		return nil, fmt.Errorf("%w: leaf %d is not in a tree of size %d", ErrProof, index, size)
	}
	p, err := tlog.ProveRecord(size, index, r)
	if err != nil {
		return nil, fmt.Errorf("%w: inclusion of %d in %d: %w", ErrProof, index, size, err)
	}
	return p, nil
}

// ProveConsistency returns the RFC 6962 consistency proof from the tree of
// oldSize leaves to the tree of newSize leaves. oldSize 0 gives an empty proof.
func ProveConsistency(oldSize, newSize int64, r tlog.HashReader) (tlog.TreeProof, error) {
	if oldSize < 0 || oldSize > newSize {
		return nil, fmt.Errorf("%w: no consistency proof from size %d to %d", ErrProof, oldSize, newSize)
	}
	if oldSize == 0 || oldSize == newSize {
		return tlog.TreeProof{}, nil
	}
	p, err := tlog.ProveTree(newSize, oldSize, r)
	if err != nil {
		return nil, fmt.Errorf("%w: consistency %d to %d: %w", ErrProof, oldSize, newSize, err)
	}
	return p, nil
}

// CheckInclusion checks that leaf (the entry bytes) is leaf index of the tree
// of the given size and root. It returns nil only on success.
func CheckInclusion(p tlog.RecordProof, size int64, root tlog.Hash, index int64, leaf []byte) error {
	if index < 0 || index >= size {
		return fmt.Errorf("%w: leaf %d is not in a tree of size %d", ErrProof, index, size)
	}
	if err := tlog.CheckRecord(p, size, root, index, tlog.RecordHash(leaf)); err != nil {
		return fmt.Errorf("%w: leaf %d not included in tree %d %s: %w", ErrProof, index, size, root, err)
	}
	return nil
}

// CheckConsistency checks that the tree (oldSize, oldRoot) is a prefix of the
// tree (newSize, newRoot). Equal sizes need equal roots and an empty proof;
// oldSize 0 needs an empty proof.
func CheckConsistency(p tlog.TreeProof, newSize int64, newRoot tlog.Hash, oldSize int64, oldRoot tlog.Hash) error {
	switch {
	case oldSize < 0 || oldSize > newSize:
		return fmt.Errorf("%w: size %d cannot grow into size %d", ErrProof, oldSize, newSize)
	case oldSize == 0 || oldSize == newSize:
		if len(p) != 0 {
			return fmt.Errorf("%w: consistency %d to %d needs an empty proof, got %d hashes", ErrProof, oldSize, newSize, len(p))
		}
		if oldSize == newSize && oldRoot != newRoot {
			return fmt.Errorf("%w: two roots at size %d: %s and %s", ErrProof, oldSize, oldRoot, newRoot)
		}
		return nil
	}
	if err := tlog.CheckTree(p, newSize, newRoot, oldSize, oldRoot); err != nil {
		return fmt.Errorf("%w: tree %d %s is not a prefix of tree %d %s: %w", ErrProof, oldSize, oldRoot, newSize, newRoot, err)
	}
	return nil
}
