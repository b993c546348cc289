package hwkey

import (
	"crypto/elliptic"
	"crypto/rand"
	"io"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

// TestVerifyTable covers every way a signature can be bad, and the ways it
// can be good.
func TestVerifyTable(t *testing.T) {
	ed := mustEd25519(t, 1)
	other := mustEd25519(t, 2)
	ec := mustECDSA(t, elliptic.P256(), 3)
	rsa2048 := mustRSA(t, 2048)
	rsa1024 := mustRSA(t, 1024)
	sk := newSKEd25519(t, 4, FlagUserPresent)
	skNoTouch := newSKECDSA(t, 5, 0)
	good := mustSign(t, ed, Namespace, testMessage)

	type input struct {
		sig      *Signature
		enrolled ssh.PublicKey
		ns       string
		msg      []byte
	}
	valid := func(sig *Signature, key ssh.PublicKey) input { return input{sig, key, Namespace, testMessage} }
	tampered := func(sig *Signature, change func(s *Signature)) *Signature {
		c := *sig
		sc := *sig.Sig
		sc.Rest = append([]byte(nil), sc.Rest...)
		c.Sig = &sc
		change(&c)
		return &c
	}

	tests := []struct {
		name string
		in   input
		want error
		msg  string
	}{
		{"ed25519", valid(good, ed.PublicKey()), nil, ""},
		{"ecdsa p256", valid(mustSign(t, ec, Namespace, testMessage), ec.PublicKey()), nil, ""},
		{"ecdsa p384", valid(mustSign(t, mustECDSA(t, elliptic.P384(), 6), Namespace, testMessage), mustECDSA(t, elliptic.P384(), 6).PublicKey()), nil, ""},
		{"ecdsa p521", valid(mustSign(t, mustECDSA(t, elliptic.P521(), 7), Namespace, testMessage), mustECDSA(t, elliptic.P521(), 7).PublicKey()), nil, ""},
		{"rsa-sha2-512", valid(mustSign(t, rsa2048, Namespace, testMessage), rsa2048.PublicKey()), nil, ""},
		{"rsa-sha2-256", valid(signAs(t, rsa2048, Namespace, HashSHA512, ssh.KeyAlgoRSASHA256, testMessage), rsa2048.PublicKey()), nil, ""},
		{"sha256 message hash", valid(signAs(t, ed, Namespace, HashSHA256, "", testMessage), ed.PublicKey()), nil, ""},
		{"sk ed25519", valid(mustSign(t, sk, Namespace, testMessage), sk.PublicKey()), nil, ""},
		{"policy namespace", input{mustSign(t, ed, PolicyNamespace, testMessage), ed.PublicKey(), PolicyNamespace, testMessage}, nil, ""},

		{"wrong key", valid(good, other.PublicKey()), ErrWrongKey, ssh.FingerprintSHA256(ed.PublicKey())},
		{"wrong key type", valid(good, ec.PublicKey()), ErrWrongKey, "enrolled key is ecdsa"},
		{"no enrolled key", valid(good, nil), ErrWrongKey, "no enrolled key"},
		{"blob key swapped to the enrolled one", valid(tampered(good, func(s *Signature) { s.PublicKey = other.PublicKey() }), other.PublicKey()), ErrBadSignature, ""},
		{"wrong namespace", input{good, ed.PublicKey(), PolicyNamespace, testMessage}, ErrNamespace, `"breakglass-policy"`},
		{"namespace field rewritten", input{tampered(good, func(s *Signature) { s.Namespace = PolicyNamespace }), ed.PublicKey(), PolicyNamespace, testMessage}, ErrBadSignature, ""},
		{"changed message", input{good, ed.PublicKey(), Namespace, append([]byte("x"), testMessage...)}, ErrBadSignature, ""},
		{"empty message", input{good, ed.PublicKey(), Namespace, nil}, ErrBadSignature, ""},
		{"hash field rewritten", valid(tampered(good, func(s *Signature) { s.HashAlg = HashSHA256 }), ed.PublicKey()), ErrBadSignature, ""},
		{"unknown hash field", valid(tampered(good, func(s *Signature) { s.HashAlg = "sha1" }), ed.PublicKey()), ErrAlgorithm, `"sha1"`},
		{"signature of another message", valid(tampered(good, func(s *Signature) { s.Sig = mustSign(t, ed, Namespace, []byte("other")).Sig }), ed.PublicKey()), ErrBadSignature, ""},
		{"ssh-rsa sha1", valid(signAs(t, rsa2048, Namespace, HashSHA512, ssh.KeyAlgoRSA, testMessage), rsa2048.PublicKey()), ErrAlgorithm, `"ssh-rsa"`},
		{"rsa 1024 bits", valid(signAs(t, rsa1024, Namespace, HashSHA512, ssh.KeyAlgoRSASHA512, testMessage), rsa1024.PublicKey()), ErrAlgorithm, "1024 bits"},
		{"signature format of another key type", valid(tampered(good, func(s *Signature) { s.Sig.Format = ssh.KeyAlgoECDSA256 }), ed.PublicKey()), ErrAlgorithm, "ecdsa-sha2-nistp256"},
		{"certificate key", certInput(t, ed), ErrAlgorithm, "cert"},
		{"sk without user presence", valid(mustSign(t, skNoTouch, Namespace, testMessage), skNoTouch.PublicKey()), ErrNoPresence, "0x00"},
		{"sk presence flag cleared", valid(tampered(mustSign(t, sk, Namespace, testMessage), func(s *Signature) { s.Sig.Rest[0] = 0 }), sk.PublicKey()), ErrNoPresence, ""},
		{"sk verification flag added", valid(tampered(mustSign(t, sk, Namespace, testMessage), func(s *Signature) { s.Sig.Rest[0] |= FlagUserVerified }), sk.PublicKey()), ErrBadSignature, ""},
		{"sk counter changed", valid(tampered(mustSign(t, sk, Namespace, testMessage), func(s *Signature) { s.Sig.Rest[4]++ }), sk.PublicKey()), ErrBadSignature, ""},
		{"sk flags missing", valid(tampered(mustSign(t, sk, Namespace, testMessage), func(s *Signature) { s.Sig.Rest = nil }), sk.PublicKey()), ErrMalformed, "flag/counter"},
		{"bytes after ed25519 signature", valid(tampered(good, func(s *Signature) { s.Sig.Rest = []byte{1} }), ed.PublicKey()), ErrMalformed, "unexpected bytes"},
		{"empty signature", valid(&Signature{}, ed.PublicKey()), ErrMalformed, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Verify(tt.in.sig, tt.in.enrolled, tt.in.ns, tt.in.msg)
			wantErr(t, err, tt.want)
			if err != nil {
				if res != nil {
					t.Errorf("got result %+v with error %v, want nil", res, err)
				}
				if !strings.Contains(err.Error(), tt.msg) {
					t.Errorf("got error %q, want it to mention %q", err, tt.msg)
				}
				return
			}
			if res.KeyType != tt.in.enrolled.Type() || res.Fingerprint != ssh.FingerprintSHA256(tt.in.enrolled) {
				t.Errorf("got %s %s, want %s %s", res.KeyType, res.Fingerprint, tt.in.enrolled.Type(), ssh.FingerprintSHA256(tt.in.enrolled))
			}
		})
	}
}

