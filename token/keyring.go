package token

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Keyring holds the broker's JWT signing keys in a directory, one file per
// key: PKCS#8 PEM, mode 0600, in a directory of mode 0700.
//
// Keys are ordered by a sequence number in their file name; the highest is the
// current key. A key's file name also records when it was created, and a key
// is retired at the instant its successor was created, so one atomic file
// creation both adds the new current key and retires the previous one.
// Retired keys stay in the JWKS for the retention period, then are no longer
// published; their files are kept.
//
// A Keyring is safe for concurrent use. Several processes may share the
// directory: Rotate takes an advisory lock on it, and Reload picks up what
// another process did.
type Keyring struct {
	dir       string
	retention time.Duration
	now       func() time.Time

	mu  sync.Mutex             // serialises Rotate and Reload
	set atomic.Pointer[keySet] // read without locking by Mint, JWKS, Keys
}

// KeyInfo describes one key of a Keyring.
type KeyInfo struct {
	KID       string
	Created   time.Time
	Retired   time.Time // zero for the current key
	Published bool      // in the JWKS: current, or retired less than the retention ago
}

// ringKey is one loaded key.
type ringKey struct {
	seq     uint64
	kid     string
	created time.Time
	priv    ed25519.PrivateKey
	jwk     JWK    // public half
	file    string // base name
}

func newRingKey(priv ed25519.PrivateKey, created time.Time) ringKey {
	jwk := newJWK(priv.Public().(ed25519.PublicKey))
	return ringKey{seq: 1, kid: jwk.Kid, created: created, priv: priv, jwk: jwk}
}

// keySet is an immutable snapshot of the directory: keys ascending by
// sequence, never empty once stored in a Keyring.
type keySet struct {
	keys []ringKey
}

func (s *keySet) current() ringKey { return s.keys[len(s.keys)-1] }

// retired returns when keys[i] was retired, zero for the current key.
func (s *keySet) retired(i int) time.Time {
	if i == len(s.keys)-1 {
		return time.Time{}
	}
	return s.keys[i+1].created
}

// OpenKeyring loads every key in dir, creating dir and a first key when there
// is none. retention is how long a retired key's public half stays in the JWKS
// after it was retired: pass at least the longest credential lifetime plus the
// clock skew relying parties allow. now nil means time.Now.
//
// It fails, naming the file, when a key file cannot be read or parsed, does
// not match the kid in its name, or is readable by group or others; and when
// dir itself is accessible to group or others.
func OpenKeyring(dir string, retention time.Duration, now func() time.Time) (*Keyring, error) {
	if retention < 0 {
		return nil, fmt.Errorf("keyring: negative retention %s", retention)
	}
	if now == nil {
		now = time.Now
	}
	if err := prepareDir(dir); err != nil {
		return nil, fmt.Errorf("keyring: %w", err)
	}
	k := &Keyring{dir: dir, retention: retention, now: now}
	keys, err := loadKeys(dir)
	if err != nil {
		return nil, fmt.Errorf("keyring: %w", err)
	}
	if len(keys) > 0 {
		k.set.Store(&keySet{keys: keys})
		return k, nil
	}
	if _, err := k.add(false); err != nil {
		return nil, fmt.Errorf("keyring: first key: %w", err)
	}
	return k, nil
}

// Rotate creates a new current key and retires the previous one now. The new
// key is durable (file and directory synced) before Rotate returns its kid;
// tokens minted afterwards use it.
func (k *Keyring) Rotate() (kid string, err error) {
	kid, err = k.add(true)
	if err != nil {
		return "", fmt.Errorf("keyring: rotate: %w", err)
	}
	return kid, nil
}

