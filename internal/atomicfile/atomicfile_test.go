package atomicfile

import (
	"os"
	"path/filepath"
	"testing"
)

// TestWrite: the file gets the data and the mode asked for, replaces an
// older one, and no temporary file is left beside it.
func TestWrite(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "bundle")
	for _, data := range []string{"first", "second"} {
		if err := Write(path, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		checkFile(t, path, data, 0o644)
	}
	checkOnly(t, dir, "bundle")
	if err := Write(filepath.Join(dir, "missing", "f"), nil, 0o644); err == nil {
		t.Errorf("Write into a missing folder: nil error, want one")
	}
}

// TestWriteSecret: the file is 0600 even over an existing, looser file.
func TestWriteSecret(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "key")
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteSecret(path, []byte("secret")); err != nil {
		t.Fatal(err)
	}
	checkFile(t, path, "secret", 0o600)
	checkOnly(t, dir, "key")
}

func checkFile(t *testing.T, path, data string, mode os.FileMode) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil || string(b) != data {
		t.Fatalf("%s holds %q, %v; want %q", path, b, err, data)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != mode {
		t.Errorf("%s mode %v, %v; want %v", path, fi.Mode().Perm(), err, mode)
	}
}

func checkOnly(t *testing.T, dir, name string) {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 1 || es[0].Name() != name {
		t.Errorf("%s holds %v, want only %s", dir, es, name)
	}
}
