package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/failsmall/breakglass/audit"
	"github.com/failsmall/breakglass/broker"
	"github.com/failsmall/breakglass/internal/atomicfile"
	"github.com/failsmall/breakglass/sqlite"
)

// A backup is a folder holding a consistent copy of a data folder's
// database (breakglass.db, made with VACUUM INTO) and a signed checkpoint
// that copy extends (checkpoint), with the log's key (audit-key.pub) to
// check it by. The signing keys are not in it: they stay in the data
// folder, and a backup restores into the folder it was taken from, or one
// holding the same keys.

// Backup names the files of a backup folder.
type Backup string

func (b Backup) DB() string         { return filepath.Join(string(b), "breakglass.db") }
func (b Backup) Checkpoint() string { return filepath.Join(string(b), "checkpoint") }
func (b Backup) AuditPub() string   { return filepath.Join(string(b), "audit-key.pub") }

// BackupInfo says what a backup holds.
type BackupInfo struct {
	Dir Backup
	// Entries is the log size of the copy; Checkpoint the size of the
	// checkpoint saved with it (at most Entries).
	Entries, Checkpoint int64
}

// TakeBackup copies the database of data folder d into the new folder out
// (created 0700), with the newest checkpoint the copy extends. A broker
// may be running on d meanwhile: the copy is one read transaction.
func TakeBackup(ctx context.Context, d Dir, out string) (*BackupInfo, error) {
	if err := d.checkPrivate(); err != nil {
		return nil, err
	}
	if _, err := os.Stat(d.DB()); err != nil {
		return nil, fmt.Errorf("backup: %w (is %s a broker's data folder?)", err, d)
	}
	if _, err := ReadVerifierKey(d.AuditPub()); err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	if err := os.Mkdir(out, 0o700); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("backup: %s exists: give a new folder for the backup", out)
		}
		return nil, fmt.Errorf("backup: %w", err)
	}
	b := Backup(out)
	info, err := takeBackup(ctx, d, b)
	if err != nil {
		os.RemoveAll(out)
		return nil, err
	}
	return info, nil
}

func takeBackup(ctx context.Context, d Dir, b Backup) (*BackupInfo, error) {
	db, err := sqlite.Open(d.DB(), sqlite.Options{})
	if err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	err = db.BackupTo(ctx, b.DB())
	db.Close()
	if err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	pub, err := os.ReadFile(d.AuditPub())
	if err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	if err := atomicfile.Write(b.AuditPub(), pub, 0o644); err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	copyDB, err := sqlite.Open(b.DB(), sqlite.Options{})
	if err != nil {
		return nil, fmt.Errorf("backup: open the copy: %w", err)
	}
	defer copyDB.Close()
	signed, err := copyDB.CheckpointStore().Latest(ctx)
	if errors.Is(err, audit.ErrMissing) {
		return nil, fmt.Errorf("backup: %s has no signed checkpoint yet: start the broker once, then back it up", d.DB())
	}
	if err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	if err := atomicfile.Write(b.Checkpoint(), signed, 0o600); err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	verifier, err := ReadVerifierKey(b.AuditPub())
	if err != nil {
		return nil, err
	}
	fc, err := audit.CheckFile(ctx, b.Checkpoint(), verifier, copyDB.CheckpointStore())
	if err != nil {
		return nil, fmt.Errorf("backup: the copy does not extend its own checkpoint: %w", err)
	}
	size, err := copyDB.CheckpointStore().Size(ctx)
	if err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	return &BackupInfo{Dir: b, Entries: size, Checkpoint: fc.Size}, nil
}

// RestoreInfo says what Restore did.
type RestoreInfo struct {
	broker.Restore
	// Name is the broker's, from the backup's checkpoint.
	Name string
}

