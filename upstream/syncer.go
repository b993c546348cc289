package upstream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Syncer defaults.
const (
	DefaultEvery   = 30 * time.Second
	DefaultTimeout = 10 * time.Second
)

// NeverSucceeded is what SourceStatus.Age returns for a source that never
// yielded an accepted result.
const NeverSucceeded time.Duration = -1

// SourceStatus is what a Syncer knows of one source.
type SourceStatus struct {
	Name string
	Kind string // "http", "path", "scim", or a custom Source's Kind()

	LastAttempt time.Time // start of the last poll; zero before the first
	LastSuccess time.Time // end of the last poll that Apply accepted
	LastErrorAt time.Time // end of the last poll that failed
	LastError   string    // why it failed; kept after later successes
	// Result is Apply's (or ApplyDirectory's) short outcome of the last
	// success: "current", "activated serial 3", "older serial 1"...
	Result string
}

// Age is how long ago the source last succeeded, or NeverSucceeded.
func (s SourceStatus) Age(now time.Time) time.Duration {
	if s.LastSuccess.IsZero() {
		return NeverSucceeded
	}
	return now.Sub(s.LastSuccess)
}

// Failing reports whether the source's last completed poll failed.
func (s SourceStatus) Failing() bool { return s.LastErrorAt.After(s.LastSuccess) }

// Syncer polls upstreams for signed policy bundles and SCIM directories
// and hands what they return to Apply and ApplyDirectory. It never blocks
// its caller on an upstream: each source is polled on its own goroutine,
// each poll is bounded by Timeout, and a source whose Fetch ignores its
// context is not polled again until that Fetch returns (the poll is
// recorded as failed meanwhile).
//
// Set the fields before the first call to a method and don't change them
// after. Status is safe for concurrent use with Run and PollOnce.
type Syncer struct {
	Sources     []Source
	Directories []*SCIMSource
	Every       time.Duration // between polls of one source; 0 means DefaultEvery
	Timeout     time.Duration // per fetch; 0 means DefaultTimeout

	// Apply is called with each fetched bundle file and the source's
	// Name; it returns a short result or an error (a rejected bundle is a
	// failure of that source). ApplyDirectory likewise for a fetched SCIM
	// directory. The Syncer never calls them concurrently with each
	// other, so they need no locking of their own; they should return
	// promptly and honour ctx. A nil one makes every poll of its sources
	// fail.
	Apply          func(ctx context.Context, source string, raw []byte) (string, error)
	ApplyDirectory func(ctx context.Context, source string, d *Directory) (string, error)

	Logger *slog.Logger     // nil discards
	Now    func() time.Time // nil means time.Now

	once    sync.Once
	targets []target
	applyMu sync.Mutex // serializes Apply and ApplyDirectory

	mu    sync.Mutex // guards the fields below
	state []targetState
}

// target is one source as the Syncer polls it: fetch returns a function
// that applies what was fetched.
type target struct {
	name, kind string
	fetch      func(ctx context.Context) (apply func(ctx context.Context) (string, error), err error)
}

type targetState struct {
	status   SourceStatus
	inflight bool // a Fetch that outlived its poll has not returned yet
}

// errBusy: the previous Fetch of a source has not returned.
var errBusy = errors.New("previous fetch has not returned yet (it ignores its deadline); not polling again until it does")

func (s *Syncer) init() {
	s.once.Do(func() {
		for _, src := range s.Sources {
			s.targets = append(s.targets, s.sourceTarget(src))
		}
		for _, d := range s.Directories {
			s.targets = append(s.targets, s.directoryTarget(d))
		}
		s.state = make([]targetState, len(s.targets))
		for i, t := range s.targets {
			s.state[i].status = SourceStatus{Name: t.name, Kind: t.kind}
		}
	})
}

