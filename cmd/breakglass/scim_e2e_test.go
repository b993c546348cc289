package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/failsmall/breakglass/broker"
	"github.com/failsmall/breakglass/internal/brokertest"
	"github.com/failsmall/breakglass/internal/scimtest"
	"github.com/failsmall/breakglass/server"
	"github.com/failsmall/breakglass/upstream"
	"github.com/failsmall/breakglass/web"
)

// scimPolicy: alice and erin (eng) request prod, one of bob and dave (sre)
// approves; carol (security) is the admin.
func scimPolicy() string {
	var b strings.Builder
	b.WriteString("version: 1\nadmins: [carol]\ngroups:\n  - name: eng\n  - name: sre\n  - name: security\nprincipals:\n")
	for _, p := range []struct{ id, group string }{{"alice", "eng"}, {"erin", "eng"}, {"bob", "sre"}, {"dave", "sre"}, {"carol", "security"}} {
		fmt.Fprintf(&b, "  - {id: %s, name: %s, groups: [%s], keys: [%q]}\n", p.id, p.id, p.group, brokertest.AuthorizedKey(p.id))
	}
	b.WriteString("roles:\n  - name: prod\n    requesters: [eng]\n    approval: [{count: 1, groups: [sre]}]\n    duration: {default: 30m, max: 1h}\n    min_reason: 5\n    pending_ttl: 1h\n    jwt: {audience: [prod-api], scopes: [admin]}\n")
	return b.String()
}

// scimBroker is a broker in this process that polls a SCIM directory
// every 100ms.
type scimBroker struct {
	a      *server.Server
	cl     *web.Client
	closed bool
}

