package hwkey

import (
	"errors"
	"testing"
)

// TestMessageHashedOnce (issue 10, defect 3): a Message is hashed once per
// hash algorithm however many signatures are checked over it, so a large
// bundle with many signatures costs one pass. Changing its bytes after the
// first check changes no later verdict: the later checks read the hash.
func TestMessageHashedOnce(t *testing.T) {
	key := mustEd25519(t, 7)
	data := []byte("a large policy bundle")
	good, err := Sign(key, PolicyNamespace, data)
	if err != nil {
		t.Fatal(err)
	}
	m := NewMessage(data)
	if _, err := VerifyMessage(good, key.PublicKey(), PolicyNamespace, m); err != nil {
		t.Fatal(err)
	}
	data[0] ^= 1 // never hashed again
	for i := range 3 {
		if _, err := VerifyMessage(good, key.PublicKey(), PolicyNamespace, m); err != nil {
			t.Errorf("check %d over the same Message: %v, want it to verify from the hash kept", i+2, err)
		}
	}
	if len(m.hashes) != 1 {
		t.Errorf("the Message keeps %d hashes, want 1 (sha512)", len(m.hashes))
	}
	// A fresh Message of the changed bytes is refused, as Verify refuses it.
	if _, err := VerifyMessage(good, key.PublicKey(), PolicyNamespace, NewMessage(data)); !errors.Is(err, ErrBadSignature) {
		t.Errorf("a fresh Message of changed bytes: %v, want ErrBadSignature", err)
	}
	if _, err := Verify(good, key.PublicKey(), PolicyNamespace, data); !errors.Is(err, ErrBadSignature) {
		t.Errorf("Verify of changed bytes: %v, want ErrBadSignature", err)
	}
}
