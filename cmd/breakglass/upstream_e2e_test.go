package main

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/failsmall/breakglass/audit"
	"github.com/failsmall/breakglass/internal/systest"
	"github.com/failsmall/breakglass/server"
	"github.com/failsmall/breakglass/web"
)

// TestEveryUpstreamUnreachable is the acceptance test of the offline
// broker: `breakglass serve` runs as a child process under strace with
// every upstream it knows of unreachable (a bundle URL on a closed port, a
// bundle URL on a listener that accepts and never answers, a path in a
// missing folder, a SCIM directory and a witness on closed ports), and the
// whole flow still runs with the CLI: request, an offline approval relayed
// with submit, an online one, the token with its evidence, the revocation
// list, the JWKS, strict verification. Status lists every source as
// failing and never succeeded. strace then shows the broker connected to
// nothing but the configured upstreams.
func TestEveryUpstreamUnreachable(t *testing.T) {
	straceBin := systest.Need(t, "strace")
	dir := t.TempDir()
	hang := startSilentListener(t)
	closedSource, closedSCIM, closedWitness := systest.FreePort(t), systest.FreePort(t), systest.FreePort(t)
	upstreams := map[string]string{
		fmt.Sprintf("127.0.0.1:%d", closedSource): "bundle source on a closed port",
		hang.addr:                                  "bundle source that never answers",
		fmt.Sprintf("127.0.0.1:%d", closedSCIM):    "SCIM directory on a closed port",
		fmt.Sprintf("127.0.0.1:%d", closedWitness): "witness on a closed port",
	}
	missing := filepath.Join(dir, "missing", "policy.bundle")
	config := filepath.Join(dir, "config.yaml")
	mustWriteFile(t, config, fmt.Sprintf(`data: data
sources:
  - http://127.0.0.1:%d/policy.bundle
  - http://%s/policy.bundle
  - %s
scim: {url: "http://127.0.0.1:%d/scim/v2"}
poll: 1s
poll_timeout: 300ms
witnesses:
  - {url: "http://127.0.0.1:%d", key: %q}
`, closedSource, hang.addr, missing, closedSCIM, closedWitness, witnessKey(t, "witness.test/offline")))

	port := systest.FreePort(t)
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	trace := filepath.Join(dir, "connect.strace")
	b := startTraced(t, straceBin, trace, "serve", "--dev", "--config", config, "--addr", fmt.Sprintf("127.0.0.1:%d", port))
	waitReady(t, url, b)
	data := server.Dir(filepath.Join(dir, "data"))
	key := func(who string) string { return "--key=" + filepath.Join(string(data), "dev-keys", who) }
	f := func(name string) string { return filepath.Join(dir, name) }
	online := map[string]string{"BREAKGLASS_URL": url}

	out := mustCLI(t, online, "request", key("alice"), "--role", "dev-admin", "--reason", "every upstream is down", "--quiet")
	id := strings.TrimSpace(out)
	mustWriteFile(t, f("stmt.txt"), mustCLI(t, online, "show", key("carol"), "--statement", id))
	// bob has no route to the broker: any connection would fail.
	offline := map[string]string{"BREAKGLASS_URL": "http://127.0.0.1:1"}
	mustCLI(t, offline, "approve", "--offline", "--statement", f("stmt.txt"), key("bob"), "--yes", "--out", f("blob.txt"))
	if out := mustCLI(t, online, "submit", f("blob.txt")); !strings.Contains(out, "approved by bob") {
		t.Errorf("submit printed %q, want the approval by bob", out)
	}
	if out := mustCLI(t, online, "approve", key("carol"), "--yes", id); !strings.Contains(out, "quorum met") {
		t.Errorf("carol's approval printed %q, want quorum met", out)
	}
	mustCLI(t, online, "token", key("alice"), "--out", f("tok.jwt"), "--evidence", f("ev.json"), "--receipt", f("grant.receipt"), id)
	mustCLI(t, online, "revocations", "--out", f("list.jws"))
	mustWriteFile(t, f("jwks.json"), string(mustGet(t, url+"/.well-known/jwks.json")))
	out = mustCLI(t, nil, "verify", "--strict", "--evidence", f("ev.json"), "--trust", filepath.Join(data.Bundles(), "active.bundle"),
		"--revocations", f("list.jws"), "--jwks", f("jwks.json"), "--iss", "breakglass-dev", "--aud", "breakglass-dev",
		"--receipt", f("grant.receipt"), "--log-key", data.AuditPub(), f("tok.jwt"))
	for _, want := range []string{"token is valid: grant ", "approvers: bob, carol", "strict: quorum recomputed from 2 approvals by [bob carol]"} {
		if !strings.Contains(out, want) {
			t.Errorf("verify --strict printed:\n%s\nwant a line with %q", out, want)
		}
	}

	st := waitSourcesFailed(t, url, 4)
	if !st.Ready || st.Bundle == nil || st.Bundle.Serial != 1 {
		t.Errorf("status: ready %v, bundle %+v; want ready on the pinned bundle serial 1", st.Ready, st.Bundle)
	}
	for _, s := range st.Sources {
		if !s.LastSuccess.IsZero() || s.AgeSeconds != -1 || s.Result != "" {
			t.Errorf("source %s (%s): last_success %v, age %v, result %q; want never succeeded (age -1)", s.Name, s.Kind, s.LastSuccess, s.AgeSeconds, s.Result)
		}
	}
	if n := hang.accepted.Load(); n == 0 {
		t.Errorf("the never-answering source accepted no connection: the poller did not run while the flow completed")
	} else {
		t.Logf("the never-answering source accepted %d connection(s) while the flow ran", n)
	}
	// A hung fetch does not stop the poller: the next poll connects again.
	for deadline := time.Now().Add(10 * time.Second); hang.accepted.Load() < 2; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Errorf("the never-answering source was not polled again within 10s (poll: 1s): %d connection(s)", hang.accepted.Load())
			break
		}
	}

	b.stop(t)
	conns := parseConnects(t, trace)
	seen := map[string]int{}
	for _, c := range conns {
		switch {
		case c.family == "AF_INET" || c.family == "AF_INET6":
			if _, ok := upstreams[c.addr]; !ok {
				t.Errorf("the broker connected to %s, which is no configured upstream: %s", c.addr, c.line)
			}
			seen[c.addr]++
		case c.family == "AF_UNIX" && allowedUnix(c.addr):
		default:
			t.Errorf("the broker connected to %s %q, which no upstream explains: %s", c.family, c.addr, c.line)
		}
	}
	// The trace must show an attempt on every network upstream (the
	// poller's, and the checkpointer's pushes to the witness), and every
	// connection the silent listener accepted, or it proves nothing.
	for addr := range upstreams {
		if seen[addr] == 0 {
			t.Errorf("strace saw no connect to %s (%s): it did not trace the broker, or the broker never tried it", addr, upstreams[addr])
		}
	}
	if n := hang.accepted.Load(); int64(seen[hang.addr]) < n {
		t.Errorf("strace saw %d connects to the silent listener, which accepted %d", seen[hang.addr], n)
	}
	t.Logf("connect() calls by the broker: %d in all; per upstream: %v", len(conns), seen)
	if t.Failed() {
		for _, c := range conns {
			t.Log(c.line)
		}
	}
}

