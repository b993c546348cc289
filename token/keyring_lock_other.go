//go:build !unix

package token

// lockDir is a no-op where flock(2) is missing: rotations from two processes
// at the same instant may then give two keys the same sequence number, which
// loadKeys resolves the same way in every reader (by kid).
func lockDir(dir string) (unlock func(), err error) {
	return func() {}, nil
}
