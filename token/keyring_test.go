package token

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// keyringClock is a settable clock safe for concurrent use.
type keyringClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *keyringClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *keyringClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

func mustOpenKeyring(t testing.TB, dir string, retention time.Duration, now func() time.Time) *Keyring {
	t.Helper()
	k, err := OpenKeyring(dir, retention, now)
	if err != nil {
		t.Fatalf("OpenKeyring: %v", err)
	}
	return k
}

func mustRotate(t testing.TB, k *Keyring) string {
	t.Helper()
	kid, err := k.Rotate()
	if err != nil {
		t.Fatalf("Rotate: %v", err)
	}
	return kid
}

func mustMint(t testing.TB, k *Keyring, c Claims) string {
	t.Helper()
	s, err := k.Mint(c)
	if err != nil {
		t.Fatalf("Mint: %v", err)
	}
	return s
}

// keyDir returns the path of a key directory that does not exist yet
// (t.TempDir itself is too open for a keyring).
func keyDir(t *testing.T) string {
	return filepath.Join(t.TempDir(), "keys")
}

// keyFiles lists the key files in dir.
func keyFiles(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*"+keyFileExt))
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func kids(s JWKS) []string {
	var out []string
	for _, k := range s.Keys {
		out = append(out, k.Kid)
	}
	return out
}

func TestKeyringPersists(t *testing.T) {
	dir := keyDir(t)
	k := mustOpenKeyring(t, dir, time.Hour, nil)
	kid := k.CurrentKID()
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o700 {
		t.Errorf("directory mode %04o, want 0700", got)
	}
	files := keyFiles(t, dir)
	if len(files) != 1 {
		t.Fatalf("key files %q, want one", files)
	}
	fi, err = os.Stat(files[0])
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o600 {
		t.Errorf("key file mode %04o, want 0600", got)
	}
	if !strings.Contains(filepath.Base(files[0]), kid) {
		t.Errorf("key file %s does not name kid %s", files[0], kid)
	}

	again := mustOpenKeyring(t, dir, time.Hour, nil)
	if got := again.CurrentKID(); got != kid {
		t.Errorf("reopened kid %s, want %s", got, kid)
	}
	if got := keyFiles(t, dir); len(got) != 1 {
		t.Errorf("reopening created keys: %q", got)
	}
	tok := mustMint(t, k, jwtClaimsAt(time.Now().Truncate(time.Second)))
	opts := jwtOptions(time.Now())
	mustVerify(t, tok, again.JWKS(), opts)
}

func TestKeyringRotateAndRetention(t *testing.T) {
	const retention = 2 * time.Hour
	clock := &keyringClock{now: jwtNow}
	dir := keyDir(t)
	k := mustOpenKeyring(t, dir, retention, clock.Now)
	oldKID := k.CurrentKID()
	before := mustMint(t, k, jwtClaimsAt(jwtNow))

	rotated := jwtNow.Add(10 * time.Minute)
	clock.Set(rotated)
	newKID := mustRotate(t, k)
	if newKID == oldKID || k.CurrentKID() != newKID {
		t.Fatalf("after Rotate: current %s, returned %s, old %s", k.CurrentKID(), newKID, oldKID)
	}
	after := mustMint(t, k, jwtClaimsAt(rotated))
	if got := mustVerify(t, after, k.JWKS(), jwtOptions(rotated)); got.Subject != "alice" {
		t.Errorf("subject %q", got.Subject)
	}
	if _, err := Verify(after, jwksOf(jwtSeedKey(9)), jwtOptions(rotated)); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("token of the new key against another JWKS: %v, want %v", err, ErrUnknownKey)
	}
	// A token minted before the rotation still verifies.
	mustVerify(t, before, k.JWKS(), jwtOptions(rotated))

	wantKeys := []KeyInfo{
		{KID: newKID, Created: rotated, Published: true},
		{KID: oldKID, Created: jwtNow, Retired: rotated, Published: true},
	}
	checkKeys(t, "after rotation", k, wantKeys)
	reopened := mustOpenKeyring(t, dir, retention, clock.Now)
	checkKeys(t, "reopened", reopened, wantKeys) // the retirement time is durable

	clock.Set(rotated.Add(retention - time.Second))
	if got := kids(k.JWKS()); len(got) != 2 || got[0] != newKID || got[1] != oldKID {
		t.Errorf("JWKS kids %q just before retention ends, want [%s %s]", got, newKID, oldKID)
	}
	clock.Set(rotated.Add(retention))
	if got := kids(k.JWKS()); len(got) != 1 || got[0] != newKID {
		t.Errorf("JWKS kids %q once retention ended, want [%s]", got, newKID)
	}
	wantKeys[1].Published = false
	checkKeys(t, "after retention", k, wantKeys)
}

