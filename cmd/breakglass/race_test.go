package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/failsmall/breakglass/audit"
	"github.com/failsmall/breakglass/broker"
	"github.com/failsmall/breakglass/internal/brokertest"
	"github.com/failsmall/breakglass/internal/systest"
	"github.com/failsmall/breakglass/sqlite"
	"github.com/failsmall/breakglass/web"
)

// startProcess runs `breakglass serve` as a child process (this test binary
// re-executed as the command) and waits until it answers /healthz.
func startProcess(t *testing.T, args ...string) string {
	t.Helper()
	port := systest.FreePort(t)
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	cmd := exec.Command(os.Args[0], append([]string{"serve", "--addr", fmt.Sprintf("127.0.0.1:%d", port)}, args...)...)
	cmd.Env = append(os.Environ(), "BREAKGLASS_AS_MAIN=1")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("broker %s output:\n%s", url, out.String())
		}
	})
	for deadline := time.Now().Add(30 * time.Second); ; {
		resp, err := http.Get(url + "/healthz")
		if err == nil {
			resp.Body.Close()
			return url
		}
		if time.Now().After(deadline) {
			t.Fatalf("broker did not start: %v\n%s", err, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestTwoProcessesOneGrant: two broker processes share one database file;
// approvals for the same request race through both, and every request gets
// exactly one grant, with exactly one grant.issued audit entry.
func TestTwoProcessesOneGrant(t *testing.T) {
	dir := t.TempDir()
	var pol strings.Builder
	pol.WriteString("version: 1\nadmins: [sre00]\ngroups:\n  - name: eng\n  - name: sre\nprincipals:\n")
	fmt.Fprintf(&pol, "  - {id: alice, name: Alice, groups: [eng], keys: [%q]}\n", brokertest.AuthorizedKey("alice"))
	const approvers = 20
	for i := range approvers {
		fmt.Fprintf(&pol, "  - {id: sre%02d, name: SRE, groups: [sre], keys: [%q]}\n", i, brokertest.AuthorizedKey(fmt.Sprintf("sre%02d", i)))
	}
	pol.WriteString("roles:\n  - name: prod\n    requesters: [eng]\n    approval: [{count: 2, groups: [sre]}]\n    duration: {default: 30m, max: 1h}\n    min_reason: 5\n    pending_ttl: 1h\n    jwt: {audience: [prod-api], scopes: [admin]}\n")
	mustWrite(t, filepath.Join(dir, "config.yaml"), "name: bg.race\ndata: data\n")
	cfg := filepath.Join(dir, "config.yaml")
	initBroker(t, cfg, pol.String(), "sre00")
	urls := []string{startProcess(t, "--config", cfg)}
	urls = append(urls, startProcess(t, "--config", cfg)) // after the first has migrated and made keys
	ctx := context.Background()
	clients := make([]*web.Client, len(urls))
	for i, u := range urls {
		var err error
		if clients[i], err = web.NewClient(u, nil); err != nil {
			t.Fatal(err)
		}
	}
	const requests = 5
	var ids []string
	for range requests {
		stmt, err := clients[0].Prepare(ctx, web.PrepareJSON{Role: "prod", Requester: "alice", Reason: "two processes"})
		if err != nil {
			t.Fatal(err)
		}
		r, err := clients[1].Create(ctx, stmt, brokertest.Sign(t, "alice", stmt))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID)
		var wg sync.WaitGroup
		var mu sync.Mutex
		granted := 0
		for i := range approvers {
			sig := brokertest.Sign(t, fmt.Sprintf("sre%02d", i), []byte(r.Statement))
			wg.Add(1)
			go func() {
				defer wg.Done()
				res, err := clients[i%2].Approve(ctx, r.ID, sig)
				mu.Lock()
				defer mu.Unlock()
				if err != nil && !errors.Is(err, broker.ErrAlreadyIssued) {
					t.Errorf("approval %d via %s: %v", i, urls[i%2], err)
				}
				if err == nil && res.Granted {
					granted++
				}
			}()
		}
		wg.Wait()
		if granted != 1 {
			t.Errorf("request %s: %d approvals reported a grant, want 1", r.ID, granted)
		}
	}
	db, err := sqlite.Open(filepath.Join(dir, "data", "breakglass.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	grants := 0
	size, err := db.AuditSize(ctx)
	if err != nil {
		t.Fatal(err)
	}
	err = db.AuditEntries(ctx, 0, size, func(i int64, leaf []byte) error {
		e, err := audit.ParseEntry(leaf)
		if err != nil {
			return fmt.Errorf("entry %d: %w", i, err)
		}
		if e.Type == broker.EventGrantIssued {
			grants++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if grants != requests {
		t.Errorf("%d grant.issued audit entries for %d requests, want one each", grants, requests)
	}
	err = db.View(ctx, func(tx broker.Tx) error {
		for _, id := range ids {
			r, err := tx.Request(id)
			if err != nil {
				return err
			}
			g, err := tx.Grant(id)
			if err != nil {
				return fmt.Errorf("request %s (%s) has no grant: %w", id, r.State, err)
			}
			if r.State != broker.StateIssued || len(g.Approvers) != 2 {
				t.Errorf("request %s is %s with grant approvers %v; want issued by 2", id, r.State, g.Approvers)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func mustWrite(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}
