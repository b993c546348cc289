package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/failsmall/breakglass/internal/systest"
)

// readmeSection says what TestREADME does with the console blocks under
// one heading of README.md.
type readmeSection struct {
	skip      string   // why its blocks cannot run in a test; "" runs them
	rootNeeds []string // what its root (#) blocks need besides root: commands or absolute paths
}

// readmeSections classifies every README.md heading with console blocks.
// A console block under a heading not listed here, or a listed heading with
// none, fails TestREADME, so each new block is run, or skipped for a reason,
// on purpose.
var readmeSections = map[string]readmeSection{
	"Five-minute walkthrough": {},
	"SSH certificates":        {rootNeeds: []string{"/usr/sbin/sshd", "ssh", "/etc/ssh/ssh_host_ed25519_key"}},
	"Audit log":               {},
	"Policy bundles": {skip: "an operator's template: the installed binary on files a new user " +
		"does not have (policy.yaml, admin1-key, admin2-key, /etc/breakglass/config.yaml); " +
		"testdata/script/policy.txt covers the commands"},
	"Relying parties: strict verification": {},
	"Ending it":                            {},
}

// readmeCmd is one command of a console block: what follows "$ " (a user's
// shell) or "# " (root's), with its continuation lines, and the output the
// README shows under it.
type readmeCmd struct {
	line int // in README.md
	root bool
	text string
	want []string
}

// String names the command in failures: its first line, quoted.
func (c readmeCmd) String() string {
	first, _, more := strings.Cut(c.text, "\n")
	if more {
		first += " ..."
	}
	return strconv.Quote(first)
}

type readmeBlock struct {
	section string
	line    int
	cmds    []readmeCmd
}

// TestREADME follows README.md top to bottom as a new user would: it runs
// every ```console block of the sections readmeSections lets run, in order,
// in one bash session, so state (export BREAKGLASS_URL, ID=$(...)) carries
// from one command to the next, in a fresh folder holding only bin/breakglass.
// A command that exits non-zero fails the test at its README line and stops
// the session. Root (#) blocks run when the test runs as root and has what
// their section needs; otherwise they are skipped, or fail under CI=true.
//
// The substitutions, all of them:
//   - `make run` is its recipe: go build -o bin/breakglass ./cmd/breakglass,
//     then ./bin/breakglass serve --dev --data ./breakglass-data --addr
//     127.0.0.1:PORT, started by the test before the session (the README's
//     "one shell") and stopped with SIGINT at the end;
//   - 127.0.0.1:8080 is 127.0.0.1:PORT, a free port, in commands and output;
//   - /etc/ssh/breakglass is a fresh folder under /run (root's, not
//     world-writable, as sshd requires), so the test never writes to /etc;
//     a command naming /etc otherwise (but the host key sshd reads), or
//     running make or sudo, fails the test rather than change this machine;
//   - sshd's Port 2222 and ssh's -p 2222 are another free port;
//   - ssh is a shell function that answers the host key prompt (into a
//     temporary known_hosts), offers only the README's key and certificate,
//     and gives the login shell no input, so it exits at once;
//   - after a background (&) command, sshd, the session waits until its
//     port accepts connections, as a user waits for "Server listening"; the
//     session's background jobs are stopped when it ends.
//
// Output: the lines under a command, up to the next one, are what the
// terminal shows (stdout and stderr together). A command with none has its
// output unchecked. A line "..." stands for any number of lines, "..."
// within a line for any text; the other lines must match the output's line
// for line (trailing spaces aside), but for the values that differ from run
// to run: ids, sha256 hashes, SSH fingerprints, the audit root, times, and
// the time left "(in 29m59s)". Each README value but the time left must
// stand for one value of the run and each value be written one way, so the
// examples read as one run. `make run` keeps running: its output must show
// the README's lines, in order, and may go on.
func TestREADME(t *testing.T) {
	bash := systest.Need(t, "bash")
	goCmd := systest.Need(t, "go")
	systest.Need(t, "curl")
	src, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks, err := parseREADME(string(src))
	if err != nil {
		t.Fatal(err)
	}
	dir, meta := t.TempDir(), t.TempDir()
	port, sshPort := systest.FreePort(t), systest.FreePort(t)
	for sshPort == port {
		sshPort = systest.FreePort(t)
	}
	rw := strings.NewReplacer("127.0.0.1:8080", "127.0.0.1:"+strconv.Itoa(port),
		"Port 2222", "Port "+strconv.Itoa(sshPort), "-p 2222", "-p "+strconv.Itoa(sshPort))
	run := readmeRunnable(t, blocks)
	if len(run) == 0 || run[0].text != "make run" {
		t.Fatalf("README.md's first console command is not `make run`, which TestREADME replaces: %+v", run)
	}
	cmds := run[1:]
	if err := readmeRewrite(cmds, rw, readmeSSHDir(t, cmds)); err != nil {
		t.Fatal(err)
	}
	b := &readmeBindings{toRun: map[string]string{}, toREADME: map[string]string{}, line: map[string]int{}}
	readmeBuild(t, goCmd, dir)
	readmeServe(t, dir, port, rw, run[0], b)
	session := readmeSession(t, bash, dir, meta, cmds, sshPort)
	readmeCheck(t, cmds, meta, session, b)
	root := 0
	for _, c := range cmds {
		if c.root {
			root++
		}
	}
	t.Logf("ran make run and %d commands of README.md (%d as root), %d README values tied to the run's", len(cmds), root, len(b.toRun))
}