func checkKeys(t *testing.T, when string, k *Keyring, want []KeyInfo) {
	t.Helper()
	got := k.Keys()
	if len(got) != len(want) {
		t.Fatalf("%s: Keys() = %+v, want %+v", when, got, want)
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.KID != w.KID || !g.Created.Equal(w.Created) || !g.Retired.Equal(w.Retired) || g.Published != w.Published {
			t.Errorf("%s: key %d = %+v, want %+v", when, i, g, w)
		}
	}
}

func TestKeyringReloadSeesOtherInstance(t *testing.T) {
	dir := keyDir(t)
	broker := mustOpenKeyring(t, dir, time.Hour, nil)
	cli := mustOpenKeyring(t, dir, time.Hour, nil)
	if broker.CurrentKID() != cli.CurrentKID() {
		t.Fatalf("two keyrings on one dir: %s and %s", broker.CurrentKID(), cli.CurrentKID())
	}
	kid := mustRotate(t, cli)
	if broker.CurrentKID() == kid {
		t.Fatal("broker saw the rotation before Reload")
	}
	changed, err := broker.Reload()
	if err != nil || !changed {
		t.Fatalf("Reload = %v, %v; want true, nil", changed, err)
	}
	if got := broker.CurrentKID(); got != kid {
		t.Errorf("after Reload current kid %s, want %s", got, kid)
	}
	if changed, err := broker.Reload(); err != nil || changed {
		t.Errorf("second Reload = %v, %v; want false, nil", changed, err)
	}
}

// TestKeyringBadFiles: every way a key directory can be wrong gives an error
// naming the file, and Reload keeps the keys it had.
func TestKeyringBadFiles(t *testing.T) {
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecDER, err := x509.MarshalPKCS8PrivateKey(ecKey)
	if err != nil {
		t.Fatal(err)
	}
	ecPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: ecDER})
	for _, tc := range []struct {
		name string
		// spoil damages the key directory and returns the file the error must name.
		spoil func(t *testing.T, dir, file string) string
		want  string
	}{
		{"garbage", overwrite([]byte("not a key\n")), "no PEM block"},
		{"truncated PEM", func(t *testing.T, dir, file string) string {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			return overwrite(data[:len(data)/2])(t, dir, file)
		}, "no PEM block"},
		{"not PKCS#8", overwrite(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1, 2, 3}})), "not PKCS#8"},
		{"ECDSA key", overwrite(ecPEM), "want an Ed25519 key"},
		{"wrong PEM type", overwrite(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: ecDER})), `"PUBLIC KEY"`},
		{"another key under this kid", func(t *testing.T, dir, file string) string {
			return overwriteWithKey(t, file)
		}, "not the kid in its name"},
		{"readable by others", func(t *testing.T, dir, file string) string {
			if err := os.Chmod(file, 0o644); err != nil {
				t.Fatal(err)
			}
			return file
		}, "mode 0644"},
		{"bad name", func(t *testing.T, dir, file string) string {
			bad := filepath.Join(dir, "current.pem")
			if err := os.Rename(file, bad); err != nil {
				t.Fatal(err)
			}
			return bad
		}, "SEQ-CREATED-KID.pem"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := keyDir(t)
			k := mustOpenKeyring(t, dir, time.Hour, nil)
			kid := mustRotate(t, k)
			files := keyFiles(t, dir)
			named := tc.spoil(t, dir, files[len(files)-1])

			_, err := OpenKeyring(dir, time.Hour, nil)
			if err == nil || !strings.Contains(err.Error(), named) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("OpenKeyring error %v, want one naming %s and saying %q", err, named, tc.want)
			}
			if _, err := k.Reload(); err == nil || !strings.Contains(err.Error(), named) {
				t.Errorf("Reload error %v, want one naming %s", err, named)
			}
			if got := k.CurrentKID(); got != kid {
				t.Errorf("after a failed Reload current kid %s, want %s", got, kid)
			}
			mustMint(t, k, jwtClaimsAt(jwtNow))
		})
	}
}

