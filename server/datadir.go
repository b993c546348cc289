package server

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// KeyRetention keeps a retired signing key in the JWKS for longer than any
// token it signed can live (policy caps durations at 24h) plus clock skew.
const KeyRetention = 25 * time.Hour

// Dir lays out a broker's data folder. The CLI reads the same files
// (`keys rotate`, `audit verify --db`, the dev keys), so the layout is
// defined once, here.
type Dir string

// DB is the SQLite store.
func (d Dir) DB() string { return filepath.Join(string(d), "breakglass.db") }

// Keys is the JWT signing keyring's folder.
func (d Dir) Keys() string { return filepath.Join(string(d), "keys") }

// DevKeys holds the development principals' SSH keys (`serve --dev`).
func (d Dir) DevKeys() string { return filepath.Join(string(d), "dev-keys") }

// Policy is the development policy file (`serve --dev`).
func (d Dir) Policy() string { return filepath.Join(string(d), "policy.yaml") }

// SSHCA is where a broker finds its SSH CA key when none is configured;
// development mode creates it.
func (d Dir) SSHCA() string { return filepath.Join(string(d), "ssh-ca") }

// Bundles holds copies of the active and previous signed policy bundles,
// for operators and relying parties (the database is the broker's own
// record).
func (d Dir) Bundles() string { return filepath.Join(string(d), "bundles") }

// ActiveBundle is the active signed bundle's copy.
func (d Dir) ActiveBundle() string { return filepath.Join(d.Bundles(), "active.bundle") }

// PreviousBundle is the copy of the bundle active before it.
func (d Dir) PreviousBundle() string { return filepath.Join(d.Bundles(), "previous.bundle") }

// AuditKey is the audit log's checkpoint signing key (mode 0600).
func (d Dir) AuditKey() string { return filepath.Join(string(d), "audit-key") }

// AuditPub is the audit log's verifier key, what `audit verify --log-key`
// and `verify --receipt` take.
func (d Dir) AuditPub() string { return filepath.Join(string(d), "audit-key.pub") }

// Checkpoint is the newest signed checkpoint, kept to refuse a database
// rolled back behind it.
func (d Dir) Checkpoint() string { return filepath.Join(string(d), "checkpoint") }

// CheckpointMirror is the second copy of the checkpoint file, beside the
// signing keys: both guard against starting an older database.
func (d Dir) CheckpointMirror() string { return filepath.Join(d.Keys(), "checkpoint") }

// mkPrivate creates the data folder 0700 when it is missing and refuses it
// (checkPrivate, checkWritable) otherwise, before anything is written in
// it.
func (d Dir) mkPrivate() error {
	if err := os.MkdirAll(string(d), 0o700); err != nil {
		if errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.EROFS) {
			return fmt.Errorf("data folder %s cannot be created by this user (uid %d): %w: create it for this user (`mkdir -m 700 %s` as someone who may), or pass --data a folder this user may write", d, os.Geteuid(), err, d)
		}
		return fmt.Errorf("data folder: %w", err)
	}
	if err := d.checkPrivate(); err != nil {
		return err
	}
	return d.checkWritable()
}

// checkWritable refuses, with what to do, a data folder the broker could
// open but not write: SQLite would fail later with "unable to open database
// file" for a file that exists (it cannot create the WAL beside it), or
// "attempt to write a readonly database". It checks the folder and the
// keys folder by creating and removing a file in each, and opens the
// database, its WAL and shared-memory files, when they exist, for writing
// (and closes them: nothing is written). The permission bits do not stop
// root, so as root only a read-only file system fails it.
func (d Dir) checkWritable() error {
	probe := func(dir string) error {
		f, err := os.CreateTemp(dir, ".write-check-*")
		if err != nil {
			return err
		}
		name := f.Name()
		f.Close()
		return os.Remove(name)
	}
	if err := probe(string(d)); err != nil {
		return d.notWritable(err)
	}
	if fi, err := os.Stat(d.Keys()); err == nil && fi.IsDir() {
		if err := probe(d.Keys()); err != nil {
			return d.notWritable(err)
		}
	}
	for _, p := range []string{d.DB(), d.DB() + "-wal", d.DB() + "-shm"} {
		f, err := os.OpenFile(p, os.O_WRONLY, 0)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return d.notWritable(err)
		}
		f.Close()
	}
	return nil
}

// notWritable is checkWritable's refusal.
func (d Dir) notWritable(err error) error {
	what := fmt.Sprintf("is not writable by this user (uid %d)", os.Geteuid())
	if errors.Is(err, syscall.EROFS) {
		what = "is on a read-only file system"
	} else if !errors.Is(err, fs.ErrPermission) {
		return fmt.Errorf("data folder %s: %w", d, err)
	}
	return fmt.Errorf("data folder %s %s: %w. The broker writes its database, signing keys and checkpoints there: run it as the user who owns the folder, or give the folder and its files to this user with write access for it (`chown -R USER %s`, then `chmod -R u+w %s`). To only read and check a copy of its audit log, `breakglass audit verify --db %s` opens the database read-only",
		d, what, err, d, d, d.DB())
}

// checkPrivate refuses a data folder that group or others may enter or
// read: it holds the database (live credentials), the signing keys and the
// audit log's key. The broker creates it 0700; one made by hand, or by a
// umask of 022, must be tightened first.
func (d Dir) checkPrivate() error {
	fi, err := os.Stat(string(d))
	if err != nil {
		return fmt.Errorf("data folder: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("data folder %s is not a folder: pass --data a folder (it is created when missing)", d)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("data folder %s has mode %04o: group or others could read the broker's database and keys; run `chmod 700 %s` and start again", d, perm, d)
	}
	return nil
}