// readmeRewrite makes the substitutions TestREADME's comment lists in
// cmds, in place, and refuses a command that would act on the real system:
// one naming /etc (but the host key sshd reads), or running make or sudo.
func readmeRewrite(cmds []readmeCmd, rw *strings.Replacer, sshDir string) error {
	etc := regexp.MustCompile(`/etc/ssh/breakglass\b`)
	for i := range cmds {
		c := &cmds[i]
		c.text = rw.Replace(c.text)
		if sshDir != "" {
			c.text = etc.ReplaceAllLiteralString(c.text, filepath.Join(sshDir, "breakglass"))
		}
		for j := range c.want {
			c.want[j] = rw.Replace(c.want[j])
		}
		if strings.Contains(strings.ReplaceAll(c.text, "/etc/ssh/ssh_host_ed25519_key", ""), "/etc/") {
			return fmt.Errorf("README.md:%d: %s names /etc, which TestREADME never touches: substitute a temporary folder, or skip its section", c.line, c)
		}
		if f := strings.Fields(c.text); len(f) > 0 && (f[0] == "make" || f[0] == "sudo") {
			return fmt.Errorf("README.md:%d: %s would change this machine: substitute it, or skip its section", c.line, c)
		}
	}
	return nil
}

// readmeSession runs cmds in one bash session in dir, as readmeScript
// writes it into meta, and returns what bash itself printed.
func readmeSession(t *testing.T, bash, dir, meta string, cmds []readmeCmd, sshPort int) string {
	t.Helper()
	script, err := readmeScript(cmds, meta, sshPort)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(meta, "session.sh")
	if err := os.WriteFile(file, []byte(script), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	sh := exec.CommandContext(ctx, bash, "--noprofile", "--norc", file)
	sh.Dir, sh.Env, sh.WaitDelay = dir, readmeEnv(), 5*time.Second
	out, err := sh.CombinedOutput()
	if err != nil && ctx.Err() != nil {
		t.Fatalf("the README's session did not end within 2 minutes: %v\n%s", err, out)
	}
	return string(out)
}

// parseREADME returns the console blocks of a README, each under the
// nearest heading before it.
func parseREADME(src string) ([]readmeBlock, error) {
	var blocks []readmeBlock
	section, fence := "", ""
	var cur *readmeCmd
	for i, line := range strings.Split(src, "\n") {
		n := i + 1
		switch {
		case fence == "" && strings.HasPrefix(line, "```"):
			fence = strings.TrimPrefix(line, "```")
			if fence == "" {
				fence = "text"
			}
			if fence == "console" {
				blocks = append(blocks, readmeBlock{section: section, line: n})
			}
		case fence == "" && strings.HasPrefix(line, "#"):
			section = strings.TrimSpace(strings.TrimLeft(line, "#"))
		case fence != "" && strings.HasPrefix(line, "```"):
			fence, cur = "", nil
		case fence != "console":
		case cur != nil && strings.HasSuffix(cur.text, `\`):
			cur.text += "\n" + line
		case strings.HasPrefix(line, "$ ") || strings.HasPrefix(line, "# "):
			b := &blocks[len(blocks)-1]
			b.cmds = append(b.cmds, readmeCmd{line: n, root: line[0] == '#', text: line[2:]})
			cur = &b.cmds[len(b.cmds)-1]
		case cur == nil:
			return nil, fmt.Errorf("README.md:%d: output before any command in a console block: %q", n, line)
		default:
			cur.want = append(cur.want, line)
		}
	}
	if fence != "" {
		return nil, fmt.Errorf("README.md: a %s block is not closed", fence)
	}
	return blocks, nil
}

// readmeRunnable returns the commands of the blocks to run, in order, and
// logs (or, for root blocks under CI=true, fails on) the blocks it skips.
func readmeRunnable(t *testing.T, blocks []readmeBlock) []readmeCmd {
	t.Helper()
	seen := map[string]bool{}
	var run []readmeCmd
	for _, b := range blocks {
		s, ok := readmeSections[b.section]
		if !ok {
			t.Fatalf("README.md:%d: a console block under %q, which readmeSections does not classify: add the heading, to run its blocks or say why they cannot run", b.line, b.section)
		}
		seen[b.section] = true
		if s.skip != "" {
			t.Logf("README.md:%d (%s): skipped: %s", b.line, b.section, s.skip)
			continue
		}
		if len(b.cmds) > 0 && b.cmds[0].root {
			if why := readmeRootMissing(s.rootNeeds); why != "" {
				if os.Getenv("CI") == "true" {
					t.Fatalf("README.md:%d (%s): the root block cannot run but CI=true: %s", b.line, b.section, why)
				}
				t.Logf("README.md:%d (%s): root block skipped: %s", b.line, b.section, why)
				continue
			}
		}
		run = append(run, b.cmds...)
	}
	for h := range readmeSections {
		if !seen[h] {
			t.Errorf("readmeSections lists %q, which has no console block in README.md: remove it", h)
		}
	}
	return run
}

// readmeRootMissing says why root blocks with these needs cannot run
// here, or "" when they can.
func readmeRootMissing(needs []string) string {
	if os.Geteuid() != 0 {
		return "not running as root"
	}
	if fi, err := os.Stat("/run"); err != nil || fi.Mode().Perm()&0o022 != 0 {
		return "no /run folder closed to others, for sshd's files"
	}
	for _, n := range needs {
		var err error
		if filepath.IsAbs(n) {
			_, err = os.Stat(n)
		} else {
			_, err = exec.LookPath(n)
		}
		if err != nil {
			return fmt.Sprintf("%s is missing (scripts/test-deps.sh installs it): %v", n, err)
		}
	}
	return ""
}

// readmeSSHDir returns a fresh folder for what the README puts in
// /etc/ssh/breakglass, or "" when no command to run names that.
func readmeSSHDir(t *testing.T, cmds []readmeCmd) string {
	t.Helper()
	for _, c := range cmds {
		if strings.Contains(c.text, "/etc/ssh/breakglass") {
			d, err := os.MkdirTemp("/run", "breakglass-readme-")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.RemoveAll(d) })
			return d
		}
	}
	return ""
}

// readmeBuild is the build half of `make run`, into dir/bin/breakglass.
func readmeBuild(t *testing.T, goCmd, dir string) {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	build := exec.Command(goCmd, "build", "-o", filepath.Join(dir, "bin", "breakglass"), "./cmd/breakglass")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("make run: go build ./cmd/breakglass: %v\n%s", err, out)
	}
}

// readmeServe is the serve half of `make run`: it starts the broker in dir
// on port, stopped when the test ends, and waits until its output shows
// the lines the README shows under `make run`.
func readmeServe(t *testing.T, dir string, port int, rw *strings.Replacer, c readmeCmd, b *readmeBindings) {
	t.Helper()
	logFile := filepath.Join(t.TempDir(), "broker.log")
	f, err := os.Create(logFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	srv := exec.Command(filepath.Join(dir, "bin", "breakglass"), "serve", "--dev", "--data", "./breakglass-data",
		"--addr", "127.0.0.1:"+strconv.Itoa(port))
	srv.Dir, srv.Env, srv.Stdout, srv.Stderr = dir, readmeEnv(), f, f
	if err := srv.Start(); err != nil {
		t.Fatalf("make run: %v", err)
	}
	done := make(chan struct{})
	go func() { srv.Wait(); close(done) }()
	t.Cleanup(func() {
		srv.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			srv.Process.Kill()
			<-done
		}
	})
	want := make([]string, len(c.want), len(c.want)+1)
	for i, w := range c.want {
		want[i] = rw.Replace(w)
	}
	want = append(want, "...") // it keeps running, and logging
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		out, _ := os.ReadFile(logFile)
		if m := readmeMatch(c.line+1, want, string(out)); m != nil {
			if err := b.bindAll(m); err != nil {
				t.Error(err)
			}
			return
		}
		select {
		case <-done:
			t.Fatalf("README.md:%d: make run: the broker exited: %v\n%s", c.line, srv.ProcessState, out)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("README.md:%d: make run: the broker's output does not show the README's lines within 15s:\n%s", c.line, out)
		}
	}
}

// readmeEnv is the test's environment without what would point the CLI
// at another broker or agent: a new user's shell.
func readmeEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "BREAKGLASS_") && !strings.HasPrefix(kv, "SSH_AUTH_SOCK=") {
			env = append(env, kv)
		}
	}
	return env
}

// readmeBackground matches a command run in the background.
var readmeBackground = regexp.MustCompile(`(^|[^&])&\s*(#.*)?$`)

// readmeScript is the bash session that runs cmds in order: each one's
// output goes to meta/N.out and its exit status to meta/N.rc, and the
// first that fails ends the session.
func readmeScript(cmds []readmeCmd, meta string, sshPort int) (string, error) {
	var s strings.Builder
	fmt.Fprintf(&s, `# TestREADME's session: README.md's console commands, in order.
ssh() { command ssh -F /dev/null -o BatchMode=yes -o IdentitiesOnly=yes -o IdentityAgent=none \
  -o StrictHostKeyChecking=accept-new -o UserKnownHostsFile=%s -o ConnectTimeout=10 "$@" </dev/null; }
__readme_wait_port() { for _ in $(seq 200); do (: <>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done; return 1; }
__readme_stop() { __readme_jobs=$(jobs -p); if [ -n "$__readme_jobs" ]; then kill $__readme_jobs; wait; fi 2>/dev/null; }
trap __readme_stop EXIT
`, readmeQuote(filepath.Join(meta, "known_hosts")))
	for i, c := range cmds {
		out, rc := readmeQuote(filepath.Join(meta, strconv.Itoa(i)+".out")), readmeQuote(filepath.Join(meta, strconv.Itoa(i)+".rc"))
		fmt.Fprintf(&s, "\n# README.md:%d\n{\n%s\n} >%s 2>&1\n__readme_rc=$?; echo $__readme_rc >%s; [ $__readme_rc = 0 ] || exit 1\n", c.line, c.text, out, rc)
		if !readmeBackground.MatchString(c.text) {
			continue
		}
		if !strings.Contains(c.text, "sshd") {
			return "", fmt.Errorf("README.md:%d: %q runs in the background, and TestREADME only knows how to wait for sshd", c.line, c.text)
		}
		fmt.Fprintf(&s, "__readme_wait_port %d || { echo 'nothing listens on 127.0.0.1:%d after 10s' >%s; exit 1; }\n", sshPort, sshPort, rc)
	}
	return s.String(), nil
}

func readmeQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// readmeCheck fails t at the first command of the session that failed or
// did not run, and on every output unlike the README's.
func readmeCheck(t *testing.T, cmds []readmeCmd, meta, session string, b *readmeBindings) {
	t.Helper()
	for i, c := range cmds {
		rc, err := os.ReadFile(filepath.Join(meta, strconv.Itoa(i)+".rc"))
		if err != nil {
			t.Fatalf("README.md:%d: %s did not run: the session ended before it:\n%s", c.line, c, session)
		}
		out, err := os.ReadFile(filepath.Join(meta, strconv.Itoa(i)+".out"))
		if err != nil {
			t.Fatal(err)
		}
		if s := strings.TrimSpace(string(rc)); s != "0" {
			t.Fatalf("README.md:%d: %s failed (exit %s); it printed:\n%s", c.line, c, s, out)
		}
		if readmeBackground.MatchString(c.text) && !readmeLoggedCert(cmds[i+1:], string(out)) {
			t.Errorf("README.md:%d: %s: sshd logs no login with a certificate whose key id names alice and her approvers:\n%s", c.line, c, out)
		}
		if len(c.want) == 0 {
			continue
		}
		m := readmeMatch(c.line+strings.Count(c.text, "\n")+1, c.want, string(out))
		if m == nil {
			t.Errorf("README.md:%d: %s printed what the README does not show\n--- README:\n%s\n--- printed:\n%s", c.line, c, strings.Join(c.want, "\n"), out)
			continue
		}
		if err := b.bindAll(m); err != nil {
			t.Error(err)
		}
	}
}

// readmeLoggedCert reports whether the log of sshd, started before cmds,
// shows a login with the broker's certificate, as the README says, when one
// of cmds logs in with ssh.
func readmeLoggedCert(cmds []readmeCmd, log string) bool {
	for _, c := range cmds {
		if strings.HasPrefix(c.text, "ssh ") {
			return regexp.MustCompile(`(?m)^Accepted publickey for root .*-CERT .*requester=alice approvers=bob,carol`).MatchString(log)
		}
	}
	return true
}
