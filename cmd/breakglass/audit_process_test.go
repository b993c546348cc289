package main

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/failsmall/breakglass/audit"
	"github.com/failsmall/breakglass/broker"
	"github.com/failsmall/breakglass/internal/systest"
	"github.com/failsmall/breakglass/server"
	"github.com/failsmall/breakglass/sqlite"
	"github.com/failsmall/breakglass/web"
)

// child is this test binary run as `breakglass ARGS...`.
type child struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  bytes.Buffer
	done chan struct{} // closed when the process has exited
	err  error         // its exit status, once done
}

func (c *child) Write(b []byte) (int, error) { c.mu.Lock(); defer c.mu.Unlock(); return c.out.Write(b) }

func (c *child) output() string { c.mu.Lock(); defer c.mu.Unlock(); return c.out.String() }

func startChild(t *testing.T, args ...string) *child {
	t.Helper()
	c := &child{cmd: exec.Command(os.Args[0], args...), done: make(chan struct{})}
	c.cmd.Env = append(os.Environ(), "BREAKGLASS_AS_MAIN=1")
	c.cmd.Stdout, c.cmd.Stderr = c, c
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { c.err = c.cmd.Wait(); close(c.done) }()
	t.Cleanup(func() {
		c.cmd.Process.Signal(os.Interrupt)
		select {
		case <-c.done:
		case <-time.After(10 * time.Second):
			c.cmd.Process.Kill()
		}
		if t.Failed() {
			t.Logf("%v output:\n%s", args, c.output())
		}
	})
	return c
}

// kill ends the child with SIGKILL and waits for it.
func (c *child) kill() {
	c.cmd.Process.Signal(syscall.SIGKILL)
	<-c.done
}

// waitHTTP waits until url answers.
func waitHTTP(t *testing.T, url string, c *child) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			return
		}
		select {
		case <-c.done:
			t.Fatalf("%s exited: %v\n%s", url, c.err, c.output())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not answer:\n%s", url, c.output())
		}
	}
}

func startBrokerChild(t *testing.T, cfg string) (*child, *web.Client) {
	t.Helper()
	port := systest.FreePort(t)
	c := startChild(t, "serve", "--config", cfg, "--addr", fmt.Sprintf("127.0.0.1:%d", port))
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	waitHTTP(t, url+"/healthz", c)
	cl, err := web.NewClient(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c, cl
}

// TestCrashKeepsLogAndAcknowledgedWrites kills the serving broker with
// SIGKILL at random moments while clients run flows, 20 times. After each
// kill the log verifies, every acknowledged request and grant is there,
// and every grant has its entry; the broker then starts again.
func TestCrashKeepsLogAndAcknowledgedWrites(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test")
	}
	dir := t.TempDir()
	cfg := writeAuditBroker(t, dir, "")
	db := filepath.Join(dir, "data", "breakglass.db")
	var acked []flowResult
	const kills = 20
	for round := range kills {
		c, cl := startBrokerChild(t, cfg)
		ctx, cancel := context.WithCancel(context.Background())
		var mu sync.Mutex
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for ctx.Err() == nil {
					res, _ := runFlow(ctx, cl)
					mu.Lock()
					if res.request != "" {
						acked = append(acked, res)
					}
					mu.Unlock()
				}
			}()
		}
		time.Sleep(time.Duration(20+rand.IntN(300)) * time.Millisecond)
		c.kill()
		cancel()
		wg.Wait()
		code, out, errOut := runCLI("audit", "verify", "--db", db)
		if code != 0 {
			t.Fatalf("round %d: audit verify after SIGKILL: exit %d\n%s%s", round, code, out, errOut)
		}
		checkAcked(t, db, acked)
	}
	grants := 0
	for _, a := range acked {
		if a.grant != "" {
			grants++
		}
	}
	t.Logf("%d kills, %d acknowledged requests, %d acknowledged grants", kills, len(acked), grants)
	if grants == 0 {
		t.Error("no grant was acknowledged: the crash test exercised nothing")
	}
}