// allowedUnix reports whether an AF_UNIX connect is one we expect of the
// broker: none. The test binary is linked with cgo (SQLite) but the broker
// resolves no names and looks up no users, so glibc's nscd client never
// runs; if that changes, name the socket here with the reason.
func allowedUnix(path string) bool { return false }

// witnessKey is a cosignature/v1 verifier key for name, from a fixed seed.
func witnessKey(t testing.TB, name string) string {
	t.Helper()
	seed := sha256.Sum256([]byte("breakglass test witness " + name))
	k, err := audit.CosignatureVerifierKey(name, ed25519.NewKeyFromSeed(seed[:]).Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// silentListener accepts TCP connections and never answers on them: an
// upstream that hangs.
type silentListener struct {
	addr     string
	accepted atomic.Int64
}

func startSilentListener(t testing.TB) *silentListener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &silentListener{addr: ln.Addr().String()}
	var mu sync.Mutex
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.accepted.Add(1)
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			go io.Copy(io.Discard, c) // read the request, answer nothing
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return s
}

// tracedBroker is `breakglass serve` (this test binary) under strace.
type tracedBroker struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
	err  error
	once sync.Once
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// startTraced runs the test binary as `breakglass args...` under `strace -f
// -e trace=connect -o trace`; it is stopped at the end of the test.
func startTraced(t *testing.T, straceBin, trace string, args ...string) *tracedBroker {
	t.Helper()
	cmd := exec.Command(straceBin, append([]string{"-f", "-e", "trace=connect", "-o", trace, os.Args[0]}, args...)...)
	cmd.Env = append(os.Environ(), "BREAKGLASS_AS_MAIN=1")
	b := &tracedBroker{cmd: cmd, out: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = b.out, b.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { b.err = cmd.Wait(); close(b.done) }()
	t.Cleanup(func() {
		b.stop(t)
		if t.Failed() {
			t.Logf("broker output:\n%s", b.out.String())
		}
	})
	return b
}

// stop interrupts the traced broker and waits for strace to exit. strace
// started with -o and a command blocks fatal signals for itself, so the
// signal goes to the tracee, strace's child.
func (b *tracedBroker) stop(t *testing.T) {
	t.Helper()
	b.once.Do(func() {
		if pid := childOf(b.cmd.Process.Pid); pid > 0 {
			syscall.Kill(pid, syscall.SIGINT)
		} else {
			t.Errorf("found no child of strace (pid %d) to stop", b.cmd.Process.Pid)
		}
		select {
		case <-b.done:
		case <-time.After(15 * time.Second):
			t.Errorf("the traced broker did not stop within 15s of SIGINT")
			b.cmd.Process.Kill()
			<-b.done
		}
		if b.err != nil {
			t.Errorf("the traced broker exited with %v", b.err)
		}
	})
}

// childOf returns the pid of a child process of ppid, or 0.
func childOf(ppid int) int {
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", ppid, ppid)); err == nil {
		if f := strings.Fields(string(b)); len(f) > 0 {
			pid, _ := strconv.Atoi(f[0])
			return pid
		}
	}
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, s := range stats {
		b, err := os.ReadFile(s)
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...; comm may hold spaces and parentheses.
		rest := string(b[bytes.LastIndexByte(b, ')')+1:])
		if f := strings.Fields(rest); len(f) > 1 && f[1] == strconv.Itoa(ppid) {
			pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(s)))
			return pid
		}
	}
	return 0
}

