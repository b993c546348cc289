package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3"

	"github.com/failsmall/breakglass/broker"
	"github.com/failsmall/breakglass/sqlite"
)

// rawDB opens path with no pragmas, as a separate client would.
func rawDB(t testing.TB, path string) *sql.DB {
	t.Helper()
	raw, err := sql.Open("sqlite3", "file:"+path+"?_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	return raw
}

func TestOpenNotADatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notes.txt")
	if err := os.WriteFile(path, []byte(strings.Repeat("this is not a database\n", 100)), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := sqlite.Open(path, sqlite.Options{})
	if err == nil || !strings.Contains(err.Error(), "not a SQLite database") || !strings.Contains(err.Error(), path) {
		t.Errorf("Open(text file): got %v, want an error naming the file as not a SQLite database", err)
	}
}

func TestOpenOddPath(t *testing.T) {
	path := filepath.Join(t.TempDir(), "my db #1?x=y&mode=ro%20.db")
	db := mustOpen(t, path)
	insertRequests(t, db, newRequest("r1", t0))
	if _, err := os.Stat(path); err != nil {
		t.Errorf("database file: %v", err)
	}
}

func TestUpdatePanicReleasesWriter(t *testing.T) {
	db := newDB(t)
	func() {
		defer func() {
			if recover() == nil {
				t.Error("Update did not re-panic")
			}
		}()
		db.Update(t.Context(), func(tx *sqlite.Tx) error {
			if err := tx.InsertRequest(newRequest("r1", t0)); err != nil {
				return err
			}
			panic("boom")
		})
	}()
	insertRequests(t, db, newRequest("r2", t0)) // would hang if the writer were still held
	err := db.View(t.Context(), func(tx broker.Tx) error { _, err := tx.Request("r1"); return err })
	if !errors.Is(err, broker.ErrNotFound) {
		t.Errorf("Request(r1) after a panicking Update: got %v, want ErrNotFound", err)
	}
}

func TestOpenEmptyPath(t *testing.T) {
	if _, err := sqlite.Open("", sqlite.Options{}); err == nil {
		t.Error("Open(\"\"): got nil error")
	}
}

func TestOpenNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bg.db")
	db, err := sqlite.Open(path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := rawDB(t, path).Exec(`INSERT INTO schema_migrations (version, name, applied) VALUES (999, '0999_future.sql', 0)`); err != nil {
		t.Fatal(err)
	}
	_, err = sqlite.Open(path, sqlite.Options{})
	if err == nil || !strings.Contains(err.Error(), "schema version 999, newer than this binary knows") {
		t.Errorf("Open(newer schema): got %v, want a schema-too-new error", err)
	}
}

func TestOpenTwiceKeepsData(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bg.db")
	db, err := sqlite.Open(path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	insertRequests(t, db, newRequest("r1", t0))
	want, err := db.SchemaVersion(t.Context())
	if err != nil || want < 1 {
		t.Fatalf("SchemaVersion: got %d, %v", want, err)
	}
	db.Close()
	db = mustOpen(t, path)
	if got, err := db.SchemaVersion(t.Context()); got != want || err != nil {
		t.Errorf("SchemaVersion after reopen: got %d, %v; want %d", got, err, want)
	}
	mustView(t, db, func(tx *sqlite.Tx) error { _, err := tx.Request("r1"); return err })
	var n int
	if err := rawDB(t, path).QueryRow(`SELECT count(*) FROM schema_migrations`).Scan(&n); err != nil || n != want {
		t.Errorf("schema_migrations rows: got %d, %v; want %d", n, err, want)
	}
	var mode string
	if err := rawDB(t, path).QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode: got %q, %v; want wal", mode, err)
	}
}

// TestOpenConcurrently opens one new file from many goroutines at once, each
// with its own pools, as separate processes would: every Open succeeds and
// each migration is applied once.
func TestOpenConcurrently(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bg.db")
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			db, err := sqlite.Open(path, sqlite.Options{})
			if err == nil {
				err = db.Close()
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("concurrent Open: %v", err)
		}
	}
	var n, distinct int
	if err := rawDB(t, path).QueryRow(`SELECT count(*), count(DISTINCT version) FROM schema_migrations`).Scan(&n, &distinct); err != nil {
		t.Fatal(err)
	}
	if n != distinct || n < 1 {
		t.Errorf("schema_migrations: %d rows, %d distinct versions; want each version once", n, distinct)
	}
}

