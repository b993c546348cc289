package hwkey

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"io"
	"math/big"
	"testing"

	"golang.org/x/crypto/ssh"
)

// testMessage is the statement most tests sign.
var testMessage = []byte("breakglass approval v1\nrequest: 01JD2X\nrole: prod-ssh-root\n")

// mustEd25519 returns a signer for the fixed ed25519 key whose seed is 32
// copies of b.
func mustEd25519(t testing.TB, b byte) ssh.Signer {
	t.Helper()
	s, err := ssh.NewSignerFromKey(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{b}, ed25519.SeedSize)))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// mustECDSAKey returns the fixed ECDSA key on curve whose scalar is made of
// bytes b (with a leading 0x01 on P-521, whose scalar is 66 bytes).
func mustECDSAKey(t testing.TB, curve elliptic.Curve, b byte) *ecdsa.PrivateKey {
	t.Helper()
	size := (curve.Params().BitSize + 7) / 8
	raw := bytes.Repeat([]byte{b}, size)
	if curve == elliptic.P521() {
		raw[0] = 0x01
	}
	k, err := ecdsa.ParseRawPrivateKey(curve, raw)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustECDSA(t testing.TB, curve elliptic.Curve, b byte) ssh.Signer {
	t.Helper()
	return mustSigner(t, mustECDSAKey(t, curve, b))
}

func mustRSA(t testing.TB, bits int) ssh.Signer {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		t.Fatal(err)
	}
	return mustSigner(t, k)
}

func mustSigner(t testing.TB, key crypto.Signer) ssh.Signer {
	t.Helper()
	s, err := ssh.NewSignerFromKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustSign(t testing.TB, signer ssh.Signer, namespace string, message []byte) *Signature {
	t.Helper()
	sig, err := Sign(signer, namespace, message)
	if err != nil {
		t.Fatalf("Sign(%s): %v", signer.PublicKey().Type(), err)
	}
	return sig
}

func mustParse(t testing.TB, armored []byte) *Signature {
	t.Helper()
	sig, err := ParseSignature(armored)
	if err != nil {
		t.Fatalf("ParseSignature: %v\n%s", err, armored)
	}
	return sig
}

func mustVerify(t testing.TB, sig *Signature, enrolled ssh.PublicKey, namespace string, message []byte) *Result {
	t.Helper()
	res, err := Verify(sig, enrolled, namespace, message)
	if err != nil {
		t.Fatalf("Verify(%s): %v", enrolled.Type(), err)
	}
	return res
}

// wantErr fails t unless err wraps want (or is nil when want is nil).
func wantErr(t testing.TB, err, want error) {
	t.Helper()
	if want == nil && err != nil {
		t.Fatalf("got error %v, want none", err)
	}
	if want != nil && !errors.Is(err, want) {
		t.Fatalf("got error %v, want one wrapping %q", err, want)
	}
}

// skSigner is a software FIDO security key, for tests without ssh tools: it
// signs as PROTOCOL.u2f says an authenticator does, over
// SHA256(application) || flags || uint32 counter || SHA256(data).
type skSigner struct {
	pub     ssh.PublicKey
	ed      ed25519.PrivateKey // set for sk-ssh-ed25519
	ec      *ecdsa.PrivateKey  // set for sk-ecdsa-sha2-nistp256
	app     string
	flags   byte
	counter uint32
}

func newSKEd25519(t testing.TB, b byte, flags byte) *skSigner {
	t.Helper()
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{b}, ed25519.SeedSize))
	wire := ssh.Marshal(struct {
		Name, Key, App string
	}{ssh.KeyAlgoSKED25519, string(priv.Public().(ed25519.PublicKey)), "ssh:"})
	return &skSigner{pub: mustParsePub(t, wire), ed: priv, app: "ssh:", flags: flags, counter: 7}
}

func newSKECDSA(t testing.TB, b byte, flags byte) *skSigner {
	t.Helper()
	priv := mustECDSAKey(t, elliptic.P256(), b)
	point, err := priv.PublicKey.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	wire := ssh.Marshal(struct {
		Name, Curve, Key, App string
	}{ssh.KeyAlgoSKECDSA256, "nistp256", string(point), "ssh:"})
	return &skSigner{pub: mustParsePub(t, wire), ec: priv, app: "ssh:", flags: flags, counter: 7}
}

func mustParsePub(t testing.TB, wire []byte) ssh.PublicKey {
	t.Helper()
	pub, err := ssh.ParsePublicKey(wire)
	if err != nil {
		t.Fatal(err)
	}
	return pub
}

func (s *skSigner) PublicKey() ssh.PublicKey { return s.pub }

func (s *skSigner) Sign(r io.Reader, data []byte) (*ssh.Signature, error) {
	app, msg := sha256.Sum256([]byte(s.app)), sha256.Sum256(data)
	signed := append(app[:], s.flags)
	signed = binary.BigEndian.AppendUint32(signed, s.counter)
	signed = append(signed, msg[:]...)
	rest := append([]byte{s.flags}, binary.BigEndian.AppendUint32(nil, s.counter)...)
	if s.ed != nil {
		return &ssh.Signature{Format: s.pub.Type(), Blob: ed25519.Sign(s.ed, signed), Rest: rest}, nil
	}
	digest := sha256.Sum256(signed)
	rr, ss, err := ecdsa.Sign(r, s.ec, digest[:])
	if err != nil {
		return nil, err
	}
	blob := ssh.Marshal(struct{ R, S *big.Int }{rr, ss})
	return &ssh.Signature{Format: s.pub.Type(), Blob: blob, Rest: rest}, nil
}

// signAs builds an SSHSIG by hand with an explicit signature algorithm,
// bypassing Sign's checks, to make signatures Sign refuses to make.
func signAs(t testing.TB, signer ssh.Signer, namespace, hashAlg, algorithm string, message []byte) *Signature {
	t.Helper()
	data, err := signedData(namespace, hashAlg, message)
	if err != nil {
		t.Fatal(err)
	}
	as, ok := signer.(ssh.AlgorithmSigner)
	if !ok {
		t.Fatalf("%T is not an AlgorithmSigner", signer)
	}
	sig, err := as.SignWithAlgorithm(rand.Reader, data, algorithm)
	if err != nil {
		t.Fatalf("SignWithAlgorithm(%s): %v", algorithm, err)
	}
	return &Signature{PublicKey: signer.PublicKey(), Namespace: namespace, HashAlg: hashAlg, Sig: sig}
}

func elliptic256() elliptic.Curve { return elliptic.P256() }
