package policy_test

import (
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/failsmall/breakglass/policy"
	"golang.org/x/crypto/ssh"
)

// testSigner returns the fixed ed25519 key of name, the same derivation as
// the keys in testdata/valid.yaml.
func testSigner(name string) ed25519.PrivateKey {
	seed := sha256.Sum256([]byte("breakglass policy test key " + name))
	return ed25519.NewKeyFromSeed(seed[:])
}

// testKey returns the SSH public key of name.
func testKey(t testing.TB, name string) ssh.PublicKey {
	t.Helper()
	pub, err := ssh.NewPublicKey(testSigner(name).Public())
	if err != nil {
		t.Fatalf("ssh.NewPublicKey(%s): %v", name, err)
	}
	return pub
}

// keyLine returns the authorized_keys line of name's fixed key.
func keyLine(name string) string {
	pub, err := ssh.NewPublicKey(testSigner(name).Public())
	if err != nil {
		panic(err) // ed25519 keys always convert
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub))) + " " + name + "@example"
}

// withKeys replaces KEY(name) placeholders with key lines.
func withKeys(s string) string {
	for {
		i := strings.Index(s, "KEY(")
		if i < 0 {
			return s
		}
		j := strings.IndexByte(s[i:], ')')
		s = s[:i] + keyLine(s[i+4:i+j]) + s[i+j+1:]
	}
}

func mustReadFile(t testing.TB, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func mustParse(t testing.TB, data []byte) *policy.Policy {
	t.Helper()
	p, err := policy.Parse(data)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return p
}

// mustValid parses testdata/valid.yaml.
func mustValid(t testing.TB) *policy.Policy {
	t.Helper()
	return mustParse(t, mustReadFile(t, "testdata/valid.yaml"))
}

// mustProblems parses data expecting a *ValidationError, and returns it.
func mustProblems(t testing.TB, data []byte) *policy.ValidationError {
	t.Helper()
	p, err := policy.Parse(data)
	var ve *policy.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("Parse = %v, %v; want a *ValidationError", p, err)
	}
	if p != nil {
		t.Errorf("Parse returned a policy along with %v", err)
	}
	return ve
}
