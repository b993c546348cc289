package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/failsmall/breakglass/broker"
)

// Group commit. Changes from concurrent goroutines queue for the one writer
// connection; the writer takes every queued change into one BEGIN IMMEDIATE
// transaction, applies each in its own savepoint (so one change's failure
// rolls back only its own operations), and commits them with one fsync.
// Each change's preconditions see every change applied before it, so
// compare-and-swap semantics are those of one-at-a-time transactions; only
// the commit is shared. A commit failure fails every change of the batch.
// Nothing but the changes' own SQL runs in the writer: the broker verifies,
// mints and encodes before it commits.

// maxBatch bounds one group commit.
const maxBatch = 128

// errClosed is returned by Commit after Close.
var errClosed = errors.New("sqlite: database is closed")

type job struct {
	ctx context.Context
	fn  func(*Tx) error
	// memOnly says fn writes nothing but audit leaves, which stay in
	// memory until the batch's flush: it needs no savepoint to undo.
	memOnly  bool
	err      error
	panicked any
	done     chan struct{}
}

// Commit applies ch atomically and durably (synchronous=FULL): every
// operation, then every audit leaf, or nothing. A failed precondition is
// returned wrapping broker.ErrConflict, an operation of an unknown kind
// wrapping broker.ErrInvalid; disk full, I/O errors and commit failures
// are wrapped in broker.ErrAuditUnavailable, and so is a write lock still
// held by another process after the busy timeout.
func (db *DB) Commit(ctx context.Context, ch *broker.Change) error {
	if ch == nil {
		return fmt.Errorf("%w: sqlite: commit of a nil change", broker.ErrInvalid)
	}
	if err := ch.Err(); err != nil { // an event it could not encode: nothing of it commits
		return fmt.Errorf("sqlite: commit: %w", err)
	}
	return db.submit(&job{ctx: ctx, fn: func(t *Tx) error { return t.apply(ch) }, memOnly: len(ch.Ops) == 0})
}

// update runs fn in a write transaction and commits it durably
// (synchronous=FULL) when fn returns nil; otherwise it rolls back everything
// fn did, audit entries included. Errors are wrapped as Commit's are. A
// panic in fn rolls back fn's changes and is re-raised in the caller.
func (db *DB) update(ctx context.Context, fn func(*Tx) error) error {
	return db.submit(&job{ctx: ctx, fn: fn})
}

// submit queues j for the writer and waits for its outcome.
func (db *DB) submit(j *job) error {
	ctx := j.ctx
	if err := ctx.Err(); err != nil {
		return err
	}
	j.done = make(chan struct{})
	select {
	case db.jobs <- j:
	case <-ctx.Done():
		return ctx.Err()
	case <-db.closing:
		return errClosed
	}
	<-j.done // fn may be running: wait for its outcome whatever ctx says
	if j.panicked != nil {
		panic(j.panicked)
	}
	return j.err
}

// commitLoop is the writer: it runs until Close.
func (db *DB) commitLoop() {
	defer close(db.stopped)
	for {
		var batch []*job
		select {
		case j := <-db.jobs:
			batch = append(batch, j)
		case <-db.closing:
			return
		}
	drain:
		for len(batch) < maxBatch {
			select {
			case j := <-db.jobs:
				batch = append(batch, j)
			default:
				break drain
			}
		}
		db.runBatch(batch)
	}
}

func (db *DB) runBatch(batch []*job) {
	defer func() {
		for _, j := range batch {
			close(j.done)
		}
	}()
	// Queries run without the callers' contexts: interrupting a statement
	// inside an explicit transaction makes SQLite roll back the whole
	// transaction, other callers' changes included.
	ctx := context.Background()
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		for _, j := range batch {
			j.err = db.updateError("begin", err)
		}
		return
	}
	var ok []*job
	lb := &logBatch{}
	// A batch of one needs no savepoint: its failure rolls back everything.
	savepoints := len(batch) > 1
	for _, j := range batch {
		kept, fatal := db.runInBatch(tx, lb, j, savepoints)
		if fatal != nil { // the transaction is in an unknown state: keep nothing
			db.rollback(tx)
			db.edgeSet = false
			for _, o := range ok {
				o.err = db.updateError("rollback to savepoint", fatal)
			}
			return
		}
		if kept {
			ok = append(ok, j)
		}
	}
	if len(ok) == 0 {
		db.rollback(tx)
		return
	}
	t := &Tx{ctx: ctx, tx: tx, writable: true, now: db.clock, db: db, log: lb}
	if err := t.flushLog(); err != nil {
		db.rollback(tx)
		db.edgeSet = false
		for _, j := range ok {
			j.err = db.updateError("audit append", err)
		}
		return
	}
	if len(lb.pending) > 0 && db.sign != nil {
		db.checkpointInTx(t)
	}
	if err := tx.Commit(); err != nil {
		db.rollback(tx)
		db.edgeSet = false
		for _, j := range ok {
			j.err = fmt.Errorf("%w: sqlite: commit: %w", broker.ErrAuditUnavailable, err)
		}
		return
	}
	if lb.loaded {
		db.edge, db.edgeSet = lb.edge, true
	}
	if db.after != nil {
		db.after()
	}
}

// runInBatch runs one job in tx, in a savepoint when others share tx, and
// reports whether the job's changes stay; fatal is set when its changes
// could not be undone. The audit leaves a job appends join lb.
func (db *DB) runInBatch(tx *sql.Tx, lb *logBatch, j *job, savepoint bool) (kept bool, fatal error) {
	ctx := context.Background()
	if err := j.ctx.Err(); err != nil {
		j.err = err
		return false, nil
	}
	savepoint = savepoint && !j.memOnly
	if savepoint {
		if _, err := tx.ExecContext(ctx, "SAVEPOINT bg_update"); err != nil {
			j.err = db.updateError("savepoint", err)
			return false, nil
		}
	}
	m := lb.mark()
	t := &Tx{ctx: ctx, tx: tx, writable: true, now: db.clock, db: db, log: lb}
	err := runJob(j, t)
	switch {
	case err != nil || j.panicked != nil:
	case t.broken != nil:
		err = fmt.Errorf("not committing after a failed audit append: %w", t.broken)
	case j.ctx.Err() != nil: // the caller gave up while fn ran: keep nothing
		err = j.ctx.Err()
	case !savepoint:
		return true, nil
	default:
		if _, err = tx.ExecContext(ctx, "RELEASE bg_update"); err == nil {
			return true, nil
		}
	}
	if err != nil {
		j.err = db.updateError("", err)
	}
	lb.reset(m)
	if !savepoint {
		// A memOnly job left nothing in the tables; a batch of one is
		// rolled back whole by the caller.
		return false, nil
	}
	if _, err := tx.ExecContext(ctx, "ROLLBACK TO bg_update; RELEASE bg_update"); err != nil {
		return false, err
	}
	return false, nil
}

// checkpointInTx signs and records a checkpoint of the log as t's batch
// leaves it, so that it commits with the entries.
func (db *DB) checkpointInTx(t *Tx) {
	size := t.log.size()
	root, err := tlog.TreeHash(size, &t.log.edge)
	if err == nil {
		var signed []byte
		if signed, err = db.sign(size, root); err == nil {
			err = t.InsertCheckpoint(size, signed)
		}
	}
	if err != nil {
		db.log.Warn("no checkpoint in this commit; the checkpointer signs one later", "size", size, "err", err)
	}
}

// runJob runs j.fn, turning a panic into j.panicked for the caller.
func runJob(j *job, t *Tx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			j.panicked = p
		}
	}()
	return j.fn(t)
}
