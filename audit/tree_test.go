package audit

import (
	"errors"
	"testing"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/tlog"
)

func TestStoredHashIndexMatchesTlog(t *testing.T) {
	for level := 0; level < 20; level++ {
		for n := int64(0); n < 3000; n += 1 + n/7 {
			if got, want := storedHashIndex(level, n), tlog.StoredHashIndex(level, n); got != want {
				t.Fatalf("storedHashIndex(%d, %d) = %d, tlog says %d", level, n, got, want)
			}
		}
	}
}

func hashes(h []tlog.Hash) [][]byte {
	out := make([][]byte, len(h))
	for i := range h {
		out[i] = h[i][:]
	}
	return out
}

// TestProofsAgainstMerkle checks every inclusion and consistency proof of
// small trees with both tlog (the writer's library) and
// transparency-dev/merkle (the verifier's), so the two agree on RFC 6962.
func TestProofsAgainstMerkle(t *testing.T) {
	s, _ := testKeys(t, testLogSeed)
	m := buildLog(t, s, 33)
	roots := make([]tlog.Hash, 34)
	for size := int64(1); size <= 33; size++ {
		roots[size] = mustTreeHash(t, size, m)
		for i := int64(0); i < size; i++ {
			p, err := ProveInclusion(i, size, m)
			if err != nil {
				t.Fatal(err)
			}
			if err := CheckInclusion(p, size, roots[size], i, m.entries[i]); err != nil {
				t.Fatalf("CheckInclusion(%d in %d): %v", i, size, err)
			}
			leaf := rfc6962.DefaultHasher.HashLeaf(m.entries[i])
			if err := proof.VerifyInclusion(rfc6962.DefaultHasher, uint64(i), uint64(size), leaf, hashes(p), roots[size][:]); err != nil {
				t.Fatalf("merkle rejects tlog inclusion proof %d in %d: %v", i, size, err)
			}
			if len(p) > 0 {
				p[len(p)-1][0] ^= 1
				if err := CheckInclusion(p, size, roots[size], i, m.entries[i]); !errors.Is(err, ErrProof) {
					t.Fatalf("CheckInclusion with a bad proof: got %v", err)
				}
			}
			if err := CheckInclusion(nil, size, roots[size], i, []byte("other")); !errors.Is(err, ErrProof) && size > 1 {
				t.Fatalf("CheckInclusion of another leaf: got %v", err)
			}
		}
		for old := int64(0); old <= size; old++ {
			p, err := ProveConsistency(old, size, m)
			if err != nil {
				t.Fatal(err)
			}
			if err := CheckConsistency(p, size, roots[size], old, roots[old]); err != nil {
				t.Fatalf("CheckConsistency(%d to %d): %v", old, size, err)
			}
			if old > 0 {
				if err := proof.VerifyConsistency(rfc6962.DefaultHasher, uint64(old), uint64(size), hashes(p), roots[old][:], roots[size][:]); err != nil {
					t.Fatalf("merkle rejects tlog consistency proof %d to %d: %v", old, size, err)
				}
			}
			if old > 0 && old < size {
				bad := roots[old]
				bad[0] ^= 1
				if err := CheckConsistency(p, size, roots[size], old, bad); !errors.Is(err, ErrProof) {
					t.Fatalf("CheckConsistency with a forked old root: got %v", err)
				}
			}
		}
	}
}

func mustTreeHash(t testing.TB, size int64, r tlog.HashReader) tlog.Hash {
	t.Helper()
	h, err := TreeHash(size, r)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestProofArgumentErrors(t *testing.T) {
	s, _ := testKeys(t, testLogSeed)
	m := buildLog(t, s, 8)
	root := mustTreeHash(t, 8, m)
	checks := []struct {
		name string
		err  error
	}{
		{"inclusion index = size", func() error { _, err := ProveInclusion(8, 8, m); return err }()},
		{"inclusion negative", func() error { _, err := ProveInclusion(-1, 8, m); return err }()},
		{"inclusion beyond storage", func() error { _, err := ProveInclusion(3, 9, m); return err }()},
		{"consistency shrinking", func() error { _, err := ProveConsistency(5, 4, m); return err }()},
		{"check index = size", CheckInclusion(nil, 8, root, 8, m.entries[0])},
		{"check shrinking", CheckConsistency(nil, 4, root, 5, root)},
		{"equal sizes, other root", CheckConsistency(nil, 8, root, 8, tlog.Hash{})},
		{"equal sizes, proof given", CheckConsistency(tlog.TreeProof{{}}, 8, root, 8, root)},
		{"stored hashes negative", func() error { _, err := StoredHashes(-1, nil, m); return err }()},
		{"tree hash negative", func() error { _, err := TreeHash(-1, m); return err }()},
	}
	for _, c := range checks {
		if c.err == nil {
			t.Errorf("%s: got nil error", c.name)
		}
	}
}
