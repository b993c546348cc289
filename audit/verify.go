package audit

import (
	"errors"
	"fmt"
	"sort"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// The verifier recomputes everything with github.com/transparency-dev/merkle
// (RFC 6962 hasher, compact ranges), never with tlog, so a bug in the
// writer's hashing cannot hide in the check of its output. It shares only
// the storage layout (storedHashIndex) and the tlog.Hash type with the writer.

// Source is a read-only view of a stored log.
type Source interface {
	// Size returns the number of entries in the log.
	Size() (int64, error)
	// Entry returns the canonical bytes of entry i, 0 <= i < Size. It MUST
	// return an error wrapping ErrMissing if no entry is stored at i. The
	// bytes MUST NOT change after Entry returns: VerifyLog parses them on
	// other goroutines while it goes on reading.
	Entry(i int64) ([]byte, error)
	// StoredHash returns the hash at storage index i (tlog.StoredHashIndex
	// layout). It MUST return an error wrapping ErrMissing if there is none.
	StoredHash(i int64) (tlog.Hash, error)
	// Checkpoints returns every signed checkpoint the broker recorded,
	// oldest first.
	Checkpoints() ([][]byte, error)
}

// VerifyOptions configures VerifyLog.
type VerifyOptions struct {
	Verifier  note.Verifier  // the log key; required
	Trusted   []byte         // a signed checkpoint trusted from earlier; optional
	Witnesses note.Verifiers // witness cosignature keys; optional
}

// Report describes a log that verified.
type Report struct {
	Size        int64            // entries
	Checkpoints int              // recorded checkpoints checked
	Cosigned    int              // of those, with at least one valid witness cosignature
	RootHash    tlog.Hash        // root recomputed from all entries
	Entries     map[string]int64 // entry count by type
}

// target is a signed root the recomputed tree must match at Size.
type target struct {
	Checkpoint
	signed  []byte
	trusted bool
}

// VerifyLog recomputes every leaf and interior hash from the entries,
// compares each with the stored hash, checks the recomputed root at every
// recorded (and the trusted) checkpoint's size, every checkpoint signature
// and cosignature, and parses every entry. Memory stays O(log size). On
// tampering it returns one of the typed errors in verify_errors.go.
func VerifyLog(src Source, opts VerifyOptions) (*Report, error) {
	if opts.Verifier == nil {
		return nil, errors.New("verify log: no log key")
	}
	size, err := src.Size()
	if err != nil {
		return nil, fmt.Errorf("verify log: size: %w", err)
	}
	rep := &Report{Size: size, Entries: map[string]int64{}}
	targets, err := checkpointTargets(src, opts, rep)
	if err != nil {
		return nil, err
	}
	w := &walker{src: src, size: size, hasher: rfc6962.DefaultHasher, fast: newVerifyHasher()}
	w.rng = (&compact.RangeFactory{Hash: w.fast.children}).NewEmptyRange(0)
	root, err := w.walk(targets, rep)
	if err != nil {
		return nil, err
	}
	copy(rep.RootHash[:], root)
	for _, t := range targets {
		if t.Size > size {
			return nil, &TruncatedError{Size: size, Trusted: t.signed, Want: t.Size}
		}
	}
	return rep, nil
}

// checkpointTargets opens every recorded checkpoint and the trusted one,
// checks they are signed, never shrink, and never disagree at one size, and
// returns them sorted by size.
func checkpointTargets(src Source, opts VerifyOptions, rep *Report) ([]target, error) {
	cps, err := src.Checkpoints()
	if err != nil {
		return nil, fmt.Errorf("verify log: checkpoints: %w", err)
	}
	var targets []target
	bySize := map[int64]target{}
	for i, signed := range cps {
		c, _, err := Open(signed, opts.Verifier)
		if err != nil {
			return nil, &SignatureError{Index: i, Err: err}
		}
		if cosigned, err := checkCosignatures(i, signed, opts.Witnesses); err != nil {
			return nil, err
		} else if cosigned {
			rep.Cosigned++
		}
		if i > 0 && c.Size < targets[i-1].Size {
			return nil, &RollbackError{Index: i, Size: c.Size, PrevSize: targets[i-1].Size, Prev: cps[i-1], Next: signed}
		}
		if o, ok := bySize[c.Size]; ok && o.Hash != c.Hash {
			return nil, &ForkError{Size: c.Size, A: o.signed, B: signed}
		}
		t := target{Checkpoint: c, signed: signed}
		bySize[c.Size] = t
		targets = append(targets, t)
	}
	rep.Checkpoints = len(cps)
	if opts.Trusted != nil {
		c, _, err := Open(opts.Trusted, opts.Verifier)
		if err != nil {
			return nil, fmt.Errorf("verify log: trusted checkpoint: %w", err)
		}
		if o, ok := bySize[c.Size]; ok && o.Hash != c.Hash {
			return nil, &ForkError{Size: c.Size, A: opts.Trusted, B: o.signed}
		}
		targets = append(targets, target{Checkpoint: c, signed: opts.Trusted, trusted: true})
	}
	sort.SliceStable(targets, func(i, j int) bool { return targets[i].Size < targets[j].Size })
	return targets, nil
}

// checkCosignatures reports whether a known witness cosigned signed; an
// invalid cosignature from a known witness is an error.
func checkCosignatures(i int, signed []byte, witnesses note.Verifiers) (bool, error) {
	if witnesses == nil {
		return false, nil
	}
	n, err := note.Open(signed, witnesses)
	var unverified *note.UnverifiedNoteError
	var invalid *note.InvalidSignatureError
	switch {
	case err == nil:
		return len(n.Sigs) > 0, nil
	case errors.As(err, &unverified):
		return false, nil
	case errors.As(err, &invalid):
		return false, &SignatureError{Index: i, Witness: invalid.Name, Err: err}
	}
	return false, &SignatureError{Index: i, Witness: "?", Err: err}
}

// walker streams the entries into a compact range.
type walker struct {
	src    Source
	size   int64
	hasher *rfc6962.Hasher // for diagnose
	fast   *verifyHasher   // the same hashes, for the walk
	rng    *compact.Range
	bad    *EntryHashError // first stored-hash mismatch seen by visit
	err    error           // first storage error seen by visit
}

// walk appends every entry, checks each node against storage, and checks
// the root at each target size. It returns the root at w.size.
func (w *walker) walk(targets []target, rep *Report) ([]byte, error) {
	next := 0
	if err := w.checkTargets(targets, &next, 0); err != nil {
		return nil, err
	}
	for lo := int64(0); lo < w.size; {
		entries, fetchErr := w.fetch(lo)
		pending := parseAsync(lo, entries)
		at, ownHash, err := w.hashChunk(lo, entries, targets, &next)
		parse := pending.wait()
		if parse.bad != nil && (parse.bad.Index < at || parse.bad.Index == at && !ownHash) {
			return nil, parse.bad
		}
		if err != nil {
			return nil, err
		}
		for _, t := range parse.types {
			rep.Entries[t]++
		}
		if fetchErr != nil {
			return nil, fetchErr
		}
		lo += int64(len(entries))
	}
	return w.root()
}

// fetch reads up to parseChunk entries from lo, stopping before the first
// one that cannot be read and returning its error then.
func (w *walker) fetch(lo int64) ([][]byte, error) {
	entries := make([][]byte, 0, min(parseChunk, w.size-lo))
	for i := lo; i < w.size && i < lo+parseChunk; i++ {
		b, err := w.src.Entry(i)
		if errors.Is(err, ErrMissing) {
			return entries, &DeletedEntryError{Index: i}
		} else if err != nil {
			return entries, fmt.Errorf("verify log: entry %d: %w", i, err)
		}
		entries = append(entries, b)
	}
	return entries, nil
}

// hashChunk appends entries lo, lo+1, ... to the tree, checking each
// node against storage and the root at every target size. On failure it
// returns the index of the entry whose check failed, whether it was the
// entry's own hash or storage (checked before its parse) rather than a
// checkpoint at its size (checked after), and the error.
func (w *walker) hashChunk(lo int64, entries [][]byte, targets []target, next *int) (int64, bool, error) {
	for k, b := range entries {
		i := lo + int64(k)
		if err := w.rng.Append(w.fast.leaf(b), w.visit); err != nil {
			return i, true, fmt.Errorf("verify log: entry %d: %w", i, err)
		}
		if w.err != nil {
			return i, true, w.err
		}
		if w.bad != nil {
			return i, true, w.diagnose(w.bad, targets)
		}
		if err := w.checkTargets(targets, next, i+1); err != nil {
			return i, false, err
		}
	}
	return lo + int64(len(entries)), false, nil
}

// visit compares a node completed by Append with its stored hash.
func (w *walker) visit(id compact.NodeID, hash []byte) {
	if w.bad != nil || w.err != nil {
		return
	}
	stored, err := w.src.StoredHash(storedHashIndex(int(id.Level), int64(id.Index)))
	if err != nil {
		w.err = fmt.Errorf("verify log: stored hash (level %d, %d): %w", id.Level, id.Index, err)
		return
	}
	if string(stored[:]) != string(hash) {
		e := &EntryHashError{Index: int64(id.Index << id.Level), Level: int(id.Level), N: int64(id.Index), Stored: stored}
		copy(e.Computed[:], hash)
		w.bad = e
	}
}

func (w *walker) root() ([]byte, error) {
	if w.rng.End() == 0 {
		return w.hasher.EmptyRoot(), nil
	}
	return w.rng.GetRootHash(nil)
}

// checkTargets checks every target of exactly size n.
func (w *walker) checkTargets(targets []target, next *int, n int64) error {
	for ; *next < len(targets) && targets[*next].Size == n; *next++ {
		t := targets[*next]
		r, err := w.root()
		if err != nil {
			return fmt.Errorf("verify log: root at %d: %w", n, err)
		}
		var got tlog.Hash
		copy(got[:], r)
		if got == t.Hash {
			continue
		}
		if t.trusted {
			return &ForkError{Size: n, A: t.signed, B: recordedAt(targets, n), Computed: got}
		}
		return &RootMismatchError{Size: n, Checkpoint: t.signed, Computed: got}
	}
	return nil
}

// recordedAt returns a recorded (not trusted) checkpoint of size n, or nil.
func recordedAt(targets []target, n int64) []byte {
	for _, t := range targets {
		if t.Size == n && !t.trusted {
			return t.signed
		}
	}
	return nil
}

// storedHashIndex maps tree coordinates to the dense storage order of
// tlog.StoredHashIndex (Crosby and Wallach, section 3.3): level L's n'th
// hash follows level L+1's 2n+1'th; level 0's n'th is at n+n/2+n/4+...
func storedHashIndex(level int, n int64) int64 {
	for l := level; l > 0; l-- {
		n = 2*n + 1
	}
	i := int64(0)
	for ; n > 0; n >>= 1 {
		i += n
	}
	return i + int64(level)
}
