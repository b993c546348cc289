package witness

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/failsmall/breakglass/audit"
	"github.com/failsmall/breakglass/internal/atomicfile"
)

// state keeps, per log origin, the last cosigned signed checkpoint
// in its own file: <dir>/<hex SHA-256 of origin>.checkpoint. Writes are
// atomic and durable (temp file, fsync, rename, fsync of the directory),
// so a crash leaves either the old or the new checkpoint, never a torn one.
// Callers serialize access.
type state struct {
	dir string
}

func openState(dir string) (*state, error) {
	if dir == "" {
		return nil, errors.New("witness state: empty directory")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("witness state: %w", err)
	}
	return &state{dir: dir}, nil
}

func (s *state) path(origin string) string {
	sum := sha256.Sum256([]byte(origin))
	return filepath.Join(s.dir, hex.EncodeToString(sum[:])+".checkpoint")
}

// load returns the last cosigned checkpoint of origin; ok is false if none.
func (s *state) load(origin string) (audit.Checkpoint, bool, error) {
	b, err := os.ReadFile(s.path(origin))
	if errors.Is(err, fs.ErrNotExist) {
		return audit.Checkpoint{}, false, nil
	}
	if err != nil {
		return audit.Checkpoint{}, false, fmt.Errorf("witness state of %q: %w", origin, err)
	}
	i := bytes.LastIndex(b, []byte("\n\n"))
	if i < 0 {
		return audit.Checkpoint{}, false, fmt.Errorf("witness state of %q: not a signed note", origin)
	}
	c, err := audit.ParseCheckpoint(b[:i+1])
	if err != nil {
		return audit.Checkpoint{}, false, fmt.Errorf("witness state of %q: %w", origin, err)
	}
	if c.Origin != origin {
		return audit.Checkpoint{}, false, fmt.Errorf("witness state of %q: holds origin %q", origin, c.Origin)
	}
	return c, true, nil
}

// save durably replaces origin's checkpoint with signed.
func (s *state) save(origin string, signed []byte) error {
	if err := atomicfile.Write(s.path(origin), signed, 0o600); err != nil {
		return fmt.Errorf("witness state: %w", err)
	}
	return nil
}
