package hwkey_test

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"

	"github.com/failsmall/breakglass/hwkey"
	"golang.org/x/crypto/ssh"
)

// The broker verifies an approval: the armored text comes from
// `ssh-keygen -Y sign -n breakglass` or `breakglass approve`, the enrolled
// key from the policy bundle.
func ExampleVerify() {
	signer, _ := ssh.NewSignerFromKey(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{0x42}, ed25519.SeedSize)))
	statement := []byte("breakglass approval v1\nrequest: 01JD2X\n")
	sig, _ := hwkey.Sign(signer, hwkey.Namespace, statement)
	armored := sig.Armor()

	parsed, err := hwkey.ParseSignature(armored)
	if err != nil {
		fmt.Println("reject:", err)
		return
	}
	res, err := hwkey.Verify(parsed, signer.PublicKey(), hwkey.Namespace, statement)
	if err != nil {
		fmt.Println("reject:", err)
		return
	}
	fmt.Println(res.KeyType, res.Fingerprint, "presence:", res.UserPresent)

	_, err = hwkey.Verify(parsed, signer.PublicKey(), hwkey.Namespace, []byte("another statement"))
	fmt.Println(errors.Is(err, hwkey.ErrBadSignature))
	// Output:
	// ssh-ed25519 SHA256:ZsrOVCtcb1bouzun0GIHz5vL5oCjVhVIQ3jfIBIgZ8g presence: false
	// true
}
