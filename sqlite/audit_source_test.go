package sqlite_test

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"github.com/failsmall/breakglass/audit"
	"github.com/failsmall/breakglass/broker"
	"github.com/failsmall/breakglass/sqlite"
)

func testLogKeys(t testing.TB) (note.Signer, note.Verifier) { return sqlite.LogKeysForTest(t) }

func appendEvents(t testing.TB, db *sqlite.DB, from, to int) {
	t.Helper()
	mustUpdate(t, db, func(tx *sqlite.Tx) error {
		for i := from; i < to; i++ {
			if _, err := tx.Append(newEvent(i)); err != nil {
				return err
			}
		}
		return nil
	})
}

// TestCheckpointerOverSQLite: the AfterCommit hook wakes a Checkpointer, its
// checkpoints land in the database, and VerifyLog over ReadAudit passes.
func TestCheckpointerOverSQLite(t *testing.T) {
	ctx := context.Background()
	s, v := testLogKeys(t)
	var cp atomic.Pointer[audit.Checkpointer]
	commits := atomic.Int64{}
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "bg.db"), sqlite.Options{AfterCommit: func() {
		commits.Add(1)
		if c := cp.Load(); c != nil {
			c.Notify()
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	c, err := audit.NewCheckpointer(ctx, audit.CheckpointerConfig{Store: db.CheckpointStore(), Signer: s, Verifier: v})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cp.Store(c)
	for i := range 5 {
		appendEvents(t, db, 3*i, 3*i+3)
	}
	if commits.Load() < 5 {
		t.Errorf("AfterCommit called %d times for 5 updates", commits.Load())
	}
	signed, head, err := c.Sync(ctx)
	if err != nil || head.Size != 15 {
		t.Fatalf("Sync = size %d, %v; want 15", head.Size, err)
	}
	latest, err := db.LatestCheckpoint(ctx)
	if err != nil || !bytes.Equal(latest, signed) {
		t.Fatalf("LatestCheckpoint = %q, %v; want the checkpointer's", latest, err)
	}
	err = db.ReadAudit(ctx, func(src audit.Source) error {
		rep, err := audit.VerifyLog(src, audit.VerifyOptions{Verifier: v})
		if err != nil {
			return err
		}
		if rep.Size != 15 || rep.Checkpoints < 2 || rep.RootHash != head.Hash {
			t.Errorf("VerifyLog report = %+v, want 15 entries, several checkpoints, root %s", rep, head.Hash)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	store := db.CheckpointStore()
	if err := store.Record(ctx, 10, signed); !errors.Is(err, audit.ErrCheckpointExists) {
		t.Errorf("Record of a size below the newest = %v, want ErrCheckpointExists", err)
	}
}

func TestAuditIndexAndCosignatures(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "bg.db")
	db := mustOpen(t, path)
	var idx int64
	mustUpdate(t, db, func(tx *sqlite.Tx) error {
		tx.Append(newEvent(0))
		var err error
		idx, err = tx.Append(broker.Event{Type: broker.EventGrantIssued, Time: t0, Actor: "broker",
			Subjects: []string{"req-1", "grant-1"}, Data: []byte(`{}`)})
		return err
	})
	got, err := db.AuditIndex(ctx, broker.EventGrantIssued, "grant-1")
	if err != nil || got != idx {
		t.Errorf("AuditIndex(grant.issued, grant-1) = %d, %v; want %d", got, err, idx)
	}
	if _, err := db.AuditIndex(ctx, broker.EventGrantIssued, "grant-2"); !errors.Is(err, broker.ErrNotFound) {
		t.Errorf("AuditIndex of an unknown grant = %v, want ErrNotFound", err)
	}
	s, v := testLogKeys(t)
	store := db.CheckpointStore()
	signed, err := audit.Sign(audit.Checkpoint{Origin: s.Name(), Size: 2, Hash: mustTreeHash(t, db, 2)}, s)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Record(ctx, 2, signed); err != nil {
		t.Fatal(err)
	}
	line := []byte("— witness.test/w1 AAAAAAAA\n")
	for range 2 { // the second is ignored
		if err := store.AddCosignature(ctx, 2, "witness.test/w1", line); err != nil {
			t.Fatal(err)
		}
	}
	err = db.ReadAudit(ctx, func(src audit.Source) error {
		cps, err := src.Checkpoints()
		if err != nil {
			return err
		}
		if len(cps) != 1 || !bytes.Equal(cps[0], append(append([]byte{}, signed...), line...)) {
			t.Errorf("Checkpoints = %q, want the checkpoint with its cosignature line", cps)
		}
		_, err = audit.VerifyLog(src, audit.VerifyOptions{Verifier: v})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	raw := rawDB(t, path)
	for _, stmt := range []string{
		`UPDATE audit_subjects SET idx = 0`,
		`DELETE FROM audit_subjects`,
		`INSERT OR REPLACE INTO audit_subjects (subject, type, idx) VALUES ('grant-1', 'grant.issued', 0)`,
		`UPDATE audit_cosignatures SET line = x'00'`,
		`DELETE FROM audit_cosignatures`,
		`INSERT OR REPLACE INTO audit_cosignatures (size, witness, line, created) VALUES (2, 'witness.test/w1', x'00', 0)`,
	} {
		if _, err := raw.Exec(stmt); err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: got %v, want an append-only abort", stmt, err)
		}
	}
}

func mustTreeHash(t testing.TB, db *sqlite.DB, size int64) [32]byte {
	t.Helper()
	h, err := audit.TreeHash(size, db)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestRecordedCheckpointsPages(t *testing.T) {
	ctx := context.Background()
	db := newDB(t)
	s, _ := testLogKeys(t)
	store := db.CheckpointStore()
	var want [][]byte
	for i := 1; i <= 5; i++ {
		appendEvents(t, db, i-1, i)
		signed, err := audit.Sign(audit.Checkpoint{Origin: s.Name(), Size: int64(i), Hash: mustTreeHash(t, db, int64(i))}, s)
		if err != nil {
			t.Fatal(err)
		}
		if err := store.Record(ctx, int64(i), signed); err != nil {
			t.Fatal(err)
		}
		want = append(want, signed)
	}
	line := []byte("— w.test/a AAAAAAAA\n")
	if err := store.AddCosignature(ctx, 3, "w.test/a", line); err != nil {
		t.Fatal(err)
	}
	want[2] = append(append([]byte{}, want[2]...), line...)
	got, err := db.RecordedCheckpoints(ctx, 1, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || !bytes.Equal(got[0], want[1]) || !bytes.Equal(got[1], want[2]) || !bytes.Equal(got[2], want[3]) {
		t.Errorf("RecordedCheckpoints(1, 3) = %q\nwant %q", got, want[1:4])
	}
}
