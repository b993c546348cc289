package sqlite_test

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/failsmall/breakglass/audit"
	"github.com/failsmall/breakglass/broker"
	"github.com/failsmall/breakglass/sqlite"
)

// memLog is an independent tlog over an in-memory list of stored hashes.
type memLog struct{ hashes []tlog.Hash }

func (m *memLog) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		out[i] = m.hashes[x]
	}
	return out, nil
}

func (m *memLog) append(t testing.TB, n int64, leaf []byte) {
	t.Helper()
	h, err := tlog.StoredHashes(n, leaf, m)
	if err != nil {
		t.Fatal(err)
	}
	m.hashes = append(m.hashes, h...)
}

func leafOf(t testing.TB, e broker.Event) []byte {
	t.Helper()
	entry := audit.Entry{Type: e.Type, Time: e.Time, Actor: e.Actor, Subjects: e.Subjects, Data: e.Data}
	b, err := entry.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestAuditTreeHash appends leaves in transactions of varying size and
// checks, at every size, that the tree hash read from the database equals
// the one tlog computes over the same leaves in memory.
func TestAuditTreeHash(t *testing.T) {
	db := newDB(t)
	var mem memLog
	var leaves [][]byte
	next := 0
	for batch := 1; next < 70; batch++ {
		mustUpdate(t, db, func(tx *sqlite.Tx) error {
			for range batch {
				n, err := tx.Append(newEvent(next))
				if err != nil {
					return err
				}
				if n != int64(next) {
					t.Errorf("Append: got index %d, want %d", n, next)
				}
				next++
			}
			return nil
		})
		for i := len(leaves); i < next; i++ {
			leaf := leafOf(t, newEvent(i))
			mem.append(t, int64(i), leaf)
			leaves = append(leaves, leaf)
		}
		size := int64(next)
		got, err := tlog.TreeHash(size, db)
		if err != nil {
			t.Fatalf("TreeHash(%d, db): %v", size, err)
		}
		want, err := tlog.TreeHash(size, &mem)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Fatalf("TreeHash(%d): got %v, want %v", size, got, want)
		}
	}
	if n, err := db.AuditSize(t.Context()); n != int64(len(leaves)) || err != nil {
		t.Errorf("AuditSize: got %d, %v; want %d", n, err, len(leaves))
	}
	for _, i := range []int64{0, 17, int64(len(leaves) - 1)} {
		got, err := db.AuditEntry(t.Context(), i)
		if err != nil || !bytes.Equal(got, leaves[i]) {
			t.Errorf("AuditEntry(%d): got %q, %v; want %q", i, got, err, leaves[i])
		}
	}
	// A record proof from the database checks against the in-memory root.
	size := int64(len(leaves))
	root, _ := tlog.TreeHash(size, &mem)
	proof, err := tlog.ProveRecord(size, 42, db)
	if err != nil {
		t.Fatal(err)
	}
	if err := tlog.CheckRecord(proof, size, root, 42, tlog.RecordHash(leaves[42])); err != nil {
		t.Errorf("CheckRecord(42) with a proof from the database: %v", err)
	}
}

func TestAuditEntries(t *testing.T) {
	db := newDB(t)
	var leaves [][]byte
	mustUpdate(t, db, func(tx *sqlite.Tx) error {
		for i := range 10 {
			if _, err := tx.Append(newEvent(i)); err != nil {
				return err
			}
			leaves = append(leaves, leafOf(t, newEvent(i)))
		}
		return nil
	})
	var got [][]byte
	err := db.AuditEntries(t.Context(), 3, 7, func(i int64, leaf []byte) error {
		if i != int64(3+len(got)) {
			t.Errorf("AuditEntries: index %d, want %d", i, 3+len(got))
		}
		got = append(got, leaf)
		return nil
	})
	checkEqual(t, "AuditEntries(3, 7)", got, leaves[3:7])
	if err != nil {
		t.Fatal(err)
	}
	stop := errors.New("stop")
	calls := 0
	err = db.AuditEntries(t.Context(), 0, 10, func(int64, []byte) error { calls++; return stop })
	if !errors.Is(err, stop) || calls != 1 {
		t.Errorf("AuditEntries with fn failing: got %v after %d calls; want stop after 1", err, calls)
	}
	for _, tc := range []struct {
		from, to int64
		want     error
	}{{8, 12, broker.ErrNotFound}, {5, 4, broker.ErrInvalid}, {-1, 2, broker.ErrInvalid}} {
		err := db.AuditEntries(t.Context(), tc.from, tc.to, func(int64, []byte) error { return nil })
		if !errors.Is(err, tc.want) {
			t.Errorf("AuditEntries(%d, %d): got %v, want %v", tc.from, tc.to, err, tc.want)
		}
	}
	if _, err := db.AuditEntry(t.Context(), 10); !errors.Is(err, broker.ErrNotFound) {
		t.Errorf("AuditEntry(10) of 10: got %v, want ErrNotFound", err)
	}
	if _, err := db.ReadHashes([]int64{0, 1 << 40}); !errors.Is(err, broker.ErrNotFound) {
		t.Errorf("ReadHashes(missing): got %v, want ErrNotFound", err)
	}
}

