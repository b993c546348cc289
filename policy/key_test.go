package policy_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"strings"
	"testing"

	"github.com/failsmall/breakglass/internal/systest"
	"github.com/failsmall/breakglass/policy"
	"golang.org/x/crypto/ssh"
)

func authorizedLine(t *testing.T, key any) string {
	t.Helper()
	pub, err := ssh.NewPublicKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub)))
}

func mustRSA(t *testing.T, bits int) *rsa.PublicKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		t.Fatal(err)
	}
	return &k.PublicKey
}

func mustECDSA(t *testing.T, c elliptic.Curve) *ecdsa.PublicKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(c, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &k.PublicKey
}

// certLine returns an ed25519 user certificate line, a type no one may enroll.
func certLine(t *testing.T) string {
	t.Helper()
	signer, err := ssh.NewSignerFromKey(testSigner("ca"))
	if err != nil {
		t.Fatal(err)
	}
	cert := &ssh.Certificate{Key: testKey(t, "alice"), CertType: ssh.UserCert, ValidPrincipals: []string{"alice"}, ValidBefore: ssh.CertTimeInfinity}
	if err := cert.SignCert(rand.Reader, signer); err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(cert)))
}

func TestParseKey(t *testing.T) {
	cases := []struct {
		name    string
		line    string
		wantErr string // "" when the key is accepted
	}{
		{"ed25519", keyLine("alice"), ""},
		{"ecdsa p256", authorizedLine(t, mustECDSA(t, elliptic.P256())), ""},
		{"ecdsa p384", authorizedLine(t, mustECDSA(t, elliptic.P384())), ""},
		{"ecdsa p521", authorizedLine(t, mustECDSA(t, elliptic.P521())), ""},
		{"rsa 2048", authorizedLine(t, mustRSA(t, 2048)), ""},
		{"rsa 1024", authorizedLine(t, mustRSA(t, 1024)), "RSA key has 1024 bits; at least 2048 are required"},
		{"certificate", certLine(t), "key type ssh-ed25519-cert-v01@openssh.com is not allowed"},
		{"options", `command="/bin/sh" ` + keyLine("alice"), "key options are not allowed"},
		{"garbage", "hello", "not an authorized_keys line"},
		{"empty", "", "not an authorized_keys line"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			k, err := policy.ParseKey(c.line)
			if c.wantErr == "" {
				if err != nil {
					t.Fatalf("ParseKey: %v", err)
				}
				if k.Line != c.line || k.Fingerprint != ssh.FingerprintSHA256(k.PublicKey) {
					t.Errorf("got Line %q, Fingerprint %q; want the line as given and its fingerprint", k.Line, k.Fingerprint)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("ParseKey error = %v, want it to contain %q", err, c.wantErr)
			}
		})
	}
}

// TestParseKeyFromSSHKeygen enrolls keys made by the real ssh-keygen,
// including FIDO keys from the software authenticator.
func TestParseKeyFromSSHKeygen(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		keyType  string
		args     []string
		wantType string
	}{
		{"ed25519", nil, ssh.KeyAlgoED25519},
		{"ecdsa", []string{"-b", "384"}, ssh.KeyAlgoECDSA384},
		{"ed25519-sk", nil, ssh.KeyAlgoSKED25519},
		{"ecdsa-sk", nil, ssh.KeyAlgoSKECDSA256},
	}
	for _, c := range cases {
		t.Run(c.keyType, func(t *testing.T) {
			line := systest.ReadPub(t, systest.Keygen(t, dir, c.keyType, c.keyType, c.args...))
			k, err := policy.ParseKey(line)
			if err != nil {
				t.Fatalf("ParseKey(%q): %v", line, err)
			}
			if got := k.PublicKey.Type(); got != c.wantType {
				t.Errorf("type = %s, want %s", got, c.wantType)
			}
		})
	}
}
