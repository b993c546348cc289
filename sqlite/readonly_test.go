package sqlite_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/failsmall/breakglass/broker"
	"github.com/failsmall/breakglass/sqlite"
)

// fileHash is the SHA-256 of path's bytes.
func fileHash(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

// copyFile copies from to to with mode perm.
func copyFile(t *testing.T, from, to string, perm os.FileMode) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// readOnlyFolder makes dir 0555 and gives it back 0700 at the end, so
// that the test's cleanup can remove it when the tests do not run as root.
func readOnlyFolder(t *testing.T, dir string) {
	t.Helper()
	if err := os.Chmod(dir, 0o555); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(dir, 0o700) })
}

// folderNames lists dir's entries.
func folderNames(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

// sourceDB is a database with two requests and some audit entries, closed
// (so its WAL is folded into the file and removed).
func sourceDB(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "breakglass.db")
	db, err := sqlite.Open(path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	insertRequests(t, db, newRequest("r1", t0), newRequest("r2", t0))
	appendEvents(t, db, 0, 3)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestOpenReadOnlyCopy (issue 10, point 14): a copy of a database made
// read-only (file 0444 in a 0555 folder) opens with OpenReadOnly, reads,
// refuses writes with ErrReadOnly, backs up, and is left exactly as it
// was: same bytes, no -wal or -shm file beside it. As root the permission
// bits stop nothing, so the bytes and the folder's listing are what show
// that nothing was written.
func TestOpenReadOnlyCopy(t *testing.T) {
	ctx := context.Background()
	src := sourceDB(t)
	dir := filepath.Join(t.TempDir(), "evidence")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "breakglass.db")
	copyFile(t, src, path, 0o444)
	readOnlyFolder(t, dir)
	before := fileHash(t, path)

	db, err := sqlite.OpenReadOnly(path, sqlite.Options{})
	if err != nil {
		t.Fatalf("OpenReadOnly on a read-only copy: %v", err)
	}
	if !db.ReadOnly() {
		t.Error("ReadOnly() = false after OpenReadOnly")
	}
	if n, err := db.AuditSize(ctx); err != nil || n != 3 {
		t.Errorf("AuditSize = %d, %v; want 3", n, err)
	}
	err = db.View(ctx, func(tx broker.Tx) error {
		r, err := tx.Request("r2")
		if err == nil && r.Reason != newRequest("r2", t0).Reason {
			t.Errorf("request r2 reads back %+v", r)
		}
		return err
	})
	if err != nil {
		t.Errorf("View: %v", err)
	}
	if err := db.Update(ctx, func(tx *sqlite.Tx) error { return tx.InsertRequest(newRequest("r3", t0)) }); !errors.Is(err, sqlite.ErrReadOnly) {
		t.Errorf("a write on the read-only database: %v, want ErrReadOnly", err)
	}
	if err := db.Update(ctx, func(tx *sqlite.Tx) error { _, err := tx.Append(newEvent(9)); return err }); !errors.Is(err, sqlite.ErrReadOnly) {
		t.Errorf("an audit append on the read-only database: %v, want ErrReadOnly", err)
	}
	backup := filepath.Join(t.TempDir(), "backup.db")
	if err := db.BackupTo(ctx, backup); err != nil {
		t.Errorf("BackupTo from the read-only database: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}

	if got := folderNames(t, dir); !slices.Equal(got, []string{"breakglass.db"}) {
		t.Errorf("the read-only folder holds %v after the read-only open, want only breakglass.db (no -wal, no -shm)", got)
	}
	if fileHash(t, path) != before {
		t.Error("the read-only open changed the database file's bytes")
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o444 {
		t.Errorf("the copy's mode is %v, %v after the read-only open; want 0444 untouched", fi.Mode().Perm(), err)
	}
	// The backup is a whole database that the normal Open takes.
	b := mustOpen(t, backup)
	if n, err := b.AuditSize(ctx); err != nil || n != 3 {
		t.Errorf("the backup's AuditSize = %d, %v; want 3", n, err)
	}
}

// TestOpenReadOnlyLive: with a broker's writer open on the file (its WAL
// beside it), the read-only open reads the commits still in the WAL, and
// new ones as they land.
func TestOpenReadOnlyLive(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "breakglass.db")
	w := mustOpen(t, path)
	appendEvents(t, w, 0, 2)
	r, err := sqlite.OpenReadOnly(path, sqlite.Options{})
	if err != nil {
		t.Fatalf("OpenReadOnly beside a writer: %v", err)
	}
	defer r.Close()
	if n, err := r.AuditSize(ctx); err != nil || n != 2 {
		t.Errorf("AuditSize = %d, %v; want 2", n, err)
	}
	appendEvents(t, w, 2, 5)
	if n, err := r.AuditSize(ctx); err != nil || n != 5 {
		t.Errorf("AuditSize after the writer's next commit = %d, %v; want 5", n, err)
	}
}

// TestOpenReadOnlyWALCopy: a copy taken with its WAL (commits not yet in
// the main file) in a read-only folder. SQLite needs a -shm file to read
// the WAL: as a user who cannot create it the open fails saying so and
// what to do; as root (who can) the commits in the WAL are read.
func TestOpenReadOnlyWALCopy(t *testing.T) {
	ctx := context.Background()
	src := filepath.Join(t.TempDir(), "breakglass.db")
	w := mustOpen(t, src)
	appendEvents(t, w, 0, 4)
	if fi, err := os.Stat(src + "-wal"); err != nil || fi.Size() == 0 {
		t.Fatalf("the writer's WAL: %v, %v; want commits in it", fi, err)
	}
	dir := filepath.Join(t.TempDir(), "evidence")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "breakglass.db")
	copyFile(t, src, path, 0o444)
	copyFile(t, src+"-wal", path+"-wal", 0o444)
	readOnlyFolder(t, dir)
	before, beforeWAL := fileHash(t, path), fileHash(t, path+"-wal")
	db, err := sqlite.OpenReadOnly(path, sqlite.Options{})
	if os.Geteuid() != 0 {
		if err == nil {
			db.Close()
			t.Fatal("OpenReadOnly of a WAL copy without -shm in a read-only folder succeeded; want the explained refusal")
		}
		if !strings.Contains(err.Error(), "-shm") || !strings.Contains(err.Error(), "copy the database with its -wal file") {
			t.Errorf("OpenReadOnly of a WAL copy without -shm: %v; want the -shm explanation with what to do", err)
		}
	} else {
		if err != nil {
			t.Fatalf("OpenReadOnly of a WAL copy (as root, who may create -shm): %v", err)
		}
		if n, err := db.AuditSize(ctx); err != nil || n != 4 {
			t.Errorf("AuditSize = %d, %v; want the 4 entries in the WAL", n, err)
		}
		db.Close()
	}
	if fileHash(t, path) != before || fileHash(t, path+"-wal") != beforeWAL {
		t.Error("the read-only open changed the database or its WAL")
	}
}

// TestOpenReadOnlySchema: a read-only open does not migrate. A database
// behind this binary's schema is refused with what to do, one ahead of it
// with "upgrade", and either is left unchanged.
func TestOpenReadOnlySchema(t *testing.T) {
	for _, tc := range []struct {
		name, sql, want string
		old             bool
	}{
		{"older", `DELETE FROM schema_migrations WHERE version = (SELECT max(version) FROM schema_migrations)`, "older than this binary's", true},
		{"newer", `INSERT INTO schema_migrations (version, name, applied) VALUES (9999, '9999_future.sql', 0)`, "newer than this binary knows", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := sourceDB(t)
			raw := rawDB(t, path)
			if _, err := raw.Exec(tc.sql); err != nil {
				t.Fatal(err)
			}
			raw.Close()
			os.Remove(path + "-wal")
			os.Remove(path + "-shm")
			before := fileHash(t, path)
			db, err := sqlite.OpenReadOnly(path, sqlite.Options{})
			if err == nil {
				db.Close()
				t.Fatalf("OpenReadOnly on a database %s than the binary succeeded", tc.name)
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) || errors.Is(err, sqlite.ErrOldSchema) != tc.old {
				t.Errorf("OpenReadOnly: %v; want %q naming the file", err, tc.want)
			}
			if tc.old && !strings.Contains(err.Error(), "copy its data folder to one you can write") {
				t.Errorf("OpenReadOnly on an older schema: %v; want what to do", err)
			}
			if fileHash(t, path) != before {
				t.Error("the refused read-only open changed the file")
			}
		})
	}
}

// TestOpenReadOnlyRefusals: a missing file is not created, a text file is
// not a SQLite database, and an empty SQLite file is not a breakglass one.
func TestOpenReadOnlyRefusals(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.db")
	if _, err := sqlite.OpenReadOnly(missing, sqlite.Options{}); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("OpenReadOnly(missing) = %v, want not exist", err)
	}
	if _, err := os.Stat(missing); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("OpenReadOnly created %s: %v", missing, err)
	}
	text := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(text, []byte(strings.Repeat("this is not a database\n", 100)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := sqlite.OpenReadOnly(text, sqlite.Options{}); err == nil || !strings.Contains(err.Error(), "not a SQLite database") {
		t.Errorf("OpenReadOnly(text file) = %v, want not a SQLite database", err)
	}
	empty := filepath.Join(dir, "empty.db")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := sqlite.OpenReadOnly(empty, sqlite.Options{}); err == nil || !strings.Contains(err.Error(), "not a breakglass database") {
		t.Errorf("OpenReadOnly(empty file) = %v, want not a breakglass database", err)
	}
	if got := folderNames(t, dir); !slices.Equal(got, []string{"empty.db", "notes.txt"}) {
		t.Errorf("the folder holds %v after the refused opens, want only the two files", got)
	}
}
