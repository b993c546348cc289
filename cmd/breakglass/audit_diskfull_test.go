package main

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/failsmall/breakglass/broker"
)

// mountTmpfs mounts a tmpfs of size at a new folder: the test needs root
// (it skips otherwise, and fails when CI=true).
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("the full-disk test needs root to mount a tmpfs, and CI=true")
		}
		t.Skip("the full-disk test needs root to mount a tmpfs")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", "-l", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// fill writes a file until the filesystem is full.
func fill(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			break
		}
	}
	for { // the last partial blocks
		if _, err := f.Write(buf[:512]); err != nil {
			return
		}
	}
}

// TestDiskFullFailsClosed: with the database on a full filesystem, issuing
// fails closed with audit_unavailable while status, audit reads and
// `audit verify` work; once space returns, issuing resumes by itself.
func TestDiskFullFailsClosed(t *testing.T) {
	dir := mountTmpfs(t, "4m")
	ctx := context.Background()
	a, cl := startAuditApp(t, dir)
	defer a.Close(ctx)
	if _, err := runFlow(ctx, cl); err != nil {
		t.Fatalf("flow before the disk fills: %v", err)
	}
	reader := *cl // the audit entries need a session, opened while there is space
	if err := reader.Login(ctx, "sre00", testSign("sre00")); err != nil {
		t.Fatal(err)
	}
	filler := filepath.Join(dir, "filler")
	fill(t, filler)
	var err error
	for i := 0; i < 50 && err == nil; i++ { // the WAL may still hold free pages
		_, err = runFlow(ctx, cl)
	}
	if !errors.Is(err, broker.ErrAuditUnavailable) {
		t.Fatalf("flow on a full disk: %v, want audit_unavailable", err)
	}
	t.Logf("on a full disk: %v", err)
	if _, err := cl.Status(ctx); err != nil {
		t.Errorf("status on a full disk: %v", err)
	}
	if _, err := cl.AuditCheckpoint(ctx); err != nil {
		t.Errorf("audit checkpoint on a full disk: %v", err)
	}
	if _, err := reader.AuditEntries(ctx, 0, 5); err != nil {
		t.Errorf("audit entries on a full disk: %v", err)
	}
	code, out, errOut := runCLI("audit", "verify", "--db", filepath.Join(dir, "data", "breakglass.db"))
	if code != 0 || !strings.Contains(out, "audit log verified") {
		t.Errorf("audit verify on a full disk: exit %d\n%s%s", code, out, errOut)
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	res, err := runFlow(ctx, cl)
	if err != nil {
		t.Fatalf("flow once space returned: %v", err)
	}
	if res.receipt == "" {
		t.Error("credentials after the disk freed came without a receipt")
	}
	code, out, errOut = runCLI("audit", "verify", "--db", filepath.Join(dir, "data", "breakglass.db"))
	if code != 0 {
		t.Errorf("audit verify after the disk freed: exit %d\n%s%s", code, out, errOut)
	}
}
