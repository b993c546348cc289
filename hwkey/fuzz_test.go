package hwkey

import (
	"bytes"
	"crypto/elliptic"
	"errors"
	"testing"

	"golang.org/x/crypto/ssh"
)

// FuzzParseSignature feeds armored text and raw blobs to the parsers. It
// asserts that nothing panics, that errors wrap the documented sentinels,
// and that whatever parses is canonical: it re-encodes to the bytes it was
// parsed from and re-armors to text that parses to the same fields.
func FuzzParseSignature(f *testing.F) {
	for _, signer := range []ssh.Signer{
		mustEd25519(f, 1),
		mustECDSA(f, elliptic.P256(), 2),
		mustECDSA(f, elliptic.P384(), 3),
		mustECDSA(f, elliptic.P521(), 4),
		newSKEd25519(f, 5, FlagUserPresent),
		newSKECDSA(f, 6, FlagUserPresent|FlagUserVerified),
	} {
		sig := mustSign(f, signer, Namespace, testMessage)
		f.Add(sig.Armor())
		f.Add(sig.Marshal())
	}
	f.Add([]byte(armorBegin + "\n" + armorEnd + "\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if sig, ok := parseChecked(t, ParseSignatureBlob, data); ok && !bytes.Equal(sig.Marshal(), data) {
			t.Fatalf("blob does not re-encode to itself:\n got %x\nwant %x", sig.Marshal(), data)
		}
		if sig, ok := parseChecked(t, ParseSignature, data); ok {
			blob, err := dearmor(data)
			if err != nil || !bytes.Equal(sig.Marshal(), blob) {
				t.Fatalf("armored signature does not re-encode to its blob: %v", err)
			}
		}
	})
}

// parseChecked parses data and, when that works, checks the round trip
// through Armor and that Verify with the signature's own fields does not
// panic.
func parseChecked(t *testing.T, parse func([]byte) (*Signature, error), data []byte) (*Signature, bool) {
	sig, err := parse(data)
	if err != nil {
		if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrAlgorithm) {
			t.Fatalf("error wraps no sentinel: %v", err)
		}
		return nil, false
	}
	again, err := ParseSignature(sig.Armor())
	if err != nil {
		t.Fatalf("re-armored signature does not parse: %v\n%s", err, sig.Armor())
	}
	if !bytes.Equal(again.PublicKey.Marshal(), sig.PublicKey.Marshal()) || again.Namespace != sig.Namespace ||
		again.HashAlg != sig.HashAlg || !bytes.Equal(ssh.Marshal(again.Sig), ssh.Marshal(sig.Sig)) {
		t.Fatalf("re-armored signature parses to other fields:\n got %+v\nwant %+v", again, sig)
	}
	Verify(sig, sig.PublicKey, sig.Namespace, data)
	return sig, true
}
