package token

import (
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// tempKeyFiles lists the temporary files in dir.
func tempKeyFiles(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, keyFileTmp+"*"))
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestStagedKeyActivate: a staged key signs nothing and is in no JWKS, here
// or in another process's keyring, until Activate makes it current.
func TestStagedKeyActivate(t *testing.T) {
	dir := keyDir(t)
	clock := &keyringClock{now: time.Date(2026, 11, 25, 21, 0, 0, 0, time.UTC)}
	k := mustOpenKeyring(t, dir, time.Hour, clock.Now)
	old := k.CurrentKID()
	s, err := k.Stage()
	if err != nil {
		t.Fatal(err)
	}
	if s.Retires() != old || s.KID() == old {
		t.Fatalf("staged %s retiring %s, want a new key retiring %s", s.KID(), s.Retires(), old)
	}
	other := mustOpenKeyring(t, dir, time.Hour, clock.Now) // another process, while staged
	for name, kr := range map[string]*Keyring{"this keyring": k, "another keyring": other} {
		if kr.CurrentKID() != old || slices.Contains(kids(kr.JWKS()), s.KID()) {
			t.Errorf("%s while staged: current %s, jwks %v; want %s, without the staged key", name, kr.CurrentKID(), kids(kr.JWKS()), old)
		}
	}
	if len(keyFiles(t, dir)) != 1 || len(tempKeyFiles(t, dir)) != 1 {
		t.Errorf("while staged: key files %v, temporary %v; want 1 and 1", keyFiles(t, dir), tempKeyFiles(t, dir))
	}
	clock.Set(clock.Now().Add(time.Minute))
	if err := s.Activate(); err != nil {
		t.Fatal(err)
	}
	if k.CurrentKID() != s.KID() || !slices.Equal(kids(k.JWKS()), []string{s.KID(), old}) {
		t.Errorf("activated: current %s, jwks %v; want %s then %s", k.CurrentKID(), kids(k.JWKS()), s.KID(), old)
	}
	if info := k.Keys(); info[1].Retired != clock.Now() {
		t.Errorf("the old key retired at %s, want the activation time %s", info[1].Retired, clock.Now())
	}
	if changed, err := other.Reload(); err != nil || !changed || other.CurrentKID() != s.KID() {
		t.Errorf("another keyring's Reload: %v, %v, current %s; want the activated key", changed, err, other.CurrentKID())
	}
	if len(tempKeyFiles(t, dir)) != 0 {
		t.Errorf("temporary files left: %v", tempKeyFiles(t, dir))
	}
	if err := s.Discard(); err == nil {
		t.Error("Discard after Activate: no error")
	}
}

// TestStagedKeyDiscard: a discarded key leaves the keyring and its
// directory as they were, and releases the lock for the next rotation.
func TestStagedKeyDiscard(t *testing.T) {
	dir := keyDir(t)
	k := mustOpenKeyring(t, dir, time.Hour, nil)
	old, files := k.CurrentKID(), keyFiles(t, dir)
	s, err := k.Stage()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Discard(); err != nil {
		t.Fatal(err)
	}
	if k.CurrentKID() != old || !slices.Equal(keyFiles(t, dir), files) || len(tempKeyFiles(t, dir)) != 0 {
		t.Errorf("discarded: current %s, files %v, temporary %v; want %s, %v and none", k.CurrentKID(), keyFiles(t, dir), tempKeyFiles(t, dir), old, files)
	}
	if err := s.Activate(); err == nil || k.CurrentKID() != old {
		t.Errorf("Activate after Discard: %v, current %s; want an error and %s", err, k.CurrentKID(), old)
	}
	if kid := mustRotate(t, k); kid == old {
		t.Error("Rotate after a discard kept the old key")
	}
}