// waitReady waits until url's /readyz answers 200.
func waitReady(t *testing.T, url string, b *tracedBroker) {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); ; {
		resp, err := http.Get(url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-b.done:
			t.Fatalf("the broker exited before it was ready: %v\n%s", b.err, b.out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the broker was not ready within 60s (last: %v, status %v)", err, resp)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitSourcesFailed waits until /v1/status lists n sources, each with a
// last error, and returns that status.
func waitSourcesFailed(t *testing.T, url string, n int) *web.StatusJSON {
	t.Helper()
	var st web.StatusJSON
	for deadline := time.Now().Add(20 * time.Second); ; {
		if err := json.Unmarshal(mustGet(t, url+"/v1/status"), &st); err != nil {
			t.Fatalf("/v1/status: %v", err)
		}
		failed := 0
		for _, s := range st.Sources {
			if s.LastError != "" {
				failed++
			}
		}
		if len(st.Sources) == n && failed == n {
			for _, s := range st.Sources {
				t.Logf("source %s (%s): last_error %q, age_seconds %v", s.Name, s.Kind, s.LastError, s.AgeSeconds)
			}
			return &st
		}
		if time.Now().After(deadline) {
			t.Fatalf("/v1/status after 20s: %d sources, %d with a last error; want %d and %d: %+v", len(st.Sources), failed, n, n, st.Sources)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func mustGet(t testing.TB, url string) []byte {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s: %s", url, resp.Status, b)
	}
	return b
}

// mustCLI runs the breakglass CLI in this process with env as its whole
// environment and returns its stdout; it fails the test on a non-zero exit.
func mustCLI(t testing.TB, env map[string]string, args ...string) string {
	t.Helper()
	var out, errb bytes.Buffer
	if code := Main(args, strings.NewReader(""), &out, &errb, func(k string) string { return env[k] }); code != 0 {
		t.Fatalf("breakglass %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out.String(), errb.String())
	}
	return out.String()
}

// connectCall is one connect() strace recorded.
type connectCall struct {
	family, addr, line string
}

var (
	connectRe = regexp.MustCompile(`connect\(\d+, \{sa_family=(AF_[A-Z0-9]+)(.*?)\}, \d+`)
	inet4Re   = regexp.MustCompile(`sin_port=htons\((\d+)\), sin_addr=inet_addr\("([^"]+)"\)`)
	inet6Re   = regexp.MustCompile(`sin6_port=htons\((\d+)\).*inet_pton\(AF_INET6, "([^"]+)"`)
	unixRe    = regexp.MustCompile(`sun_path=(@?"[^"]*")`)
)

// parseConnects reads strace's output: every connect() with its address
// family and address (host:port, or the socket path).
func parseConnects(t *testing.T, file string) []connectCall {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []connectCall
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if !strings.Contains(line, "connect(") {
			continue // exits, signals, resumed calls (their address is on the unfinished line)
		}
		m := connectRe.FindStringSubmatch(line)
		if m == nil {
			t.Errorf("strace line with a connect() this test cannot read: %s", line)
			continue
		}
		c := connectCall{family: m[1], line: line}
		switch c.family {
		case "AF_INET":
			if a := inet4Re.FindStringSubmatch(m[2]); a != nil {
				c.addr = net.JoinHostPort(a[2], a[1])
			}
		case "AF_INET6":
			if a := inet6Re.FindStringSubmatch(m[2]); a != nil {
				c.addr = net.JoinHostPort(a[2], a[1])
			}
		case "AF_UNIX":
			if a := unixRe.FindStringSubmatch(m[2]); a != nil {
				c.addr = a[1]
			}
		}
		out = append(out, c)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
