package audit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"
)

// memStore is a CheckpointStore over a memLog, safe for the checkpointer's
// goroutines.
type memStore struct {
	mu  sync.Mutex
	log *memLog
	cos map[int64]map[string][]byte
}

func (s *memStore) ReadHashes(idx []int64) ([]tlog.Hash, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log.ReadHashes(idx)
}

func (s *memStore) Size(context.Context) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return int64(len(s.log.entries)), nil
}

func (s *memStore) Latest(context.Context) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.log.checkpoints) == 0 {
		return nil, fmt.Errorf("no checkpoint: %w", ErrMissing)
	}
	return s.log.checkpoints[len(s.log.checkpoints)-1], nil
}

func (s *memStore) Record(_ context.Context, size int64, signed []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := len(s.log.checkpoints); n > 0 {
		if last, _ := signedSize(s.log.checkpoints[n-1]); last >= size {
			return ErrCheckpointExists
		}
	}
	s.log.checkpoints = append(s.log.checkpoints, signed)
	return nil
}

func (s *memStore) AddCosignature(_ context.Context, size int64, witness string, lines []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cos == nil {
		s.cos = map[int64]map[string][]byte{}
	}
	if s.cos[size] == nil {
		s.cos[size] = map[string][]byte{}
	}
	s.cos[size][witness] = lines
	return nil
}

func (s *memStore) grow(t *testing.T, salt, n int64) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.log.grow(t, nil, salt, n)
}

// signedSize reads the size of a signed checkpoint without checking its
// signatures.
func signedSize(signed []byte) (int64, error) {
	c, err := ParseCheckpoint(signed[:bytes.LastIndex(signed, []byte("\n\n"))+1])
	return c.Size, err
}

// A witness the Checkpointer cannot push to is refused at the start, not
// discovered at the first checkpoint.
func TestNewCheckpointerRefusesWitnessWithoutClient(t *testing.T) {
	s, v := testKeys(t, testLogSeed)
	cv, err := NewCosignatureVerifier(mustCosignerKey(t))
	if err != nil {
		t.Fatal(err)
	}
	for name, w := range map[string]WitnessConfig{
		"no client":   {URL: "https://witness.test.example", Verifier: cv},
		"no verifier": {URL: "https://witness.test.example", Client: refusingWitness{}},
	} {
		st := &memStore{log: &memLog{}}
		if c, err := NewCheckpointer(context.Background(), CheckpointerConfig{Store: st, Signer: s, Verifier: v, Witnesses: []WitnessConfig{w}}); err == nil {
			c.Close()
			t.Errorf("%s: NewCheckpointer accepted the witness", name)
		}
	}
}

// refusingWitness is a WitnessClient that refuses everything.
type refusingWitness struct{}

func (refusingWitness) AddCheckpoint(context.Context, int64, tlog.TreeProof, []byte) ([]byte, error) {
	return nil, &WitnessRefusedError{Reason: "refuses everything"}
}

func mustCosignerKey(t *testing.T) string {
	t.Helper()
	s, err := NewCosignatureSigner("witness.test.example/w1", ed25519.NewKeyFromSeed(testWitnessSeed), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	return s.VerifierKey()
}

func newTestCheckpointer(t *testing.T, st *memStore, file string, ws ...WitnessConfig) *Checkpointer {
	t.Helper()
	s, v := testKeys(t, testLogSeed)
	c, err := NewCheckpointer(context.Background(), CheckpointerConfig{Store: st, Signer: s, Verifier: v, File: file, Witnesses: ws})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func TestCheckpointerSignsCommittedLog(t *testing.T) {
	_, v := testKeys(t, testLogSeed)
	st := &memStore{log: &memLog{}}
	st.grow(t, 0, 5)
	file := filepath.Join(t.TempDir(), "checkpoint")
	c := newTestCheckpointer(t, st, file)
	signed, cp := c.Latest()
	if cp.Size != 5 {
		t.Fatalf("checkpoint at start has size %d, want 5 (the committed log)", cp.Size)
	}
	if _, _, err := Open(signed, v); err != nil {
		t.Fatalf("checkpoint does not open with the log key: %v", err)
	}
	st.grow(t, 0, 9)
	signed, cp, err := c.Sync(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if want := st.log.head(t); cp.Size != want.Size || cp.Hash != want.Hash {
		t.Errorf("checkpoint after growth = %+v, want %+v", cp, want)
	}
	got, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(signed) {
		t.Errorf("checkpoint file holds\n%s\nwant the newest checkpoint\n%s", got, signed)
	}
	if _, _, err := c.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := len(st.log.checkpoints); n != 2 {
		t.Errorf("%d checkpoints recorded after two sizes and a no-op sync, want 2", n)
	}
}

func TestCheckpointerNotifyGroupsWrites(t *testing.T) {
	st := &memStore{log: &memLog{}}
	c := newTestCheckpointer(t, st, "")
	st.grow(t, 0, 50)
	for range 10 {
		c.Notify()
	}
	waitFor(t, "a checkpoint of size 50", func() bool { _, cp := c.Latest(); return cp.Size == 50 })
	st.mu.Lock()
	n := len(st.log.checkpoints)
	st.mu.Unlock()
	if n > 3 { // size 0 at start, then one or two for the burst
		t.Errorf("%d checkpoints for one burst of writes, want them grouped", n)
	}
}

func TestCheckFileRefusesStaleLog(t *testing.T) {
	ctx := context.Background()
	_, v := testKeys(t, testLogSeed)
	dir := t.TempDir()
	file := filepath.Join(dir, "checkpoint")
	st := &memStore{log: &memLog{}}
	st.grow(t, 0, 10)
	c := newTestCheckpointer(t, st, file)
	c.Close()

	t.Run("rollback", func(t *testing.T) {
		old := &memStore{log: &memLog{}}
		old.grow(t, 0, 6)
		_, err := CheckFile(ctx, file, v, old)
		var stale *StaleLogError
		if !errors.As(err, &stale) || stale.Size != 6 || stale.Want != 10 {
			t.Fatalf("CheckFile on a log of 6 behind a file of 10 = %v, want a StaleLogError naming both", err)
		}
		if _, err := NewCheckpointer(ctx, CheckpointerConfig{Store: old, Signer: c.cfg.Signer, Verifier: v, File: file}); !errors.As(err, &stale) {
			t.Errorf("NewCheckpointer on a rolled-back log = %v, want it refused", err)
		}
		t.Log(err)
	})
	t.Run("fork", func(t *testing.T) {
		other := &memStore{log: &memLog{}}
		other.grow(t, 1000, 12)
		_, err := CheckFile(ctx, file, v, other)
		var stale *StaleLogError
		if !errors.As(err, &stale) || stale.Computed == (tlog.Hash{}) {
			t.Fatalf("CheckFile on another history = %v, want a StaleLogError with both roots", err)
		}
		t.Log(err)
	})
	t.Run("ahead", func(t *testing.T) {
		st.grow(t, 0, 15)
		if _, err := CheckFile(ctx, file, v, st); err != nil {
			t.Fatalf("CheckFile on a log extending the file: %v", err)
		}
	})
	t.Run("forged file", func(t *testing.T) {
		_, other := testKeys(t, testOtherSeed)
		if _, err := CheckFile(ctx, file, other, st); err == nil {
			t.Fatal("CheckFile accepted a checkpoint file not signed by the log key")
		}
	})
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !ok(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}
