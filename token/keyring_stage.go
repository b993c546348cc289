package token

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/failsmall/breakglass/broker"
	"github.com/failsmall/breakglass/internal/atomicfile"
)

// StagedKey is a new signing key that is written to the key directory but
// is not current: it signs nothing and is in no JWKS, in this process or
// any other, until Activate. It is the first phase of a rotation whose
// record (an audit entry) must be durable before the key is used; Discard
// abandons it and leaves the keyring as it was.
//
// From Stage until Activate or Discard the keyring is locked, in this
// process and across processes sharing the directory: Rotate, Reload and
// other stagings wait. A caller MUST call one of them, once.
type StagedKey struct {
	k      *Keyring
	keys   []ringKey // the keys on disk when staged, ascending
	key    ringKey   // seq set; created is set on Activate
	tmp    string    // the temporary file holding key's private half
	unlock func()    // releases the directory lock
	done   bool
}

// Stage generates a key and writes it durably to a temporary file in the
// directory, where no reader loads it. The key becomes current only with
// Activate. A crash before that leaves a temporary file that the next
// rotation deletes.
func (k *Keyring) Stage() (*StagedKey, error) {
	k.mu.Lock()
	s, err := k.stage()
	if err != nil {
		k.mu.Unlock()
		return nil, fmt.Errorf("keyring: stage: %w", err)
	}
	return s, nil
}

// stage does Stage's work, k.mu held.
func (k *Keyring) stage() (*StagedKey, error) {
	unlock, err := lockDir(k.dir)
	if err != nil {
		return nil, err
	}
	removeTempKeyFiles(k.dir) // left by a writer that crashed; they hold private keys
	keys, err := loadKeys(k.dir)
	if err == nil && len(keys) == 0 {
		err = errNoKeys(k.dir)
	}
	var priv ed25519.PrivateKey
	if err == nil {
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	}
	var tmp string
	if err == nil {
		tmp, err = writeTempKeyFile(k.dir, priv)
	}
	if err != nil {
		unlock()
		return nil, err
	}
	nk := newRingKey(priv, k.now().UTC())
	nk.seq = keys[len(keys)-1].seq + 1
	return &StagedKey{k: k, keys: keys, key: nk, tmp: tmp, unlock: unlock}, nil
}

// KID is the staged key's kid.
func (s *StagedKey) KID() string { return s.key.kid }

// Retires is the kid of the key that is current until Activate.
func (s *StagedKey) Retires() string { return s.keys[len(s.keys)-1].kid }

// errStagedDone is returned by a second Activate or Discard.
var errStagedDone = errors.New("keyring: the staged key was already activated or discarded")

// Activate makes the staged key current and retires the previous one now,
// with one atomic rename of its file into place; tokens minted afterwards
// use it. When the rename fails the key is discarded and the keyring is as
// it was; when only the directory sync after it fails, the key is current
// and the error says so.
func (s *StagedKey) Activate() error {
	if s.done {
		return errStagedDone
	}
	defer s.release()
	k, nk := s.k, s.key
	nk.created = k.now().UTC()
	if last := s.keys[len(s.keys)-1]; nk.created.Before(last.created) { // a clock stepped back
		nk.created = last.created
	}
	nk.file = keyFileName(nk)
	if err := os.Rename(s.tmp, filepath.Join(k.dir, nk.file)); err != nil {
		os.Remove(s.tmp)
		return fmt.Errorf("keyring: activate %s: %w", nk.kid, err)
	}
	// The rename is the activation: from here the key is current on disk,
	// so it is current here too, even if the directory sync fails.
	k.set.Store(&keySet{keys: append(s.keys, nk)})
	if err := atomicfile.SyncDir(k.dir); err != nil {
		return fmt.Errorf("keyring: activated %s, but syncing %s failed: %w", nk.kid, k.dir, err)
	}
	return nil
}

// Discard deletes the staged key; the current key stays current.
func (s *StagedKey) Discard() error {
	if s.done {
		return errStagedDone
	}
	defer s.release()
	if err := os.Remove(s.tmp); err != nil {
		return fmt.Errorf("keyring: discard %s: %w", s.key.kid, err)
	}
	return nil
}

// release unlocks the directory and the keyring.
func (s *StagedKey) release() {
	s.done = true
	s.unlock()
	s.k.mu.Unlock()
}

// Stager stages the keys of a Keyring for broker.Service.RotateKey.
type Stager struct{ Keyring *Keyring }

var _ broker.KeyStager = Stager{}

// StageKey is Keyring.Stage.
func (s Stager) StageKey() (broker.StagedKey, error) {
	k, err := s.Keyring.Stage()
	if err != nil {
		return nil, err
	}
	return k, nil
}
