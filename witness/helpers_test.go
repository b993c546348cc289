package witness_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/failsmall/breakglass/audit"
)

// Fixed keys, so that signed outputs are reproducible.
const testOrigin = "audit.test.example/log"

var (
	testLogSeed     = bytes.Repeat([]byte{0x42}, ed25519.SeedSize)
	testOtherSeed   = bytes.Repeat([]byte{0x43}, ed25519.SeedSize)
	testWitnessSeed = bytes.Repeat([]byte{0x57}, ed25519.SeedSize)
	testEpoch       = time.Date(2026, 11, 25, 21, 0, 0, 0, time.UTC)
)

// testKeys returns the fixed log signer and verifier for seed.
func testKeys(t testing.TB, seed []byte) (note.Signer, note.Verifier) {
	t.Helper()
	skey, vkey, err := audit.NewKeyFromSeed(testOrigin, seed)
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

// memLog is a slice-backed audit.Source and tlog.HashReader: a log to
// witness, kept the way the SQLite adapter keeps it in tables.
type memLog struct {
	entries     [][]byte
	hashes      []tlog.Hash
	checkpoints [][]byte
}

func (m *memLog) ReadHashes(idx []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(idx))
	for i, x := range idx {
		h, err := m.StoredHash(x)
		if err != nil {
			return nil, err
		}
		out[i] = h
	}
	return out, nil
}

func (m *memLog) Size() (int64, error) { return int64(len(m.entries)), nil }

func (m *memLog) Entry(i int64) ([]byte, error) {
	if i < 0 || i >= int64(len(m.entries)) {
		return nil, fmt.Errorf("entry %d: %w", i, audit.ErrMissing)
	}
	return m.entries[i], nil
}

func (m *memLog) StoredHash(i int64) (tlog.Hash, error) {
	if i < 0 || i >= int64(len(m.hashes)) {
		return tlog.Hash{}, fmt.Errorf("stored hash %d: %w", i, audit.ErrMissing)
	}
	return m.hashes[i], nil
}

func (m *memLog) Checkpoints() ([][]byte, error) { return m.checkpoints, nil }

// grow appends entries until the log holds n; salt makes a different log
// (a fork) from the same sizes.
func (m *memLog) grow(t testing.TB, salt, n int64) {
	t.Helper()
	for i := int64(len(m.entries)); i < n; i++ {
		e := audit.Entry{Type: "request.created", Time: testEpoch.Add(time.Duration(i+salt) * time.Millisecond),
			Actor: "alice", Subjects: []string{fmt.Sprintf("req-%d", i+salt)}, Data: json.RawMessage(`{}`)}
		leaf, err := e.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		hs, err := audit.StoredHashes(i, leaf, m)
		if err != nil {
			t.Fatal(err)
		}
		m.hashes = append(m.hashes, hs...)
		m.entries = append(m.entries, leaf)
	}
}

// head is the log's current tree head.
func (m *memLog) head(t testing.TB) audit.Checkpoint {
	t.Helper()
	size := int64(len(m.entries))
	h, err := audit.TreeHash(size, m)
	if err != nil {
		t.Fatal(err)
	}
	return audit.Checkpoint{Origin: testOrigin, Size: size, Hash: h}
}

// checkpoint signs the current tree head with s and records it.
func (m *memLog) checkpoint(t testing.TB, s note.Signer) []byte {
	t.Helper()
	signed, err := audit.Sign(m.head(t), s)
	if err != nil {
		t.Fatal(err)
	}
	m.checkpoints = append(m.checkpoints, signed)
	return signed
}
