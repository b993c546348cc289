package hwkey

import (
	"bytes"
	"crypto/rsa"
	"encoding/binary"
	"fmt"
	"slices"

	"golang.org/x/crypto/ssh"
)

// Security-key flags (PROTOCOL.u2f, the FIDO CTAP2 authenticatorData flags).
const (
	FlagUserPresent  = 0x01
	FlagUserVerified = 0x04
)

// MinRSABits is the shortest RSA modulus accepted.
const MinRSABits = 2048

// Result tells what a verified signature proves.
type Result struct {
	KeyType      string // e.g. "sk-ssh-ed25519@openssh.com"
	Fingerprint  string // ssh.FingerprintSHA256 of the key
	SK           bool   // a FIDO security-key signature
	Flags        byte   // sk flags byte (0 for non-sk)
	Counter      uint32 // sk signature counter (0 for non-sk)
	UserPresent  bool   // sk flag 0x01; always false for non-sk keys, which prove no presence
	UserVerified bool   // sk flag 0x04 (PIN or biometric); NOT enforced by Verify
}

// Verify checks that sig is a valid SSHSIG made by exactly the enrolled key
// over message in namespace, and reports what it proves. It fails with an
// error wrapping:
//   - ErrWrongKey when sig's public key is not enrolled (byte comparison,
//     checked before anything else);
//   - ErrAlgorithm for a refused key type, RSA key size, hash or signature
//     algorithm (such as ssh-rsa SHA-1);
//   - ErrNamespace when sig was made for another namespace;
//   - ErrMalformed when the security-key fields are malformed;
//   - ErrNoPresence for a security-key signature without the user-presence
//     flag (refused before its cryptographic check);
//   - ErrBadSignature when the cryptographic check fails (changed message or
//     signed fields).
//
// User verification is reported in Result.UserVerified, not enforced.
func Verify(sig *Signature, enrolled ssh.PublicKey, namespace string, message []byte) (*Result, error) {
	return VerifyMessage(sig, enrolled, namespace, NewMessage(message))
}

// Message is a message several signatures are checked over: it hashes
// the message once for each hash algorithm, however many signatures use
// it, so a large message with many signatures costs one pass, not one per
// signature. It is not safe for concurrent use.
type Message struct {
	data   []byte
	hashes map[string][]byte
}

// NewMessage returns the Message of data, which it does not copy.
func NewMessage(data []byte) *Message { return &Message{data: data} }

func (m *Message) hash(alg string) ([]byte, error) {
	if h, ok := m.hashes[alg]; ok {
		return h, nil
	}
	h, err := hashMessage(alg, m.data)
	if err != nil {
		return nil, err
	}
	if m.hashes == nil {
		m.hashes = map[string][]byte{}
	}
	m.hashes[alg] = h
	return h, nil
}

// VerifyMessage is Verify over a Message.
func VerifyMessage(sig *Signature, enrolled ssh.PublicKey, namespace string, message *Message) (*Result, error) {
	if sig == nil || sig.PublicKey == nil || sig.Sig == nil {
		return nil, fmt.Errorf("%w: empty signature", ErrMalformed)
	}
	if enrolled == nil {
		return nil, fmt.Errorf("%w: no enrolled key given", ErrWrongKey)
	}
	if !bytes.Equal(sig.PublicKey.Marshal(), enrolled.Marshal()) {
		return nil, fmt.Errorf("%w: signed by %s %s, enrolled key is %s %s", ErrWrongKey,
			sig.PublicKey.Type(), ssh.FingerprintSHA256(sig.PublicKey), enrolled.Type(), ssh.FingerprintSHA256(enrolled))
	}
	if err := checkKey(enrolled); err != nil {
		return nil, err
	}
	if sig.Namespace != namespace {
		return nil, fmt.Errorf("%w: signed for namespace %q, want %q", ErrNamespace, sig.Namespace, namespace)
	}
	if err := checkSigFormat(enrolled, sig.Sig.Format); err != nil {
		return nil, err
	}
	res, err := newResult(enrolled, sig.Sig)
	if err != nil {
		return nil, err
	}
	if res.SK && !res.UserPresent {
		return nil, fmt.Errorf("%w: flags 0x%02x from %s", ErrNoPresence, res.Flags, res.Fingerprint)
	}
	h, err := message.hash(sig.HashAlg)
	if err != nil {
		return nil, err
	}
	data := signedDataOf(sig.Namespace, sig.HashAlg, h)
	if err := enrolled.Verify(data, sig.Sig); err != nil {
		return nil, fmt.Errorf("%w: %s signature by %s: %v", ErrBadSignature, sig.Sig.Format, res.Fingerprint, err)
	}
	return res, nil
}

