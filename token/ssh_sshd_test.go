package token

import (
	"bytes"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/failsmall/breakglass/internal/systest"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// sshdPrincipal is the principal sshd lets log in as the test's user.
const sshdPrincipal = "breakglass-dev"

// sshdFixture is a real sshd trusting two CAs (ed25519 and RSA, whose key
// files are in dir), reading its KRL from krlFile, and a user key.
type sshdFixture struct {
	dir           string
	caFile, rsaCA string // private key files of the trusted CAs
	ca            ssh.Signer
	userKey       string // private key file of the user
	krlFile       string
	sshd          *systest.SSHD
	serial        uint64
}

func startSSHDFixture(t *testing.T) *sshdFixture {
	t.Helper()
	systest.Need(t, "ssh")
	dir := t.TempDir()
	f := &sshdFixture{dir: dir, serial: 100}
	f.caFile = systest.Keygen(t, dir, "ca", "ed25519")
	f.rsaCA = systest.Keygen(t, dir, "rsa-ca", "rsa", "-b", "2048")
	f.ca = sshLoadSigner(t, f.caFile)
	f.userKey = systest.Keygen(t, dir, "user", "ed25519")
	f.krlFile = filepath.Join(dir, "revoked.krl")
	sshWriteKRL(t, f.krlFile, &KRL{Version: 1, GeneratedAt: time.Now(), CA: f.ca.PublicKey()})
	f.sshd = systest.StartSSHD(t, systest.SSHDOptions{
		TrustedUserCAKeys: []string{systest.ReadPub(t, f.caFile), systest.ReadPub(t, f.rsaCA)},
		RevokedKeys:       f.krlFile,
		Principals:        []string{sshdPrincipal},
	})
	return f
}

// spec returns a spec for pub, for sshdPrincipal, valid from a minute ago
// for five minutes, with a fresh serial.
func (f *sshdFixture) spec(pub ssh.PublicKey) CertSpec {
	f.serial++
	now := time.Now()
	return CertSpec{
		PublicKey:   pub,
		Serial:      f.serial,
		KeyID:       KeyID("g-"+time.Now().Format("150405.000000"), "r1", "alice", []string{"bob", "carol"}),
		Principals:  []string{sshdPrincipal},
		ValidAfter:  now.Add(-time.Minute),
		ValidBefore: now.Add(5 * time.Minute),
		Extensions:  map[string]string{"permit-pty": ""},
	}
}

// issue signs spec with ca and writes the certificate beside the user key,
// where ssh looks for it.
func (f *sshdFixture) issue(t *testing.T, ca ssh.Signer, spec CertSpec) (*ssh.Certificate, string) {
	t.Helper()
	cert := mustSignCert(t, ca, spec)
	return cert, sshWriteCert(t, f.dir, "user-cert.pub", cert)
}

// mustLogin fails t unless ssh logs in with certFile, and unless sshd logs
// the login with the certificate's key id.
func (f *sshdFixture) mustLogin(t *testing.T, keyFile, certFile string, cert *ssh.Certificate, extra ...string) {
	t.Helper()
	mark := len(f.sshd.Log())
	if out, err := f.sshd.Login(t, keyFile, certFile, extra...); err != nil {
		t.Fatalf("login refused: %v\nssh: %s\nsshd log:\n%s", err, out, f.sshd.LogSince(mark))
	}
	accepted := "Accepted publickey for " + f.sshd.User + " from 127.0.0.1"
	if !f.sshd.WaitLog(mark, accepted) || !f.sshd.WaitLog(mark, "ID "+cert.KeyId+" (serial ") {
		t.Errorf("sshd log lacks %q with key id %q:\n%s", accepted, cert.KeyId, f.sshd.LogSince(mark))
	}
}

// mustRefuse fails t unless ssh is refused with the certificate and sshd
// logs the failure with the certificate's key id and reason.
func (f *sshdFixture) mustRefuse(t *testing.T, certFile string, cert *ssh.Certificate, reason string) {
	t.Helper()
	mark := len(f.sshd.Log())
	out, err := f.sshd.Login(t, f.userKey, certFile)
	if err == nil {
		t.Fatalf("login succeeded, want refusal (%s)\nsshd log:\n%s", reason, f.sshd.LogSince(mark))
	}
	if !strings.Contains(out, "Permission denied") {
		t.Errorf("ssh output = %q, want Permission denied", out)
	}
	for _, want := range []string{reason, "Failed publickey for " + f.sshd.User} {
		if !f.sshd.WaitLog(mark, want) {
			t.Errorf("sshd log lacks %q:\n%s", want, f.sshd.LogSince(mark))
		}
	}
	if strings.Contains(f.sshd.LogSince(mark), "Accepted publickey") {
		t.Errorf("sshd accepted a key:\n%s", f.sshd.LogSince(mark))
	}
}

func TestSSHCertLoginRealSSHD(t *testing.T) {
	f := startSSHDFixture(t)
	user := sshLoadPub(t, f.userKey)
	// issueWith issues a certificate for the user key, with edit applied to
	// the fixture's spec.
	issueWith := func(t *testing.T, edit func(*CertSpec)) (*ssh.Certificate, string) {
		spec := f.spec(user)
		edit(&spec)
		return f.issue(t, f.ca, spec)
	}

	t.Run("valid certificate logs in", func(t *testing.T) {
		cert, certFile := issueWith(t, func(*CertSpec) {})
		f.mustLogin(t, f.userKey, certFile, cert)
	})
	t.Run("window already ended", func(t *testing.T) {
		cert, certFile := issueWith(t, func(s *CertSpec) {
			s.ValidAfter, s.ValidBefore = time.Now().Add(-2*time.Hour), time.Now().Add(-time.Hour)
		})
		f.mustRefuse(t, certFile, cert, "Certificate invalid: expired")
	})
	t.Run("window not yet begun", func(t *testing.T) {
		cert, certFile := issueWith(t, func(s *CertSpec) {
			s.ValidAfter, s.ValidBefore = time.Now().Add(time.Hour), time.Now().Add(2*time.Hour)
		})
		f.mustRefuse(t, certFile, cert, "Certificate invalid: not yet valid")
	})
	t.Run("refused from the second it ends", func(t *testing.T) {
		// ValidBefore is exclusive, to the second: a certificate ending a
		// minute ahead logs in, and one ending at the current second, which
		// sshd's clock has reached by construction, is already expired.
		cert, certFile := issueWith(t, func(s *CertSpec) { s.ValidBefore = time.Now().Add(time.Minute).Truncate(time.Second) })
		f.mustLogin(t, f.userKey, certFile, cert)
		cert, certFile = issueWith(t, func(s *CertSpec) { s.ValidBefore = time.Now().Truncate(time.Second) })
		f.mustRefuse(t, certFile, cert, "Certificate invalid: expired")
	})
	t.Run("principal not named", func(t *testing.T) {
		cert, certFile := issueWith(t, func(s *CertSpec) { s.Principals = []string{"breakglass-prod"} })
		f.mustRefuse(t, certFile, cert, "Certificate does not contain an authorized principal")
	})
	t.Run("source address not allowed", func(t *testing.T) {
		cert, certFile := issueWith(t, func(s *CertSpec) {
			s.CriticalOptions = map[string]string{OptionSourceAddress: "10.0.0.0/8"}
		})
		f.mustRefuse(t, certFile, cert, "not from a permitted source address (127.0.0.1)")
	})
	t.Run("source address allowed", func(t *testing.T) {
		cert, certFile := issueWith(t, func(s *CertSpec) {
			s.CriticalOptions = map[string]string{OptionSourceAddress: "10.0.0.0/8,127.0.0.0/8"}
		})
		f.mustLogin(t, f.userKey, certFile, cert)
	})
	t.Run("signed by another CA", func(t *testing.T) {
		other := sshLoadSigner(t, systest.Keygen(t, t.TempDir(), "untrusted-ca", "ed25519"))
		cert, certFile := f.issue(t, other, f.spec(user))
		// At LogLevel VERBOSE sshd names no reason; it only fails the
		// certificate whose CA it does not trust.
		f.mustRefuse(t, certFile, cert, "ID "+cert.KeyId+" (serial ")
	})
	t.Run("FIDO ecdsa-sk user key", func(t *testing.T) {
		skKey := systest.Keygen(t, t.TempDir(), "user-sk", "ecdsa-sk")
		pub := sshLoadPub(t, skKey)
		if got, want := pub.Type(), ssh.KeyAlgoSKECDSA256; got != want {
			t.Fatalf("key type = %q, want %q", got, want)
		}
		cert := mustSignCert(t, f.ca, f.spec(pub))
		certFile := sshWriteCert(t, filepath.Dir(skKey), "user-sk-cert.pub", cert)
		f.mustLogin(t, skKey, certFile, cert, "-o", "SecurityKeyProvider="+systest.Need(t, systest.SKDummy))
	})
	t.Run("CA in ssh-agent", func(t *testing.T) {
		signers := sshAgentSigners(t, f.caFile, f.rsaCA)
		for _, caFile := range []string{f.caFile, f.rsaCA} {
			ca := sshAgentSigner(t, signers, sshLoadPub(t, caFile))
			cert, certFile := f.issue(t, ca, f.spec(user))
			if ca.PublicKey().Type() == ssh.KeyAlgoRSA && cert.Signature.Format != ssh.KeyAlgoRSASHA512 {
				t.Errorf("RSA CA signature format = %q, want %q", cert.Signature.Format, ssh.KeyAlgoRSASHA512)
			}
			// sshd's default CASignatureAlgorithms refuse ssh-rsa (SHA-1).
			f.mustLogin(t, f.userKey, certFile, cert)
		}
	})
}

// Revocation takes effect at the next login once sshd has the new KRL.
func TestSSHCertRevokedByKRLRealSSHD(t *testing.T) {
	f := startSSHDFixture(t)
	user := sshLoadPub(t, f.userKey)
	issue := func(name string) (*ssh.Certificate, string) {
		cert := mustSignCert(t, f.ca, f.spec(user))
		return cert, sshWriteCert(t, f.dir, name, cert)
	}
	bySerial, serialFile := issue("by-serial-cert.pub")
	byKeyID, keyIDFile := issue("by-key-id-cert.pub")
	kept, keptFile := issue("kept-cert.pub")
	f.mustLogin(t, f.userKey, serialFile, bySerial)
	f.mustLogin(t, f.userKey, keyIDFile, byKeyID)

	sshWriteKRL(t, f.krlFile, &KRL{Version: 2, GeneratedAt: time.Now(), CA: f.ca.PublicKey(),
		Serials: []uint64{bySerial.Serial}, KeyIDs: []string{byKeyID.KeyId}})
	revoked := "ED25519-CERT " + ssh.FingerprintSHA256(user) + " revoked by file " + f.krlFile
	f.mustRefuse(t, serialFile, bySerial, revoked)
	f.mustRefuse(t, keyIDFile, byKeyID, revoked)
	f.mustLogin(t, f.userKey, keptFile, kept)
}

// sshAgentSigners starts an ssh-agent holding the given private key files
// and returns its signers.
func sshAgentSigners(t *testing.T, keyFiles ...string) []ssh.Signer {
	t.Helper()
	a := systest.StartAgent(t)
	for _, k := range keyFiles {
		a.Add(t, k)
	}
	conn, err := net.Dial("unix", a.Socket)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	signers, err := agent.NewClient(conn).Signers()
	if err != nil {
		t.Fatal(err)
	}
	return signers
}

// sshAgentSigner picks the agent's signer for pub.
func sshAgentSigner(t *testing.T, signers []ssh.Signer, pub ssh.PublicKey) ssh.Signer {
	t.Helper()
	for _, s := range signers {
		if bytes.Equal(s.PublicKey().Marshal(), pub.Marshal()) {
			return s
		}
	}
	t.Fatalf("agent holds no key %s", ssh.FingerprintSHA256(pub))
	return nil
}
