// Package faultstore wraps a broker.Store with faults a test schedules: an
// operation that fails in the middle of a change, an error after a commit
// succeeded, conflicts, and a racing writer that commits just before a
// change. The faults act on the real store underneath (a SQLite file in the
// tests), so what a test then reads is what the store really kept.
package faultstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/failsmall/breakglass/broker"
)

// ErrAfterCommit is returned by a commit scheduled with FailAfterCommit: the
// change was applied and is durable, but its caller hears otherwise, as
// after a connection lost at the worst moment.
var ErrAfterCommit = errors.New("faultstore: injected failure after the commit succeeded")

// Store is a broker.Store with scheduled faults. Each fault applies to the
// next commit (in scheduling order), then is spent.
type Store struct {
	broker.Store

	mu      sync.Mutex
	faults  []fault
	commits []*broker.Change // every change offered to Commit, faults included
}

type fault struct {
	failOp      int // fail the operation at this index; -1 for none
	afterCommit bool
	conflict    bool
	before      func()
}

// New wraps st.
func New(st broker.Store) *Store { return &Store{Store: st} }

// FailOp makes the next commit fail at its operation n (counting from 0):
// the store applies the operations before it, then meets an operation it
// does not know, so it must undo them all. An n at or past the change's
// last operation fails after every operation, before the audit leaves.
func (s *Store) FailOp(n int) { s.schedule(fault{failOp: n}) }

// FailAfterCommit makes the next commit apply its change and then return
// ErrAfterCommit.
func (s *Store) FailAfterCommit() { s.schedule(fault{failOp: -1, afterCommit: true}) }

// Conflict makes the next commit return broker.ErrConflict without applying
// anything, as if a precondition had failed.
func (s *Store) Conflict() { s.schedule(fault{failOp: -1, conflict: true}) }

// Before runs fn just before the next commit applies: fn may commit a
// racing change through the same store (its own commits are not faulted),
// so that the next change's preconditions really fail.
func (s *Store) Before(fn func()) { s.schedule(fault{failOp: -1, before: fn}) }

func (s *Store) schedule(f fault) {
	s.mu.Lock()
	s.faults = append(s.faults, f)
	s.mu.Unlock()
}

// Pending is the number of scheduled faults not yet spent.
func (s *Store) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.faults)
}

// Commits returns every change offered to Commit so far, in order.
func (s *Store) Commits() []*broker.Change {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.commits)
}

// Commit applies ch to the wrapped store, with the next scheduled fault.
func (s *Store) Commit(ctx context.Context, ch *broker.Change) error {
	s.mu.Lock()
	s.commits = append(s.commits, ch)
	var f fault
	have := len(s.faults) > 0
	if have {
		f, s.faults = s.faults[0], s.faults[1:]
	}
	s.mu.Unlock()
	if !have {
		return s.Store.Commit(ctx, ch)
	}
	switch {
	case f.before != nil:
		f.before()
		return s.Store.Commit(ctx, ch)
	case f.conflict:
		return fmt.Errorf("%w: faultstore: injected conflict", broker.ErrConflict)
	case f.afterCommit:
		if err := s.Store.Commit(ctx, ch); err != nil {
			return err
		}
		return ErrAfterCommit
	default:
		failed := *ch
		n := min(f.failOp, len(ch.Ops))
		failed.Ops = slices.Concat(ch.Ops[:n:n], []broker.Op{failing{}}, ch.Ops[n:])
		return s.Store.Commit(ctx, &failed)
	}
}

// failing is an operation no store knows.
type failing struct{}

func (failing) Kind() string { return "faultstore.fail" }
