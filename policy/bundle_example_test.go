package policy_test

import (
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/failsmall/breakglass/policy"
)

// A broker running bundle serial 1 (admin carol) receives serial 2: it
// activates it only when carol signed it and it follows serial 1.
func ExampleVerifyBundle() {
	text, err := os.ReadFile("testdata/valid.yaml")
	if err != nil {
		fmt.Println(err)
		return
	}
	carol, _ := ssh.NewSignerFromKey(testSigner("carol"))
	sign := func(b *policy.Bundle, signers ...ssh.Signer) []byte {
		out, _ := b.Encode()
		for _, s := range signers {
			sig, _ := policy.SignBundle(b, s)
			out = append(out, sig...)
		}
		return out
	}
	first := &policy.Bundle{Serial: 1, Created: time.Date(2026, 11, 25, 21, 0, 0, 0, time.UTC), Policy: text}
	active, current, err := policy.PinBundle(sign(first, carol), 1)
	if err != nil {
		fmt.Println(err)
		return
	}
	info := active.Info()

	next := &policy.Bundle{Serial: 2, Created: first.Created.Add(time.Hour), Previous: info.Hash, Policy: text}
	sb, _, err := policy.VerifyBundle(sign(next, carol), current, &info, 1)
	fmt.Println(sb.Bundle.Serial, err)

	_, _, err = policy.VerifyBundle(sign(next), current, &info, 1)
	fmt.Println(errors.Is(err, policy.ErrBundleQuorum))
	// Output:
	// 2 <nil>
	// true
}