func TestAppendBadEvent(t *testing.T) {
	db := newDB(t)
	e := newEvent(0)
	e.Type = "No Such Type"
	err := db.Update(t.Context(), func(tx *sqlite.Tx) error { _, err := tx.Append(e); return err })
	if !errors.Is(err, audit.ErrMalformedEntry) {
		t.Errorf("Append(malformed type): got %v, want audit.ErrMalformedEntry", err)
	}
}

func TestCheckpoints(t *testing.T) {
	db := newDB(t)
	ctx := t.Context()
	if _, err := db.LatestCheckpoint(ctx); !errors.Is(err, broker.ErrNotFound) {
		t.Errorf("LatestCheckpoint of none: got %v, want ErrNotFound", err)
	}
	mustUpdate(t, db, func(tx *sqlite.Tx) error {
		for i := range 5 {
			if _, err := tx.Append(newEvent(i)); err != nil {
				return err
			}
		}
		return nil
	})
	for _, size := range []int64{3, 5, 0} {
		if err := db.InsertCheckpoint(ctx, size, []byte(fmt.Sprintf("checkpoint %d", size))); err != nil {
			t.Fatalf("InsertCheckpoint(%d): %v", size, err)
		}
	}
	for _, tc := range []struct {
		size   int64
		signed string
		want   error
	}{{3, "again", broker.ErrConflict}, {6, "ahead of the log", broker.ErrInvalid}, {-1, "negative", broker.ErrInvalid}, {4, "", broker.ErrInvalid}} {
		if err := db.InsertCheckpoint(ctx, tc.size, []byte(tc.signed)); !errors.Is(err, tc.want) {
			t.Errorf("InsertCheckpoint(%d, %q): got %v, want %v", tc.size, tc.signed, err, tc.want)
		}
	}
	all, err := db.Checkpoints(ctx)
	checkEqual(t, "Checkpoints", all, [][]byte{[]byte("checkpoint 0"), []byte("checkpoint 3"), []byte("checkpoint 5")})
	if err != nil {
		t.Fatal(err)
	}
	latest, err := db.LatestCheckpoint(ctx)
	if err != nil || string(latest) != "checkpoint 5" {
		t.Errorf("LatestCheckpoint: got %q, %v; want checkpoint 5", latest, err)
	}
}

// TestAuditAppendOnly tries to rewrite the audit tables from a separate
// client with plain SQL: the triggers abort every attempt.
func TestAuditAppendOnly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bg.db")
	db := mustOpen(t, path)
	mustUpdate(t, db, func(tx *sqlite.Tx) error {
		for i := range 3 {
			if _, err := tx.Append(newEvent(i)); err != nil {
				return err
			}
		}
		return nil
	})
	if err := db.InsertCheckpoint(t.Context(), 3, []byte("signed")); err != nil {
		t.Fatal(err)
	}
	before, _ := tlog.TreeHash(3, db)
	raw := rawDB(t, path)
	for _, stmt := range []string{
		`UPDATE audit_entries SET leaf = x'00' WHERE idx = 1`,
		`DELETE FROM audit_entries WHERE idx = 2`,
		`DELETE FROM audit_entries`,
		`INSERT OR REPLACE INTO audit_entries (idx, leaf) VALUES (1, x'00')`,
		`INSERT INTO audit_entries (idx, leaf) VALUES (7, x'00')`,
		`UPDATE audit_hashes SET hash = zeroblob(32) WHERE idx = 0`,
		`DELETE FROM audit_hashes WHERE idx = 0`,
		`REPLACE INTO audit_hashes (idx, hash) VALUES (0, zeroblob(32))`,
		`INSERT INTO audit_hashes (idx, hash) VALUES (100, zeroblob(32))`,
		`UPDATE audit_checkpoints SET signed = x'00'`,
		`DELETE FROM audit_checkpoints`,
		`INSERT OR REPLACE INTO audit_checkpoints (size, signed, created) VALUES (3, x'00', 0)`,
	} {
		_, err := raw.Exec(stmt)
		if err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: got %v, want an append-only abort", stmt, err)
		}
	}
	after, err := tlog.TreeHash(3, db)
	if err != nil || after != before {
		t.Errorf("TreeHash after tampering attempts: got %v, %v; want %v", after, err, before)
	}
	if cp, err := db.LatestCheckpoint(t.Context()); string(cp) != "signed" || err != nil {
		t.Errorf("LatestCheckpoint after tampering attempts: got %q, %v", cp, err)
	}
}
