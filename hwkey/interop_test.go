package hwkey

import (
	"bytes"
	"crypto/ed25519"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/failsmall/breakglass/internal/systest"
	"golang.org/x/crypto/ssh"
)

// skDummyCounter is the counter sk-dummy.so puts in every signature.
const skDummyCounter = 0x12345678

// keygenSign signs message with `ssh-keygen -Y sign -n namespace -f key`
// and returns the armored signature file; extra arguments come before the
// file (such as "-O", "hashalg=sha256").
func keygenSign(t *testing.T, key, namespace string, message []byte, extra ...string) []byte {
	t.Helper()
	bin := systest.Need(t, "ssh-keygen")
	file, err := os.CreateTemp(t.TempDir(), "msg")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := file.Write(message); err != nil {
		t.Fatal(err)
	}
	file.Close()
	env := append(askpassEnv(t), "SSH_SK_PROVIDER="+systest.SKDummy)
	args := append(append([]string{"-Y", "sign", "-n", namespace, "-f", key}, extra...), file.Name())
	systest.Run(t, env, bin, args...)
	sig, err := os.ReadFile(file.Name() + ".sig")
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

// askpassEnv returns the environment that answers OpenSSH's PIN prompts
// (sk-dummy ignores the PIN) without a terminal.
func askpassEnv(t *testing.T) []string {
	t.Helper()
	script := filepath.Join(t.TempDir(), "askpass")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho 1234\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return []string{"SSH_ASKPASS=" + script, "SSH_ASKPASS_REQUIRE=force"}
}

// keygenCheck runs `ssh-keygen -Y verify` against an allowed_signers line
// for pubLine and `ssh-keygen -Y check-novalidate`, and returns the first
// failure.
func keygenCheck(t *testing.T, sig *Signature, pubLine, namespace string, message []byte) error {
	t.Helper()
	bin := systest.Need(t, "ssh-keygen")
	dir := t.TempDir()
	sigFile, allowed := filepath.Join(dir, "msg.sig"), filepath.Join(dir, "allowed_signers")
	line := fmt.Sprintf("alice@example.net namespaces=%q %s\n", namespace, pubLine)
	if err := os.WriteFile(sigFile, sig.Armor(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(allowed, []byte(line), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"-Y", "verify", "-f", allowed, "-I", "alice@example.net", "-n", namespace, "-s", sigFile},
		{"-Y", "check-novalidate", "-n", namespace, "-s", sigFile},
	} {
		cmd := exec.Command(bin, args...)
		cmd.Stdin = bytes.NewReader(message)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("ssh-keygen %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	return nil
}

func mustAuthorizedKey(t *testing.T, line string) ssh.PublicKey {
	t.Helper()
	pub, _, _, _, err := ssh.ParseAuthorizedKey([]byte(line))
	if err != nil {
		t.Fatalf("parse %q: %v", line, err)
	}
	return pub
}

// wantSKResult checks what Verify reports for a key made by Keygen.
func wantSKResult(t *testing.T, res *Result, sk bool, flags byte) {
	t.Helper()
	want := Result{KeyType: res.KeyType, Fingerprint: res.Fingerprint}
	if sk {
		want = Result{KeyType: res.KeyType, Fingerprint: res.Fingerprint, SK: true, Flags: flags, Counter: skDummyCounter,
			UserPresent: flags&FlagUserPresent != 0, UserVerified: flags&FlagUserVerified != 0}
	}
	if *res != want {
		t.Errorf("got %+v, want %+v", *res, want)
	}
}

// TestSSHKeygenInterop: signatures of ssh-keygen verify with Verify and
// re-armor to the same text; signatures of Sign verify with ssh-keygen.
func TestSSHKeygenInterop(t *testing.T) {
	systest.Need(t, systest.SKDummy)
	dir := t.TempDir()
	keys := []struct {
		name, keyType string
		args          []string
	}{
		{"ed25519", "ed25519", nil},
		{"ecdsa256", "ecdsa", []string{"-b", "256"}},
		{"ecdsa384", "ecdsa", []string{"-b", "384"}},
		{"rsa3072", "rsa", []string{"-b", "3072"}},
		{"ed25519-sk", "ed25519-sk", nil},
		{"ecdsa-sk", "ecdsa-sk", nil},
	}
	for _, k := range keys {
		t.Run(k.name, func(t *testing.T) {
			key := systest.Keygen(t, dir, k.name, k.keyType, k.args...)
			pubLine := systest.ReadPub(t, key)
			pub := mustAuthorizedKey(t, pubLine)
			sk := strings.HasSuffix(k.keyType, "-sk")

			armored := keygenSign(t, key, Namespace, testMessage)
			sig := mustParse(t, armored)
			if got := sig.Armor(); !bytes.Equal(got, armored) {
				t.Errorf("Armor: got\n%s\nwant (ssh-keygen)\n%s", got, armored)
			}
			wantSKResult(t, mustVerify(t, sig, pub, Namespace, testMessage), sk, FlagUserPresent)
			_, err := Verify(sig, pub, PolicyNamespace, testMessage)
			wantErr(t, err, ErrNamespace)
			checkBlobMutations(t, armored, pub, Namespace, testMessage)

			signer, err := LoadKeyFile(key)
			if sk {
				wantErr(t, err, ErrKeyFile)
				if !strings.Contains(err.Error(), "ssh-agent") {
					t.Errorf("got error %q, want it to point at ssh-agent", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			ours := mustSign(t, signer, Namespace, testMessage)
			if k.keyType == "rsa" && ours.Sig.Format != ssh.KeyAlgoRSASHA512 {
				t.Errorf("got signature algorithm %q, want %q", ours.Sig.Format, ssh.KeyAlgoRSASHA512)
			}
			if err := keygenCheck(t, ours, pubLine, Namespace, testMessage); err != nil {
				t.Fatal(err)
			}
			if err := keygenCheck(t, ours, pubLine, Namespace, []byte("changed")); err == nil {
				t.Fatal("ssh-keygen accepted our signature over a changed message")
			}
		})
	}
}

// TestSSHKeygenFlags covers what sk-dummy sets: the flags a key was made
// with (-O verify-required gives 0x05, -O no-touch-required 0x00) and a
// fixed counter, and a sha256 message hash (-O hashalg=sha256).
func TestSSHKeygenFlags(t *testing.T) {
	systest.Need(t, systest.SKDummy)
	dir := t.TempDir()

	uv := systest.Keygen(t, dir, "uv", "ed25519-sk", "-O", "verify-required")
	res := mustVerify(t, mustParse(t, keygenSign(t, uv, Namespace, testMessage)), mustAuthorizedKey(t, systest.ReadPub(t, uv)), Namespace, testMessage)
	wantSKResult(t, res, true, FlagUserPresent|FlagUserVerified)

	noTouch := systest.Keygen(t, dir, "notouch", "ecdsa-sk", "-O", "no-touch-required")
	_, err := Verify(mustParse(t, keygenSign(t, noTouch, Namespace, testMessage)), mustAuthorizedKey(t, systest.ReadPub(t, noTouch)), Namespace, testMessage)
	wantErr(t, err, ErrNoPresence)

	ed := systest.Keygen(t, dir, "ed", "ed25519")
	sig := mustParse(t, keygenSign(t, ed, Namespace, testMessage, "-O", "hashalg=sha256"))
	if sig.HashAlg != HashSHA256 {
		t.Fatalf("got hash %q, want %q", sig.HashAlg, HashSHA256)
	}
	mustVerify(t, sig, mustAuthorizedKey(t, systest.ReadPub(t, ed)), Namespace, testMessage)
}

// TestSSHKeygenSignsSameBytes: for the golden key, ssh-keygen writes
// exactly the text Sign and Armor write.
func TestSSHKeygenSignsSameBytes(t *testing.T) {
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{0x42}, ed25519.SeedSize))
	block, err := ssh.MarshalPrivateKey(priv, "golden")
	if err != nil {
		t.Fatal(err)
	}
	key := filepath.Join(t.TempDir(), "golden")
	if err := os.WriteFile(key, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	got := keygenSign(t, key, Namespace, goldenMessage)
	want, err := os.ReadFile(filepath.Join("testdata", "ed25519.sig"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("ssh-keygen: got\n%s\nwant (testdata/ed25519.sig)\n%s", got, want)
	}
	signer, err := LoadKeyFile(key)
	if err != nil {
		t.Fatal(err)
	}
	if ours := mustSign(t, signer, Namespace, goldenMessage).Armor(); !bytes.Equal(ours, want) {
		t.Fatalf("Sign with the key file: got\n%s\nwant\n%s", ours, want)
	}
}
