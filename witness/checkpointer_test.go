package witness_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/failsmall/breakglass/audit"
)

// memStore is an audit.CheckpointStore over a memLog, safe for the
// checkpointer's goroutines.
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
		return nil, fmt.Errorf("no checkpoint: %w", audit.ErrMissing)
	}
	return s.log.checkpoints[len(s.log.checkpoints)-1], nil
}

func (s *memStore) Record(_ context.Context, size int64, signed []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := len(s.log.checkpoints); n > 0 {
		last := s.log.checkpoints[n-1]
		if c, err := audit.ParseCheckpoint(last[:bytes.LastIndex(last, []byte("\n\n"))+1]); err != nil || c.Size >= size {
			return audit.ErrCheckpointExists
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

func (s *memStore) cosignature(size int64, witness string) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cos[size][witness]
}

func (s *memStore) grow(t *testing.T, salt, n int64) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.log.grow(t, salt, n)
}

// pushErrors collects the errors the Checkpointer logs when a witness does
// not cosign: the only way a background pusher reports.
type pushErrors struct {
	mu   sync.Mutex
	errs []error
}

func (h *pushErrors) Enabled(context.Context, slog.Level) bool { return true }
func (h *pushErrors) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *pushErrors) WithGroup(string) slog.Handler            { return h }

func (h *pushErrors) Handle(_ context.Context, r slog.Record) error {
	r.Attrs(func(a slog.Attr) bool {
		if err, ok := a.Value.Any().(error); ok && a.Key == "err" {
			h.mu.Lock()
			h.errs = append(h.errs, err)
			h.mu.Unlock()
		}
		return true
	})
	return nil
}

// refusal returns the first logged error matching audit.ErrWitnessRefused.
func (h *pushErrors) refusal() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, err := range h.errs {
		if errors.Is(err, audit.ErrWitnessRefused) {
			return err
		}
	}
	return nil
}

func newCheckpointer(t *testing.T, st *memStore, log *slog.Logger, ws ...audit.WitnessConfig) *audit.Checkpointer {
	t.Helper()
	s, v := testKeys(t, testLogSeed)
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c, err := audit.NewCheckpointer(context.Background(), audit.CheckpointerConfig{Store: st, Signer: s, Verifier: v, Witnesses: ws, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// The Checkpointer pushes every checkpoint to a real witness over HTTP,
// learning the witness's size from its 409 answers, and keeps the
// cosignatures; the same witness refuses a fork and a rollback of what it
// cosigned, and the pushers of those logs say so.
func TestCheckpointerPushesToWitness(t *testing.T) {
	f := newWitnessFixture(t, t.TempDir())
	wc := audit.WitnessConfig{URL: f.srv.URL, Verifier: f.cv, Client: f.client}
	st := &memStore{log: &memLog{}}
	st.grow(t, 0, 3)
	c := newCheckpointer(t, st, nil, wc)
	for _, size := range []int64{3, 8, 20} {
		st.grow(t, 0, size)
		c.Notify()
		waitFor(t, fmt.Sprintf("a cosigned checkpoint of size %d", size), func() bool {
			signed, cp := c.Latest()
			if cp.Size != size {
				return false
			}
			n, err := note.Open(signed, note.VerifierList(f.cv))
			return err == nil && len(n.Sigs) == 1
		})
		if st.cosignature(size, testWitnessName) == nil {
			t.Errorf("no cosignature kept in the store for size %d", size)
		}
	}
	for name, salt := range map[string]int64{"fork": 77, "rollback": 0} {
		t.Run(name, func(t *testing.T) {
			other := &memStore{log: &memLog{}}
			size := int64(20) // a fork: another log of the cosigned size
			if name == "rollback" {
				size = 10 // shorter than what the witness cosigned
			}
			other.grow(t, salt, size)
			logged := &pushErrors{}
			newCheckpointer(t, other, slog.New(logged), wc)
			waitFor(t, "the pusher to report a refusal", func() bool { return logged.refusal() != nil })
			t.Log(logged.refusal())
			if got := other.cosignature(size, testWitnessName); got != nil {
				t.Errorf("the witness cosigned the %s: %q", name, got)
			}
		})
	}
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !ok(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}
