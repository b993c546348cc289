package systest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// SSHDOptions configures StartSSHD.
type SSHDOptions struct {
	// TrustedUserCAKeys are authorized_keys lines of the CA keys whose user
	// certificates sshd accepts. At least one is required.
	TrustedUserCAKeys []string
	// RevokedKeys is the path of a KRL (or revoked keys) file, or "" for
	// none. sshd reads it at every authentication attempt, so a test may
	// rewrite it while sshd runs; while the file is missing or unreadable
	// sshd refuses every certificate.
	RevokedKeys string
	// Principals are the certificate principals allowed to log in as the
	// current user (AuthorizedPrincipalsFile). At least one is required.
	Principals []string
	// ExtraConfig lines are appended to sshd_config. sshd keeps the first
	// value it reads for most options, so these add options; they do not
	// override the ones StartSSHD sets.
	ExtraConfig []string
}

// SSHD is a running OpenSSH server owned by a test, bound to 127.0.0.1.
type SSHD struct {
	Port int
	User string // the login user: the user the test runs as
	Dir  string // holds sshd_config, the host key and the principals file

	cmd  *exec.Cmd
	log  *lockedBuffer
	done chan struct{}
}

// StartSSHD runs `sshd -D -e -f cfg` on a free port of 127.0.0.1 with a fresh
// ed25519 host key, accepting only user certificates signed by one of
// opts.TrustedUserCAKeys that name one of opts.Principals. It waits until the
// port accepts connections and stops sshd (by its pid) when the test ends.
func StartSSHD(t testing.TB, opts SSHDOptions) *SSHD {
	t.Helper()
	bin := Need(t, "sshd")
	Need(t, "ssh-keygen")
	if len(opts.TrustedUserCAKeys) == 0 || len(opts.Principals) == 0 {
		t.Fatal("StartSSHD: TrustedUserCAKeys and Principals must not be empty")
	}
	// sshd refuses to re-exec itself unless started by an absolute path.
	bin, err := filepath.Abs(bin)
	if err != nil {
		t.Fatal(err)
	}
	// The privilege separation directory; a fresh container may lack it.
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil && os.Geteuid() == 0 {
		t.Fatalf("create sshd privilege separation dir: %v", err)
	}
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	d := &SSHD{Port: FreePort(t), User: u.Username, Dir: t.TempDir(), log: &lockedBuffer{}, done: make(chan struct{})}
	cfg := d.writeConfig(t, bin, opts)

	d.cmd = exec.Command(bin, "-D", "-e", "-f", cfg)
	d.cmd.Stdout, d.cmd.Stderr = d.log, d.log
	// Session children inherit stderr; don't let one keep Wait blocked.
	d.cmd.WaitDelay = 2 * time.Second
	if err := d.cmd.Start(); err != nil {
		t.Fatalf("start sshd: %v", err)
	}
	go func() { d.cmd.Wait(); close(d.done) }()
	t.Cleanup(d.stop)
	d.waitListening(t)
	return d
}

