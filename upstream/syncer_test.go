package upstream_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/failsmall/breakglass/internal/scimtest"
	"github.com/failsmall/breakglass/policy"
	"github.com/failsmall/breakglass/upstream"
)

// clock advances one second at each reading.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(time.Second)
	return c.now
}

// pinner is an Apply that pins bundles signed by carol and erin and keeps
// the highest serial, as the broker does with its last-known-good bundle.
type pinner struct {
	serial uint64
	calls  map[string]int // by source
}

func (p *pinner) apply(_ context.Context, source string, raw []byte) (string, error) {
	if p.calls == nil {
		p.calls = map[string]int{}
	}
	p.calls[source]++
	sb, _, err := policy.PinBundle(raw, 2)
	switch {
	case err != nil:
		return "", err
	case sb.Bundle.Serial == p.serial:
		return "current", nil
	case sb.Bundle.Serial < p.serial:
		return fmt.Sprintf("older serial %d", sb.Bundle.Serial), nil
	}
	p.serial = sb.Bundle.Serial
	return fmt.Sprintf("activated serial %d", p.serial), nil
}

func mustBundle(t testing.TB, serial uint64) []byte {
	t.Helper()
	b, _, err := signedBundle(withKeys(testPolicy, everyone...), serial, "carol", "erin")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// silentListener accepts connections and never answers.
func silentListener(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		var held []net.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	return "http://" + ln.Addr().String() + "/bundle"
}

func TestSyncerStatusBeforePoll(t *testing.T) {
	scim := scimtest.New(t)
	s := &upstream.Syncer{
		Sources:     []upstream.Source{&upstream.HTTPSource{URL: "https://policy.example/b"}, &upstream.PathSource{Path: "/srv/b"}},
		Directories: []*upstream.SCIMSource{{URL: scim.URL()}},
	}
	got := s.Status()
	want := []upstream.SourceStatus{
		{Name: "https://policy.example/b", Kind: "http"},
		{Name: "file:/srv/b", Kind: "path"},
		{Name: scim.URL(), Kind: "scim"},
	}
	if len(got) != len(want) {
		t.Fatalf("Status() = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("Status()[%d] = %+v, want %+v", i, got[i], want[i])
		}
		if age := got[i].Age(time.Now()); age != upstream.NeverSucceeded {
			t.Errorf("Status()[%d].Age = %v, want NeverSucceeded", i, age)
		}
	}
}

func TestSyncerTransitions(t *testing.T) {
	bundles := map[string][]byte{"serial 1": mustBundle(t, 1), "serial 2": mustBundle(t, 2), "garbage": []byte("<html>maintenance</html>")}
	var mode atomic.Value
	url := serve(t, func(w http.ResponseWriter, r *http.Request) {
		m := mode.Load().(string)
		if m == "down" {
			http.Error(w, "upstream down", http.StatusBadGateway)
			return
		}
		w.Write(bundles[m])
	}) + "/bundle"
	clk := &clock{now: start}
	p := &pinner{}
	s := &upstream.Syncer{Sources: []upstream.Source{&upstream.HTTPSource{URL: url}}, Apply: p.apply, Now: clk.Now}

	steps := []struct {
		mode, result, lastError string
		succeeded               bool
	}{
		{mode: "serial 1", result: "activated serial 1", succeeded: true},
		{mode: "down", result: "activated serial 1", lastError: "502 Bad Gateway"},
		{mode: "garbage", result: "activated serial 1", lastError: "malformed policy bundle"},
		{mode: "serial 1", result: "current", lastError: "malformed policy bundle", succeeded: true},
		{mode: "serial 2", result: "activated serial 2", lastError: "malformed policy bundle", succeeded: true},
		{mode: "serial 1", result: "older serial 1", lastError: "malformed policy bundle", succeeded: true},
	}
	var lastSuccess time.Time
	for _, step := range steps {
		mode.Store(step.mode)
		s.PollOnce(t.Context())
		st := s.Status()[0]
		if step.succeeded {
			lastSuccess = st.LastAttempt.Add(time.Second) // the clock's next reading
		}
		if st.Result != step.result || !strings.Contains(st.LastError, step.lastError) || st.LastSuccess != lastSuccess {
			t.Errorf("after %s: status %+v; want result %q, last error saying %q, last success %v",
				step.mode, st, step.result, step.lastError, lastSuccess)
		}
		if st.Failing() == step.succeeded {
			t.Errorf("after %s: Failing() = %v, want %v", step.mode, st.Failing(), !step.succeeded)
		}
		if !step.succeeded && !st.LastErrorAt.After(st.LastAttempt) {
			t.Errorf("after %s: error at %v, want after the attempt at %v", step.mode, st.LastErrorAt, st.LastAttempt)
		}
		if step.mode == "down" && !strings.Contains(st.LastError, url) {
			t.Errorf("after %s: error %q does not name %s", step.mode, st.LastError, url)
		}
		now := clk.Now()
		if got, want := st.Age(now), now.Sub(lastSuccess); got != want {
			t.Errorf("after %s: Age = %v, want %v", step.mode, got, want)
		}
	}
}

func TestSyncerPathSource(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bundle")
	p := &pinner{}
	s := &upstream.Syncer{Sources: []upstream.Source{&upstream.PathSource{Path: path}}, Apply: p.apply}
	s.PollOnce(t.Context())
	if st := s.Status()[0]; !strings.Contains(st.LastError, path) || !st.LastSuccess.IsZero() {
		t.Errorf("missing file: status %+v, want an error naming %s", st, path)
	}
	if err := os.WriteFile(path, mustBundle(t, 3), 0o600); err != nil {
		t.Fatal(err)
	}
	s.PollOnce(t.Context())
	if st := s.Status()[0]; st.Result != "activated serial 3" || st.LastSuccess.IsZero() || st.Failing() {
		t.Errorf("file written: status %+v, want serial 3 activated", st)
	}
}

// TestSyncerHangingSource: a source that never answers does not delay
// another's polls. The hanging source's timeout is an hour, so if polls
// waited on each other the fast source would be polled once.
func TestSyncerHangingSource(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bundle")
	if err := os.WriteFile(path, mustBundle(t, 1), 0o600); err != nil {
		t.Fatal(err)
	}
	hanging := silentListener(t)
	const wantPolls = 10
	var fastPolls atomic.Int32
	reached := make(chan struct{})
	s := &upstream.Syncer{
		Sources: []upstream.Source{&upstream.HTTPSource{URL: hanging}, &upstream.PathSource{Path: path}},
		Every:   time.Millisecond,
		Timeout: time.Hour,
		Apply: func(_ context.Context, source string, raw []byte) (string, error) {
			if source == "file:"+path && fastPolls.Add(1) == wantPolls {
				close(reached)
			}
			return "current", nil
		},
	}
	ctx, cancel := context.WithCancel(t.Context())
	ran := make(chan struct{})
	go func() {
		s.Run(ctx)
		close(ran)
	}()
	select {
	case <-reached:
	case <-time.After(30 * time.Second):
		t.Fatalf("the fast source was polled %d times while the other hung; want %d", fastPolls.Load(), wantPolls)
	}
	cancel()
	<-ran // Run returns once ctx ends, hanging fetch or not (the test's own timeout bounds this)
	st := s.Status()
	if st[0].LastAttempt.IsZero() || !st[0].LastSuccess.IsZero() {
		t.Errorf("hanging source: status %+v, want attempted, never succeeded", st[0])
	}
	if st[1].Result != "current" {
		t.Errorf("fast source: status %+v, want result current", st[1])
	}
}

// stuckSource ignores its context until released: a broken Source.
type stuckSource struct{ release chan struct{} }

func (s *stuckSource) Name() string { return "stuck" }

func (s *stuckSource) Fetch(context.Context) ([]byte, error) {
	<-s.release
	return []byte("late"), nil
}

// TestSyncerStuckSource: PollOnce returns at Timeout even when a Fetch
// ignores its context, and that source is not polled again until the
// Fetch returns.
func TestSyncerStuckSource(t *testing.T) {
	src := &stuckSource{release: make(chan struct{})}
	var applied atomic.Int32
	s := &upstream.Syncer{
		Sources: []upstream.Source{src},
		Timeout: 50 * time.Millisecond,
		Apply: func(_ context.Context, _ string, raw []byte) (string, error) {
			applied.Add(1)
			return string(raw), nil
		},
	}
	if k := s.Status()[0].Kind; k != "source" {
		t.Errorf("Kind = %q, want source for a Source without Kind()", k)
	}
	s.PollOnce(t.Context())
	if st := s.Status()[0]; !strings.Contains(st.LastError, "no answer within 50ms") {
		t.Errorf("first poll: status %+v, want a timeout", st)
	}
	s.PollOnce(t.Context())
	if st := s.Status()[0]; !strings.Contains(st.LastError, "previous fetch has not returned") {
		t.Errorf("second poll: status %+v, want the previous fetch still running", st)
	}
	close(src.release)
	for i := 0; s.Status()[0].Result != "late"; i++ {
		if i == 100 {
			t.Fatalf("after release: status %+v, want result late", s.Status()[0])
		}
		time.Sleep(10 * time.Millisecond)
		s.PollOnce(t.Context())
	}
	if n := applied.Load(); n != 1 {
		t.Errorf("Apply called %d times, want once: the timed-out fetch's late answer is dropped", n)
	}
}

func TestSyncerNoApply(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bundle")
	if err := os.WriteFile(path, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	scim := scimtest.New(t)
	s := &upstream.Syncer{Sources: []upstream.Source{&upstream.PathSource{Path: path}}, Directories: []*upstream.SCIMSource{{URL: scim.URL()}}}
	s.PollOnce(t.Context())
	st := s.Status()
	checkErr(t, fmt.Errorf("%s", st[0].LastError), "no Apply function")
	checkErr(t, fmt.Errorf("%s", st[1].LastError), "no ApplyDirectory function")
}

func TestSyncerDirectory(t *testing.T) {
	scim := scimtest.New(t)
	mirror(scim)
	p := mustPolicy(t)
	s := &upstream.Syncer{
		Directories: []*upstream.SCIMSource{{URL: scim.URL()}},
		ApplyDirectory: func(_ context.Context, _ string, d *upstream.Directory) (string, error) {
			r, missing := upstream.Restrictions(p, d)
			return fmt.Sprintf("%d disabled, %d removed from groups, %d missing", len(r.Disabled), len(r.RemovedFrom), len(missing)), nil
		},
	}
	s.PollOnce(t.Context())
	if st := s.Status()[0]; st.Result != "0 disabled, 0 removed from groups, 0 missing" {
		t.Errorf("mirror: status %+v", st)
	}
	scim.SetActive("bob", false)
	s.PollOnce(t.Context())
	before := s.Status()[0]
	if before.Result != "1 disabled, 0 removed from groups, 0 missing" {
		t.Errorf("bob deactivated: status %+v", before)
	}
	scim.Stop()
	s.PollOnce(t.Context())
	if st := s.Status()[0]; !strings.Contains(st.LastError, "connection refused") || st.LastSuccess != before.LastSuccess || st.Result != before.Result {
		t.Errorf("directory down: status %+v, want the error and the last success kept", st)
	}
	scim.Start()
	scim.SetGroupMembers("sre", "bob")
	s.PollOnce(t.Context())
	if st := s.Status()[0]; st.Result != "1 disabled, 2 removed from groups, 0 missing" || st.Failing() {
		t.Errorf("directory back: status %+v", st)
	}
}
