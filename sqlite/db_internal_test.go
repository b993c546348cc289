package sqlite

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/failsmall/breakglass/broker"
)

func openInternal(t *testing.T) *DB {
	t.Helper()
	db, err := Open(filepath.Join(t.TempDir(), "bg.db"), Options{BusyTimeout: 1500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// TestPragmas checks the settings dsn promises on each pool's connections.
func TestPragmas(t *testing.T) {
	db := openInternal(t)
	for _, tc := range []struct {
		pool   string
		pragma string
		want   string
	}{
		{"writer", "journal_mode", "wal"},
		{"writer", "synchronous", "2"}, // FULL
		{"writer", "foreign_keys", "1"},
		{"writer", "busy_timeout", "1500"},
		{"writer", "query_only", "0"},
		{"writer", "temp_store", "2"}, // MEMORY
		{"reader", "journal_mode", "wal"},
		{"reader", "foreign_keys", "1"},
		{"reader", "query_only", "1"},
	} {
		pool := db.w
		if tc.pool == "reader" {
			pool = db.r
		}
		var got string
		if err := pool.QueryRow("PRAGMA " + tc.pragma).Scan(&got); err != nil || got != tc.want {
			t.Errorf("%s PRAGMA %s: got %q, %v; want %q", tc.pool, tc.pragma, got, err, tc.want)
		}
	}
}

// TestUpdateDiskFull makes the writer's database full (max_page_count) and
// checks that SQLITE_FULL surfaces as ErrAuditUnavailable with SQLite's
// message, and that nothing of the transaction is kept.
func TestUpdateDiskFull(t *testing.T) {
	db := openInternal(t)
	ctx := context.Background()
	var pages int64
	if err := db.w.QueryRow(`PRAGMA page_count`).Scan(&pages); err != nil {
		t.Fatal(err)
	}
	// The writer pool has one connection, so the limit sticks to it.
	if _, err := db.w.Exec(`PRAGMA max_page_count = ` + strconv.FormatInt(pages+2, 10)); err != nil {
		t.Fatal(err)
	}
	err := db.Update(ctx, func(tx *Tx) error {
		for range 50 {
			e := broker.Event{Type: broker.EventBrokerStarted, Time: time.Unix(1, 0), Actor: "broker",
				Data: []byte(`"` + strings.Repeat("x", 4000) + `"`)}
			if _, err := tx.Append(e); err != nil {
				return err
			}
		}
		return nil
	})
	if !errors.Is(err, broker.ErrAuditUnavailable) || !strings.Contains(err.Error(), "full") {
		t.Fatalf("Update on a full database: got %v, want ErrAuditUnavailable with SQLite's message", err)
	}
	t.Logf("Update on a full database: %v", err)
	if n, err := db.AuditSize(ctx); n != 0 || err != nil {
		t.Errorf("AuditSize after the failed Update: got %d, %v; want 0", n, err)
	}
}

// TestUpdateRefusesHalfAppend takes the first stored hash slot from under
// Append (a row no change can write) and has fn ignore every error: the
// leaf's rows are written when the batch commits, their hashes cannot be,
// and Update must not commit a leaf without its hashes, nor the rest.
func TestUpdateRefusesHalfAppend(t *testing.T) {
	db := openInternal(t)
	ctx := context.Background()
	e := broker.Event{Type: broker.EventBrokerStarted, Time: time.Unix(1, 0), Actor: "broker", Data: []byte(`{}`)}
	err := db.Update(ctx, func(tx *Tx) error {
		if _, err := tx.tx.Exec(`INSERT INTO audit_hashes (idx, hash) VALUES (0, zeroblob(32))`); err != nil {
			return err
		}
		tx.Append(e) //nolint:errcheck // ignoring the outcome, as a careless caller might
		return nil
	})
	if err == nil || !strings.Contains(err.Error(), "stored hashes of leaves 0 to 0") {
		t.Fatalf("Update after a half-done Append: got %v, want a refusal to commit naming the stored hashes", err)
	}
	if n, err := db.AuditSize(ctx); n != 0 || err != nil {
		t.Errorf("AuditSize: got %d, %v; want 0", n, err)
	}
	var hashes int
	if err := db.r.QueryRow(`SELECT count(*) FROM audit_hashes`).Scan(&hashes); err != nil || hashes != 0 {
		t.Errorf("audit_hashes holds %d rows (%v), want none: the job's own row must roll back too", hashes, err)
	}
}

// TestReadersStayOpen: concurrent read snapshots reuse the reader
// connections instead of closing those beyond database/sql's default of
// two idle ones and opening new ones (each reparses the schema).
func TestReadersStayOpen(t *testing.T) {
	db := openInternal(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				err := db.View(ctx, func(tx broker.Tx) error {
					_, err := tx.Request("none")
					time.Sleep(100 * time.Microsecond)
					if errors.Is(err, broker.ErrNotFound) {
						return nil
					}
					return err
				})
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	st := db.r.Stats()
	if st.MaxIdleClosed != 0 || st.OpenConnections > st.MaxOpenConnections {
		t.Errorf("reader pool: %d connections closed for want of an idle slot, %d open of %d; want none closed", st.MaxIdleClosed, st.OpenConnections, st.MaxOpenConnections)
	}
}

// TestDatabaseIsPrivate: the database and the WAL SQLite creates beside it
// are 0600 even in a folder and under a umask that would make them world-
// readable, and an existing database made readable is made private again.
func TestDatabaseIsPrivate(t *testing.T) {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "bg.db")
	check := func(when string) {
		t.Helper()
		for _, p := range []string{path, path + "-wal"} {
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatalf("%s: %v", when, err)
			}
			if fi.Mode().Perm()&0o077 != 0 {
				t.Errorf("%s: %s has mode %04o, want no group or other access", when, filepath.Base(p), fi.Mode().Perm())
			}
		}
	}
	open := func() {
		db, err := Open(path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := db.update(context.Background(), func(tx *Tx) error { return appendNamed(tx, "x") }); err != nil {
			t.Fatal(err)
		}
		check("while open")
		db.Close()
	}
	open()
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	open()
}