// writeConfig writes the host key, the trusted CA keys, the principals file
// and sshd_config into d.Dir and returns the config's path.
func (d *SSHD) writeConfig(t testing.TB, bin string, opts SSHDOptions) string {
	t.Helper()
	hostKey := Keygen(t, d.Dir, "ssh_host_ed25519_key", "ed25519")
	caFile := filepath.Join(d.Dir, "trusted_user_ca_keys")
	principals := filepath.Join(d.Dir, "authorized_principals")
	writeFile(t, caFile, strings.Join(opts.TrustedUserCAKeys, "\n")+"\n")
	writeFile(t, principals, strings.Join(opts.Principals, "\n")+"\n")
	lines := []string{
		"ListenAddress 127.0.0.1:" + strconv.Itoa(d.Port),
		"HostKey " + hostKey,
		"PidFile " + filepath.Join(d.Dir, "sshd.pid"),
		"TrustedUserCAKeys " + caFile,
		"AuthorizedPrincipalsFile " + principals,
		"AuthorizedKeysFile none",
		"PubkeyAuthentication yes",
		"PasswordAuthentication no",
		"KbdInteractiveAuthentication no",
		"PermitRootLogin yes",
		"StrictModes no",
		"UsePAM no",
		"UseDNS no",
		"LogLevel VERBOSE",
	}
	if opts.RevokedKeys != "" {
		lines = append(lines, "RevokedKeys "+opts.RevokedKeys)
	}
	lines = append(lines, opts.ExtraConfig...)
	cfg := filepath.Join(d.Dir, "sshd_config")
	// Lines that newer sshds know, tried first and left out when sshd -t
	// refuses them. Tests fail logins on purpose, so exempt loopback from
	// OpenSSH 9.8's penalties. SHLVL=1 stops Debian's bash from sourcing the
	// user's ~/.bashrc for the remote command, which can take seconds.
	optional := []string{"SetEnv SHLVL=1", "PerSourcePenaltyExemptList 127.0.0.1,::1"}
	for _, line := range optional {
		writeFile(t, cfg, strings.Join(append(lines, line), "\n")+"\n")
		if exec.Command(bin, "-t", "-f", cfg).Run() == nil {
			lines = append(lines, line)
		}
	}
	writeFile(t, cfg, strings.Join(lines, "\n")+"\n")
	if out, err := exec.Command(bin, "-t", "-f", cfg).CombinedOutput(); err != nil {
		t.Fatalf("sshd -t -f %s: %v\n%s", cfg, err, out)
	}
	return cfg
}

func (d *SSHD) waitListening(t testing.TB) {
	t.Helper()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(d.Port))
	deadline := time.Now().Add(10 * time.Second)
	for {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return
		}
		select {
		case <-d.done:
			t.Fatalf("sshd exited before listening on %s:\n%s", addr, d.Log())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("sshd did not listen on %s within 10s:\n%s", addr, d.Log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop ends sshd by its pid: SIGTERM, then SIGKILL if it lingers.
func (d *SSHD) stop() {
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(5 * time.Second):
		d.cmd.Process.Kill()
		<-d.done
	}
}

// Log returns what sshd has written to stderr so far.
func (d *SSHD) Log() string { return d.log.String() }

// LogSince returns what sshd has written to stderr after the first n bytes;
// take n as len(Log()) before the action whose log lines a test checks.
func (d *SSHD) LogSince(n int) string {
	l := d.Log()
	if n > len(l) {
		return ""
	}
	return l[n:]
}

// WaitLog reports whether LogSince(n) contains substr within a few seconds;
// sshd's lines reach the log through a pipe, a moment after the client ends.
func (d *SSHD) WaitLog(n int, substr string) bool {
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(d.LogSince(n), substr) {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}

// Login runs the real ssh client as d.User against this sshd with the private
// key keyFile and the certificate certFile, running `true`. It returns the
// client's combined output and its error (nil when the login succeeded).
// extraSSHArgs come before the destination (for example "-o",
// "SecurityKeyProvider="+SKDummy). The client ignores any ssh-agent and user
// configuration, so only keyFile and certFile can authenticate.
func (d *SSHD) Login(t testing.TB, keyFile, certFile string, extraSSHArgs ...string) (string, error) {
	t.Helper()
	bin := Need(t, "ssh")
	args := []string{"-F", "/dev/null",
		"-i", keyFile, "-o", "CertificateFile=" + certFile,
		"-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
		"-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none",
		"-o", "ConnectTimeout=10", "-o", "LogLevel=ERROR",
		"-p", strconv.Itoa(d.Port)}
	args = append(args, extraSSHArgs...)
	args = append(args, d.User+"@127.0.0.1", "true")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("%s: %w", String(cmd), err)
	}
	return out.String(), nil
}

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// lockedBuffer is a bytes.Buffer safe for the writer goroutine of exec.Cmd
// and readers in the test.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
