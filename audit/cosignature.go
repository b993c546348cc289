package audit

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/mod/sumdb/note"
)

// golang.org/x/mod/sumdb/note knows only signature type 0x01 (Ed25519 over
// the note text). Witness cosignatures (c2sp.org/tlog-cosignature) use type
// 0x04: the signature is a timestamped_signature
//
//	u64 timestamp (big-endian POSIX seconds) || Ed25519 signature (64 bytes)
//
// over the message
//
//	"cosignature/v1\n" || "time " || decimal(timestamp) || "\n" || note text
//
// and the key ID is SHA-256(name || "\n" || 0x04 || public key)[:4]. The
// types below implement note.Signer and note.Verifier for it, so note.Sign
// and note.Open handle cosignatures like any other signature.

const algCosignatureV1 = 0x04

// cosignatureSize is len(timestamp) + len(Ed25519 signature).
const cosignatureSize = 8 + ed25519.SignatureSize

var errCosignerKey = errors.New("malformed cosignature/v1 verifier key")

// cosignKeyHash is the key ID of an Ed25519 cosignature/v1 key.
func cosignKeyHash(name string, pub ed25519.PublicKey) uint32 {
	h := sha256.New()
	h.Write([]byte(name))
	h.Write([]byte{'\n', algCosignatureV1})
	h.Write(pub)
	return binary.BigEndian.Uint32(h.Sum(nil))
}

// cosignedMessage is the message an Ed25519 cosignature/v1 signs.
func cosignedMessage(timestamp uint64, text []byte) []byte {
	m := make([]byte, 0, 32+len(text))
	m = append(m, "cosignature/v1\ntime "...)
	m = strconv.AppendUint(m, timestamp, 10)
	m = append(m, '\n')
	return append(m, text...)
}

// validKeyName mirrors the signed-note rule: non-empty, no spaces, no '+'.
func validKeyName(name string) bool {
	return name != "" && utf8.ValidString(name) && strings.IndexFunc(name, unicode.IsSpace) < 0 && !strings.Contains(name, "+")
}

// CosignatureVerifierKey encodes a cosignature/v1 verifier key (vkey) for
// name and pub: name+keyID+base64(0x04 || pub).
func CosignatureVerifierKey(name string, pub ed25519.PublicKey) (string, error) {
	if !validKeyName(name) || len(pub) != ed25519.PublicKeySize {
		return "", fmt.Errorf("%w: name %q, %d-byte key", errCosignerKey, name, len(pub))
	}
	key := append([]byte{algCosignatureV1}, pub...)
	return fmt.Sprintf("%s+%08x+%s", name, cosignKeyHash(name, pub), base64.StdEncoding.EncodeToString(key)), nil
}

// CosignatureVerifier checks Ed25519 cosignature/v1 signatures. It
// implements note.Verifier.
type CosignatureVerifier struct {
	name string
	hash uint32
	pub  ed25519.PublicKey
}

var _ note.Verifier = (*CosignatureVerifier)(nil)

// NewCosignatureVerifier parses a vkey of type 0x04.
func NewCosignatureVerifier(vkey string) (*CosignatureVerifier, error) {
	name, rest, _ := strings.Cut(vkey, "+")
	hash16, key64, _ := strings.Cut(rest, "+")
	hash, err1 := strconv.ParseUint(hash16, 16, 32)
	key, err2 := base64.StdEncoding.Strict().DecodeString(key64)
	if len(hash16) != 8 || err1 != nil || err2 != nil || !validKeyName(name) {
		return nil, fmt.Errorf("%w: %q", errCosignerKey, vkey)
	}
	if len(key) != 1+ed25519.PublicKeySize || key[0] != algCosignatureV1 {
		return nil, fmt.Errorf("%w: want type 0x04 and a 32-byte Ed25519 key", errCosignerKey)
	}
	pub := ed25519.PublicKey(key[1:])
	if uint32(hash) != cosignKeyHash(name, pub) {
		return nil, fmt.Errorf("%w: key ID %s does not match the key", errCosignerKey, hash16)
	}
	return &CosignatureVerifier{name: name, hash: uint32(hash), pub: pub}, nil
}

func (v *CosignatureVerifier) Name() string    { return v.name }
func (v *CosignatureVerifier) KeyHash() uint32 { return v.hash }

// Verify reports whether sig is a valid timestamped cosignature of msg (the
// note text). Timestamps above 2^63-1 are rejected per the spec.
func (v *CosignatureVerifier) Verify(msg, sig []byte) bool {
	if len(sig) != cosignatureSize {
		return false
	}
	ts := binary.BigEndian.Uint64(sig)
	if ts > math.MaxInt64 {
		return false
	}
	return ed25519.Verify(v.pub, cosignedMessage(ts, msg), sig[8:])
}

// CosignatureSigner produces Ed25519 cosignature/v1 signatures stamped with
// the time from its clock. It implements note.Signer.
type CosignatureSigner struct {
	name string
	hash uint32
	key  ed25519.PrivateKey
	now  func() time.Time
}

var _ note.Signer = (*CosignatureSigner)(nil)

// NewCosignatureSigner returns a signer for name with key; now is its clock.
func NewCosignatureSigner(name string, key ed25519.PrivateKey, now func() time.Time) (*CosignatureSigner, error) {
	if !validKeyName(name) || len(key) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("cosignature signer: invalid name %q or %d-byte key", name, len(key))
	}
	if now == nil {
		return nil, errors.New("cosignature signer: nil clock")
	}
	pub := key.Public().(ed25519.PublicKey)
	return &CosignatureSigner{name: name, hash: cosignKeyHash(name, pub), key: key, now: now}, nil
}

func (s *CosignatureSigner) Name() string    { return s.name }
func (s *CosignatureSigner) KeyHash() uint32 { return s.hash }

// VerifierKey returns the vkey matching this signer.
func (s *CosignatureSigner) VerifierKey() string {
	vkey, _ := CosignatureVerifierKey(s.name, s.key.Public().(ed25519.PublicKey))
	return vkey
}

// Sign returns timestamp || Ed25519(cosigned message) for the note text msg.
func (s *CosignatureSigner) Sign(msg []byte) ([]byte, error) {
	t := s.now().Unix()
	if t < 0 {
		return nil, fmt.Errorf("cosign: clock before the epoch: %d", t)
	}
	sig := make([]byte, 8, cosignatureSize)
	binary.BigEndian.PutUint64(sig, uint64(t))
	return append(sig, ed25519.Sign(s.key, cosignedMessage(uint64(t), msg))...), nil
}

// CosignatureTime returns the timestamp inside a cosignature/v1 note
// signature (as found in note.Note.Sigs). It does not verify it.
func CosignatureTime(sig note.Signature) (time.Time, error) {
	raw, err := base64.StdEncoding.DecodeString(sig.Base64)
	if err != nil || len(raw) != 4+cosignatureSize {
		return time.Time{}, fmt.Errorf("cosignature from %s: not a timestamped Ed25519 signature", sig.Name)
	}
	ts := binary.BigEndian.Uint64(raw[4:])
	if ts > math.MaxInt64 {
		return time.Time{}, fmt.Errorf("cosignature from %s: timestamp %d out of range", sig.Name, ts)
	}
	return time.Unix(int64(ts), 0).UTC(), nil
}
