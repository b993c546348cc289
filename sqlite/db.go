// Package sqlite implements broker.Store and the audit log's storage on
// SQLite (mattn/go-sqlite3): STRICT tables, WAL, synchronous=FULL, one
// immediate-mode writer connection and a pool of read-only readers on the
// same file.
package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/mattn/go-sqlite3"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/failsmall/breakglass/broker"
)

// Options configures Open. The zero value is usable.
type Options struct {
	Logger *slog.Logger
	// BusyTimeout is how long a writer waits for another process's write
	// lock before giving up; zero means DefaultBusyTimeout.
	BusyTimeout time.Duration
	// Clock stamps migration and checkpoint rows; nil means the wall clock.
	Clock broker.Clock
	// AfterCommit, when set, is called by the writer after each successful
	// commit, before the committed updates return. It MUST return quickly
	// (it delays every writer): wake a goroutine, don't do the work.
	AfterCommit func()
	// SignCheckpoint, when set, signs a checkpoint of the log's new size and
	// root at the end of each write transaction that appended to the log;
	// the checkpoint is recorded in that same transaction, so one fsync
	// makes the entries and their checkpoint durable. It runs on the writer:
	// it MUST only sign (no I/O). A failure is logged and the transaction
	// commits without a checkpoint (the Checkpointer signs one later).
	SignCheckpoint func(size int64, root tlog.Hash) ([]byte, error)
}

// DefaultBusyTimeout is the writer's lock wait when Options leaves it zero.
const DefaultBusyTimeout = 5 * time.Second

// DB is a breakglass database file. It is safe for concurrent use by many
// goroutines and, through SQLite's file locks, by many processes.
type DB struct {
	path  string
	w     *sql.DB // one connection, BEGIN IMMEDIATE
	r     *sql.DB // read-only connections
	log   *slog.Logger
	busy  time.Duration
	clock broker.Clock
	after func() // Options.AfterCommit, or nil
	sign  func(size int64, root tlog.Hash) ([]byte, error)
	// jobs feeds the group-commit writer (commit.go); closing stops it and
	// stopped says it has.
	jobs             chan *job
	closing, stopped chan struct{}
	closeOnce        sync.Once
	// edge is the audit tree's right edge after the writer's last commit
	// (audit_batch.go), when edgeSet; only the writer goroutine uses it.
	edge    edge
	edgeSet bool
	// readOnly is set by OpenReadOnly.
	readOnly bool
}

var _ broker.Store = (*DB)(nil)

