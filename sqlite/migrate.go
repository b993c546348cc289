package sqlite

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"strconv"
	"time"

	"github.com/mattn/go-sqlite3"

	"github.com/failsmall/breakglass/migrations"
)

// migration is one numbered schema file.
type migration struct {
	version int
	name    string
	sql     string
}

var migrationName = regexp.MustCompile(`^([0-9]{4})_[a-z0-9_]+\.sql$`)

// loadMigrations reads NNNN_name.sql files from fsys, in order. Versions must
// run 1, 2, 3... with no gap or repeat, so that a schema version names
// exactly one set of files.
func loadMigrations(fsys fs.FS) ([]migration, error) {
	names, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		return nil, fmt.Errorf("sqlite: list migrations: %w", err)
	}
	slices.Sort(names)
	var ms []migration
	for i, name := range names {
		m := migrationName.FindStringSubmatch(path.Base(name))
		if m == nil {
			return nil, fmt.Errorf("sqlite: migration %q: name must be NNNN_name.sql", name)
		}
		v, _ := strconv.Atoi(m[1])
		if v != i+1 {
			return nil, fmt.Errorf("sqlite: migration %q: want version %04d (versions start at 1 with no gap)", name, i+1)
		}
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("sqlite: read migration %q: %w", name, err)
		}
		ms = append(ms, migration{version: v, name: name, sql: string(b)})
	}
	return ms, nil
}

// migrate applies the embedded migrations that w's database lacks.
func (db *DB) migrate(ctx context.Context) error {
	ms, err := loadMigrations(migrations.FS)
	if err != nil {
		return err
	}
	for _, m := range ms {
		if err := db.migrateRetry(ctx, m, len(ms)); err != nil {
			return err
		}
	}
	return nil
}

// migrateRetry runs migrateOne, trying again while another process holds
// the lock, up to the busy timeout. SQLite's own busy handler does not cover
// every case here: a connection opening a brand-new file while another
// process turns it into WAL mode can get SQLITE_BUSY at once.
func (db *DB) migrateRetry(ctx context.Context, m migration, known int) error {
	deadline := time.Now().Add(db.busy)
	for {
		err := db.migrateOne(ctx, m, known)
		var se sqlite3.Error
		if err == nil || !errors.As(err, &se) || (se.Code != sqlite3.ErrBusy && se.Code != sqlite3.ErrLocked) || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// migrateOne applies m in its own immediate transaction unless the database
// already has it. The version is read inside the transaction, after the
// write lock is taken, so two processes opening the same new file apply each
// file once: the second waits for the first, then finds it applied.
func (db *DB) migrateOne(ctx context.Context, m migration, known int) (err error) {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return db.openError("begin migration", err)
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	const create = `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied INTEGER NOT NULL) STRICT`
	if _, err := tx.ExecContext(ctx, create); err != nil {
		return db.openError("create schema_migrations", err)
	}
	var have int
	if err := tx.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&have); err != nil {
		return db.openError("read schema version", err)
	}
	if have > known {
		return fmt.Errorf("sqlite: %s has schema version %d, newer than this binary knows (%d): upgrade breakglass", db.path, have, known)
	}
	if have >= m.version {
		return tx.Commit()
	}
	if have != m.version-1 {
		return fmt.Errorf("sqlite: %s has schema version %d, cannot apply migration %s", db.path, have, m.name)
	}
	if _, err := tx.ExecContext(ctx, m.sql); err != nil {
		return fmt.Errorf("sqlite: migration %s: %w", m.name, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied) VALUES (?, ?, ?)`,
		m.version, m.name, db.clock.Now().UnixNano()); err != nil {
		return fmt.Errorf("sqlite: record migration %s: %w", m.name, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: commit migration %s: %w", m.name, err)
	}
	db.log.Info("applied migration", "path", db.path, "migration", m.name)
	return nil
}

// SchemaVersion returns the highest migration applied to the database.
func (db *DB) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	err := db.r.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("sqlite: read schema version: %w", err)
	}
	return v, nil
}

// checkSchema is what OpenReadOnly does instead of migrating: it reads the
// schema version and refuses a database that is not at this binary's, with
// what to do. The first query is the one that opens the file, so SQLite's
// failures to open it are explained here too.
func (db *DB) checkSchema(ctx context.Context, immutable bool) error {
	ms, err := loadMigrations(migrations.FS)
	if err != nil {
		return err
	}
	known := len(ms)
	var tables int
	if err := db.r.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'`).Scan(&tables); err != nil {
		return db.readOnlyOpenError(err, immutable)
	}
	if tables == 0 {
		return fmt.Errorf("sqlite: %s is not a breakglass database (it has no schema_migrations table): pass the breakglass.db of a broker's data folder", db.path)
	}
	var have int
	if err := db.r.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&have); err != nil {
		return db.readOnlyOpenError(err, immutable)
	}
	switch {
	case have > known:
		return fmt.Errorf("sqlite: %s has schema version %d, newer than this binary knows (%d): upgrade breakglass", db.path, have, known)
	case have < known:
		return fmt.Errorf("sqlite: %s has schema version %d, older than this binary's (%d), so the %w, which a read-only open does not make: "+
			"read it with the breakglass version that wrote it, or copy its data folder to one you can write, start `breakglass serve --data COPY` on the copy once (it migrates the copy) and read the copy",
			db.path, have, known, ErrOldSchema)
	}
	return nil
}

// ErrOldSchema is what OpenReadOnly returns for a database that would need
// a migration.
var ErrOldSchema = errors.New("database needs a migration")

// readOnlyOpenError explains why a read-only open could not read the file.
func (db *DB) readOnlyOpenError(err error, immutable bool) error {
	var se sqlite3.Error
	if errors.As(err, &se) && se.Code == sqlite3.ErrNotADB {
		return fmt.Errorf("sqlite: %s is not a SQLite database: %w", db.path, err)
	}
	if errors.As(err, &se) && se.Code == sqlite3.ErrCantOpen && !immutable {
		return fmt.Errorf("sqlite: open %s read-only: %w: its WAL file (%s-wal) holds commits not yet in the database, and SQLite needs %s-shm beside it to read them, which it cannot create in that folder: "+
			"copy the database with its -wal file to a folder you can write and pass the copy, or stop the broker so it moves the WAL into the database", db.path, err, db.path, db.path)
	}
	return fmt.Errorf("sqlite: open %s read-only: %w", db.path, db.busyError(err))
}
