package audit

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

func TestVerifyLogGood(t *testing.T) {
	s, v := testKeys(t, testLogSeed)
	m := buildLog(t, s, 100, 1, 7, 7, 64, 100)
	trusted := m.checkpoints[2]
	rep, err := VerifyLog(m, VerifyOptions{Verifier: v, Trusted: trusted})
	if err != nil {
		t.Fatalf("VerifyLog: %v", err)
	}
	if rep.Size != 100 || rep.Checkpoints != 4 || rep.RootHash != mustTreeHash(t, 100, m) {
		t.Errorf("report: got size %d, %d checkpoints, root %s", rep.Size, rep.Checkpoints, rep.RootHash)
	}
	want := map[string]int64{"request.created": 25, "approval.recorded": 25, "grant.issued": 25, "credentials.fetched": 25}
	for k, n := range want {
		if rep.Entries[k] != n {
			t.Errorf("entries of type %s: got %d, want %d", k, rep.Entries[k], n)
		}
	}
}

func TestVerifyLogEmpty(t *testing.T) {
	s, v := testKeys(t, testLogSeed)
	m := &memLog{}
	m.checkpoint(t, s)
	rep, err := VerifyLog(m, VerifyOptions{Verifier: v})
	if err != nil || rep.Size != 0 || rep.RootHash != tlog.RecordHash(nil) && rep.RootHash != mustTreeHash(t, 0, m) {
		t.Errorf("empty log: got %+v, %v", rep, err)
	}
	if _, err := VerifyLog(m, VerifyOptions{}); err == nil {
		t.Error("VerifyLog without a log key: got nil error")
	}
}

// tamper is one way to damage a log, and what VerifyLog must say about it.
type tamper struct {
	name    string
	do      func(t *testing.T, m *memLog, opts *VerifyOptions)
	check   func(t *testing.T, err error)
	message string // a phrase only this kind of damage produces
}

