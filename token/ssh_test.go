package token

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// sshTestSigner returns a fixed ed25519 signer derived from seed.
func sshTestSigner(t testing.TB, seed byte) ssh.Signer {
	t.Helper()
	s, err := ssh.NewSignerFromKey(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize)))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// sshTestSpec returns a valid spec for the key of seed 2, valid for an hour
// from now.
func sshTestSpec(t testing.TB) CertSpec {
	t.Helper()
	now := time.Now().Truncate(time.Second)
	return CertSpec{
		PublicKey:       sshTestSigner(t, 2).PublicKey(),
		Serial:          42,
		KeyID:           KeyID("g1", "r1", "alice", []string{"bob", "carol"}),
		Principals:      []string{"breakglass-dev"},
		ValidAfter:      now.Add(-time.Minute),
		ValidBefore:     now.Add(time.Hour),
		Extensions:      map[string]string{"permit-pty": ""},
		CriticalOptions: map[string]string{OptionSourceAddress: "127.0.0.1/32,::1"},
	}
}

func mustSignCert(t testing.TB, ca ssh.Signer, spec CertSpec) *ssh.Certificate {
	t.Helper()
	cert, err := SignCert(ca, spec)
	if err != nil {
		t.Fatalf("SignCert: %v", err)
	}
	return cert
}

func TestSignCertFields(t *testing.T) {
	ca := sshTestSigner(t, 1)
	spec := sshTestSpec(t)
	cert := mustSignCert(t, ca, spec)

	checker := ssh.CertChecker{
		IsUserAuthority: func(auth ssh.PublicKey) bool {
			return bytes.Equal(auth.Marshal(), ca.PublicKey().Marshal())
		},
		SupportedCriticalOptions: []string{OptionSourceAddress},
	}
	if err := checker.CheckCert("breakglass-dev", cert); err != nil {
		t.Fatalf("x/crypto/ssh refuses the certificate: %v", err)
	}
	if got, want := cert.CertType, uint32(ssh.UserCert); got != want {
		t.Errorf("CertType = %d, want %d", got, want)
	}
	if got, want := cert.KeyId, spec.KeyID; got != want {
		t.Errorf("KeyId = %q, want %q", got, want)
	}
	if got, want := cert.Serial, spec.Serial; got != want {
		t.Errorf("Serial = %d, want %d", got, want)
	}
	if got, want := cert.ValidAfter, uint64(spec.ValidAfter.Unix()); got != want {
		t.Errorf("ValidAfter = %d, want %d", got, want)
	}
	if got, want := cert.ValidBefore, uint64(spec.ValidBefore.Unix()); got != want {
		t.Errorf("ValidBefore = %d, want %d", got, want)
	}
	if got, want := cert.CriticalOptions[OptionSourceAddress], "127.0.0.1/32,::1"; got != want {
		t.Errorf("source-address = %q, want %q", got, want)
	}
	if _, ok := cert.Extensions["permit-pty"]; !ok || len(cert.Extensions) != 1 {
		t.Errorf("Extensions = %v, want only permit-pty", cert.Extensions)
	}
	// The certificate must not alias the caller's maps.
	spec.Extensions["permit-user-rc"] = ""
	if _, ok := cert.Extensions["permit-user-rc"]; ok {
		t.Error("certificate extensions alias the spec's map")
	}
}

func TestSignCertRSACAUsesSHA512(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := ssh.NewSignerFromKey(key)
	if err != nil {
		t.Fatal(err)
	}
	cert := mustSignCert(t, ca, sshTestSpec(t))
	if got, want := cert.Signature.Format, ssh.KeyAlgoRSASHA512; got != want {
		t.Errorf("signature format = %q, want %q", got, want)
	}

	// A signer that can only do the default algorithm (SHA-1 for RSA) is refused.
	_, err = SignCert(plainSigner{ca}, sshTestSpec(t))
	if err == nil || !strings.Contains(err.Error(), "rsa-sha2-512") {
		t.Errorf("SignCert with a plain RSA signer: err = %v, want a refusal naming rsa-sha2-512", err)
	}
}

// plainSigner hides every interface of an ssh.Signer but Signer itself.
type plainSigner struct{ s ssh.Signer }

func (p plainSigner) PublicKey() ssh.PublicKey { return p.s.PublicKey() }
func (p plainSigner) Sign(r io.Reader, data []byte) (*ssh.Signature, error) {
	return p.s.Sign(r, data)
}

