package server

import (
	"fmt"
	"os"
	"path/filepath"
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
// (checkPrivate) otherwise, before anything is written in it.
func (d Dir) mkPrivate() error {
	if err := os.MkdirAll(string(d), 0o700); err != nil {
		return fmt.Errorf("data folder: %w", err)
	}
	return d.checkPrivate()
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