func TestVerifyLogTampering(t *testing.T) {
	s, v := testKeys(t, testLogSeed)
	other, _ := testKeys(t, testOtherSeed)
	tests := []tamper{
		{"rewritten old entry", func(t *testing.T, m *memLog, _ *VerifyOptions) {
			m.entries[3] = mustMarshal(t, testEntry(1003))
		}, wantHashFault(3, 0, FaultEntryRewritten), "was rewritten"},
		{"corrupted stored leaf hash", func(t *testing.T, m *memLog, _ *VerifyOptions) {
			m.hashes[tlog.StoredHashIndex(0, 3)][0] ^= 1
		}, wantHashFault(3, 0, FaultStoredHash), "stored leaf hash of entry 3 is corrupted"},
		{"corrupted stored node hash", func(t *testing.T, m *memLog, _ *VerifyOptions) {
			m.hashes[tlog.StoredHashIndex(2, 1)][7] ^= 1
		}, wantHashFault(4, 2, FaultStoredHash), "stored node hash (level 2, 1)"},
		{"entry and its hash both changed", func(t *testing.T, m *memLog, _ *VerifyOptions) {
			m.entries[3] = mustMarshal(t, testEntry(1003))
			m.hashes[tlog.StoredHashIndex(0, 3)] = tlog.Hash{1}
		}, wantHashFault(3, 0, FaultBoth), "both changed"},
		{"rewritten entry after the last checkpoint", func(t *testing.T, m *memLog, _ *VerifyOptions) {
			m.appendLeaf(t, mustMarshal(t, testEntry(30)))
			m.entries[30] = mustMarshal(t, testEntry(1030))
		}, wantHashFault(30, 0, FaultUnknown), "no signed checkpoint covers it"},
		{"deleted entry", func(t *testing.T, m *memLog, _ *VerifyOptions) {
			m.entries = append(m.entries[:5], m.entries[6:]...)
		}, func(t *testing.T, err error) {
			var e *DeletedEntryError
			if !errors.As(err, &e) || e.Index != 5 || e.Count != 1 {
				t.Errorf("got %v, want DeletedEntryError{5, 1}", err)
			}
		}, "entries were deleted"},
		{"deleted row", func(t *testing.T, m *memLog, _ *VerifyOptions) {
			m.holes = map[int64]bool{8: true}
		}, func(t *testing.T, err error) {
			var e *DeletedEntryError
			if !errors.As(err, &e) || e.Index != 8 || e.Count != 0 {
				t.Errorf("got %v, want DeletedEntryError{8, 0}", err)
			}
		}, "no entry is stored"},
		{"reordered entries", func(t *testing.T, m *memLog, _ *VerifyOptions) {
			m.entries[4], m.entries[9] = m.entries[9], m.entries[4]
		}, func(t *testing.T, err error) {
			var e *ReorderedEntryError
			if !errors.As(err, &e) || e.Index != 4 || e.From != 9 {
				t.Errorf("got %v, want ReorderedEntryError{4, 9}", err)
			}
		}, "reordered"},
		{"entries and stored hashes rewritten together", func(t *testing.T, m *memLog, _ *VerifyOptions) {
			m.entries[12] = mustMarshal(t, testEntry(1012))
			m.rehash(t)
		}, func(t *testing.T, err error) {
			var e *RootMismatchError
			if !errors.As(err, &e) || e.Size != 20 || e.Checkpoint == nil {
				t.Errorf("got %v, want RootMismatchError at 20", err)
			}
		}, "recomputed from the entries"},
		{"forged checkpoint signature", func(t *testing.T, m *memLog, _ *VerifyOptions) {
			cp := m.checkpoints[1]
			i := bytes.LastIndexByte(cp, ' ') + 10
			cp[i] ^= 1
		}, wantSignatureError(1, ""), "not validly signed"},
		{"checkpoint signed by another key", func(t *testing.T, m *memLog, _ *VerifyOptions) {
			c, _, _ := Open(m.checkpoints[2], v)
			c.Hash[0] ^= 1
			m.checkpoints[2], _ = Sign(c, other)
		}, wantSignatureError(2, ""), "not validly signed"},
		{"truncated below a trusted checkpoint", func(t *testing.T, m *memLog, opts *VerifyOptions) {
			opts.Trusted = m.checkpoints[2]
			m.entries = m.entries[:25]
			m.hashes = m.hashes[:tlog.StoredHashCount(25)]
			m.checkpoints = m.checkpoints[:1]
		}, wantTruncated(25, 30), "log truncated"},
		{"truncated below a recorded checkpoint", func(t *testing.T, m *memLog, _ *VerifyOptions) {
			m.entries = m.entries[:29]
		}, wantTruncated(29, 30), "log truncated"},
		{"fork: two checkpoints of one size", func(t *testing.T, m *memLog, _ *VerifyOptions) {
			f := buildLog(t, s, 0)
			f.grow(t, s, 500, 20, 20)
			m.checkpoints = [][]byte{m.checkpoints[0], m.checkpoints[1], f.checkpoints[0], m.checkpoints[2]}
		}, wantFork(20, true), "two signed checkpoints"},
		{"fork: trusted checkpoint from another history", func(t *testing.T, m *memLog, opts *VerifyOptions) {
			f := buildLog(t, s, 0)
			f.grow(t, s, 500, 17, 17)
			opts.Trusted = f.checkpoints[0]
		}, wantFork(17, false), "trusted checkpoint's root differs"},
		{"rollback", func(t *testing.T, m *memLog, _ *VerifyOptions) {
			m.checkpoints = append(m.checkpoints, m.checkpoints[0])
		}, func(t *testing.T, err error) {
			var e *RollbackError
			if !errors.As(err, &e) || e.Index != 3 || e.Size != 10 || e.PrevSize != 30 {
				t.Errorf("got %v, want RollbackError{3, 10 after 30}", err)
			}
		}, "rollback"},
		{"entry that does not parse", func(t *testing.T, m *memLog, _ *VerifyOptions) {
			m.appendLeaf(t, []byte("not an entry"))
		}, func(t *testing.T, err error) {
			var e *MalformedEntryError
			if !errors.As(err, &e) || e.Index != 30 || !errors.Is(err, ErrMalformedEntry) {
				t.Errorf("got %v, want MalformedEntryError{30}", err)
			}
		}, "does not parse"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := buildLog(t, s, 30, 10, 20, 30)
			opts := VerifyOptions{Verifier: v}
			if _, err := VerifyLog(m, opts); err != nil {
				t.Fatalf("before tampering: %v", err)
			}
			tt.do(t, m, &opts)
			rep, err := VerifyLog(m, opts)
			if err == nil {
				t.Fatalf("tampering not detected: %+v", rep)
			}
			t.Log(err)
			tt.check(t, err)
			if !strings.Contains(err.Error(), tt.message) {
				t.Errorf("message %q does not say %q", err, tt.message)
			}
		})
	}
}

