package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/failsmall/breakglass/broker"
	"github.com/failsmall/breakglass/server"
)

// TestBackupRestore (issue 10, defect 9): `backup` copies a running
// broker's database with its checkpoint; `restore` refuses while a broker
// has the database open, then puts the backup back, keeps the replaced
// database, resets both checkpoint files and records broker.restored, so
// the broker starts on the older log (which a plain copy of the old
// database is refused for) and audit verify passes on it.
func TestBackupRestore(t *testing.T) {
	dir := t.TempDir()
	a, cl := startAuditApp(t, dir)
	data := filepath.Join(dir, "data")
	ctx := context.Background()
	first, err := runFlow(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	bk := filepath.Join(dir, "backup")
	out := mustCLI(t, nil, "backup", "--data", data, "--out", bk)
	if !strings.Contains(out, "backed up "+data+" to "+bk+": ") {
		t.Errorf("backup printed %q", out)
	}
	for name, mode := range map[string]os.FileMode{"breakglass.db": 0o600, "checkpoint": 0o600, "audit-key.pub": 0o644, "": 0o700} {
		fi, err := os.Stat(filepath.Join(bk, name))
		if err != nil || fi.Mode().Perm() != mode {
			t.Errorf("backup %q: %v, mode %v; want %04o", name, err, fi.Mode().Perm(), mode)
		}
	}
	if code, _, errOut := runCLI("backup", "--data", data, "--out", bk); code != 1 || !strings.Contains(errOut, "exists: give a new folder") {
		t.Errorf("backup into an existing folder: exit %d, %q", code, errOut)
	}
	second, err := runFlow(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	code, _, errOut := runCLI("restore", "--data", data, "--yes", bk)
	if code != 1 || !strings.Contains(errOut, "stop every broker on this data folder first") {
		t.Errorf("restore under a running broker: exit %d, %q; want a refusal", code, errOut)
	}
	if err := a.Close(ctx); err != nil {
		t.Fatal(err)
	}
	out = mustCLI(t, nil, "restore", "--data", data, "--yes", bk)
	if !strings.Contains(out, "restored "+data+" from "+bk) || !strings.Contains(out, "before-restore-") {
		t.Errorf("restore printed %q", out)
	}
	kept, _ := filepath.Glob(filepath.Join(data, "breakglass.db.before-restore-*"))
	if len(kept) != 1 {
		t.Errorf("kept databases: %v, want one", kept)
	}
	a, err = server.Open(ctx, server.Config{Name: "bg.audit.test", Data: server.Dir(data)})
	if err != nil {
		t.Fatalf("open the restored folder: %v", err)
	}
	if _, err := a.Service().Get(ctx, "sre00", first.request); err != nil {
		t.Errorf("the request from before the backup: %v", err)
	}
	if _, err := a.Service().Get(ctx, "sre00", second.request); !errors.Is(err, broker.ErrNotFound) {
		t.Errorf("the request made after the backup: %v, want ErrNotFound", err)
	}
	a.Close(ctx)
	out = mustCLI(t, nil, "audit", "verify", "--db", filepath.Join(data, "breakglass.db"))
	if !strings.Contains(out, "audit log verified") {
		t.Errorf("audit verify on the restored database: %s", out)
	}
	out = mustCLI(t, nil, "audit", "tail", "--db", filepath.Join(data, "breakglass.db"), "-n", "10")
	if !strings.Contains(out, broker.EventBrokerRestored) {
		t.Errorf("audit tail after the restore shows no %s:\n%s", broker.EventBrokerRestored, out)
	}
}