func TestUpdateRollsBackEverything(t *testing.T) {
	db := newDB(t)
	insertRequests(t, db, newRequest("r0", t0))
	boom := errors.New("boom")
	err := db.Update(t.Context(), func(tx *sqlite.Tx) error {
		if err := tx.InsertRequest(newRequest("r1", t0)); err != nil {
			return err
		}
		if err := tx.SetRequestState("r0", broker.StatePending, broker.StateApproved, t0); err != nil {
			return err
		}
		if err := tx.InsertApproval(newApproval("r1", "bob", broker.KindApproval, t0)); err != nil {
			return err
		}
		if err := tx.InsertGrant(newGrant("g1", "r1", t0)); err != nil {
			return err
		}
		if err := tx.SetKeyCounter("SHA256:k", 5, t0); err != nil {
			return err
		}
		if err := tx.ReserveSerials(0, 10); err != nil {
			return err
		}
		for i := range 3 {
			if _, err := tx.Append(newEvent(i)); err != nil {
				return err
			}
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Update: got %v, want boom", err)
	}
	mustView(t, db, func(tx *sqlite.Tx) error {
		if _, err := tx.Request("r1"); !errors.Is(err, broker.ErrNotFound) {
			t.Errorf("Request(r1) after rollback: got %v, want ErrNotFound", err)
		}
		if r, err := tx.Request("r0"); err != nil || r.State != broker.StatePending {
			t.Errorf("Request(r0) after rollback: got %v, %v; want pending", r, err)
		}
		if a, err := tx.Approvals("r1"); err != nil || len(a) != 0 {
			t.Errorf("Approvals after rollback: got %v, %v", a, err)
		}
		if _, err := tx.Grant("r1"); !errors.Is(err, broker.ErrNotFound) {
			t.Errorf("Grant after rollback: got %v, want ErrNotFound", err)
		}
		if _, ok, err := tx.KeyCounter("SHA256:k"); ok || err != nil {
			t.Errorf("KeyCounter after rollback: got %v, %v; want none", ok, err)
		}
		return nil
	})
	if n, err := db.AuditSize(t.Context()); n != 0 || err != nil {
		t.Errorf("AuditSize after rollback: got %d, %v; want 0", n, err)
	}
	mustView(t, db, func(tx *sqlite.Tx) error {
		if s, err := tx.LastSerial(); s != 0 || err != nil {
			t.Errorf("LastSerial after rollback: got %d, %v; want 0", s, err)
		}
		return nil
	})
	// The log carries on from where it was: the rolled back leaves left no
	// stored hashes behind.
	mustUpdate(t, db, func(tx *sqlite.Tx) error { _, err := tx.Append(newEvent(0)); return err })
	if n, err := db.AuditSize(t.Context()); n != 1 || err != nil {
		t.Errorf("AuditSize: got %d, %v; want 1", n, err)
	}
}

func TestViewRejectsWrites(t *testing.T) {
	db := newDB(t)
	insertRequests(t, db, newRequest("r1", t0))
	writes := map[string]func(*sqlite.Tx) error{
		"InsertRequest": func(tx *sqlite.Tx) error { return tx.InsertRequest(newRequest("r2", t0)) },
		"SetRequestState": func(tx *sqlite.Tx) error {
			return tx.SetRequestState("r1", broker.StatePending, broker.StateApproved, t0)
		},
		"InsertApproval":  func(tx *sqlite.Tx) error { return tx.InsertApproval(newApproval("r1", "bob", broker.KindApproval, t0)) },
		"InsertGrant":     func(tx *sqlite.Tx) error { return tx.InsertGrant(newGrant("g1", "r1", t0)) },
		"SetKeyCounter":   func(tx *sqlite.Tx) error { return tx.SetKeyCounter("k", 1, t0) },
		"InsertChallenge": func(tx *sqlite.Tx) error { return tx.InsertChallenge(newChallenge("n", t0)) },
		"InsertSession": func(tx *sqlite.Tx) error {
			return tx.InsertSession(&broker.Session{TokenHash: "h", Principal: "a", Created: t0, Expires: t0})
		},
		"DeleteExpired":  func(tx *sqlite.Tx) error { return tx.DeleteExpired(t0) },
		"Append":         func(tx *sqlite.Tx) error { _, err := tx.Append(newEvent(0)); return err },
		"ReserveSerials": func(tx *sqlite.Tx) error { return tx.ReserveSerials(0, 1) },
	}
	for name, fn := range writes {
		t.Run(name, func(t *testing.T) {
			err := db.View(t.Context(), func(tx broker.Tx) error { return fn(tx.(*sqlite.Tx)) })
			if err == nil || !strings.Contains(err.Error(), "read-only") {
				t.Errorf("%s in View: got %v, want a read-only error", name, err)
			}
		})
	}
	mustView(t, db, func(tx *sqlite.Tx) error {
		r, err := tx.Request("r1")
		if err == nil && r.State != broker.StatePending {
			t.Errorf("state after writes in View: got %s, want pending", r.State)
		}
		return err
	})
}

func TestUpdateCancelled(t *testing.T) {
	db := newDB(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	called := false
	err := db.Update(ctx, func(tx *sqlite.Tx) error { called = true; return nil })
	if !errors.Is(err, context.Canceled) || called {
		t.Errorf("Update(cancelled): got %v, fn called %v; want context.Canceled, not called", err, called)
	}
	// Cancelled halfway: the statements fail and nothing is kept.
	ctx, cancel = context.WithCancel(t.Context())
	err = db.Update(ctx, func(tx *sqlite.Tx) error {
		if err := tx.InsertRequest(newRequest("r1", t0)); err != nil {
			return err
		}
		cancel()
		return tx.InsertRequest(newRequest("r2", t0))
	})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Update cancelled halfway: got %v, want context.Canceled", err)
	}
	mustView(t, db, func(tx *sqlite.Tx) error {
		if _, err := tx.Request("r1"); !errors.Is(err, broker.ErrNotFound) {
			t.Errorf("Request(r1) after cancelled Update: got %v, want ErrNotFound", err)
		}
		return nil
	})
}

// TestUpdateBusy holds the write lock from another connection: Update gives
// up after the busy timeout with an error that says so and is
// ErrAuditUnavailable, while reads keep working.
func TestUpdateBusy(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bg.db")
	mustOpen(t, path).Close()
	db, err := sqlite.Open(path, sqlite.Options{BusyTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	holder, err := rawDB(t, path).Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	if _, err := holder.ExecContext(t.Context(), `BEGIN IMMEDIATE`); err != nil {
		t.Fatal(err)
	}
	defer holder.ExecContext(context.Background(), `ROLLBACK`)
	start := time.Now()
	err = db.Update(t.Context(), func(tx *sqlite.Tx) error { return tx.InsertRequest(newRequest("r1", t0)) })
	if !errors.Is(err, broker.ErrAuditUnavailable) || !strings.Contains(err.Error(), "locked by another writer") {
		t.Errorf("Update while locked: got %v, want ErrAuditUnavailable naming the lock", err)
	}
	t.Logf("Update while locked: %v", err)
	if waited := time.Since(start); waited < 100*time.Millisecond {
		t.Errorf("Update gave up after %v, before the 100ms busy timeout", waited)
	}
	if _, err := db.AuditSize(t.Context()); err != nil {
		t.Errorf("AuditSize while locked: %v", err)
	}
}
