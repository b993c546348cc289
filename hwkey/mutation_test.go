package hwkey

import (
	"bytes"
	"crypto/elliptic"
	"testing"

	"golang.org/x/crypto/ssh"
)

// checkMutations changes every byte of a valid signature's blob and every
// character of its armor, and fails t if a changed signature verifies with
// another meaning (see checkBlobMutations and checkArmorMutations).
func checkMutations(t *testing.T, armored []byte, enrolled ssh.PublicKey, ns string, msg []byte) {
	t.Helper()
	checkBlobMutations(t, armored, enrolled, ns, msg)
	checkArmorMutations(t, armored, enrolled, ns, msg)
}

// checkBlobMutations flips bits in every byte of a valid signature's blob:
// every change must be refused by ParseSignatureBlob or Verify.
func checkBlobMutations(t *testing.T, armored []byte, enrolled ssh.PublicKey, ns string, msg []byte) {
	t.Helper()
	orig := mustParse(t, armored)
	mustVerify(t, orig, enrolled, ns, msg)
	blob := orig.Marshal()
	for i := range blob {
		for _, x := range []byte{0x01, 0x80, 0xff} {
			m := bytes.Clone(blob)
			m[i] ^= x
			sig, err := ParseSignatureBlob(m)
			if err != nil {
				continue
			}
			if _, err := Verify(sig, enrolled, ns, msg); err == nil {
				t.Fatalf("blob byte %d ^ 0x%02x: changed signature verifies", i, x)
			}
		}
	}
}

// checkArmorMutations replaces every character of a valid armored
// signature: a change may only be accepted when it decodes to the very same
// blob (today only changes of the final newline into other whitespace are).
func checkArmorMutations(t *testing.T, armored []byte, enrolled ssh.PublicKey, ns string, msg []byte) {
	t.Helper()
	blob := mustParse(t, armored).Marshal()
	accepted := 0
	for i := range armored {
		for _, c := range []byte("A/+=a0-\n\r \x00") {
			if armored[i] == c {
				continue
			}
			m := bytes.Clone(armored)
			m[i] = c
			sig, err := ParseSignature(m)
			if err != nil {
				continue
			}
			if _, err := Verify(sig, enrolled, ns, msg); err != nil {
				continue
			}
			accepted++
			if !bytes.Equal(sig.Marshal(), blob) {
				t.Fatalf("armor byte %d = %q: verifies with another blob", i, c)
			}
		}
	}
	t.Logf("%s: %d armor characters changed; %d changes accepted with an identical blob",
		enrolled.Type(), len(armored), accepted)
}

func TestMutations(t *testing.T) {
	for _, signer := range []ssh.Signer{
		mustEd25519(t, 1),
		mustECDSA(t, elliptic.P384(), 2),
		mustRSA(t, 2048),
		newSKEd25519(t, 3, FlagUserPresent),
		newSKECDSA(t, 4, FlagUserPresent|FlagUserVerified),
	} {
		t.Run(signer.PublicKey().Type(), func(t *testing.T) {
			sig := mustSign(t, signer, Namespace, testMessage)
			checkMutations(t, sig.Armor(), signer.PublicKey(), Namespace, testMessage)
		})
	}
}
