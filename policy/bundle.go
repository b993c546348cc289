package policy

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/failsmall/breakglass/hwkey"
)

// A policy bundle is the unit the broker activates: the policy file bytes
// (which hold the directory too: principals, groups, enrolled keys) and the
// metadata that chains bundles. Its canonical encoding is
//
//	breakglass policy bundle v1\n
//	serial: <decimal, no leading zero, at least 1>\n
//	created: <RFC 3339 UTC, whole seconds>\n
//	previous: sha256:<64 lower-case hex>\n   (or "previous:\n" for the first)
//	policy: <decimal byte count N>\n
//	<exactly N bytes: the policy file>
//	\n
//
// The bundle's hash is "sha256:" and the hex SHA-256 of those bytes, and its
// admins sign exactly those bytes (SSHSIG, namespace hwkey.PolicyNamespace).
// A signed bundle is the encoding followed by zero or more armored SSH
// signatures, each exactly as hwkey.Signature.Armor writes it.
const bundleHeader = "breakglass policy bundle v1"

// MaxBundleSignatures bounds the signatures a signed bundle may carry.
const MaxBundleSignatures = 64

// ErrBundleMalformed is wrapped by every error of ParseBundle and
// ParseSignedBundle: the input is not a canonical (signed) bundle, for
// example a truncated file.
var ErrBundleMalformed = errors.New("malformed policy bundle")

// Bundle is a policy bundle. The policy inside is not validated here: see
// VerifyBundle and PinBundle.
type Bundle struct {
	Serial   uint64
	Created  time.Time // encoded in UTC, whole seconds
	Previous string    // the previous bundle's hash; empty for the first bundle
	Policy   []byte    // the policy file, exactly
}

// BundleInfo identifies the active bundle to VerifyBundle.
type BundleInfo struct {
	Serial  uint64
	Hash    string
	Created time.Time
}

// Encode returns the canonical bytes. It fails on a zero serial, a zero
// created time, a previous hash not of the form "sha256:<hex>", or a
// policy larger than MaxSize.
func (b *Bundle) Encode() ([]byte, error) {
	switch {
	case b.Serial == 0:
		return nil, fmt.Errorf("%w: serial must be at least 1", ErrBundleMalformed)
	case b.Created.IsZero():
		return nil, fmt.Errorf("%w: no created time", ErrBundleMalformed)
	case b.Previous != "" && !isHash(b.Previous):
		return nil, fmt.Errorf("%w: previous %.80q is not \"sha256:\" and 64 lower-case hex digits", ErrBundleMalformed, b.Previous)
	case len(b.Policy) > MaxSize:
		return nil, fmt.Errorf("%w: policy is %d bytes, more than the %d allowed", ErrBundleMalformed, len(b.Policy), MaxSize)
	}
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "%s\nserial: %d\ncreated: %s\n", bundleHeader, b.Serial, b.Created.UTC().Truncate(time.Second).Format(time.RFC3339))
	if b.Previous == "" {
		buf.WriteString("previous:\n")
	} else {
		fmt.Fprintf(&buf, "previous: %s\n", b.Previous)
	}
	fmt.Fprintf(&buf, "policy: %d\n", len(b.Policy))
	buf.Write(b.Policy)
	buf.WriteByte('\n')
	return buf.Bytes(), nil
}

// Hash returns "sha256:" and the hex SHA-256 of the canonical encoding, or
// an error when b cannot be encoded.
func (b *Bundle) Hash() (string, error) {
	enc, err := b.Encode()
	if err != nil {
		return "", err
	}
	return hashOf(enc), nil
}

func hashOf(data []byte) string {
	sum := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(sum[:])
}

func isHash(s string) bool {
	h, ok := strings.CutPrefix(s, "sha256:")
	if !ok || len(h) != 64 {
		return false
	}
	_, err := hex.DecodeString(h)
	return err == nil && strings.ToLower(h) == h
}

// ParseBundle parses exactly one canonical bundle with nothing after it.
func ParseBundle(data []byte) (*Bundle, error) {
	b, n, err := parseBundlePrefix(data)
	if err != nil {
		return nil, err
	}
	if n != len(data) {
		return nil, fmt.Errorf("%w: %d bytes after the bundle", ErrBundleMalformed, len(data)-n)
	}
	return b, nil
}

// parseBundlePrefix parses the bundle at the start of data and returns it
// with its length in bytes. Only the canonical spelling is accepted.
func parseBundlePrefix(data []byte) (*Bundle, int, error) {
	b, size, head, err := parseBundleHead(data)
	if err != nil {
		return nil, 0, err
	}
	rest := data[head:]
	if len(rest) < size+1 {
		return nil, 0, fmt.Errorf("%w: truncated: the policy should be %d bytes and a newline, only %d bytes follow", ErrBundleMalformed, size, len(rest))
	}
	if rest[size] != '\n' {
		return nil, 0, fmt.Errorf("%w: no newline after the %d policy bytes", ErrBundleMalformed, size)
	}
	b.Policy = bytes.Clone(rest[:size])
	n := len(data) - len(rest) + size + 1
	enc, err := b.Encode()
	if err != nil {
		return nil, 0, err
	}
	if !bytes.Equal(enc, data[:n]) {
		return nil, 0, fmt.Errorf("%w: header is not in canonical form", ErrBundleMalformed)
	}
	return b, n, nil
}