// certInput is a signature made by an OpenSSH certificate, which Verify
// refuses: enrolled keys are plain keys.
func certInput(t *testing.T, key ssh.Signer) struct {
	sig      *Signature
	enrolled ssh.PublicKey
	ns       string
	msg      []byte
} {
	t.Helper()
	cert := &ssh.Certificate{Key: key.PublicKey(), CertType: ssh.UserCert, ValidPrincipals: []string{"alice"}, ValidBefore: ssh.CertTimeInfinity}
	if err := cert.SignCert(rand.Reader, mustEd25519(t, 9)); err != nil {
		t.Fatal(err)
	}
	data, err := signedData(Namespace, HashSHA512, testMessage)
	if err != nil {
		t.Fatal(err)
	}
	s, err := key.Sign(rand.Reader, data)
	if err != nil {
		t.Fatal(err)
	}
	return struct {
		sig      *Signature
		enrolled ssh.PublicKey
		ns       string
		msg      []byte
	}{&Signature{PublicKey: cert, Namespace: Namespace, HashAlg: HashSHA512, Sig: s}, cert, Namespace, testMessage}
}

func TestVerifyResult(t *testing.T) {
	tests := []struct {
		name   string
		signer ssh.Signer
		want   Result
	}{
		{"ed25519", mustEd25519(t, 1), Result{}},
		{"sk presence", newSKEd25519(t, 2, FlagUserPresent), Result{SK: true, Flags: 0x01, Counter: 7, UserPresent: true}},
		{"sk verified", newSKECDSA(t, 3, FlagUserPresent|FlagUserVerified), Result{SK: true, Flags: 0x05, Counter: 7, UserPresent: true, UserVerified: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pub := tt.signer.PublicKey()
			got := mustVerify(t, mustSign(t, tt.signer, Namespace, testMessage), pub, Namespace, testMessage)
			tt.want.KeyType, tt.want.Fingerprint = pub.Type(), ssh.FingerprintSHA256(pub)
			if *got != tt.want {
				t.Errorf("got %+v, want %+v", *got, tt.want)
			}
		})
	}
}

func TestSignRefuses(t *testing.T) {
	tests := []struct {
		name   string
		signer ssh.Signer
		ns     string
		want   error
	}{
		{"empty namespace", mustEd25519(t, 1), "", ErrNamespace},
		{"rsa 1024 bits", mustRSA(t, 1024), Namespace, ErrAlgorithm},
		{"rsa signer that cannot choose its algorithm", plainSigner{mustRSA(t, 2048)}, Namespace, ErrAlgorithm},
		{"signer returning ssh-rsa", fixedAlgSigner{mustRSA(t, 2048).(ssh.AlgorithmSigner), ssh.KeyAlgoRSA}, Namespace, ErrAlgorithm},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Sign(tt.signer, tt.ns, testMessage)
			wantErr(t, err, tt.want)
		})
	}
}

// plainSigner hides the AlgorithmSigner methods of a signer.
type plainSigner struct{ ssh.Signer }

// fixedAlgSigner always signs with alg, whatever it is asked for, like a
// broken agent that ignores the rsa-sha2-512 flag.
type fixedAlgSigner struct {
	ssh.AlgorithmSigner
	alg string
}

func (s fixedAlgSigner) SignWithAlgorithm(r io.Reader, data []byte, _ string) (*ssh.Signature, error) {
	return s.AlgorithmSigner.SignWithAlgorithm(r, data, s.alg)
}
