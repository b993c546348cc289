package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
	"golang.org/x/crypto/ssh"

	"github.com/failsmall/breakglass/hwkey"
	"github.com/failsmall/breakglass/server"
)

// TestMain makes the test binary double as the breakglass command: testscript
// installs it as `breakglass` on the scripts' PATH, and race_test.go
// re-executes it with BREAKGLASS_AS_MAIN=1.
func TestMain(m *testing.M) {
	if os.Getenv("BREAKGLASS_AS_MAIN") == "1" {
		os.Exit(Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv))
	}
	testscript.Main(m, map[string]func(){
		"breakglass": func() { os.Exit(Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv)) },
	})
}

// TestScripts runs the CLI end to end, as a user would, against a broker
// started in this process: testdata/script/*.txt.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 filepath.Join("testdata", "script"),
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
		Setup: func(env *testscript.Env) error {
			// Client commands must never fall back to a broker that
			// happens to run on this machine, nor to the user's agent.
			env.Setenv("BREAKGLASS_URL", "http://127.0.0.1:1")
			env.Setenv("SSH_AUTH_SOCK", "")
			return nil
		},
		// [ci] holds when CI=true: a script skips on a missing tool only
		// when it does not, so a missing install step fails CI.
		Condition: func(cond string) (bool, error) {
			if cond == "ci" {
				return os.Getenv("CI") == "true", nil
			}
			return false, fmt.Errorf("unknown condition %q", cond)
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"startbroker": cmdStartBroker,
			"capture":     cmdCapture,
			"fetch":       cmdFetch,
			"until":       cmdUntil,
			"exits":       cmdExits,
			"startagent":  cmdStartAgent,
		},
	})
}

// cmdStartBroker implements `startbroker [--policy FILE] [--name NAME]`: a
// broker in this process on 127.0.0.1:0 with its data in $WORK/data, in
// development mode (dev keys and policy) unless --policy is given. It sets
// BREAKGLASS_URL and DATA, logs to $WORK/broker.log, and stops at the end
// of the script. It returns once the broker listens.
func cmdStartBroker(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("usage: startbroker [--policy FILE] [--name NAME] (cannot be negated)")
	}
	name, policyFile := "breakglass-dev", ""
	for len(args) > 0 {
		if len(args) < 2 {
			ts.Fatalf("usage: startbroker [--policy FILE] [--name NAME]")
		}
		switch args[0] {
		case "--policy":
			policyFile = ts.MkAbs(args[1])
		case "--name":
			name = args[1]
		default:
			ts.Fatalf("startbroker: unknown flag %q", args[0])
		}
		args = args[2:]
	}
	d := server.Dir(filepath.Join(ts.Getenv("WORK"), "data"))
	// The script's files (data/policy.yaml and the like) may have made the
	// folder with the umask's 0755, which the broker refuses: tighten it
	// as an operator would.
	if _, err := os.Stat(string(d)); err == nil {
		ts.Check(os.Chmod(string(d), 0o700))
	}
	_, err := server.EnsureDev(d)
	ts.Check(err)
	if policyFile == "" {
		policyFile = d.Policy()
	}
	carol, err := hwkey.LoadKeyFile(filepath.Join(d.DevKeys(), "carol"))
	ts.Check(err)
	logFile, err := os.Create(filepath.Join(ts.Getenv("WORK"), "broker.log"))
	ts.Check(err)
	a, err := server.Open(context.Background(), server.Config{Name: name, Addr: "127.0.0.1:0", Data: d,
		Local:  &server.LocalPolicy{File: policyFile, Admins: []ssh.Signer{carol}},
		Logger: slog.New(slog.NewTextHandler(logFile, nil)), SweepEvery: 100 * time.Millisecond})
	if err != nil {
		logFile.Close()
		ts.Fatalf("startbroker: %v", err)
	}
	ts.Defer(func() {
		if err := a.Close(context.Background()); err != nil {
			ts.Logf("stop broker: %v", err)
		}
		logFile.Close()
	})
	ts.Setenv("BREAKGLASS_URL", a.URL())
	ts.Setenv("DATA", string(d))
	fmt.Fprintf(ts.Stdout(), "broker %q serving on %s\n", name, a.URL())
}

// cmdCapture implements `capture VAR REGEXP`: it sets VAR to the first
// submatch of REGEXP in the last command's stdout, and fails when nothing
// matches. Scripts use it where a shell would use $(...).
func cmdCapture(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: capture VAR REGEXP (with one group)")
	}
	re, err := regexp.Compile(`(?m)` + args[1])
	ts.Check(err)
	if re.NumSubexp() != 1 {
		ts.Fatalf("capture: %q needs exactly one group, has %d", args[1], re.NumSubexp())
	}
	m := re.FindStringSubmatch(ts.ReadFile("stdout"))
	if m == nil {
		ts.Fatalf("capture: no match for %q in stdout", args[1])
	}
	ts.Setenv(args[0], m[1])
}

