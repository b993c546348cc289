// Package atomicfile writes files so that a reader sees the old content or
// the new, never a part, and a crash leaves one of the two: a temporary file
// in the same folder, written with its final mode and synced, renamed over
// the target, then the folder synced so that the rename itself is durable.
// Every file breakglass replaces goes through it: the broker's data folder
// (keys, bundles, checkpoint, witness state) and the CLI's output files
// (tokens, certificates, signed lists).
package atomicfile

import (
	"fmt"
	"os"
	"path/filepath"
)

// Write replaces path with data, mode mode, atomically and durably.
func Write(path string, data []byte, mode os.FileMode) error {
	dir := filepath.Dir(path)
	tmp, err := Stage(dir, ".breakglass-*", data, mode)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp) // fails harmlessly once renamed
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := SyncDir(dir); err != nil {
		return fmt.Errorf("wrote %s, but %w", path, err)
	}
	return nil
}

// WriteSecret is Write with mode 0600. The temporary file is 0600 before it
// holds a byte, so the secret is never readable through a looser mode, not
// even an existing file's.
func WriteSecret(path string, data []byte) error { return Write(path, data, 0o600) }

// Stage writes data to a new temporary file in dir (named by pattern, as
// os.CreateTemp names it) with mode mode, synced, and returns its path, for
// a caller that renames it into place later (then calls SyncDir). The file
// is created 0600 and given mode before any byte is written.
func Stage(dir, pattern string, data []byte, mode os.FileMode) (string, error) {
	f, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return "", err
	}
	err = f.Chmod(mode)
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}

// SyncDir fsyncs the folder dir, which makes the renames and creations in
// it durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync folder %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync folder %s: %w", dir, err)
	}
	return nil
}