// checkAcked checks that every acknowledged request and grant is stored.
func checkAcked(t *testing.T, path string, acked []flowResult) {
	t.Helper()
	db, err := sqlite.Open(path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.View(context.Background(), func(tx broker.Tx) error {
		for _, a := range acked {
			if _, err := tx.Request(a.request); err != nil {
				return fmt.Errorf("acknowledged request %s lost: %w", a.request, err)
			}
			if a.grant == "" {
				continue
			}
			g, err := tx.Grant(a.request)
			if err != nil || g.ID != a.grant {
				return fmt.Errorf("acknowledged grant %s of request %s lost: %v", a.grant, a.request, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestWitnessProcesses: two `breakglass witness serve` processes cosign a
// growing log, and refuse a fork and a rollback of it.
func TestWitnessProcesses(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	// A first start makes the audit key the witnesses need.
	a, cl := startAuditApp(t, dir)
	if _, err := runFlow(ctx, cl); err != nil {
		t.Fatal(err)
	}
	a.Close(ctx)
	backup := t.TempDir()
	copyDir(t, dir, backup)
	pub := filepath.Join(dir, "data", "audit-key.pub")
	var ws []string
	var verifiers []note.Verifier
	var witnesses []*child
	for i := range 2 {
		port := systest.FreePort(t)
		wdir := filepath.Join(t.TempDir(), "w")
		c := startChild(t, "witness", "serve", "--data", wdir, "--name", fmt.Sprintf("witness.test/w%d", i),
			"--log", pub, "--addr", fmt.Sprintf("127.0.0.1:%d", port))
		waitHTTP(t, fmt.Sprintf("http://127.0.0.1:%d/", port), c)
		key, err := os.ReadFile(filepath.Join(wdir, "witness-key.pub"))
		if err != nil {
			t.Fatal(err)
		}
		v, err := audit.NewCosignatureVerifier(strings.TrimSpace(string(key)))
		if err != nil {
			t.Fatal(err)
		}
		verifiers = append(verifiers, v)
		witnesses = append(witnesses, c)
		ws = append(ws, fmt.Sprintf("  - {url: %q, key: %q}", fmt.Sprintf("http://127.0.0.1:%d", port), strings.TrimSpace(string(key))))
	}
	witnessCfg := "witnesses:\n" + strings.Join(ws, "\n") + "\n"
	cfg := writeAuditBroker(t, dir, witnessCfg)
	b, cl := startBrokerChild(t, cfg)
	var size int64
	for range 3 {
		if _, err := runFlow(ctx, cl); err != nil {
			t.Fatal(err)
		}
		size = waitCosigned(t, cl, pub, verifiers)
	}
	b.kill()
	code, out, errOut := runCLI("audit", "verify", "--db", filepath.Join(dir, "data", "breakglass.db"),
		"--witness", verifierKeyOf(t, witnesses[0]), "--witness-key", verifierKeyOf(t, witnesses[1])) // the old spelling still works
	if code != 0 || strings.Contains(out, "(0 cosigned") {
		t.Fatalf("audit verify with the witness keys: exit %d\n%s%s", code, out, errOut)
	}
	t.Logf("cosigned up to size %d; %s", size, out)

	// Fork: the backup, without its checkpoint file, extended with other
	// entries past the witnessed size.
	fork := t.TempDir()
	copyDir(t, backup, fork)
	os.Remove(filepath.Join(fork, "data", "checkpoint"))
	fa, fcl := startAuditApp(t, fork)
	for n := int64(0); n <= size; {
		res, err := runFlow(ctx, fcl)
		if err != nil {
			t.Fatal(err)
		}
		_ = res
		n, _ = fa.Store().AuditSize(ctx)
	}
	fa.Close(ctx)
	forkCfg := writeAuditBroker(t, fork, witnessCfg)
	fb, _ := startBrokerChild(t, forkCfg)
	waitOutput(t, fb, "not consistent")
	for _, w := range witnesses {
		waitOutput(t, w, "is not consistent with the cosigned")
	}
	fb.kill()

	// Rollback: the backup as it is, behind what the witnesses cosigned.
	roll := t.TempDir()
	copyDir(t, backup, roll)
	os.Remove(filepath.Join(roll, "data", "checkpoint"))
	rb, _ := startBrokerChild(t, writeAuditBroker(t, roll, witnessCfg))
	waitOutput(t, rb, "rollback: the witness cosigned size")
}

func verifierKeyOf(t *testing.T, c *child) string {
	t.Helper()
	for _, l := range strings.Split(c.output(), "\n") {
		if k, ok := strings.CutPrefix(l, "key: "); ok {
			return k
		}
	}
	t.Fatalf("witness printed no key:\n%s", c.output())
	return ""
}

// waitCosigned waits until the broker's newest checkpoint, covering every
// entry, carries a valid cosignature from each witness; it returns its size.
func waitCosigned(t *testing.T, cl *web.Client, pub string, ws []note.Verifier) int64 {
	t.Helper()
	v, err := server.ReadVerifierKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		signed, err := cl.AuditCheckpoint(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		cp, _, err := audit.Open(signed, v)
		if err != nil {
			t.Fatal(err)
		}
		n, err := note.Open(signed, note.VerifierList(ws...))
		if err == nil && len(n.Sigs) == len(ws) {
			return cp.Size
		}
	}
	t.Fatal("the newest checkpoint was not cosigned by both witnesses")
	return 0
}

func waitOutput(t *testing.T, c *child, want string) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !strings.Contains(c.output(), want); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in the output:\n%s", want, c.output())
		}
	}
	for _, l := range strings.Split(c.output(), "\n") {
		if strings.Contains(l, want) {
			t.Log(l)
			break
		}
	}
}
