package hwkey

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

// goldenMessage is the message of testdata/ed25519.sig.
var goldenMessage = []byte("breakglass approval v1\nbroker: bg.example.net\nrequest: 01JD2X0000000000000000000\nrole: prod-ssh-root\n")

// TestGolden pins the exact bytes Sign and Armor write: ed25519 signatures
// are deterministic, so a fixed key and message give fixed text.
// TestSSHKeygenSignsSameBytes proves ssh-keygen writes the same text.
func TestGolden(t *testing.T) {
	path := filepath.Join("testdata", "ed25519.sig")
	signer := mustEd25519(t, 0x42)
	got := mustSign(t, signer, Namespace, goldenMessage).Armor()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run TestGolden -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("Sign: got\n%s\nwant (%s)\n%s", got, path, want)
	}
	mustVerify(t, mustParse(t, want), signer.PublicKey(), Namespace, goldenMessage)
}