// parseBundleHead parses the five header lines at the start of data and
// returns the bundle they describe (no policy yet), the policy's byte
// count, and the header's length.
func parseBundleHead(data []byte) (*Bundle, int, int, error) {
	rest := data
	var fields [5]string
	names := [5]string{"", "serial", "created", "previous", "policy"}
	for i, name := range names {
		line, after, ok := bytes.Cut(rest, []byte("\n"))
		if !ok {
			return nil, 0, 0, fmt.Errorf("%w: truncated in line %d (want %s)", ErrBundleMalformed, i+1, lineName(name))
		}
		rest = after
		if i == 0 {
			if string(line) != bundleHeader {
				return nil, 0, 0, fmt.Errorf("%w: first line %.60q, want %q", ErrBundleMalformed, line, bundleHeader)
			}
			continue
		}
		v, ok := strings.CutPrefix(string(line), name+":")
		if !ok {
			return nil, 0, 0, fmt.Errorf("%w: line %d: want field %q", ErrBundleMalformed, i+1, name)
		}
		fields[i] = strings.TrimPrefix(v, " ")
	}
	b, size, err := bundleFields(fields)
	if err != nil {
		return nil, 0, 0, err
	}
	return b, size, len(data) - len(rest), nil
}

// MaxArmoredSignature bounds the armor of one bundle signature: the
// largest keys accepted (RSA of 16,384 bits) armor to less.
const MaxArmoredSignature = 8 << 10

// MaxBundleHead bounds a bundle's header lines: SignedBundleSize needs
// this much of a bundle, or all of it when it is shorter.
const MaxBundleHead = 512

// SignedBundleSize reads the header at the start of head (its first
// MaxBundleHead bytes, or the whole bundle if shorter) and returns the
// most bytes the signed bundle it starts may hold: the header, the policy
// size it declares (at most MaxSize), and MaxBundleSignatures signatures.
// A server reads no more than that of a pushed bundle.
func SignedBundleSize(head []byte) (int, error) {
	_, size, n, err := parseBundleHead(head)
	if err != nil {
		return 0, err
	}
	return n + size + 1 + MaxBundleSignatures*MaxArmoredSignature, nil
}

func lineName(name string) string {
	if name == "" {
		return "the header"
	}
	return "field " + strconv.Quote(name)
}

// bundleFields converts the header values; canonical spelling is checked by
// the caller's re-encoding.
func bundleFields(f [5]string) (*Bundle, int, error) {
	serial, err := strconv.ParseUint(f[1], 10, 64)
	if err != nil || serial == 0 {
		return nil, 0, fmt.Errorf("%w: serial %.30q is not a decimal number of at least 1", ErrBundleMalformed, f[1])
	}
	created, err := time.Parse(time.RFC3339, f[2])
	if err != nil {
		return nil, 0, fmt.Errorf("%w: created %.40q is not an RFC 3339 time", ErrBundleMalformed, f[2])
	}
	if f[3] != "" && !isHash(f[3]) {
		return nil, 0, fmt.Errorf("%w: previous %.80q is not \"sha256:\" and 64 lower-case hex digits", ErrBundleMalformed, f[3])
	}
	size, err := strconv.Atoi(f[4])
	if err != nil || size < 0 || size > MaxSize {
		return nil, 0, fmt.Errorf("%w: policy size %.30q is not a byte count up to %d", ErrBundleMalformed, f[4], MaxSize)
	}
	return &Bundle{Serial: serial, Created: created.UTC(), Previous: f[3]}, size, nil
}

// SignedBundle is a bundle with its admins' signatures.
type SignedBundle struct {
	Bundle     *Bundle
	Raw        []byte // the bundle's canonical bytes: what was signed
	Hash       string // hashOf(Raw)
	Signatures []*hwkey.Signature
}

// ParseSignedBundle parses a bundle followed by its armored signatures. Each
// signature must be a well-formed SSHSIG written exactly as
// hwkey.Signature.Armor writes it; whether it verifies, and whose it is, is
// VerifyBundle's business. Errors wrap ErrBundleMalformed.
func ParseSignedBundle(data []byte) (*SignedBundle, error) {
	b, n, err := parseBundlePrefix(data)
	if err != nil {
		return nil, err
	}
	sb := &SignedBundle{Bundle: b, Raw: bytes.Clone(data[:n]), Hash: hashOf(data[:n])}
	rest := data[n:]
	for len(rest) > 0 {
		if len(sb.Signatures) == MaxBundleSignatures {
			return nil, fmt.Errorf("%w: more than %d signatures", ErrBundleMalformed, MaxBundleSignatures)
		}
		end := bytes.Index(rest, []byte(armorEnd))
		if end < 0 || len(rest) < end+len(armorEnd)+1 {
			return nil, fmt.Errorf("%w: signature %d is truncated", ErrBundleMalformed, len(sb.Signatures)+1)
		}
		block := rest[:end+len(armorEnd)+1]
		if len(block) > MaxArmoredSignature {
			return nil, fmt.Errorf("%w: signature %d is %d bytes, more than the %d allowed", ErrBundleMalformed, len(sb.Signatures)+1, len(block), MaxArmoredSignature)
		}
		sig, err := hwkey.ParseSignature(block)
		if err != nil {
			return nil, fmt.Errorf("%w: signature %d: %v", ErrBundleMalformed, len(sb.Signatures)+1, err)
		}
		if !bytes.Equal(sig.Armor(), block) {
			return nil, fmt.Errorf("%w: signature %d is not armored canonically", ErrBundleMalformed, len(sb.Signatures)+1)
		}
		sb.Signatures = append(sb.Signatures, sig)
		rest = rest[len(block):]
	}
	return sb, nil
}

const armorEnd = "-----END SSH SIGNATURE-----"

// Encode returns the signed bundle file: Raw and each signature's armor.
func (sb *SignedBundle) Encode() []byte {
	out := bytes.Clone(sb.Raw)
	for _, s := range sb.Signatures {
		out = append(out, s.Armor()...)
	}
	return out
}
