package audit

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/failsmall/breakglass/internal/atomicfile"
)

// StaleLogError: the log in the database is behind or beside the checkpoint
// file, which only ever moves forward: the database was restored from an old
// backup (rolled back) or replaced by another history (fork). The broker
// refuses to extend such a log.
type StaleLogError struct {
	File     string
	Size     int64     // entries in the database
	Want     int64     // the file's checkpoint size
	FileHash tlog.Hash // the file's root
	Computed tlog.Hash // the database's root at Want, zero when Size < Want
	Signed   []byte    // the file's signed checkpoint
}

func (e *StaleLogError) Error() string {
	if e.Size < e.Want {
		return fmt.Sprintf("audit: rollback: the database's log has %d entries but the checkpoint file %s was signed at size %d (root %s): "+
			"the database was restored from an older copy; refusing to extend it (restore the newest copy, or investigate with `breakglass audit verify --trusted %s`)",
			e.Size, e.File, e.Want, e.FileHash, e.File)
	}
	return fmt.Sprintf("audit: fork: at size %d the database's log has root %s but the checkpoint file %s says %s: "+
		"the database holds another history; refusing to extend it (investigate with `breakglass audit verify --trusted %s`)",
		e.Want, e.Computed, e.File, e.FileHash, e.File)
}

// CheckFile reads the signed checkpoint in file, checks it is signed by v,
// and checks that the log in store extends it: at least as many entries,
// and the same root at the file's size. It returns nil, nil when the file
// does not exist, and a *StaleLogError when the log is behind or forked.
func CheckFile(ctx context.Context, file string, v note.Verifier, store CheckpointStore) (*Checkpoint, error) {
	fc, signed, err := readCheckpointFile(file, v)
	if err != nil || fc == nil {
		return nil, err
	}
	size, err := store.Size(ctx)
	if err != nil {
		return nil, fmt.Errorf("check checkpoint file: %w", err)
	}
	stale := &StaleLogError{File: file, Size: size, Want: fc.Size, FileHash: fc.Hash, Signed: signed}
	if size < fc.Size {
		return nil, stale
	}
	h, err := TreeHash(fc.Size, store)
	if err != nil {
		return nil, fmt.Errorf("check checkpoint file: root at %d: %w", fc.Size, err)
	}
	if h != fc.Hash {
		stale.Computed = h
		return nil, stale
	}
	return fc, nil
}

// readCheckpointFile returns the checkpoint in file, nil if there is none.
func readCheckpointFile(file string, v note.Verifier) (*Checkpoint, []byte, error) {
	signed, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("checkpoint file: %w", err)
	}
	c, _, err := Open(signed, v)
	if err != nil {
		return nil, nil, fmt.Errorf("checkpoint file %s: %w", file, err)
	}
	return &c, signed, nil
}

// files are the checkpoint files: File and Mirror, those set.
func (c *Checkpointer) files() []string {
	var out []string
	for _, f := range []string{c.cfg.File, c.cfg.Mirror} {
		if f != "" {
			out = append(out, f)
		}
	}
	return out
}

// writeFile replaces each checkpoint file with signed unless it holds a
// checkpoint at least as large (written, say, by another process).
func (c *Checkpointer) writeFile(cp Checkpoint, signed []byte) error {
	files := c.files()
	if len(files) == 0 || cp.Size <= c.fileSize {
		return nil
	}
	for _, f := range files {
		if fc, _, err := readCheckpointFile(f, c.cfg.Verifier); err == nil && fc != nil && fc.Size >= cp.Size {
			continue
		}
		if err := writeFileAtomic(f, signed); err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
	}
	c.fileSize = cp.Size
	return nil
}

// writeFileAtomic writes data to path durably: a temporary file, fsync,
// rename, fsync of the directory. A crash leaves the old or the new file.
func writeFileAtomic(path string, data []byte) error { return atomicfile.Write(path, data, 0o600) }
