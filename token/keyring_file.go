package token

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/failsmall/breakglass/internal/atomicfile"
)

// A key file is named SEQ-CREATED-KID.pem: SEQ the 8-digit sequence number
// that orders keys, CREATED the UTC creation time to the nanosecond (which is
// also when the previous key was retired), KID the key's RFC 7638 thumbprint.
// Files not ending in .pem (the lock, temporary files) are ignored.
const (
	keyFileExt     = ".pem"
	keyFileTime    = "20060102T150405.000000000Z"
	keyFileTmp     = ".tmp-key-"
	keyFilePEMType = "PRIVATE KEY"
)

func keyFileName(k ringKey) string {
	return fmt.Sprintf("%08d-%s-%s%s", k.seq, k.created.UTC().Format(keyFileTime), k.kid, keyFileExt)
}

// parseKeyFileName is the inverse of keyFileName; it accepts only the
// canonical form so that one key has exactly one possible name.
func parseKeyFileName(name string) (ringKey, error) {
	parts := strings.SplitN(strings.TrimSuffix(name, keyFileExt), "-", 3)
	if len(parts) != 3 {
		return ringKey{}, errors.New("name is not SEQ-CREATED-KID.pem")
	}
	seq, err := strconv.ParseUint(parts[0], 10, 64)
	if err != nil || seq == 0 {
		return ringKey{}, fmt.Errorf("bad sequence number %q in name", parts[0])
	}
	created, err := time.Parse(keyFileTime, parts[1])
	if err != nil {
		return ringKey{}, fmt.Errorf("bad creation time %q in name, want the form %s", parts[1], keyFileTime)
	}
	k := ringKey{seq: seq, created: created, kid: parts[2]}
	if keyFileName(k) != name {
		return ringKey{}, errors.New("name is not in canonical form SEQ-CREATED-KID.pem")
	}
	return k, nil
}

// prepareDir creates dir with mode 0700 if needed and refuses a directory
// that group or others can access.
func prepareDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a directory", dir)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("key directory %s has mode %04o, want 0700 (chmod 700 it)", dir, fi.Mode().Perm())
	}
	return nil
}

// loadKeys reads every key file in dir, ascending by sequence number (ties,
// which the directory lock prevents, are broken by kid so every reader agrees).
func loadKeys(dir string) ([]ringKey, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var keys []ringKey
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), keyFileExt) {
			continue
		}
		k, err := readKeyFile(dir, e.Name())
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].seq != keys[j].seq {
			return keys[i].seq < keys[j].seq
		}
		return keys[i].kid < keys[j].kid
	})
	return keys, nil
}

// readKeyFile loads one key; every error names the file.
func readKeyFile(dir, name string) (ringKey, error) {
	path := filepath.Join(dir, name)
	k, err := parseKeyFileName(name)
	if err != nil {
		return ringKey{}, errKeyFile(path, err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return ringKey{}, err
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return ringKey{}, errKeyFile(path, fmt.Errorf("mode %04o, want 0600 (chmod 600 it)", perm))
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return ringKey{}, err
	}
	priv, err := parseKeyPEM(data)
	if err != nil {
		return ringKey{}, errKeyFile(path, err)
	}
	loaded := newRingKey(priv, k.created)
	if loaded.kid != k.kid {
		return ringKey{}, errKeyFile(path, fmt.Errorf("holds the key with kid %q, not the kid in its name", loaded.kid))
	}
	loaded.seq, loaded.file = k.seq, name
	return loaded, nil
}

// parseKeyPEM decodes a single PKCS#8 "PRIVATE KEY" PEM block holding an
// Ed25519 key, with nothing but white space around it.
func parseKeyPEM(data []byte) (ed25519.PrivateKey, error) {
	block, rest := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block")
	}
	if block.Type != keyFilePEMType || len(block.Headers) != 0 {
		return nil, fmt.Errorf("PEM block %q with %d headers, want %q without headers", block.Type, len(block.Headers), keyFilePEMType)
	}
	if len(strings.TrimSpace(string(rest))) != 0 {
		return nil, errors.New("data after the PEM block")
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("not PKCS#8: %w", err)
	}
	priv, ok := key.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("a %T, want an Ed25519 key", key)
	}
	return priv, nil
}

// writeKeyFile stores k atomically and durably: a 0600 temporary file in dir,
// written and synced, renamed to its final name, then the directory synced.
// It returns the final base name.
func writeKeyFile(dir string, k ringKey) (string, error) {
	tmp, err := writeTempKeyFile(dir, k.priv)
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp) // fails harmlessly once renamed
	name := keyFileName(k)
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		return "", err
	}
	return name, atomicfile.SyncDir(dir)
}

// writeTempKeyFile writes priv to a new 0600 temporary file in dir, synced,
// and returns its path. Temporary files are not key files: no reader loads
// them.
func writeTempKeyFile(dir string, priv ed25519.PrivateKey) (string, error) {
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return "", err
	}
	return atomicfile.Stage(dir, keyFileTmp+"*", pem.EncodeToMemory(&pem.Block{Type: keyFilePEMType, Bytes: der}), 0o600)
}

// removeTempKeyFiles deletes temporary files a crashed writeKeyFile left.
// The caller holds the directory lock, so no writer is using them.
func removeTempKeyFiles(dir string) {
	tmps, _ := filepath.Glob(filepath.Join(dir, keyFileTmp+"*"))
	for _, tmp := range tmps {
		os.Remove(tmp)
	}
}
