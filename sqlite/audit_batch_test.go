package sqlite

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/failsmall/breakglass/audit"
	"github.com/failsmall/breakglass/broker"
)

// testLogKeys returns the tests' log key, a fixed one; the external tests
// get it through export_test.go.
func testLogKeys(t testing.TB) (note.Signer, note.Verifier) {
	t.Helper()
	skey, vkey, err := audit.NewKeyFromSeed("sqlite.test/log", bytes.Repeat([]byte{7}, ed25519.SeedSize))
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

// appendNamed appends one entry per name, each naming itself as actor.
func appendNamed(tx *Tx, names ...string) error {
	for _, n := range names {
		e := broker.Event{Type: broker.EventBrokerStarted, Time: time.Unix(1, 0), Actor: n, Subjects: []string{"s-" + n}, Data: []byte(`{}`)}
		if _, err := tx.Append(e); err != nil {
			return err
		}
	}
	return nil
}

// verifiedActors verifies the whole log at db against v and returns each
// entry's actor, in order.
func verifiedActors(t *testing.T, db *DB, v note.Verifier) []string {
	t.Helper()
	ctx := context.Background()
	err := db.ReadAudit(ctx, func(src audit.Source) error {
		_, err := audit.VerifyLog(src, audit.VerifyOptions{Verifier: v})
		return err
	})
	if err != nil {
		t.Fatalf("the log does not verify: %v", err)
	}
	n, err := db.AuditSize(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var actors []string
	err = db.AuditEntries(ctx, 0, n, func(_ int64, leaf []byte) error {
		e, err := audit.ParseEntry(leaf)
		actors = append(actors, e.Actor)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return actors
}

// TestBatchKeepsOnlyKeptLeaves runs one group commit of four changes: the
// second fails after appending, the third after its leaves (and the first
// change's) were written mid-change, which its rollback undoes. The log
// must hold the first and fourth changes' leaves, numbered without a gap,
// with hashes and a checkpoint that verify; then a second handle on the
// file appends behind the writer's back, and the writer's next append
// builds on that, not on the edge it kept.
func TestBatchKeepsOnlyKeptLeaves(t *testing.T) {
	s, v := testLogKeys(t)
	path := filepath.Join(t.TempDir(), "bg.db")
	db, err := Open(path, Options{SignCheckpoint: audit.CommitSigner(s)})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	fail := errors.New("this change fails")
	mk := func(fn func(*Tx) error) *job { return &job{ctx: ctx, fn: fn, done: make(chan struct{})} }
	jobs := []*job{
		mk(func(tx *Tx) error { return appendNamed(tx, "a0", "a1", "a2") }),
		mk(func(tx *Tx) error {
			if err := appendNamed(tx, "b0", "b1"); err != nil {
				return err
			}
			return fail
		}),
		mk(func(tx *Tx) error {
			if err := appendNamed(tx, "c0"); err != nil {
				return err
			}
			if err := tx.flushLog(); err != nil {
				return err
			}
			return fail
		}),
		mk(func(tx *Tx) error { return appendNamed(tx, "d0", "d1") }),
	}
	db.runBatch(jobs)
	for i, want := range []error{nil, fail, fail, nil} {
		if got := jobs[i].err; !errors.Is(got, want) || (want == nil) != (got == nil) {
			t.Errorf("change %d: %v, want %v", i, got, want)
		}
	}
	if got, want := strings.Join(verifiedActors(t, db, v), " "), "a0 a1 a2 d0 d1"; got != want {
		t.Fatalf("log after the batch: %s, want %s", got, want)
	}
	cps, err := db.Checkpoints(ctx)
	if err != nil || len(cps) != 1 {
		t.Fatalf("checkpoints: %d, %v; want the batch's one", len(cps), err)
	}
	if c, _, err := audit.Open(cps[0], v); err != nil || c.Size != 5 {
		t.Fatalf("the batch's checkpoint: %+v, %v; want one of 5 entries", c, err)
	}

	other, err := Open(path, Options{SignCheckpoint: audit.CommitSigner(s)})
	if err != nil {
		t.Fatal(err)
	}
	if err := other.update(ctx, func(tx *Tx) error { return appendNamed(tx, "e0", "e1", "e2") }); err != nil {
		t.Fatal(err)
	}
	other.Close()
	if err := db.update(ctx, func(tx *Tx) error { return appendNamed(tx, "f0") }); err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(verifiedActors(t, db, v), " "), "a0 a1 a2 d0 d1 e0 e1 e2 f0"; got != want {
		t.Fatalf("log after another handle's append: %s, want %s", got, want)
	}
	for who, want := range map[string]int64{"a1": 1, "d0": 3, "e2": 7, "f0": 8} {
		if i, err := db.AuditIndex(ctx, broker.EventBrokerStarted, "s-"+who); err != nil || i != want {
			t.Errorf("subject s-%s indexed at %d, %v; want %d", who, i, err, want)
		}
	}
}

// TestEdgeServesOnlyTheEdge: the edge reader answers every hash tlog asks
// for while appending, agrees with the hashes stored, and refuses one it
// does not hold instead of guessing.
func TestEdgeServesOnlyTheEdge(t *testing.T) {
	var stored []tlog.Hash
	var e edge
	for n := int64(0); n < 300; n++ {
		leaf := []byte(fmt.Sprintf("leaf %d", n))
		want, err := tlog.StoredHashes(n, leaf, tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
			out := make([]tlog.Hash, len(idx))
			for i, x := range idx {
				out[i] = stored[x]
			}
			return out, nil
		}))
		if err != nil {
			t.Fatal(err)
		}
		got, err := tlog.StoredHashes(n, leaf, &e)
		if err != nil || len(got) != len(want) {
			t.Fatalf("leaf %d: %d hashes, %v; want %d", n, len(got), err, len(want))
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("leaf %d: stored hash %d differs", n, i)
			}
		}
		stored = append(stored, got...)
		e.push(got)
		th, err := tlog.TreeHash(n+1, &e)
		if err != nil {
			t.Fatal(err)
		}
		wantTH, err := tlog.TreeHash(n+1, tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
			out := make([]tlog.Hash, len(idx))
			for i, x := range idx {
				out[i] = stored[x]
			}
			return out, nil
		}))
		if err != nil || th != wantTH {
			t.Fatalf("tree hash at %d from the edge differs (%v)", n+1, err)
		}
	}
	if _, err := e.ReadHashes([]int64{0}); err == nil || !strings.Contains(err.Error(), "not on the right edge") {
		t.Errorf("edge read of leaf 0's hash at size 300: %v, want a refusal", err)
	}
}
