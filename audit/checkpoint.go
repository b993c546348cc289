package audit

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// Checkpoint is a log's tree head per c2sp.org/tlog-checkpoint.
type Checkpoint struct {
	Origin string    // log identity; equals the log key's name
	Size   int64     // number of leaves
	Hash   tlog.Hash // RFC 6962 root of the first Size leaves
	Extra  []string  // optional extension lines, each non-empty
}

// ErrMalformedCheckpoint is wrapped by every ParseCheckpoint error.
var ErrMalformedCheckpoint = errors.New("malformed checkpoint")

// maxCheckpointSize bounds a checkpoint body or signed note we parse.
const maxCheckpointSize = 16 << 10

// Text returns the checkpoint note body: origin, size, base64 root hash and
// extension lines, each terminated by a newline.
func (c Checkpoint) Text() []byte {
	var b bytes.Buffer
	b.WriteString(c.Origin)
	b.WriteByte('\n')
	b.WriteString(strconv.FormatInt(c.Size, 10))
	b.WriteByte('\n')
	b.WriteString(base64.StdEncoding.EncodeToString(c.Hash[:]))
	b.WriteByte('\n')
	for _, x := range c.Extra {
		b.WriteString(x)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// ParseCheckpoint parses a checkpoint note body (not a signed note). It is
// strict: Text(ParseCheckpoint(b)) == b for every accepted b. Errors wrap
// ErrMalformedCheckpoint and name the bad line.
func ParseCheckpoint(text []byte) (Checkpoint, error) {
	bad := func(format string, a ...any) (Checkpoint, error) {
		return Checkpoint{}, fmt.Errorf("%w: %s", ErrMalformedCheckpoint, fmt.Sprintf(format, a...))
	}
	if len(text) > maxCheckpointSize {
		return bad("%d bytes, limit %d", len(text), maxCheckpointSize)
	}
	if !utf8.Valid(text) {
		return bad("not valid UTF-8")
	}
	if len(text) == 0 || text[len(text)-1] != '\n' {
		return bad("does not end in a newline")
	}
	lines := strings.Split(string(text[:len(text)-1]), "\n")
	if len(lines) < 3 {
		return bad("%d lines, want at least origin, size and hash", len(lines))
	}
	for i, l := range lines {
		if l == "" {
			return bad("line %d is empty", i+1)
		}
		if strings.IndexFunc(l, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0 {
			return bad("line %d has a control character", i+1)
		}
	}
	size, err := parseDecimal(lines[1])
	if err != nil {
		return bad("size line %q: %v", lines[1], err)
	}
	h, err := parseHash(lines[2])
	if err != nil {
		return bad("hash line %q: %v", lines[2], err)
	}
	c := Checkpoint{Origin: lines[0], Size: size, Hash: h}
	if len(lines) > 3 {
		c.Extra = lines[3:]
	}
	return c, nil
}

// parseDecimal parses a non-negative int64 in ASCII decimal with no sign and
// no leading zeroes ("0" itself is fine).
func parseDecimal(s string) (int64, error) {
	if s == "" || strings.TrimLeft(s, "0123456789") != "" {
		return 0, errors.New("not a decimal number")
	}
	if len(s) > 1 && s[0] == '0' {
		return 0, errors.New("leading zero")
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, errors.New("out of range")
	}
	return n, nil
}

// parseHash decodes a canonical standard-base64 SHA-256 hash.
func parseHash(s string) (tlog.Hash, error) {
	var h tlog.Hash
	b, err := decodeBase64(s)
	if err != nil || len(b) != len(h) {
		return h, errors.New("not a base64 32-byte hash")
	}
	copy(h[:], b)
	return h, nil
}

// decodeBase64 decodes canonical standard base64. Unlike the Strict
// decoder alone it also refuses CR and LF, which encoding/base64 skips, so
// that an encoding has exactly one accepted spelling.
func decodeBase64(s string) ([]byte, error) {
	if strings.ContainsAny(s, "\r\n") {
		return nil, errors.New("line break inside base64")
	}
	return base64.StdEncoding.Strict().DecodeString(s)
}

// GenerateKey returns a new note signer key (skey, secret) and verifier key
// (vkey) for a log; origin is the key name and the checkpoint origin.
func GenerateKey(origin string) (skey, vkey string, err error) {
	seed := make([]byte, ed25519.SeedSize)
	if _, err := rand.Read(seed); err != nil {
		return "", "", err
	}
	return NewKeyFromSeed(origin, seed)
}

// NewKeyFromSeed returns the note key pair for origin derived from a 32-byte
// Ed25519 seed: for tests and golden files, and for keys kept as seeds.
func NewKeyFromSeed(origin string, seed []byte) (skey, vkey string, err error) {
	if len(seed) != ed25519.SeedSize {
		return "", "", fmt.Errorf("log key seed: %d bytes, want %d", len(seed), ed25519.SeedSize)
	}
	pub := ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey)
	vkey, err = note.NewEd25519VerifierKey(origin, pub)
	if err != nil {
		return "", "", fmt.Errorf("log key %q: %w", origin, err)
	}
	// vkey is name+hash+base64(0x01||pub); the skey carries 0x01||seed instead.
	hash := vkey[len(origin)+1 : len(origin)+9]
	skey = "PRIVATE+KEY+" + origin + "+" + hash + "+" + base64.StdEncoding.EncodeToString(append([]byte{1}, seed...))
	if _, err := note.NewSigner(skey); err != nil {
		return "", "", fmt.Errorf("log key %q: %w", origin, err)
	}
	return skey, vkey, nil
}

// Sign returns the signed note of c. The signer's name MUST equal c.Origin.
func Sign(c Checkpoint, s note.Signer) ([]byte, error) {
	if s.Name() != c.Origin {
		return nil, fmt.Errorf("sign checkpoint: key %q does not match origin %q", s.Name(), c.Origin)
	}
	if _, err := ParseCheckpoint(c.Text()); err != nil {
		return nil, fmt.Errorf("sign checkpoint: %w", err)
	}
	signed, err := note.Sign(&note.Note{Text: string(c.Text())}, s)
	if err != nil {
		return nil, fmt.Errorf("sign checkpoint: %w", err)
	}
	return signed, nil
}

// Open verifies a signed checkpoint against the log key v and parses it.
// Signatures from other keys (witness cosignatures) are ignored here. It
// fails if v's signature is missing or invalid, the body is not a
// checkpoint, or the origin differs from v's name.
func Open(signed []byte, v note.Verifier) (Checkpoint, *note.Note, error) {
	if len(signed) > maxCheckpointSize {
		return Checkpoint{}, nil, fmt.Errorf("open checkpoint: %d bytes, limit %d", len(signed), maxCheckpointSize)
	}
	n, err := note.Open(signed, note.VerifierList(v))
	if err != nil {
		return Checkpoint{}, nil, fmt.Errorf("open checkpoint: %w", err)
	}
	c, err := ParseCheckpoint([]byte(n.Text))
	if err != nil {
		return Checkpoint{}, nil, fmt.Errorf("open checkpoint: %w", err)
	}
	if c.Origin != v.Name() {
		return Checkpoint{}, nil, fmt.Errorf("open checkpoint: origin %q signed by key %q", c.Origin, v.Name())
	}
	return c, n, nil
}
