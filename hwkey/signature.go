package hwkey

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"strings"

	"golang.org/x/crypto/ssh"
)

// Namespace is the SSHSIG namespace of approval, request and challenge
// signatures (`ssh-keygen -Y sign -n breakglass`).
const Namespace = "breakglass"

// PolicyNamespace is the SSHSIG namespace of policy bundle signatures.
const PolicyNamespace = "breakglass-policy"

// Hash algorithm names of PROTOCOL.sshsig.
const (
	HashSHA512 = "sha512"
	HashSHA256 = "sha256"
)

const (
	sigMagic    = "SSHSIG"
	sigVersion  = 1
	armorBegin  = "-----BEGIN SSH SIGNATURE-----"
	armorEnd    = "-----END SSH SIGNATURE-----"
	armorWidth  = 70 // ssh-keygen's line width
	skRestBytes = 5  // byte flags || uint32 counter
)

// Signature is a parsed SSHSIG (PROTOCOL.sshsig):
//
//	byte[6] "SSHSIG" || uint32 1 || string publickey || string namespace ||
//	string reserved || string hash_algorithm || string signature
//
// The reserved field is always empty.
type Signature struct {
	PublicKey ssh.PublicKey
	Namespace string
	HashAlg   string // "sha512" or "sha256"
	Sig       *ssh.Signature
}

// ParseSignature parses the armored text that `ssh-keygen -Y sign` writes.
// Whitespace around the armor and CRLF line ends are accepted; anything else
// that is not exactly one well-formed signature is an error wrapping
// ErrMalformed, or ErrAlgorithm for a hash other than sha256/sha512.
func ParseSignature(armored []byte) (*Signature, error) {
	blob, err := dearmor(armored)
	if err != nil {
		return nil, err
	}
	return ParseSignatureBlob(blob)
}

// ParseSignatureBlob parses the binary SSHSIG blob (the base64-decoded
// armor body) with the same strictness as ParseSignature.
func ParseSignatureBlob(blob []byte) (*Signature, error) {
	rest, ok := bytes.CutPrefix(blob, []byte(sigMagic))
	if !ok {
		return nil, fmt.Errorf("%w: bad magic: want %q", ErrMalformed, sigMagic)
	}
	version, rest, ok := readUint32(rest)
	if !ok {
		return nil, fmt.Errorf("%w: truncated before version", ErrMalformed)
	}
	if version != sigVersion {
		return nil, fmt.Errorf("%w: version %d, want %d", ErrMalformed, version, sigVersion)
	}
	var fields [5][]byte
	names := [5]string{"public key", "namespace", "reserved", "hash algorithm", "signature"}
	for i := range fields {
		if fields[i], rest, ok = readString(rest); !ok {
			return nil, fmt.Errorf("%w: truncated in %s", ErrMalformed, names[i])
		}
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("%w: %d bytes of trailing data", ErrMalformed, len(rest))
	}
	return decodeFields(fields)
}

// decodeFields checks and decodes the five strings of an SSHSIG blob.
func decodeFields(f [5][]byte) (*Signature, error) {
	pub, err := ssh.ParsePublicKey(f[0])
	if err != nil {
		return nil, fmt.Errorf("%w: public key: %v", ErrMalformed, err)
	}
	if !bytes.Equal(pub.Marshal(), f[0]) {
		return nil, fmt.Errorf("%w: public key is not canonically encoded", ErrMalformed)
	}
	ns := string(f[1])
	if ns == "" || strings.IndexByte(ns, 0) >= 0 {
		return nil, fmt.Errorf("%w: namespace %q is empty or holds a NUL byte", ErrMalformed, ns)
	}
	if len(f[2]) != 0 {
		return nil, fmt.Errorf("%w: reserved field is not empty (%d bytes)", ErrMalformed, len(f[2]))
	}
	hashAlg := string(f[3])
	if _, err := hashMessage(hashAlg, nil); err != nil {
		return nil, err
	}
	sig, err := parseSSHSignature(f[4])
	if err != nil {
		return nil, err
	}
	return &Signature{PublicKey: pub, Namespace: ns, HashAlg: hashAlg, Sig: sig}, nil
}

