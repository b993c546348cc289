package broker_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/failsmall/breakglass/broker"
	"github.com/failsmall/breakglass/internal/brokertest"
	"github.com/failsmall/breakglass/internal/faultstore"
)

// faulty rewires e's service over a fault-injecting wrapper of its store.
func faulty(t *testing.T, e *brokertest.Env) *faultstore.Store {
	t.Helper()
	fs := faultstore.New(e.DB)
	e.Rewire(t, func(c *broker.Config) { c.Store = fs })
	return fs
}

// snapshot is what a test compares before and after a failed write.
type snapshot struct {
	state     broker.State
	approvals int
	granted   bool
	audit     int64
}

func snap(t *testing.T, e *brokertest.Env, id string) snapshot {
	t.Helper()
	var s snapshot
	err := e.DB.View(t.Context(), func(tx broker.Tx) error {
		r, err := tx.Request(id)
		if err != nil {
			return err
		}
		as, err := tx.Approvals(id)
		if err != nil {
			return err
		}
		_, gerr := tx.Grant(id)
		s = snapshot{state: r.State, approvals: len(as), granted: gerr == nil}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if s.audit, err = e.DB.AuditSize(t.Context()); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestFailedOperationLeavesNothing fails the approval that meets the quorum
// at each of its operations in turn, and after its last one (before its
// audit leaves): the request, its approvals, the grant and the audit log
// must be exactly as before every time, and the approval then succeeds.
func TestFailedOperationLeavesNothing(t *testing.T) {
	e := brokertest.New(t, testPolicy, "")
	fs := faulty(t, e)
	for n := 0; ; n++ {
		r := e.Request(t, prodInput())
		mustApprove(t, e, "bob", r)
		mustApprove(t, e, "dave", r)
		before := snap(t, e, r.ID)
		fs.FailOp(n)
		_, err := e.Approve(t, "carol", r)
		if !errors.Is(err, broker.ErrInvalid) {
			t.Fatalf("op %d: approve with a failing operation: got %v, want ErrInvalid", n, err)
		}
		if after := snap(t, e, r.ID); after != before {
			t.Fatalf("op %d: after the failed commit got %+v, want %+v as before", n, after, before)
		}
		commits := fs.Commits()
		ops := len(commits[len(commits)-1].Ops)
		res := mustApprove(t, e, "carol", r)
		if res.Grant == nil {
			t.Fatalf("op %d: no grant after the failure passed", n)
		}
		if got := snap(t, e, r.ID); got.audit != before.audit+2 || !got.granted || got.approvals != 3 {
			t.Errorf("op %d: after the retry got %+v; want 3 approvals, a grant and 2 more entries than %d", n, got, before.audit)
		}
		if n >= ops { // the failing op came after every real one
			if n < 3 {
				t.Fatalf("the quorum-meeting approval had only %d operations", ops)
			}
			break
		}
	}
}

// TestFailureAfterCommit: the store commits the grant but the caller hears
// an error. The grant is whole, and asking again mints no second one.
func TestFailureAfterCommit(t *testing.T) {
	e := brokertest.New(t, testPolicy, "")
	fs := faulty(t, e)
	r := e.Request(t, prodInput())
	mustApprove(t, e, "bob", r)
	mustApprove(t, e, "dave", r)
	fs.FailAfterCommit()
	if _, err := e.Approve(t, "carol", r); !errors.Is(err, faultstore.ErrAfterCommit) {
		t.Fatalf("approve: got %v, want the injected error", err)
	}
	s := snap(t, e, r.ID)
	if s.state != broker.StateIssued || !s.granted || s.approvals != 3 {
		t.Fatalf("after the commit that failed late: %+v; want issued with a grant", s)
	}
	if _, err := e.Approve(t, "carol", r); !errors.Is(err, broker.ErrAlreadyIssued) {
		t.Errorf("approve again: got %v, want ErrAlreadyIssued", err)
	}
	g, err := e.Svc.Credentials(t.Context(), "alice", r.ID)
	if err != nil || g.Token == "" {
		t.Fatalf("credentials of the grant committed: %v, %v", g, err)
	}
	if got := snap(t, e, r.ID); got.audit != s.audit+1 {
		t.Errorf("audit size: got %d, want %d (the fetch only)", got.audit, s.audit+1)
	}
}

// TestConflictPlansAgain: a commit refused for a conflict is planned again
// from a fresh snapshot, up to a bound.
func TestConflictPlansAgain(t *testing.T) {
	e := brokertest.New(t, testPolicy, "")
	fs := faulty(t, e)
	r := e.Request(t, prodInput())
	for range 3 {
		fs.Conflict()
	}
	mustApprove(t, e, "bob", r)
	if fs.Pending() != 0 {
		t.Fatalf("%d conflicts left unspent", fs.Pending())
	}
	cs := fs.Commits()
	if len(cs) < 4 {
		t.Fatalf("got %d commits, want the first and 3 plans again", len(cs))
	}
	last := cs[len(cs)-4:]
	for _, c := range last[1:] {
		if !slices.EqualFunc(c.Ops, last[0].Ops, func(a, b broker.Op) bool { return a.Kind() == b.Kind() }) {
			t.Errorf("a new plan has other operations: %v vs %v", kinds(c), kinds(last[0]))
		}
	}
	if s := snap(t, e, r.ID); s.approvals != 1 {
		t.Errorf("approvals after conflicts: %d, want 1", s.approvals)
	}
	for range 200 {
		fs.Conflict()
	}
	_, err := e.Approve(t, "dave", r)
	if !errors.Is(err, broker.ErrConflict) {
		t.Fatalf("approve against endless conflicts: got %v, want ErrConflict", err)
	}
	t.Logf("endless conflicts: %v", err)
	if s := snap(t, e, r.ID); s.approvals != 1 {
		t.Errorf("approvals after giving up: %d, want 1", s.approvals)
	}
}

// TestRacingApprovalReplans: an approval committed between another's plan
// and its commit breaks the latter's precondition (the approvals it
// counted); planned again, it sees the first and meets the quorum, where a
// blind commit would have stored it and granted nothing.
func TestRacingApprovalReplans(t *testing.T) {
	e := brokertest.New(t, testPolicy, "")
	fs := faulty(t, e)
	r := e.Request(t, prodInput())
	mustApprove(t, e, "bob", r)
	fs.Before(func() { mustApprove(t, e, "dave", r) })
	res := mustApprove(t, e, "carol", r)
	if res.Grant == nil {
		t.Fatalf("carol's approval, planned again after dave's, met no quorum; missing %v", res.Missing)
	}
	if got := res.Grant.Approvers; !slices.Equal(sorted(got), []string{"bob", "carol", "dave"}) {
		t.Errorf("approvers %v, want bob, carol, dave", got)
	}
}

func kinds(c *broker.Change) []string {
	var out []string
	for _, op := range c.Ops {
		out = append(out, op.Kind())
	}
	return out
}

func sorted(l []string) []string { l = slices.Clone(l); slices.Sort(l); return l }

// blockingCA is an SSH CA that holds every SignCert until released, or for
// a second at most.
type blockingCA struct {
	broker.SSHCA
	entered chan struct{}
	release chan struct{}
	once    sync.Once
}

func (b *blockingCA) SignCert(c broker.SSHCertClaims) (string, error) {
	b.once.Do(func() { close(b.entered) })
	select {
	case <-b.release:
	case <-time.After(time.Second):
	}
	return b.SSHCA.SignCert(c)
}

// TestSigningOutsideTheWriter: while a grant's SSH certificate takes a
// second to sign (an ssh-agent on a slow link), other requests, approvals,
// grants and sessions commit; the waiting grant then commits too.
func TestSigningOutsideTheWriter(t *testing.T) {
	e := brokertest.New(t, sshPolicy, "")
	ca := &blockingCA{SSHCA: e.Config.SSHCA, entered: make(chan struct{}), release: make(chan struct{})}
	e.Rewire(t, func(c *broker.Config) { c.SSHCA = ca })
	slow := e.Request(t, sshInput("shell", brokertest.AuthorizedKey("alice")))
	done := make(chan *broker.ApprovalResult)
	go func() {
		res, err := e.Svc.Approve(context.Background(), slow.ID, brokertest.Sign(t, "bob", slow.Statement))
		if err != nil {
			t.Errorf("slow approval: %v", err)
		}
		done <- res
	}()
	<-ca.entered
	for i := range 5 {
		r := e.Request(t, sshInput("plain", ""))
		if res := mustApprove(t, e, "dave", r); res.Grant == nil {
			t.Fatalf("write %d: no grant", i)
		}
		text, sig := e.Challenge(t, "alice", broker.ActionSession, "")
		if _, _, err := e.Svc.OpenSession(t.Context(), text, sig); err != nil {
			t.Fatal(err)
		}
		select {
		case <-done:
			t.Fatalf("the certificate was signed before write %d committed: the test proves nothing", i)
		default:
		}
	}
	close(ca.release)
	if res := <-done; res == nil || res.Grant == nil || res.Grant.SSHCert == "" {
		t.Fatalf("slow approval: %+v, want a grant with a certificate", res)
	}
}