// Restore puts backup from back as the database of data folder d, which no
// broker may have open: it checks that the backup's checkpoint is signed by
// d's log key and that its database extends it, keeps the database it
// replaces beside it (breakglass.db.before-restore-TIME), sets both
// checkpoint files to the backup's (so the older log is accepted, on
// purpose), and records broker.restored in the log with the sizes of both
// logs (broker.Service.RecordRestore).
//
// What it does to grants: every grant, revocation and approval made after
// the backup is gone from the database. Credentials issued since stay
// valid until they expire and cannot be revoked through the broker; the
// revocation list's sequence goes back to the backup's, so relying parties
// pinned to a higher sequence refuse the broker's lists until it passes
// theirs again.
func Restore(ctx context.Context, d Dir, from string) (*RestoreInfo, error) {
	if err := d.checkPrivate(); err != nil {
		return nil, err
	}
	b := Backup(from)
	v, err := ReadVerifierKey(d.AuditPub())
	if err != nil {
		return nil, fmt.Errorf("restore: %w (restore into the data folder the backup was taken from)", err)
	}
	signed, err := os.ReadFile(b.Checkpoint())
	if err != nil {
		return nil, fmt.Errorf("restore: %w (a backup folder from `breakglass backup` holds breakglass.db and checkpoint)", err)
	}
	cp, _, err := audit.Open(signed, v)
	if err != nil {
		return nil, fmt.Errorf("restore: the backup's checkpoint is not signed by this data folder's log key %s: %w (is it a backup of this broker?)", d.AuditPub(), err)
	}
	staged, err := stageCopy(b.DB(), string(d))
	if err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	defer os.Remove(staged) // gone once renamed into place
	entries, err := checkStaged(ctx, staged, b.Checkpoint(), v)
	if err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	info := &RestoreInfo{Name: cp.Origin, Restore: broker.Restore{BackupEntries: entries}}
	if _, err := os.Stat(d.DB()); err == nil {
		if info.Replaced, err = sqlite.Quiesce(ctx, d.DB()); err != nil {
			return nil, fmt.Errorf("restore: %w", err)
		}
		info.ReplacedFile = d.DB() + ".before-restore-" + time.Now().UTC().Format("20060102T150405Z")
		for _, suffix := range []string{"", "-wal", "-shm"} {
			if err := os.Rename(d.DB()+suffix, info.ReplacedFile+suffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("restore: keep the replaced database: %w", err)
			}
		}
	}
	if err := os.Rename(staged, d.DB()); err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	if err := atomicfile.SyncDir(string(d)); err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	for _, f := range []string{d.Checkpoint(), d.CheckpointMirror()} {
		if err := atomicfile.Write(f, signed, 0o600); err != nil {
			return nil, fmt.Errorf("restore: %w", err)
		}
	}
	s, err := Open(ctx, Config{Name: cp.Origin, Data: d})
	if err != nil {
		return nil, fmt.Errorf("restore: open the restored database: %w", err)
	}
	err = s.Service().RecordRestore(ctx, info.Restore)
	if cerr := s.Close(ctx); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("restore: record it in the audit log: %w", err)
	}
	return info, nil
}

// stageCopy copies file into folder dir under a temporary name, 0600 and
// synced, and returns that name.
func stageCopy(file, dir string) (string, error) {
	src, err := os.Open(file)
	if err != nil {
		return "", err
	}
	defer src.Close()
	dst, err := os.CreateTemp(dir, ".restore-*.db")
	if err != nil {
		return "", err
	}
	name := dst.Name()
	if _, err = io.Copy(dst, src); err == nil {
		err = dst.Sync()
	}
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(name)
		return "", err
	}
	return name, nil
}

// checkStaged opens the staged copy (migrating an older backup) and checks
// it extends the checkpoint in file; it returns its log size.
func checkStaged(ctx context.Context, staged, file string, v note.Verifier) (int64, error) {
	db, err := sqlite.Open(staged, sqlite.Options{})
	if err != nil {
		return 0, fmt.Errorf("the backup's database: %w", err)
	}
	defer db.Close()
	if _, err := audit.CheckFile(ctx, file, v, db.CheckpointStore()); err != nil {
		return 0, fmt.Errorf("the backup's database does not extend its checkpoint: %w", err)
	}
	return db.CheckpointStore().Size(ctx)
}