func wantHashFault(index int64, level int, fault HashFault) func(*testing.T, error) {
	return func(t *testing.T, err error) {
		t.Helper()
		var e *EntryHashError
		if !errors.As(err, &e) || e.Index != index || e.Level != level || e.Fault != fault || e.Stored == e.Computed {
			t.Errorf("got %#v (%v), want EntryHashError{Index %d, Level %d, Fault %d}", e, err, index, level, fault)
		}
	}
}

func wantSignatureError(index int, witness string) func(*testing.T, error) {
	return func(t *testing.T, err error) {
		t.Helper()
		var e *SignatureError
		if !errors.As(err, &e) || e.Index != index || e.Witness != witness {
			t.Errorf("got %v, want SignatureError{%d, %q}", err, index, witness)
		}
	}
}

func wantTruncated(size, want int64) func(*testing.T, error) {
	return func(t *testing.T, err error) {
		t.Helper()
		var e *TruncatedError
		if !errors.As(err, &e) || e.Size != size || e.Want != want || e.Trusted == nil {
			t.Errorf("got %v, want TruncatedError{%d < %d}", err, size, want)
		}
	}
}

func wantFork(size int64, both bool) func(*testing.T, error) {
	return func(t *testing.T, err error) {
		t.Helper()
		var e *ForkError
		if !errors.As(err, &e) || e.Size != size || e.A == nil || (e.B != nil) != both {
			t.Errorf("got %v, want ForkError at %d (both checkpoints: %v)", err, size, both)
		}
	}
}

func TestVerifyLogWitnesses(t *testing.T) {
	s, v := testKeys(t, testLogSeed)
	m := buildLog(t, s, 12, 4, 12)
	cs := testCosigner(t, time.Unix(1764104400, 0))
	cv, _ := NewCosignatureVerifier(cs.VerifierKey())
	_, n, _ := Open(m.checkpoints[1], v)
	cosigned, err := note.Sign(n, cs)
	if err != nil {
		t.Fatal(err)
	}
	m.checkpoints[1] = cosigned
	rep, err := VerifyLog(m, VerifyOptions{Verifier: v, Witnesses: note.VerifierList(cv)})
	if err != nil || rep.Cosigned != 1 || rep.Checkpoints != 2 {
		t.Fatalf("got %+v, %v; want 1 of 2 checkpoints cosigned", rep, err)
	}
	// A broken cosignature from a known witness is reported as such.
	i := bytes.LastIndex(cosigned, []byte(cs.Name())) + len(cs.Name()) + 20
	cosigned[i] ^= 1
	_, err = VerifyLog(m, VerifyOptions{Verifier: v, Witnesses: note.VerifierList(cv)})
	wantSignatureError(1, cs.Name())(t, err)
	if err == nil || !strings.Contains(err.Error(), "invalid cosignature from witness") {
		t.Errorf("message %q", err)
	}
}
