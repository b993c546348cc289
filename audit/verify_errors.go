package audit

import (
	"errors"
	"fmt"

	"golang.org/x/mod/sumdb/tlog"
)

// The errors VerifyLog returns when the log is not what its checkpoints
// say. Each carries the evidence an auditor needs to show the problem to
// someone else: indexes, both hashes, or both signed checkpoints.

// ErrMissing is what a Source wraps when an index below Size has no entry
// or no stored hash.
var ErrMissing = errors.New("missing from audit storage")

// HashFault says which side of a leaf/stored-hash mismatch is wrong.
type HashFault int

const (
	// FaultUnknown: no signed checkpoint covers the index, so nothing tells
	// whether the entry or its stored hash changed.
	FaultUnknown HashFault = iota
	// FaultEntryRewritten: the stored hashes still give the signed root, the
	// entry bytes do not: the entry was rewritten after it was appended.
	FaultEntryRewritten
	// FaultStoredHash: the entry bytes give the signed root, the stored hash
	// does not: the stored hash is corrupted (proofs served from it are bad).
	FaultStoredHash
	// FaultBoth: neither the entry nor the stored hashes give the signed
	// root: both were changed.
	FaultBoth
)

// EntryHashError: the hash recomputed from the entries differs from the
// stored hash of node (Level, N); Level 0 is the leaf hash of entry N.
type EntryHashError struct {
	Index    int64 // entry index (first leaf under the node)
	Level    int   // 0 for a leaf hash
	N        int64 // node index at Level
	Stored   tlog.Hash
	Computed tlog.Hash
	Fault    HashFault
	Size     int64 // size of the signed checkpoint used to decide Fault, 0 if none
}

func (e *EntryHashError) Error() string {
	node := fmt.Sprintf("leaf hash of entry %d", e.Index)
	if e.Level > 0 {
		node = fmt.Sprintf("stored node hash (level %d, %d) above entry %d", e.Level, e.N, e.Index)
	}
	if e.Level > 0 {
		return fmt.Sprintf("audit: %s is corrupted: stored %s, recomputed %s, while every leaf hash below it matches the entries",
			node, e.Stored, e.Computed)
	}
	switch e.Fault {
	case FaultEntryRewritten:
		return fmt.Sprintf("audit: entry %d was rewritten: it hashes to %s, the stored leaf hash is %s, and the stored hashes still match the checkpoint signed at size %d",
			e.Index, e.Computed, e.Stored, e.Size)
	case FaultStoredHash:
		return fmt.Sprintf("audit: stored leaf hash of entry %d is corrupted: stored %s, the entry hashes to %s and still matches the checkpoint signed at size %d",
			e.Index, e.Stored, e.Computed, e.Size)
	case FaultBoth:
		return fmt.Sprintf("audit: entry %d and its stored hashes were both changed: entry hashes to %s, stored %s, neither matches the checkpoint signed at size %d",
			e.Index, e.Computed, e.Stored, e.Size)
	}
	return fmt.Sprintf("audit: %s mismatch: stored %s, recomputed %s; no signed checkpoint covers it, so the entry or its stored hash changed",
		node, e.Stored, e.Computed)
}

// DeletedEntryError: Count entries at Index were removed: the entry now at
// Index is the one whose leaf hash is stored at Index+Count (or Index has no
// entry at all, Count 0 meaning unknown).
type DeletedEntryError struct {
	Index int64
	Count int64
}

func (e *DeletedEntryError) Error() string {
	if e.Count == 0 {
		return fmt.Sprintf("audit: entry %d was deleted: no entry is stored at that index", e.Index)
	}
	return fmt.Sprintf("audit: entries were deleted at index %d (%d missing): the entry at %d is the one stored at %d",
		e.Index, e.Count, e.Index, e.Index+e.Count)
}

// ReorderedEntryError: the entry at Index is the one appended at From.
type ReorderedEntryError struct {
	Index int64
	From  int64
}

func (e *ReorderedEntryError) Error() string {
	return fmt.Sprintf("audit: entries were reordered: the entry at index %d was appended at index %d", e.Index, e.From)
}

// MalformedEntryError: the entry at Index hashes correctly but does not parse.
type MalformedEntryError struct {
	Index int64
	Err   error
}

func (e *MalformedEntryError) Error() string {
	return fmt.Sprintf("audit: entry %d does not parse: %v", e.Index, e.Err)
}

func (e *MalformedEntryError) Unwrap() error { return e.Err }

// RootMismatchError: the root recomputed from the entries at Size differs
// from the root in the signed Checkpoint: entries and stored hashes were
// changed together, which only the signature catches.
type RootMismatchError struct {
	Size       int64
	Checkpoint []byte // the signed checkpoint
	Computed   tlog.Hash
}

func (e *RootMismatchError) Error() string {
	return fmt.Sprintf("audit: root at size %d recomputed from the entries is %s, not the signed checkpoint's (entries rewritten together with their stored hashes)",
		e.Size, e.Computed)
}

// SignatureError: recorded checkpoint Index does not verify against the
// log key, or carries an invalid cosignature from Witness. (A trusted
// checkpoint that does not verify is a configuration error, not evidence.)
type SignatureError struct {
	Index   int
	Witness string // empty for the log's own signature
	Err     error
}

func (e *SignatureError) Error() string {
	if e.Witness != "" {
		return fmt.Sprintf("audit: checkpoint %d has an invalid cosignature from witness %s: %v", e.Index, e.Witness, e.Err)
	}
	return fmt.Sprintf("audit: checkpoint %d is not validly signed by the log key (forged or corrupted): %v", e.Index, e.Err)
}

func (e *SignatureError) Unwrap() error { return e.Err }

// ForkError: two validly signed checkpoints of the same size with different
// roots. B is nil when A (a trusted checkpoint) disagrees with the root
// recomputed from the stored entries and no recorded checkpoint has A's size.
type ForkError struct {
	Size     int64
	A, B     []byte
	Computed tlog.Hash // root recomputed from the entries, zero if not reached
}

func (e *ForkError) Error() string {
	if e.B == nil {
		return fmt.Sprintf("audit: fork at size %d: the trusted checkpoint's root differs from the log's root %s", e.Size, e.Computed)
	}
	return fmt.Sprintf("audit: fork at size %d: two signed checkpoints with different roots", e.Size)
}

// TruncatedError: the log holds Size entries, fewer than a signed
// checkpoint (Trusted, or one the broker recorded) says it had.
type TruncatedError struct {
	Size    int64
	Trusted []byte
	Want    int64 // the checkpoint's size
}

func (e *TruncatedError) Error() string {
	return fmt.Sprintf("audit: log truncated: it has %d entries, a signed checkpoint says %d", e.Size, e.Want)
}

// RollbackError: recorded checkpoint Index is smaller than the one before
// it: the log went back in time.
type RollbackError struct {
	Index      int
	Size       int64
	PrevSize   int64
	Prev, Next []byte
}

func (e *RollbackError) Error() string {
	return fmt.Sprintf("audit: rollback: checkpoint %d has size %d, after checkpoint %d of size %d",
		e.Index, e.Size, e.Index-1, e.PrevSize)
}
