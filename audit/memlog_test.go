package audit

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// Fixed keys, so signed outputs are reproducible and golden files stable.
const testOrigin = "audit.test.example/log"

var (
	testLogSeed     = bytes.Repeat([]byte{0x42}, ed25519.SeedSize)
	testOtherSeed   = bytes.Repeat([]byte{0x43}, ed25519.SeedSize)
	testWitnessSeed = bytes.Repeat([]byte{0x57}, ed25519.SeedSize)
	testEpoch       = time.Date(2026, 11, 25, 21, 0, 0, 123456789, time.UTC)
)

// testKeys returns the fixed log signer and verifier for seed.
func testKeys(t testing.TB, seed []byte) (note.Signer, note.Verifier) {
	t.Helper()
	skey, vkey, err := NewKeyFromSeed(testOrigin, seed)
	if err != nil {
		t.Fatal(err)
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	return s, v
}

// testEntry returns a valid entry that differs for every i.
func testEntry(i int64) Entry {
	types := []string{"request.created", "approval.recorded", "grant.issued", "credentials.fetched"}
	return Entry{
		Type:     types[i%int64(len(types))],
		Time:     testEpoch.Add(time.Duration(i) * time.Millisecond),
		Actor:    fmt.Sprintf("user-%d", i%7),
		Subjects: []string{fmt.Sprintf("req-%d", i/4)},
		Data:     json.RawMessage(fmt.Sprintf(`{"n":%d}`, i)),
	}
}

func mustMarshal(t testing.TB, e Entry) []byte {
	t.Helper()
	b, err := e.Marshal()
	if err != nil {
		t.Fatalf("marshal %+v: %v", e, err)
	}
	return b
}

// memLog is a slice-backed Source and tlog.HashReader: what the SQLite
// adapter does with tables, done with slices.
type memLog struct {
	entries     [][]byte
	hashes      []tlog.Hash
	checkpoints [][]byte
	holes       map[int64]bool // entries reported missing
}

func (m *memLog) ReadHashes(idx []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(idx))
	for i, x := range idx {
		if x < 0 || x >= int64(len(m.hashes)) {
			return nil, fmt.Errorf("stored hash %d: %w", x, ErrMissing)
		}
		out[i] = m.hashes[x]
	}
	return out, nil
}

func (m *memLog) Size() (int64, error) { return int64(len(m.entries)), nil }

func (m *memLog) Entry(i int64) ([]byte, error) {
	if i < 0 || i >= int64(len(m.entries)) || m.holes[i] {
		return nil, fmt.Errorf("entry %d: %w", i, ErrMissing)
	}
	return m.entries[i], nil
}

func (m *memLog) StoredHash(i int64) (tlog.Hash, error) {
	if i < 0 || i >= int64(len(m.hashes)) {
		return tlog.Hash{}, fmt.Errorf("stored hash %d: %w", i, ErrMissing)
	}
	return m.hashes[i], nil
}

func (m *memLog) Checkpoints() ([][]byte, error) { return m.checkpoints, nil }

// appendLeaf appends raw leaf bytes the way the broker does.
func (m *memLog) appendLeaf(t testing.TB, leaf []byte) {
	t.Helper()
	n := int64(len(m.entries))
	hs, err := StoredHashes(n, leaf, m)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := int64(len(m.hashes)), tlog.StoredHashIndex(0, n); got != want {
		t.Fatalf("hash storage has %d hashes before leaf %d, want %d", got, n, want)
	}
	m.hashes = append(m.hashes, hs...)
	m.entries = append(m.entries, leaf)
}

// checkpoint signs the current tree head and records it.
func (m *memLog) checkpoint(t testing.TB, s note.Signer) []byte {
	t.Helper()
	c := m.head(t)
	signed, err := Sign(c, s)
	if err != nil {
		t.Fatal(err)
	}
	m.checkpoints = append(m.checkpoints, signed)
	return signed
}

func (m *memLog) head(t testing.TB) Checkpoint {
	t.Helper()
	size := int64(len(m.entries))
	h, err := TreeHash(size, m)
	if err != nil {
		t.Fatal(err)
	}
	return Checkpoint{Origin: testOrigin, Size: size, Hash: h}
}

// buildLog appends n test entries (starting at entry number from) and
// records a checkpoint after each size in at.
func buildLog(t testing.TB, s note.Signer, n int64, at ...int64) *memLog {
	t.Helper()
	m := &memLog{}
	m.grow(t, s, 0, n, at...)
	return m
}

func (m *memLog) grow(t testing.TB, s note.Signer, salt, n int64, at ...int64) {
	t.Helper()
	want := map[int64]bool{}
	for _, a := range at {
		want[a] = true
	}
	for i := int64(len(m.entries)); i < n; i++ {
		m.appendLeaf(t, mustMarshal(t, testEntry(i+salt)))
		if want[i+1] {
			m.checkpoint(t, s)
		}
	}
}

// rehash recomputes all stored hashes from the entries, as an attacker with
// write access to both tables would.
func (m *memLog) rehash(t testing.TB) {
	t.Helper()
	entries := m.entries
	m.entries, m.hashes = nil, nil
	for _, e := range entries {
		m.appendLeaf(t, e)
	}
}