// cmdUntil implements `until TIMEOUT REGEXP PROGRAM [ARGS...]`: it runs
// PROGRAM every 50ms until it succeeds with stdout matching REGEXP, and
// fails after TIMEOUT. Scripts use it instead of sleeping for something the
// broker does in the background; its stdout is the last run's.
func cmdUntil(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 3 {
		ts.Fatalf("usage: until TIMEOUT REGEXP PROGRAM [ARGS...]")
	}
	timeout, err := time.ParseDuration(args[0])
	ts.Check(err)
	re, err := regexp.Compile(`(?m)` + args[1])
	ts.Check(err)
	for deadline := time.Now().Add(timeout); ; time.Sleep(50 * time.Millisecond) {
		err := ts.Exec(args[2], args[3:]...)
		if err == nil && re.MatchString(ts.ReadFile("stdout")) {
			return
		}
		if errors.Is(err, exec.ErrNotFound) || time.Now().After(deadline) {
			ts.Fatalf("until: %s did not print a match for %q within %s (last error: %v)", args[2], args[1], timeout, err)
		}
	}
}

// cmdExits implements `exits CODE PROGRAM [ARGS...]`: like `! exec` but it
// also checks the exit code, for the usage errors that must exit 2.
func cmdExits(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exits CODE PROGRAM [ARGS...]")
	}
	want, err := strconv.Atoi(args[0])
	ts.Check(err)
	err = ts.Exec(args[1], args[2:]...)
	got := 0
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			ts.Fatalf("exits: %v", err)
		}
		got = ee.ExitCode()
	}
	if got != want {
		ts.Fatalf("exits: %s exited %d, want %d", args[1], got, want)
	}
}

// cmdFetch implements `[!] fetch URL FILE`: an HTTP GET whose body goes to
// FILE and whose status line goes to stdout. It succeeds on 200; negated, it
// expects an answer with another status. Not reaching the server fails
// either way.
func cmdFetch(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: fetch URL FILE")
	}
	hc := &http.Client{Timeout: 10 * time.Second}
	resp, err := hc.Get(args[0])
	if err != nil {
		ts.Fatalf("fetch: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	ts.Check(err)
	ts.Check(os.WriteFile(ts.MkAbs(args[1]), body, 0o644))
	fmt.Fprintf(ts.Stdout(), "%s\n", resp.Status)
	switch ok := resp.StatusCode == http.StatusOK; {
	case ok && neg:
		ts.Fatalf("fetch %s: got %s, want an error status", args[0], resp.Status)
	case !ok && !neg:
		ts.Fatalf("fetch %s: got %s, want 200 OK: %.200s", args[0], resp.Status, body)
	}
}

// cmdStartAgent implements `startagent`: a real `ssh-agent -D` on a fresh
// socket, stopped at the end of the script, with SSH_AUTH_SOCK pointing at
// it. A missing ssh-agent fails the script: scripts skip on
// `[!exec:ssh-agent] [!ci]` first.
func cmdStartAgent(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 0 {
		ts.Fatalf("usage: startagent")
	}
	bin, err := exec.LookPath("ssh-agent")
	if err != nil {
		ts.Fatalf("ssh-agent is missing (CI=%q; run scripts/test-deps.sh as root to install it): %v", os.Getenv("CI"), err)
	}
	// Unix socket paths are limited to about 100 bytes; $WORK may be longer.
	dir, err := os.MkdirTemp("", "bg-agent")
	ts.Check(err)
	sock := filepath.Join(dir, "agent.sock")
	logPath := filepath.Join(ts.Getenv("WORK"), "agent.log")
	logFile, err := os.Create(logPath)
	ts.Check(err)
	cmd := exec.Command(bin, "-D", "-a", sock)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		os.RemoveAll(dir)
		ts.Fatalf("start ssh-agent: %v", err)
	}
	ts.Defer(func() {
		cmd.Process.Kill()
		cmd.Wait()
		logFile.Close()
		os.RemoveAll(dir)
	})
	if err := waitUnixSocket(sock, 10*time.Second); err != nil {
		ts.Fatalf("ssh-agent: %v: %s", err, ts.ReadFile(logPath))
	}
	ts.Setenv("SSH_AUTH_SOCK", sock)
}

// waitUnixSocket waits until something accepts connections on sock.
func waitUnixSocket(sock string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.Dial("unix", sock)
		if err == nil {
			return c.Close()
		}
		if time.Now().After(deadline) {
			return errors.Join(fmt.Errorf("nothing listens on %s after %s", sock, timeout), err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
