//go:build unix

package token

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// keyLockFile is the advisory lock that serialises rotations across processes
// sharing a key directory.
const keyLockFile = ".lock"

// lockDir blocks until it holds an exclusive flock(2) on dir's lock file and
// returns the function that releases it.
func lockDir(dir string) (unlock func(), err error) {
	path := filepath.Join(dir, keyLockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return func() { f.Close() }, nil // closing the descriptor releases the lock
}
