package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"

	"github.com/mattn/go-sqlite3"
)

// BackupTo writes a consistent copy of the database to path, which must
// not exist, with VACUUM INTO: one read transaction, so writers go on
// meanwhile and the copy holds every commit before it began. The copy is
// made 0600.
func (db *DB) BackupTo(ctx context.Context, path string) error {
	if _, err := os.Lstat(path); err == nil {
		return fmt.Errorf("sqlite: backup: %s exists; choose a new file", path)
	}
	if err := createPrivate(path); err != nil {
		return fmt.Errorf("sqlite: backup: %w", err)
	}
	if _, err := db.w.ExecContext(ctx, `VACUUM INTO ?`, path); err != nil { // the readers are query_only
		os.Remove(path)
		return fmt.Errorf("sqlite: backup to %s: %w", path, err)
	}
	return nil
}

// createPrivate creates path empty with mode 0600 (VACUUM INTO accepts an
// empty file, and keeps its mode).
func createPrivate(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	return f.Close()
}

// ErrInUse: another connection, such as a running broker, has the
// database open.
var ErrInUse = errors.New("the database is in use")

// Quiesce takes an exclusive lock on the database at path, which fails at
// once with ErrInUse while any other process has it open (a running
// broker); it folds the write-ahead log into the database file, so that
// the file alone holds everything, and returns the log's size. The lock is
// released before Quiesce returns: the caller moves the file next.
func Quiesce(ctx context.Context, path string) (entries int64, err error) {
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=rw&_locking_mode=EXCLUSIVE&_busy_timeout=0")
	if err != nil {
		return 0, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	inUse := func(err error) error {
		var se sqlite3.Error
		if errors.As(err, &se) && (se.Code == sqlite3.ErrBusy || se.Code == sqlite3.ErrLocked) {
			return fmt.Errorf("%w: %s is open in another process: stop every broker on this data folder first", ErrInUse, path)
		}
		return fmt.Errorf("sqlite: lock %s: %w", path, err)
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		return 0, inUse(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `BEGIN EXCLUSIVE`); err != nil {
		return 0, inUse(err)
	}
	if err := conn.QueryRowContext(ctx, `SELECT count(*) FROM audit_entries`).Scan(&entries); err != nil {
		conn.ExecContext(ctx, `ROLLBACK`)
		return 0, fmt.Errorf("sqlite: %s: %w", path, err)
	}
	if _, err := conn.ExecContext(ctx, `COMMIT`); err != nil {
		return 0, fmt.Errorf("sqlite: %s: %w", path, err)
	}
	if _, err := conn.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		return 0, fmt.Errorf("sqlite: checkpoint the write-ahead log of %s: %w", path, err)
	}
	return entries, nil
}
