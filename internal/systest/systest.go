// Package systest starts the real system tools that tests drive: ssh-agent,
// ssh-keygen and (in other files) sshd. A test that needs a tool calls Need,
// which skips the test when the tool is missing, except under CI=true, where
// a missing tool is a failed install step and so fails the test.
package systest

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// SKDummy is the software FIDO authenticator shipped by Debian's openssh-tests.
const SKDummy = "/usr/lib/openssh/regress/misc/sk-dummy/sk-dummy.so"

// SoftHSM is SoftHSM2's PKCS#11 module.
const SoftHSM = "/usr/lib/softhsm/libsofthsm2.so"

// Need returns the path of tool (a command name or an absolute path). When the
// tool is missing it skips t, or fails t when the CI environment variable is
// "true".
func Need(t testing.TB, tool string) string {
	t.Helper()
	var path string
	var err error
	if filepath.IsAbs(tool) {
		_, err = os.Stat(tool)
		path = tool
	} else {
		path, err = exec.LookPath(tool)
		if err != nil {
			// sshd lives in /usr/sbin, which a non-root PATH may lack.
			if _, serr := os.Stat(filepath.Join("/usr/sbin", tool)); serr == nil {
				path, err = filepath.Join("/usr/sbin", tool), nil
			}
		}
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is missing but CI=true: make test should have installed it (scripts/test-deps.sh): %v", tool, err)
		}
		t.Skipf("%s is missing (run scripts/test-deps.sh as root to install it): %v", tool, err)
	}
	return path
}

// Run runs a command and fails t with its output when it fails.
func Run(t testing.TB, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out.String())
	}
	return out.String()
}

// Agent is a running ssh-agent owned by a test.
type Agent struct {
	Socket string
	cmd    *exec.Cmd
}

// Env returns the environment line that points OpenSSH tools at the agent.
func (a *Agent) Env() []string { return []string{"SSH_AUTH_SOCK=" + a.Socket} }

// StartAgent starts `ssh-agent -D` on a socket in a fresh temporary folder and
// stops it when the test ends.
func StartAgent(t testing.TB, extraArgs ...string) *Agent {
	t.Helper()
	bin := Need(t, "ssh-agent")
	// Unix socket paths are limited to about 100 bytes, so avoid t.TempDir's long names.
	dir, err := os.MkdirTemp("", "bg-agent")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "agent.sock")
	args := append([]string{"-D", "-a", sock}, extraArgs...)
	cmd := exec.Command(bin, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start ssh-agent: %v", err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	deadline := time.Now().Add(10 * time.Second)
	for {
		if c, err := net.Dial("unix", sock); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ssh-agent did not listen on %s: %s", sock, out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	return &Agent{Socket: sock, cmd: cmd}
}

// Add adds a private key file to the agent with ssh-add; extra arguments
// (such as "-S", SKDummy) come before the file.
func (a *Agent) Add(t testing.TB, keyFile string, extraArgs ...string) {
	t.Helper()
	bin := Need(t, "ssh-add")
	args := append(append([]string{}, extraArgs...), keyFile)
	Run(t, a.Env(), bin, args...)
}

// Keygen creates an unencrypted OpenSSH key of the given type ("ed25519",
// "ecdsa", "rsa", "ed25519-sk", "ecdsa-sk") in dir/name and returns the
// private key path; the public key is at that path plus ".pub". Extra
// arguments go to ssh-keygen (for example "-b", "384" or "-O", "verify-required").
func Keygen(t testing.TB, dir, name, keyType string, extraArgs ...string) string {
	t.Helper()
	bin := Need(t, "ssh-keygen")
	path := filepath.Join(dir, name)
	args := []string{"-q", "-t", keyType, "-N", "", "-C", name, "-f", path}
	if strings.HasSuffix(keyType, "-sk") {
		args = append(args, "-w", Need(t, SKDummy))
	}
	args = append(args, extraArgs...)
	Run(t, nil, bin, args...)
	return path
}

// ReadPub returns the authorized_keys line of a key made by Keygen.
func ReadPub(t testing.TB, keyFile string) string {
	t.Helper()
	b, err := os.ReadFile(keyFile + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// String helps error messages name a command.
func String(cmd *exec.Cmd) string { return fmt.Sprint(cmd.Args) }