// add generates a key and makes it current, under the directory lock so that
// two processes never give the same sequence number to two keys. Unless
// rotate, it keeps the keys found on disk if there are any (another process
// created the first key first).
func (k *Keyring) add(rotate bool) (string, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	unlock, err := lockDir(k.dir)
	if err != nil {
		return "", err
	}
	defer unlock()
	removeTempKeyFiles(k.dir) // left by a writer that crashed; they hold private keys
	keys, err := loadKeys(k.dir)
	if err != nil {
		return "", err
	}
	if len(keys) > 0 && !rotate {
		k.set.Store(&keySet{keys: keys})
		return keys[len(keys)-1].kid, nil
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return "", err
	}
	nk := newRingKey(priv, k.now().UTC())
	if n := len(keys); n > 0 {
		last := keys[n-1]
		nk.seq = last.seq + 1
		if nk.created.Before(last.created) { // a clock stepped back: never retire before creation
			nk.created = last.created
		}
	}
	if nk.file, err = writeKeyFile(k.dir, nk); err != nil {
		return "", err
	}
	k.set.Store(&keySet{keys: append(keys, nk)})
	return nk.kid, nil
}

// Reload re-reads the directory, where another process (`breakglass keys
// rotate`) may have rotated. changed reports whether the set of keys differs
// from what was loaded before. On error the keys in use stay as they were.
func (k *Keyring) Reload() (changed bool, err error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	keys, err := loadKeys(k.dir)
	if err != nil {
		return false, fmt.Errorf("keyring: reload: %w", err)
	}
	if len(keys) == 0 {
		return false, fmt.Errorf("keyring: reload: %w", errNoKeys(k.dir))
	}
	old := k.set.Load().keys
	changed = len(old) != len(keys)
	for i := 0; !changed && i < len(keys); i++ {
		changed = old[i].file != keys[i].file
	}
	k.set.Store(&keySet{keys: keys})
	return changed, nil
}

func errNoKeys(dir string) error {
	return fmt.Errorf("no key files left in %s", dir)
}

// CurrentKID returns the kid Mint signs with.
func (k *Keyring) CurrentKID() string { return k.set.Load().current().kid }

// Keys describes every key in the directory, newest first.
func (k *Keyring) Keys() []KeyInfo {
	s, now := k.set.Load(), k.now()
	infos := make([]KeyInfo, 0, len(s.keys))
	for i := len(s.keys) - 1; i >= 0; i-- {
		retired := s.retired(i)
		infos = append(infos, KeyInfo{
			KID:       s.keys[i].kid,
			Created:   s.keys[i].created,
			Retired:   retired,
			Published: retired.IsZero() || now.Before(retired.Add(k.retention)),
		})
	}
	return infos
}

// JWKS returns the public keys relying parties should trust now: the current
// key and the keys retired less than the retention ago, newest first.
func (k *Keyring) JWKS() JWKS {
	s, now := k.set.Load(), k.now()
	var set JWKS
	for i := len(s.keys) - 1; i >= 0; i-- {
		if r := s.retired(i); !r.IsZero() && !now.Before(r.Add(k.retention)) {
			continue
		}
		set.Keys = append(set.Keys, s.keys[i].jwk)
	}
	return set
}

// Mint signs c with the current key: alg EdDSA, header kid set, typ "JWT".
// It refuses claims Verify would reject for lack of iss, aud or exp, an exp
// not after iat, and scopes that are empty or contain white space.
func (k *Keyring) Mint(c Claims) (string, error) {
	tok, _, err := k.MintKID(c)
	return tok, err
}

// MintKID is Mint that also returns the kid it signed with; asking
// CurrentKID separately could race with a rotation.
func (k *Keyring) MintKID(c Claims) (tok, kid string, err error) {
	cur := k.set.Load().current()
	tok, err = signJWT(cur.priv, cur.kid, c)
	if err != nil {
		return "", "", err
	}
	return tok, cur.kid, nil
}

// errKeyFile wraps a problem with one key file, naming it.
func errKeyFile(path string, err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return err // already names the file
	}
	return fmt.Errorf("key file %s: %w", path, err)
}