// newResult describes the key and, for security keys, decodes the
// signature's flags and counter (byte flags || uint32 counter).
func newResult(key ssh.PublicKey, sig *ssh.Signature) (*Result, error) {
	res := &Result{KeyType: key.Type(), Fingerprint: ssh.FingerprintSHA256(key), SK: isSKFormat(key.Type())}
	if !res.SK {
		if len(sig.Rest) != 0 {
			return nil, fmt.Errorf("%w: %d unexpected bytes after a %s signature", ErrMalformed, len(sig.Rest), sig.Format)
		}
		return res, nil
	}
	if len(sig.Rest) != skRestBytes {
		return nil, fmt.Errorf("%w: security-key signature has %d flag/counter bytes, want %d", ErrMalformed, len(sig.Rest), skRestBytes)
	}
	res.Flags = sig.Rest[0]
	res.Counter = binary.BigEndian.Uint32(sig.Rest[1:])
	res.UserPresent = res.Flags&FlagUserPresent != 0
	res.UserVerified = res.Flags&FlagUserVerified != 0
	return res, nil
}

// sigFormats returns the signature algorithms allowed for a key type, or nil
// for a key type this package refuses.
func sigFormats(keyType string) []string {
	switch keyType {
	case ssh.KeyAlgoED25519, ssh.KeyAlgoSKED25519, ssh.KeyAlgoSKECDSA256,
		ssh.KeyAlgoECDSA256, ssh.KeyAlgoECDSA384, ssh.KeyAlgoECDSA521:
		return []string{keyType}
	case ssh.KeyAlgoRSA:
		return []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256}
	}
	return nil
}

func isSKFormat(format string) bool {
	return format == ssh.KeyAlgoSKED25519 || format == ssh.KeyAlgoSKECDSA256
}

// checkKey refuses key types outside the supported list and short RSA keys,
// with an error wrapping ErrAlgorithm.
func checkKey(key ssh.PublicKey) error {
	if sigFormats(key.Type()) == nil {
		return fmt.Errorf("%w: key type %q is not supported", ErrAlgorithm, key.Type())
	}
	if key.Type() != ssh.KeyAlgoRSA {
		return nil
	}
	// Parse the wire form: keys from an agent are not ssh.CryptoPublicKey.
	parsed, err := ssh.ParsePublicKey(key.Marshal())
	if err != nil {
		return fmt.Errorf("%w: rsa key: %v", ErrAlgorithm, err)
	}
	ck, ok := parsed.(ssh.CryptoPublicKey)
	if !ok {
		return fmt.Errorf("%w: rsa key of type %T", ErrAlgorithm, parsed)
	}
	rk, ok := ck.CryptoPublicKey().(*rsa.PublicKey)
	if !ok {
		return fmt.Errorf("%w: rsa key of type %T", ErrAlgorithm, parsed)
	}
	if n := rk.N.BitLen(); n < MinRSABits {
		return fmt.Errorf("%w: rsa key of %d bits, want at least %d", ErrAlgorithm, n, MinRSABits)
	}
	return nil
}

// checkSigFormat refuses a signature algorithm not allowed for the key, such
// as ssh-rsa (SHA-1), with an error wrapping ErrAlgorithm.
func checkSigFormat(key ssh.PublicKey, format string) error {
	allowed := sigFormats(key.Type())
	if !slices.Contains(allowed, format) {
		return fmt.Errorf("%w: signature algorithm %q for a %s key, want one of %q", ErrAlgorithm, format, key.Type(), allowed)
	}
	return nil
}
