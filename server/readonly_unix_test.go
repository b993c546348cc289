//go:build unix

package server_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/failsmall/breakglass/server"
)

// childOpenEnv, set, makes TestOpenRefusesAReadOnlyDataFolder the child
// that opens the data folder it names as another user and prints the error.
const childOpenEnv = "BREAKGLASS_TEST_OPEN_READONLY"

// nobody is the user the test drops to when it runs as root, whom the
// permission bits do not stop.
const nobody = 65534

// TestOpenRefusesAReadOnlyDataFolder (issue 10, point 14): a data folder
// this user can read but not write (0500), or a database file in it that
// this user cannot write (0400), is refused with a message that says so
// and what to do, instead of SQLite's "unable to open database file: no
// such file or directory" for a file that exists; nothing is written.
//
// Permission bits do not stop root, and CI runs the tests as root: then the
// test copies its own binary where another user can run it and runs the
// open in it as uid 65534, owner of nothing in the folder but given it by
// chown. Without the privilege to do that it skips.
func TestOpenRefusesAReadOnlyDataFolder(t *testing.T) {
	if dir := os.Getenv(childOpenEnv); dir != "" {
		_, err := server.Open(context.Background(), server.Config{Name: "bg.server.test", Data: server.Dir(dir)})
		fmt.Printf("OPEN ERROR: %v\n", err)
		return
	}
	for _, tc := range []struct {
		name            string
		folder, db      os.FileMode
		wantIn, wantNot string
	}{
		{"folder 0500", 0o500, 0o600, "is not writable by this user", "no such file or directory"},
		{"database 0400", 0o700, 0o400, "is not writable by this user", "readonly database"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := t.TempDir()
			d := server.Dir(filepath.Join(base, "data"))
			s, err := server.Open(context.Background(), server.Config{Name: "bg.server.test", Data: d})
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
			files := folderFiles(t, d)
			t.Cleanup(func() { os.Chmod(string(d), 0o700); os.Chmod(d.DB(), 0o600) })
			var msg string
			if os.Geteuid() != 0 {
				if err := os.Chmod(d.DB(), tc.db); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(string(d), tc.folder); err != nil {
					t.Fatal(err)
				}
				_, err := server.Open(context.Background(), server.Config{Name: "bg.server.test", Data: d})
				msg = fmt.Sprint(err)
			} else {
				msg = openAsNobody(t, base, d, tc.folder, tc.db)
			}
			t.Log(msg)
			if !strings.Contains(msg, "data folder "+string(d)+" "+tc.wantIn) || !strings.Contains(msg, "chown -R USER "+string(d)) || !strings.Contains(msg, "chmod -R u+w "+string(d)) ||
				!strings.Contains(msg, "audit verify --db") || strings.Contains(msg, tc.wantNot) {
				t.Errorf("Open on a data folder with %s: %s\nwant %q naming the folder, with what to do", tc.name, msg, tc.wantIn)
			}
			if got := folderFiles(t, d); !slices.Equal(got, files) {
				t.Errorf("the refused Open changed the folder: %v, was %v", got, files)
			}
		})
	}
}

// openAsNobody runs server.Open on d as uid 65534, with d and its files
// given to that user and set to the modes folder and db, and returns the
// error it printed.
func openAsNobody(t *testing.T, base string, d server.Dir, folder, db os.FileMode) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// The test binary's own folder is private to root: copy it where
	// nobody may run it, and open the path down to d.
	bin := filepath.Join(base, "server.test")
	copyExecutable(t, self, bin)
	for p := base; ; p = filepath.Dir(p) {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
		if p == filepath.Dir(base) || filepath.Dir(p) == p {
			break
		}
	}
	if err := filepath.WalkDir(string(d), func(p string, _ os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, nobody, nobody)
	}); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(d.DB(), db); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(string(d), folder); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-test.run=^TestOpenRefusesAReadOnlyDataFolder$", "-test.count=1")
	cmd.Env = append(os.Environ(), childOpenEnv+"="+string(d))
	cmd.Dir = base
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	out, err := cmd.CombinedOutput()
	if err != nil && strings.Contains(err.Error(), "operation not permitted") {
		t.Skipf("running as root without the privilege to drop to uid %d: %v", nobody, err)
	}
	if err != nil {
		t.Fatalf("the child as uid %d: %v\n%s", nobody, err, out)
	}
	_, msg, ok := strings.Cut(string(out), "OPEN ERROR: ")
	if !ok {
		t.Fatalf("the child as uid %d printed no error:\n%s", nobody, out)
	}
	msg, _, _ = strings.Cut(msg, "\n")
	return msg
}

// copyExecutable copies the file from to to, mode 0755.
func copyExecutable(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}