func (s *Syncer) sourceTarget(src Source) target {
	kind := "source"
	if k, ok := src.(interface{ Kind() string }); ok {
		kind = k.Kind()
	}
	name := src.Name()
	return target{name: name, kind: kind, fetch: func(ctx context.Context) (func(context.Context) (string, error), error) {
		raw, err := src.Fetch(ctx)
		if err != nil {
			return nil, err
		}
		return func(ctx context.Context) (string, error) {
			if s.Apply == nil {
				return "", errors.New("the syncer has no Apply function")
			}
			return s.Apply(ctx, name, raw)
		}, nil
	}}
}

func (s *Syncer) directoryTarget(src *SCIMSource) target {
	name := src.Name()
	return target{name: name, kind: "scim", fetch: func(ctx context.Context) (func(context.Context) (string, error), error) {
		d, err := src.Fetch(ctx)
		if err != nil {
			return nil, err
		}
		return func(ctx context.Context) (string, error) {
			if s.ApplyDirectory == nil {
				return "", errors.New("the syncer has no ApplyDirectory function")
			}
			return s.ApplyDirectory(ctx, name, d)
		}, nil
	}}
}

// Status returns a snapshot of every source's status, Sources first then
// Directories, in configuration order.
func (s *Syncer) Status() []SourceStatus {
	s.init()
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]SourceStatus, len(s.state))
	for i, st := range s.state {
		out[i] = st.status
	}
	return out
}

// PollOnce polls every source concurrently and returns when each poll has
// ended: done, failed, or timed out.
func (s *Syncer) PollOnce(ctx context.Context) {
	s.init()
	var wg sync.WaitGroup
	for i := range s.targets {
		wg.Go(func() { s.poll(ctx, i) })
	}
	wg.Wait()
}

// Run polls every source at once and then every Every, each on its own
// schedule, until ctx ends; a slow or hanging source delays no other.
func (s *Syncer) Run(ctx context.Context) {
	s.init()
	var wg sync.WaitGroup
	for i := range s.targets {
		wg.Go(func() { s.loop(ctx, i) })
	}
	wg.Wait()
}

func (s *Syncer) loop(ctx context.Context, i int) {
	every := s.Every
	if every <= 0 {
		every = DefaultEvery
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		s.poll(ctx, i)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// poll fetches target i within Timeout, applies what it got and records
// the outcome.
func (s *Syncer) poll(ctx context.Context, i int) {
	if ctx.Err() != nil {
		return
	}
	t := s.targets[i]
	if !s.begin(i) {
		s.end(i, "", errBusy)
		return
	}
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	fctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	type fetched struct {
		apply func(context.Context) (string, error)
		err   error
	}
	done := make(chan fetched, 1)
	go func() {
		apply, err := t.fetch(fctx)
		s.mu.Lock()
		s.state[i].inflight = false
		s.mu.Unlock()
		done <- fetched{apply, err}
	}()
	select {
	case f := <-done:
		if f.err != nil && ctx.Err() != nil {
			return // shutting down: not the source's failure
		}
		if f.err != nil {
			s.end(i, "", f.err)
			return
		}
		s.applyMu.Lock()
		result, err := f.apply(ctx)
		s.applyMu.Unlock()
		s.end(i, result, err)
	case <-fctx.Done():
		if ctx.Err() != nil {
			return
		}
		s.end(i, "", fmt.Errorf("%s: no answer within %v: %w", t.name, timeout, context.Cause(fctx)))
	}
}

// begin records the attempt and marks a Fetch in flight; false when the
// previous one has not returned.
func (s *Syncer) begin(i int) bool {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	st := &s.state[i]
	st.status.LastAttempt = now
	if st.inflight {
		return false
	}
	st.inflight = true
	return true
}

func (s *Syncer) end(i int, result string, err error) {
	now := s.now()
	name := s.targets[i].name
	s.mu.Lock()
	st := &s.state[i].status
	if err != nil {
		st.LastErrorAt, st.LastError = now, err.Error()
	} else {
		st.LastSuccess, st.Result = now, result
	}
	s.mu.Unlock()
	if err != nil {
		s.logger().Warn("policy source poll failed", "source", name, "err", err)
	} else {
		s.logger().Debug("policy source polled", "source", name, "result", result)
	}
}

func (s *Syncer) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Syncer) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.New(slog.DiscardHandler)
}