// Open opens or creates the database at path and applies any migration it
// lacks. It fails with a clear error when path is not a SQLite database or
// holds a schema newer than this binary knows.
func Open(path string, opts Options) (*DB, error) {
	if path == "" {
		return nil, errors.New("sqlite: open: empty database path")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	if err := private(abs); err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	db := &DB{path: path, log: opts.Logger, busy: opts.BusyTimeout, clock: opts.Clock, after: opts.AfterCommit,
		sign: opts.SignCheckpoint}
	if db.log == nil {
		db.log = slog.New(slog.DiscardHandler)
	}
	if db.busy <= 0 {
		db.busy = DefaultBusyTimeout
	}
	if db.clock == nil {
		db.clock = broker.SystemClock{}
	}
	db.w = sql.OpenDB(newWriterConnector(dsn(abs, db.busy, false)))
	db.w.SetMaxOpenConns(1)
	ctx := context.Background()
	if err := db.migrate(ctx); err != nil {
		db.w.Close()
		return nil, err
	}
	// Readers open after the migrations so the file exists and is in WAL.
	if db.r, err = sql.Open("sqlite3", dsn(abs, db.busy, true)); err != nil {
		db.w.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	// Keep every reader open: database/sql keeps two idle by default and
	// closes the rest as they are returned, and a new SQLite connection
	// parses the schema and prepares its statements again (about 0.5 ms)
	// on its first query, which under concurrent reads was a third of
	// each read snapshot's cost.
	readers := max(4, runtime.NumCPU())
	db.r.SetMaxOpenConns(readers)
	db.r.SetMaxIdleConns(readers)
	if err := db.r.PingContext(ctx); err != nil {
		db.r.Close()
		db.w.Close()
		return nil, db.openError("open reader", err)
	}
	db.jobs, db.closing, db.stopped = make(chan *job), make(chan struct{}), make(chan struct{})
	go db.commitLoop()
	return db, nil
}

// ErrReadOnly is what every write to a database opened with OpenReadOnly
// returns.
var ErrReadOnly = errors.New("sqlite: the database was opened read-only")

// OpenReadOnly opens the existing database at path for reading only: the
// audit commands' --db, which must work on a copy in a folder this user
// cannot write (evidence handed over, a backup on read-only media) and
// never change the file they are checking. It never creates the file,
// never migrates it, and never writes to it or beside it:
//
//   - When no WAL file is beside it (a broker closed cleanly, a copy of the
//     database file alone, a backup), everything is in the file and it is
//     opened immutable=1: SQLite takes no lock and creates no -wal or -shm
//     file. This assumes nothing writes the file meanwhile; a broker that
//     starts on it during the read may make the reader see a torn state and
//     fail, never a false success for a log that verifies otherwise.
//   - When a WAL file is beside it (a running broker, or a copy taken with
//     its WAL), it is opened mode=ro so the commits still in the WAL are
//     read; SQLite then needs the -shm file, and creates it when it is
//     missing and the folder lets it.
//
// A database whose schema is older than this binary's is refused with what
// to do (a read-only open cannot migrate it), as is one newer than it
// knows. Every write method returns ErrReadOnly; BackupTo works.
func OpenReadOnly(path string, opts Options) (*DB, error) {
	if path == "" {
		return nil, errors.New("sqlite: open: empty database path")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s read-only: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("sqlite: open %s read-only: not a regular file (want the breakglass.db of a data folder)", path)
	}
	db := &DB{path: path, log: opts.Logger, busy: opts.BusyTimeout, clock: opts.Clock, readOnly: true}
	if db.log == nil {
		db.log = slog.New(slog.DiscardHandler)
	}
	if db.busy <= 0 {
		db.busy = DefaultBusyTimeout
	}
	if db.clock == nil {
		db.clock = broker.SystemClock{}
	}
	immutable := walIsEmpty(abs)
	if db.r, err = sql.Open("sqlite3", readOnlyDSN(abs, db.busy, immutable, true)); err != nil {
		return nil, fmt.Errorf("sqlite: open %s read-only: %w", path, err)
	}
	readers := max(4, runtime.NumCPU())
	db.r.SetMaxOpenConns(readers)
	db.r.SetMaxIdleConns(readers)
	// The "writer" of a read-only database is one more read-only connection
	// without query_only, for VACUUM INTO (BackupTo), which query_only
	// refuses. Nothing else uses it: the commit loop refuses every write.
	if db.w, err = sql.Open("sqlite3", readOnlyDSN(abs, db.busy, immutable, false)); err != nil {
		db.r.Close()
		return nil, fmt.Errorf("sqlite: open %s read-only: %w", path, err)
	}
	db.w.SetMaxOpenConns(1)
	if err := db.checkSchema(context.Background(), immutable); err != nil {
		db.r.Close()
		db.w.Close()
		return nil, err
	}
	db.jobs, db.closing, db.stopped = make(chan *job), make(chan struct{}), make(chan struct{})
	go db.refuseWrites()
	return db, nil
}

// ReadOnly says whether db was opened with OpenReadOnly.
func (db *DB) ReadOnly() bool { return db.readOnly }

// walIsEmpty says whether the database at abs has nothing outside its main
// file: no WAL file, or an empty one that no process has open (no -shm).
func walIsEmpty(abs string) bool {
	wal, err := os.Stat(abs + "-wal")
	if errors.Is(err, fs.ErrNotExist) {
		return true
	}
	if err != nil || wal.Size() > 0 {
		return false
	}
	_, err = os.Stat(abs + "-shm")
	return errors.Is(err, fs.ErrNotExist)
}

// readOnlyDSN is dsn for OpenReadOnly: no journal mode or synchronous
// setting (they would be writes), mode=ro, and immutable=1 when everything
// is in the main file.
func readOnlyDSN(abs string, busy time.Duration, immutable, queryOnly bool) string {
	q := url.Values{}
	q.Set("mode", "ro")
	if immutable {
		q.Set("immutable", "1")
	}
	q.Set("_foreign_keys", "on")
	q.Set("_busy_timeout", strconv.FormatInt(busy.Milliseconds(), 10))
	q.Set("_stmt_cache_size", "64")
	if queryOnly {
		q.Set("_query_only", "on")
	}
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(abs), RawQuery: q.Encode()}
	return u.String()
}

// refuseWrites is the commit loop of a read-only database: it answers
// every write with ErrReadOnly until Close.
func (db *DB) refuseWrites() {
	defer close(db.stopped)
	for {
		select {
		case j := <-db.jobs:
			j.err = fmt.Errorf("%w: %s", ErrReadOnly, db.path)
			close(j.done)
		case <-db.closing:
			return
		}
	}
}

// private creates the database file 0600 when it is missing, before SQLite
// would create it with the umask's mode (0644, typically), and takes group
// and other access away from an existing one and its WAL and shared-memory
// files: they hold live credentials. SQLite creates the WAL and -shm files
// with the database file's mode.
func private(abs string) error {
	f, err := os.OpenFile(abs, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err == nil {
		return f.Close()
	}
	if !errors.Is(err, fs.ErrExist) {
		return err
	}
	for _, p := range []string{abs, abs + "-wal", abs + "-shm"} {
		fi, err := os.Stat(p)
		if err != nil || fi.Mode().Perm()&0o077 == 0 || !fi.Mode().IsRegular() {
			continue
		}
		if err := os.Chmod(p, fi.Mode().Perm()&0o700); err != nil {
			return fmt.Errorf("%s is readable by group or others (mode %04o) and cannot be made private: %w; run `chmod 600 %s`", p, fi.Mode().Perm(), err, p)
		}
	}
	return nil
}

// dsn is the one place that sets connection pragmas. Writers take the write
// lock at BEGIN (immediate), so a transaction that reads then writes cannot
// fail to upgrade its lock halfway; readers are read-only at the SQLite
// level, so View cannot write even by mistake.
func dsn(abs string, busy time.Duration, readOnly bool) string {
	q := url.Values{}
	q.Set("_journal_mode", "WAL")
	q.Set("_synchronous", "FULL")
	q.Set("_foreign_keys", "on")
	q.Set("_busy_timeout", strconv.FormatInt(busy.Milliseconds(), 10))
	// Reuse prepared statements: preparing one costs more than running it.
	q.Set("_stmt_cache_size", "64")
	if readOnly {
		q.Set("mode", "ro")
		q.Set("_query_only", "on")
	} else {
		q.Set("_txlock", "immediate")
	}
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(abs), RawQuery: q.Encode()}
	return u.String()
}

// writerConnector opens the writer's connection with the pragmas the DSN
// cannot carry: temp_store=MEMORY keeps the statement journals of the group
// commit's per-update savepoints in memory instead of an unlinked temporary
// file (about 50 page writes a flow under concurrency). They are scratch
// space for one transaction; durability comes from the WAL.
type writerConnector struct {
	dsn string
	d   *sqlite3.SQLiteDriver
}

func newWriterConnector(dsn string) writerConnector {
	return writerConnector{dsn: dsn, d: &sqlite3.SQLiteDriver{ConnectHook: func(c *sqlite3.SQLiteConn) error {
		_, err := c.Exec("PRAGMA temp_store = MEMORY", nil)
		return err
	}}}
}

func (w writerConnector) Connect(context.Context) (driver.Conn, error) { return w.d.Open(w.dsn) }
func (w writerConnector) Driver() driver.Driver                        { return w.d }

// Close closes both pools.
func (db *DB) Close() error {
	db.closeOnce.Do(func() {
		close(db.closing)
		<-db.stopped
	})
	var errs []error
	if db.r != nil {
		errs = append(errs, db.r.Close())
	}
	errs = append(errs, db.w.Close())
	return errors.Join(errs...)
}

// Path returns the path the database was opened with.
func (db *DB) Path() string { return db.path }

// View runs fn in a read-only snapshot of the database; fn's write methods
// fail.
func (db *DB) View(ctx context.Context, fn func(broker.Tx) error) error {
	tx, err := db.begin(ctx, db.r)
	if err != nil {
		return fmt.Errorf("sqlite: begin read: %w", db.busyError(err))
	}
	defer db.rollback(tx)
	if err := fn(&Tx{ctx: ctx, tx: tx, now: db.clock}); err != nil {
		return db.busyError(err)
	}
	return nil
}

func (db *DB) begin(ctx context.Context, pool *sql.DB) (*sql.Tx, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return pool.BeginTx(ctx, nil)
}

func (db *DB) rollback(tx *sql.Tx) {
	if err := tx.Rollback(); err != nil && !errors.Is(err, sql.ErrTxDone) {
		db.log.Warn("rollback failed", "path", db.path, "err", err)
	}
}

// updateError wraps the errors that mean "the write could not be made
// durable" in broker.ErrAuditUnavailable, keeping SQLite's message.
func (db *DB) updateError(op string, err error) error {
	unavailable := false
	var se sqlite3.Error
	if errors.As(err, &se) {
		switch se.Code {
		case sqlite3.ErrFull, sqlite3.ErrIoErr:
			unavailable = true
		case sqlite3.ErrBusy, sqlite3.ErrLocked:
			unavailable, err = true, db.busyError(err)
		}
	}
	if op != "" {
		err = fmt.Errorf("sqlite: %s: %w", op, err)
	}
	if unavailable {
		return fmt.Errorf("%w: %w", broker.ErrAuditUnavailable, err)
	}
	return err
}

// busyError says plainly that another writer held the lock too long.
func (db *DB) busyError(err error) error {
	var se sqlite3.Error
	if errors.As(err, &se) && (se.Code == sqlite3.ErrBusy || se.Code == sqlite3.ErrLocked) {
		return fmt.Errorf("%s is locked by another writer for longer than the busy timeout (%v): %w", db.path, db.busy, err)
	}
	return err
}

// openError names the two ways a file can be unusable at open.
func (db *DB) openError(op string, err error) error {
	var se sqlite3.Error
	if errors.As(err, &se) && se.Code == sqlite3.ErrNotADB {
		return fmt.Errorf("sqlite: %s is not a SQLite database: %w", db.path, err)
	}
	return fmt.Errorf("sqlite: %s %s: %w", op, db.path, db.busyError(err))
}