// openSCIMBroker starts a broker on data that polls the SCIM directory at
// scimURL, serving on a free loopback port when serve is set; without it
// nothing polls, so what the broker holds comes from its store alone.
func openSCIMBroker(t *testing.T, data server.Dir, pin []byte, scimURL string, serve bool) *scimBroker {
	t.Helper()
	cfg := server.Config{Name: "bg.scim.test", Data: data, Pin: pin,
		SCIM: &upstream.SCIMSource{URL: scimURL}, PollEvery: 100 * time.Millisecond, PollTimeout: time.Second}
	if serve {
		cfg.Addr = "127.0.0.1:0"
	}
	a, err := server.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	b := &scimBroker{a: a}
	t.Cleanup(func() { b.close(t) })
	if serve {
		if b.cl, err = web.NewClient(a.URL(), nil); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

func (b *scimBroker) close(t *testing.T) {
	if !b.closed {
		b.closed = true
		if err := b.a.Close(context.Background()); err != nil {
			t.Errorf("close the broker: %v", err)
		}
	}
}

// request creates a prod request by who and returns it.
func (b *scimBroker) request(t *testing.T, who string) (*web.RequestJSON, error) {
	t.Helper()
	ctx := context.Background()
	stmt, err := b.cl.Prepare(ctx, web.PrepareJSON{Role: "prod", Requester: who, Reason: "scim end to end"})
	if err != nil {
		return nil, err
	}
	return b.cl.Create(ctx, stmt, brokertest.Sign(t, who, stmt))
}

func (b *scimBroker) mustRequest(t *testing.T, who string) *web.RequestJSON {
	t.Helper()
	r, err := b.request(t, who)
	if err != nil {
		t.Fatalf("request by %s: %v", who, err)
	}
	return r
}

func (b *scimBroker) approve(t *testing.T, who string, r *web.RequestJSON) (*web.ApproveResultJSON, error) {
	t.Helper()
	return b.cl.Approve(context.Background(), r.ID, brokertest.Sign(t, who, []byte(r.Statement)))
}

// mustGrant has dave approve r and checks that it was granted.
func (b *scimBroker) mustGrant(t *testing.T, r *web.RequestJSON) {
	t.Helper()
	res, err := b.approve(t, "dave", r)
	if err != nil || !res.Granted {
		t.Fatalf("dave's approval of %s: granted %v, %v; want a grant", r.ID, res != nil && res.Granted, err)
	}
}

func (b *scimBroker) status(t *testing.T) *web.StatusJSON {
	t.Helper()
	st, err := b.cl.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// waitPoll waits until a poll of the SCIM source that started after since
// has ended, and returns the source's status then.
func (b *scimBroker) waitPoll(t *testing.T, since time.Time) upstream.SourceStatus {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		st := b.a.Syncer().Status()
		if len(st) != 1 || st[0].Kind != "scim" {
			t.Fatalf("syncer status %+v, want the one SCIM source", st)
		}
		s := st[0]
		if s.LastAttempt.After(since) && (!s.LastSuccess.Before(s.LastAttempt) || !s.LastErrorAt.Before(s.LastAttempt)) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("no poll of the SCIM source started after %v ended within 10s: %+v", since, s)
		}
	}
}

// principals summarizes the active policy's principals: id, groups and
// whether disabled.
func (b *scimBroker) principals(t *testing.T) []string {
	t.Helper()
	p, err := b.a.Service().Policy()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, pr := range p.Principals {
		out = append(out, fmt.Sprintf("%s%v disabled=%v", pr.ID, pr.Groups, pr.Disabled))
	}
	return out
}

func (b *scimBroker) state(t *testing.T, id string) broker.State {
	t.Helper()
	v, err := b.a.Service().Get(context.Background(), "carol", id)
	if err != nil {
		t.Fatal(err)
	}
	return v.Request.State
}

// TestSCIMDirectory runs a broker against a real SCIM service provider: a
// deactivation takes effect at the first poll after it (approvals refused,
// live grants revoked); users and groups added in SCIM add nothing; SCIM
// down changes nothing, and the deactivation outlives a restart with SCIM
// still down.
func TestSCIMDirectory(t *testing.T) {
	srv := scimtest.New(t)
	for _, u := range []string{"alice", "erin", "bob", "dave", "carol"} {
		srv.AddUser(u, true)
	}
	data := server.Dir(filepath.Join(t.TempDir(), "data"))
	pin := firstBundle(t, scimPolicy(), "carol")
	b := openSCIMBroker(t, data, pin, srv.URL(), true)
	start := time.Now()
	if s := b.waitPoll(t, time.Time{}); s.LastSuccess.IsZero() {
		t.Fatalf("first poll of the SCIM directory failed: %+v", s)
	}
	base := b.status(t).Bundle
	basePrincipals := b.principals(t)
	if base == nil || len(base.Deactivated) != 0 {
		t.Fatalf("bundle after the first poll: %+v; want active with nobody deactivated", base)
	}

	t.Run("added users and groups change nothing", func(t *testing.T) {
		srv.AddUser("mallory", true)
		srv.AddGroup("sre", "bob", "dave", "alice", "mallory")
		srv.AddGroup("security", "carol", "alice") // a SCIM group of a policy group's name lists its members; alice is added in SCIM only
		if s := b.waitPoll(t, time.Now()); s.LastSuccess.Before(s.LastAttempt) {
			t.Fatalf("poll failed: %+v", s)
		}
		st := b.status(t)
		if st.Bundle.Hash != base.Hash || st.Bundle.Serial != base.Serial || len(st.Bundle.Deactivated) != 0 || len(st.Bundle.RemovedFrom) != 0 {
			t.Errorf("bundle after SCIM added a user and groups: %+v; want serial %d %s, nobody deactivated or removed", st.Bundle, base.Serial, base.Hash)
		}
		if got := b.principals(t); !slices.Equal(got, basePrincipals) {
			t.Errorf("principals after SCIM added a user and groups:\n%v\nwant\n%v", got, basePrincipals)
		}
		if _, err := b.request(t, "mallory"); !errors.Is(err, broker.ErrUnknownPrincipal) {
			t.Errorf("request by mallory, a SCIM user the policy lacks: %v; want %v", err, broker.ErrUnknownPrincipal)
		}
		// alice is in SCIM's sre group, not the policy's: she is still no approver.
		r := b.mustRequest(t, "erin")
		if _, err := b.approve(t, "alice", r); !errors.Is(err, broker.ErrNotEligible) {
			t.Errorf("alice's approval (sre only in SCIM): %v; want %v", err, broker.ErrNotEligible)
		}
		b.mustGrant(t, r)
	})

	// erin holds a live grant; alice has a request pending.
	live := b.mustRequest(t, "erin")
	b.mustGrant(t, live)
	pending := b.mustRequest(t, "alice")

	t.Run("deactivation takes effect within one poll", func(t *testing.T) {
		srv.SetActive("bob", false)
		srv.SetActive("erin", false)
		changed := time.Now()
		s := b.waitPoll(t, changed)
		if s.LastSuccess.Before(s.LastAttempt) {
			t.Fatalf("poll failed: %+v", s)
		}
		t.Logf("deactivation applied %v after the change in SCIM (poll every 100ms)", s.LastSuccess.Sub(changed).Round(time.Millisecond))
		if _, err := b.approve(t, "bob", pending); !errors.Is(err, broker.ErrForbidden) || !strings.Contains(err.Error(), "disabled") {
			t.Errorf("bob's approval after his deactivation: %v; want %v (principal disabled)", err, broker.ErrForbidden)
		}
		if got := b.state(t, live.ID); got != broker.StateRevoked {
			t.Errorf("erin's live grant %s is %s after her deactivation, want %s", live.ID, got, broker.StateRevoked)
		}
		if _, err := b.request(t, "erin"); !errors.Is(err, broker.ErrForbidden) {
			t.Errorf("request by erin after her deactivation: %v; want %v", err, broker.ErrForbidden)
		}
		st := b.status(t)
		for _, who := range []string{"bob", "erin"} {
			if !strings.Contains(st.Bundle.Deactivated[who], "not active") {
				t.Errorf("status bundle.deactivated = %v; want %s listed as not active in SCIM", st.Bundle.Deactivated, who)
			}
		}
		if st.Bundle.Hash != base.Hash {
			t.Errorf("bundle hash %s after a deactivation, want %s unchanged", st.Bundle.Hash, base.Hash)
		}
		b.mustGrant(t, pending) // dave still approves
	})

	t.Run("SCIM down changes nothing", func(t *testing.T) {
		srv.Stop()
		down := time.Now()
		if s := b.waitPoll(t, down); !s.Failing() {
			t.Fatalf("poll with SCIM down: %+v; want a failure", s)
		}
		checkStaysDeactivated(t, b, base.Hash)
		st := b.status(t)
		src := st.Sources[0]
		if src.LastError == "" || src.LastSuccess.Before(start) || src.LastSuccess.After(down) || !src.LastErrorAt.After(src.LastSuccess) {
			t.Errorf("status of the SCIM source while down: %+v; want the last error after the last success, before %v", src, down)
		}
		if least := time.Since(down).Seconds(); src.AgeSeconds < 0 || src.AgeSeconds+0.5 < least {
			t.Errorf("status age_seconds %v while SCIM is down since %v, want at least %.1f", src.AgeSeconds, down, least)
		}
		t.Logf("SCIM source while down: last_error %q, age_seconds %.2f", src.LastError, src.AgeSeconds)
	})

	t.Run("restart with SCIM down keeps the deactivation", func(t *testing.T) {
		b.close(t)
		// Before any poll (a broker that does not serve polls nothing):
		// the deactivation comes from the store.
		cold := openSCIMBroker(t, data, pin, srv.URL(), false)
		if d := cold.a.Service().BundleState().Deactivated; len(d) != 2 || d["bob"] == "" || d["erin"] == "" {
			t.Errorf("after a restart, before any poll: deactivated = %v; want bob and erin from the store", d)
		}
		cold.close(t)
		b = openSCIMBroker(t, data, pin, srv.URL(), true)
		if s := b.waitPoll(t, time.Now()); !s.Failing() || !s.LastSuccess.IsZero() {
			t.Fatalf("first poll after the restart with SCIM down: %+v; want a failure and no success", s)
		}
		checkStaysDeactivated(t, b, base.Hash)
		if got := b.state(t, live.ID); got != broker.StateRevoked {
			t.Errorf("erin's grant is %s after the restart, want %s", got, broker.StateRevoked)
		}
		src := b.status(t).Sources[0]
		if src.LastError == "" || src.AgeSeconds != -1 {
			t.Errorf("status of the SCIM source after the restart: %+v; want a last error and age -1 (never succeeded in this process)", src)
		}
	})
}

// checkStaysDeactivated: requests and approvals work, bob and erin stay
// deactivated, the bundle is unchanged.
func checkStaysDeactivated(t *testing.T, b *scimBroker, hash string) {
	t.Helper()
	st := b.status(t)
	if !st.Ready || st.Bundle == nil || st.Bundle.Hash != hash {
		t.Fatalf("status: ready %v, bundle %+v; want ready on %s", st.Ready, st.Bundle, hash)
	}
	if d := st.Bundle.Deactivated; len(d) != 2 || d["bob"] == "" || d["erin"] == "" {
		t.Errorf("status bundle.deactivated = %v; want bob and erin", d)
	}
	r := b.mustRequest(t, "alice")
	if _, err := b.approve(t, "bob", r); !errors.Is(err, broker.ErrForbidden) {
		t.Errorf("bob's approval: %v; want %v: he stays deactivated", err, broker.ErrForbidden)
	}
	b.mustGrant(t, r)
}