func TestSignCertRejectsBadSpec(t *testing.T) {
	ca := sshTestSigner(t, 1)
	userCert := mustSignCert(t, ca, sshTestSpec(t))
	tests := []struct {
		name    string
		edit    func(*CertSpec)
		wantErr string
	}{
		{"no public key", func(s *CertSpec) { s.PublicKey = nil }, "public key: missing"},
		{"certificate as key", func(s *CertSpec) { s.PublicKey = userCert }, "is a certificate"},
		{"serial zero", func(s *CertSpec) { s.Serial = 0 }, "serial: zero"},
		{"empty key id", func(s *CertSpec) { s.KeyID = "" }, "key id: empty"},
		{"no principals", func(s *CertSpec) { s.Principals = nil }, "principals: none given"},
		{"empty principal", func(s *CertSpec) { s.Principals = []string{"a", ""} }, "empty principal"},
		{"principal with comma", func(s *CertSpec) { s.Principals = []string{"a,b"} }, `"a,b" contains a comma`},
		{"duplicate principal", func(s *CertSpec) { s.Principals = []string{"a", "a"} }, `"a" given twice`},
		{"no valid after", func(s *CertSpec) { s.ValidAfter = time.Time{} }, "must both be set"},
		{"no valid before", func(s *CertSpec) { s.ValidBefore = time.Time{} }, "must both be set"},
		{"window empty", func(s *CertSpec) { s.ValidBefore = s.ValidAfter }, "validity window: empty"},
		{"window inverted", func(s *CertSpec) { s.ValidBefore = s.ValidAfter.Add(-time.Hour) }, "validity window: empty"},
		{"window under a second", func(s *CertSpec) { s.ValidBefore = s.ValidAfter.Add(500 * time.Millisecond) }, "validity window: empty"},
		{"before 1970", func(s *CertSpec) { s.ValidAfter = time.Unix(-10, 0) }, "before 1970"},
		{"source-address empty", opt(OptionSourceAddress, ""), "empty address list"},
		{"source-address not an address", opt(OptionSourceAddress, "10.0.0.0/8,example.com"), `"example.com" is not an IP address`},
		{"source-address bad prefix", opt(OptionSourceAddress, "10.0.0.0/33"), `"10.0.0.0/33" is not a CIDR prefix`},
		{"source-address host bits", opt(OptionSourceAddress, "10.0.0.1/8"), "did you mean 10.0.0.0/8"},
		{"source-address space", opt(OptionSourceAddress, "10.0.0.0/8, 127.0.0.1"), `" 127.0.0.1" is not an IP address`},
		{"source-address empty entry", opt(OptionSourceAddress, "10.0.0.0/8,"), "empty entry"},
		{"source-address zone", opt(OptionSourceAddress, "fe80::1%eth0"), "is not an IP address"},
		{"force-command empty", opt(OptionForceCommand, " "), "command is empty"},
		{"verify-required with value", opt(OptionVerifyRequired, "yes"), "takes no value"},
		{"unknown critical option", opt("no-such-option", "x"), `critical option "no-such-option": unknown`},
		{"standard extension with value", func(s *CertSpec) { s.Extensions["permit-pty"] = "yes" }, "extension permit-pty: takes no value"},
		{"unknown extension", func(s *CertSpec) { s.Extensions["permit-everything"] = "" }, `extension "permit-everything": unknown`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := sshTestSpec(t)
			tt.edit(&spec)
			cert, err := SignCert(ca, spec)
			if err == nil {
				t.Fatalf("SignCert = %v, want error containing %q", cert, tt.wantErr)
			}
			if !errors.Is(err, ErrInvalidCertSpec) {
				t.Errorf("error %q does not wrap ErrInvalidCertSpec", err)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error = %q, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func opt(name, value string) func(*CertSpec) {
	return func(s *CertSpec) { s.CriticalOptions[name] = value }
}

func TestSignCertAcceptsOptions(t *testing.T) {
	ca := sshTestSigner(t, 1)
	spec := sshTestSpec(t)
	spec.CriticalOptions = map[string]string{
		OptionSourceAddress:  "10.0.0.0/8,192.168.1.7,2001:db8::/32",
		OptionForceCommand:   "/usr/bin/systemctl restart db",
		OptionVerifyRequired: "",
	}
	spec.Extensions = map[string]string{"permit-pty": "", "grant@breakglass": "g1"}
	mustSignCert(t, ca, spec)
	if _, err := SignCert(nil, spec); err == nil || !strings.Contains(err.Error(), "no CA signer") {
		t.Errorf("SignCert(nil) err = %v, want one naming the missing CA", err)
	}
}
