package token

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/failsmall/breakglass/internal/systest"
	"golang.org/x/crypto/ssh"
)

// sshLoadSigner reads an unencrypted OpenSSH private key file.
func sshLoadSigner(t testing.TB, keyFile string) ssh.Signer {
	t.Helper()
	b, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.ParsePrivateKey(b)
	if err != nil {
		t.Fatalf("parse %s: %v", keyFile, err)
	}
	return s
}

// sshLoadPub reads the public key beside a key made by systest.Keygen.
func sshLoadPub(t testing.TB, keyFile string) ssh.PublicKey {
	t.Helper()
	pub, _, _, _, err := ssh.ParseAuthorizedKey([]byte(systest.ReadPub(t, keyFile)))
	if err != nil {
		t.Fatalf("parse %s.pub: %v", keyFile, err)
	}
	return pub
}

// sshWriteCert writes cert in OpenSSH's -cert.pub format to dir/name.
func sshWriteCert(t testing.TB, dir, name string, cert *ssh.Certificate) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, ssh.MarshalAuthorizedKey(cert), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// sshWriteKRL marshals k into path, replacing the file whole: sshd may read
// it at any moment.
func sshWriteKRL(t testing.TB, path string, k *KRL) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, mustMarshalKRL(t, k), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// keygenQuery runs `ssh-keygen -Q -f krl cert` and reports whether
// ssh-keygen says the certificate is revoked (exit 1, "REVOKED") or not
// (exit 0, "ok"); anything else fails t.
func keygenQuery(t *testing.T, krlFile, certFile string) bool {
	t.Helper()
	out, err := exec.Command(systest.Need(t, "ssh-keygen"), "-Q", "-f", krlFile, certFile).CombinedOutput()
	var exit *exec.ExitError
	switch {
	case err == nil && strings.Contains(string(out), ": ok"):
		return false
	case errors.As(err, &exit) && exit.ExitCode() == 1 && strings.Contains(string(out), ": REVOKED"):
		return true
	}
	t.Fatalf("ssh-keygen -Q -f %s %s: %v\n%s", krlFile, certFile, err, out)
	return false
}

// ssh-keygen, OpenSSH's own KRL reader, agrees with our KRLs on which
// certificates are revoked, for ed25519, ECDSA and RSA CAs.
func TestKRLJudgedBySSHKeygen(t *testing.T) {
	for _, caType := range []string{"ed25519", "ecdsa", "rsa"} {
		t.Run(caType, func(t *testing.T) {
			dir := t.TempDir()
			ca := sshLoadSigner(t, systest.Keygen(t, dir, "ca", caType))
			other := sshLoadSigner(t, systest.Keygen(t, dir, "other-ca", "ed25519"))
			user := sshLoadPub(t, systest.Keygen(t, dir, "user", "ed25519"))
			issue := func(signer ssh.Signer, serial uint64, keyID string) *ssh.Certificate {
				spec := sshTestSpec(t)
				spec.PublicKey, spec.Serial, spec.KeyID = user, serial, keyID
				return mustSignCert(t, signer, spec)
			}
			k := &KRL{Version: 9, GeneratedAt: time.Now(), Comment: "oracle", CA: ca.PublicKey(),
				Serials: []uint64{5, 1 << 40}, KeyIDs: []string{"revoked id"}}
			krlFile := filepath.Join(dir, "krl")
			sshWriteKRL(t, krlFile, k)
			tests := []struct {
				name string
				cert *ssh.Certificate
				want bool
			}{
				{"revoked serial", issue(ca, 5, "fine"), true},
				{"revoked large serial", issue(ca, 1<<40, "fine"), true},
				{"revoked key id", issue(ca, 6, "revoked id"), true},
				{"not revoked", issue(ca, 6, "fine"), false},
				{"neighbour serial", issue(ca, 4, "fine"), false},
				{"other CA, same serial and id", issue(other, 5, "revoked id"), false},
			}
			for _, tt := range tests {
				certFile := sshWriteCert(t, dir, "user-cert.pub", tt.cert)
				if got := keygenQuery(t, krlFile, certFile); got != tt.want {
					t.Errorf("%s: ssh-keygen says revoked=%v, want %v", tt.name, got, tt.want)
				}
				if got := k.IsRevoked(tt.cert); got != tt.want {
					t.Errorf("%s: KRL.IsRevoked = %v, want %v", tt.name, got, tt.want)
				}
			}
		})
	}
}

// `ssh-keygen -Q -l` prints what it read from our KRL.
func TestKRLListedBySSHKeygen(t *testing.T) {
	bin := systest.Need(t, "ssh-keygen")
	k := krlTestGolden(t)
	path := filepath.Join(t.TempDir(), "krl")
	sshWriteKRL(t, path, k)
	out, err := exec.Command(bin, "-Q", "-l", "-f", path).CombinedOutput()
	if err != nil {
		t.Fatalf("ssh-keygen -Q -l: %v\n%s", err, out)
	}
	for _, want := range []string{
		"# KRL version 3",
		"# Comment: breakglass revocations",
		"# CA key ssh-ed25519 " + ssh.FingerprintSHA256(k.CA),
		"serial: 7\nserial: 42\nserial: 18446744073709551615\n",
		"id: " + k.KeyIDs[0] + "\nid: revoked id\n",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("ssh-keygen -Q -l output lacks %q:\n%s", want, out)
		}
	}
}

// ParseKRL reads the serial lists and key ids of a KRL written by
// `ssh-keygen -k`.
func TestParseKRLFromSSHKeygen(t *testing.T) {
	bin := systest.Need(t, "ssh-keygen")
	dir := t.TempDir()
	caKey := systest.Keygen(t, dir, "ca", "ed25519")
	spec := filepath.Join(dir, "spec")
	if err := os.WriteFile(spec, []byte("serial: 5\nserial: 1000\nid: breakglass grant=g\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	krlFile := filepath.Join(dir, "krl")
	systest.Run(t, nil, bin, "-k", "-f", krlFile, "-z", "17", "-s", caKey+".pub", spec)
	b, err := os.ReadFile(krlFile)
	if err != nil {
		t.Fatal(err)
	}
	k := mustParseKRL(t, b)
	want := &KRL{Version: 17, GeneratedAt: k.GeneratedAt, CA: sshLoadPub(t, caKey),
		Serials: []uint64{5, 1000}, KeyIDs: []string{"breakglass grant=g"}}
	krlEqual(t, k, want)
	if age := time.Since(k.GeneratedAt); age < -time.Minute || age > time.Minute {
		t.Errorf("GeneratedAt = %s, want about now", k.GeneratedAt)
	}
}