func overwrite(data []byte) func(t *testing.T, dir, file string) string {
	return func(t *testing.T, dir, file string) string {
		t.Helper()
		if err := os.WriteFile(file, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return file
	}
}

func overwriteWithKey(t *testing.T, file string) string {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(jwtSeedKey(7))
	if err != nil {
		t.Fatal(err)
	}
	return overwrite(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))(t, "", file)
}

func TestKeyringRefusesOpenDirectory(t *testing.T) {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := OpenKeyring(dir, time.Hour, nil)
	if err == nil || !strings.Contains(err.Error(), "mode 0755") {
		t.Errorf("OpenKeyring on a 0755 directory: %v, want an error saying mode 0755", err)
	}
}

// TestKeyringConcurrentMintRotate mints from several goroutines while another
// rotates and reloads; run with -race. Every token must verify against the
// final JWKS (retention covers the whole test).
func TestKeyringConcurrentMintRotate(t *testing.T) {
	dir := keyDir(t)
	k := mustOpenKeyring(t, dir, time.Hour, nil)
	other := mustOpenKeyring(t, dir, time.Hour, nil)
	now := time.Now().Truncate(time.Second)
	const minters, perMinter, rotations = 4, 50, 5

	var wg sync.WaitGroup
	tokens := make(chan string, minters*perMinter)
	errs := make(chan error, minters*perMinter+2*rotations)
	for range minters {
		wg.Go(func() {
			for range perMinter {
				tok, kid, err := k.MintKID(jwtClaimsAt(now))
				if err != nil {
					errs <- err
					return
				}
				if got := headerOf(tok)["kid"]; got != kid {
					errs <- fmt.Errorf("MintKID returned kid %s for a token with kid %v", kid, got)
				}
				tokens <- tok
				_ = k.JWKS()
				_ = k.Keys()
			}
		})
	}
	wg.Go(func() {
		for range rotations {
			if _, err := k.Rotate(); err != nil {
				errs <- err
			}
			if _, err := other.Reload(); err != nil {
				errs <- err
			}
		}
	})
	wg.Wait()
	close(tokens)
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := len(k.JWKS().Keys); got != rotations+1 {
		t.Errorf("JWKS has %d keys, want %d", got, rotations+1)
	}
	for tok := range tokens {
		mustVerify(t, tok, k.JWKS(), jwtOptions(now))
	}
}

// TestKeyringTempFiles: a temporary file left by a crashed rotation is not a
// key, and the next rotation deletes it.
func TestKeyringTempFiles(t *testing.T) {
	dir := keyDir(t)
	k := mustOpenKeyring(t, dir, time.Hour, nil)
	stale := filepath.Join(dir, keyFileTmp+"123")
	if err := os.WriteFile(stale, []byte("half a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := k.Reload(); err != nil {
		t.Fatalf("Reload with a stale temporary file: %v", err)
	}
	mustRotate(t, k)
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stale temporary file after Rotate: %v, want it removed", err)
	}
}

func headerOf(tok string) map[string]any {
	var h map[string]any
	head, _, _ := strings.Cut(tok, ".")
	b, err := joseB64.DecodeString(head)
	if err != nil || json.Unmarshal(b, &h) != nil {
		return nil
	}
	return h
}