// parseSSHSignature strictly parses an SSH signature encoding: string format
// || string blob, followed for security keys by byte flags || uint32 counter
// (PROTOCOL.u2f) and by nothing otherwise.
func parseSSHSignature(b []byte) (*ssh.Signature, error) {
	format, rest, ok := readString(b)
	if !ok {
		return nil, fmt.Errorf("%w: truncated in signature format", ErrMalformed)
	}
	blob, rest, ok := readString(rest)
	if !ok {
		return nil, fmt.Errorf("%w: truncated in signature blob", ErrMalformed)
	}
	want := 0
	if isSKFormat(string(format)) {
		want = skRestBytes
	}
	if len(rest) != want {
		return nil, fmt.Errorf("%w: signature %q has %d bytes after its blob, want %d", ErrMalformed, format, len(rest), want)
	}
	sig := &ssh.Signature{Format: string(format), Blob: blob}
	if want > 0 {
		sig.Rest = rest
	}
	return sig, nil
}

// Marshal returns the binary SSHSIG blob.
func (s *Signature) Marshal() []byte {
	b := append([]byte(sigMagic), 0, 0, 0, sigVersion)
	b = appendString(b, s.PublicKey.Marshal())
	b = appendString(b, []byte(s.Namespace))
	b = appendString(b, nil)
	b = appendString(b, []byte(s.HashAlg))
	return appendString(b, ssh.Marshal(s.Sig))
}

// Armor returns the armored text exactly as ssh-keygen writes it: the BEGIN
// line, base64 in lines of 70 characters, the END line, each ending in "\n".
func (s *Signature) Armor() []byte {
	enc := base64.StdEncoding.EncodeToString(s.Marshal())
	var b strings.Builder
	b.WriteString(armorBegin + "\n")
	for len(enc) > armorWidth {
		b.WriteString(enc[:armorWidth] + "\n")
		enc = enc[armorWidth:]
	}
	b.WriteString(enc + "\n" + armorEnd + "\n")
	return []byte(b.String())
}

// dearmor returns the blob inside the armor. Lines may be of any width but
// hold only base64 characters, and the base64 must be canonical.
func dearmor(armored []byte) ([]byte, error) {
	lines := strings.Split(strings.TrimSpace(string(armored)), "\n")
	for i := range lines {
		lines[i] = strings.TrimSuffix(lines[i], "\r")
	}
	if lines[0] != armorBegin {
		return nil, fmt.Errorf("%w: armor does not start with %q", ErrMalformed, armorBegin)
	}
	if len(lines) < 3 || lines[len(lines)-1] != armorEnd {
		return nil, fmt.Errorf("%w: armor does not end with %q", ErrMalformed, armorEnd)
	}
	body := lines[1 : len(lines)-1]
	for i, l := range body {
		if l == "" || strings.Trim(l, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=") != "" {
			return nil, fmt.Errorf("%w: armor line %d is not base64", ErrMalformed, i+2)
		}
	}
	blob, err := base64.StdEncoding.Strict().DecodeString(strings.Join(body, ""))
	if err != nil {
		return nil, fmt.Errorf("%w: armor body: %v", ErrMalformed, err)
	}
	return blob, nil
}

// signedData returns what the key signs (PROTOCOL.sshsig):
//
//	byte[6] "SSHSIG" || string namespace || string reserved ("") ||
//	string hash_algorithm || string H(message)
func signedData(namespace, hashAlg string, message []byte) ([]byte, error) {
	h, err := hashMessage(hashAlg, message)
	if err != nil {
		return nil, err
	}
	return signedDataOf(namespace, hashAlg, h), nil
}

// signedDataOf is what an SSHSIG signs, for the message hash h.
func signedDataOf(namespace, hashAlg string, h []byte) []byte {
	b := []byte(sigMagic)
	b = appendString(b, []byte(namespace))
	b = appendString(b, nil)
	b = appendString(b, []byte(hashAlg))
	return appendString(b, h)
}

// hashMessage returns H(message) for an allowed SSHSIG hash name, or an
// error wrapping ErrAlgorithm.
func hashMessage(hashAlg string, message []byte) ([]byte, error) {
	switch hashAlg {
	case HashSHA512:
		h := sha512.Sum512(message)
		return h[:], nil
	case HashSHA256:
		h := sha256.Sum256(message)
		return h[:], nil
	}
	return nil, fmt.Errorf("%w: hash %q, want %q or %q", ErrAlgorithm, hashAlg, HashSHA512, HashSHA256)
}

func appendString(b, s []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

func readUint32(b []byte) (uint32, []byte, bool) {
	if len(b) < 4 {
		return 0, nil, false
	}
	return binary.BigEndian.Uint32(b), b[4:], true
}

func readString(b []byte) ([]byte, []byte, bool) {
	n, rest, ok := readUint32(b)
	if !ok || uint64(n) > uint64(len(rest)) {
		return nil, nil, false
	}
	return rest[:n], rest[n:], true
}
