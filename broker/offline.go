package broker

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/failsmall/breakglass/hwkey"
)

// OfflineApproval is an approval signed away from the broker and relayed by
// anyone: the request it is for, the digest of the statement the approver
// saw, and the approver's SSHSIG over that statement. The broker judges the
// signature exactly like an online one, against its own copy of the
// statement; the digest only tells a relay and a reader what was signed.
//
// Its text form is one copyable block:
//
//	-----BEGIN BREAKGLASS APPROVAL-----
//	base64 (standard, padded) in lines of 64 characters
//	-----END BREAKGLASS APPROVAL-----
//
// around the binary encoding
//
//	byte 1 (version) || string request || byte[32] sha256(statement) ||
//	string SSHSIG blob
//
// where string is a uint32 big-endian length and the bytes.
type OfflineApproval struct {
	Request   string           // the request id
	Digest    string           // Digest(statement): "sha256:" and 64 hex digits
	Signature *hwkey.Signature // the SSHSIG over the statement, namespace hwkey.Namespace
}

const (
	offlineBegin   = "-----BEGIN BREAKGLASS APPROVAL-----"
	offlineEnd     = "-----END BREAKGLASS APPROVAL-----"
	offlineVersion = 1
	offlineWidth   = 64
	maxRequestID   = 64
)

// MaxOfflineApprovalSize bounds an offline approval's text form.
const MaxOfflineApprovalSize = 8192

// Encode returns the text form, ending in a newline. It fails on a request
// id or digest that Parse would not accept back.
func (o OfflineApproval) Encode() ([]byte, error) {
	if err := checkRequestID(o.Request); err != nil {
		return nil, err
	}
	sum, err := parseDigest(o.Digest)
	if err != nil {
		return nil, err
	}
	if o.Signature == nil || o.Signature.Namespace != hwkey.Namespace {
		return nil, fmt.Errorf("%w: offline approval needs a signature in namespace %q", ErrInvalid, hwkey.Namespace)
	}
	b := []byte{offlineVersion}
	b = appendWireString(b, []byte(o.Request))
	b = append(b, sum...)
	b = appendWireString(b, o.Signature.Marshal())
	enc := base64.StdEncoding.EncodeToString(b)
	var out strings.Builder
	out.WriteString(offlineBegin + "\n")
	for len(enc) > offlineWidth {
		out.WriteString(enc[:offlineWidth] + "\n")
		enc = enc[offlineWidth:]
	}
	out.WriteString(enc + "\n" + offlineEnd + "\n")
	if out.Len() > MaxOfflineApprovalSize {
		return nil, fmt.Errorf("%w: offline approval is %d bytes, more than %d", ErrInvalid, out.Len(), MaxOfflineApprovalSize)
	}
	return []byte(out.String()), nil
}

// ParseOfflineApproval parses the text form. Pasting may add white space
// around the block and around each line, and CRLF line ends; anything else
// that is not exactly what Encode writes (a missing or wrong BEGIN or END
// line, text outside the block, non-canonical base64, a truncated or
// overlong encoding, an unknown version, a malformed SSHSIG or one in
// another namespace) is an error wrapping ErrInvalid that says what is
// wrong.
func ParseOfflineApproval(text []byte) (*OfflineApproval, error) {
	if len(text) > MaxOfflineApprovalSize {
		return nil, fmt.Errorf("%w: offline approval is %d bytes, more than %d", ErrInvalid, len(text), MaxOfflineApprovalSize)
	}
	trimmed := strings.TrimSpace(string(text))
	if trimmed == "" {
		return nil, fmt.Errorf("%w: offline approval is empty", ErrInvalid)
	}
	lines := strings.Split(trimmed, "\n")
	for i := range lines {
		lines[i] = strings.TrimSpace(lines[i])
	}
	if lines[0] != offlineBegin {
		return nil, fmt.Errorf("%w: offline approval must start with the line %q, not %q", ErrInvalid, offlineBegin, clip(lines[0]))
	}
	if len(lines) < 3 || lines[len(lines)-1] != offlineEnd {
		return nil, fmt.Errorf("%w: offline approval is truncated: it does not end with the line %q", ErrInvalid, offlineEnd)
	}
	body := strings.Join(lines[1:len(lines)-1], "")
	raw, err := base64.StdEncoding.Strict().DecodeString(body)
	if err != nil {
		return nil, fmt.Errorf("%w: offline approval is not valid base64 (a line lost or changed in transit?): %v", ErrInvalid, err)
	}
	return decodeOffline(raw)
}

func decodeOffline(b []byte) (*OfflineApproval, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: offline approval is truncated: no version", ErrInvalid)
	}
	if b[0] != offlineVersion {
		return nil, fmt.Errorf("%w: offline approval version %d, want %d", ErrInvalid, b[0], offlineVersion)
	}
	id, rest, ok := readWireString(b[1:])
	if !ok {
		return nil, fmt.Errorf("%w: offline approval is truncated in the request id", ErrInvalid)
	}
	if err := checkRequestID(string(id)); err != nil {
		return nil, err
	}
	if len(rest) < 32 {
		return nil, fmt.Errorf("%w: offline approval is truncated in the statement digest", ErrInvalid)
	}
	digest := "sha256:" + hex.EncodeToString(rest[:32])
	blob, rest, ok := readWireString(rest[32:])
	if !ok {
		return nil, fmt.Errorf("%w: offline approval is truncated in the signature", ErrInvalid)
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("%w: offline approval has %d bytes of trailing data", ErrInvalid, len(rest))
	}
	sig, err := hwkey.ParseSignatureBlob(blob)
	if err != nil {
		return nil, fmt.Errorf("%w: offline approval signature: %v", ErrInvalid, err)
	}
	if sig.Namespace != hwkey.Namespace {
		return nil, fmt.Errorf("%w: offline approval signature is in namespace %q, want %q", ErrInvalid, sig.Namespace, hwkey.Namespace)
	}
	if !bytes.Equal(sig.Marshal(), blob) {
		return nil, fmt.Errorf("%w: offline approval signature is not canonically encoded", ErrInvalid)
	}
	return &OfflineApproval{Request: string(id), Digest: digest, Signature: sig}, nil
}

// checkRequestID accepts 1 to 64 letters, digits, '-' and '_': every id the
// broker issues, and nothing that could hide in a terminal.
func checkRequestID(id string) error {
	if id == "" || len(id) > maxRequestID {
		return fmt.Errorf("%w: request id must be 1 to %d characters, got %d", ErrInvalid, maxRequestID, len(id))
	}
	for _, r := range id {
		if !(r >= '0' && r <= '9' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r == '-' || r == '_') {
			return fmt.Errorf("%w: request id %q holds %q; only letters, digits, '-' and '_' are allowed", ErrInvalid, clip(id), r)
		}
	}
	return nil
}

// parseDigest returns the 32 bytes of a Digest string.
func parseDigest(d string) ([]byte, error) {
	h, ok := strings.CutPrefix(d, "sha256:")
	sum, err := hex.DecodeString(h)
	if !ok || err != nil || len(sum) != 32 || hex.EncodeToString(sum) != h {
		return nil, fmt.Errorf("%w: statement digest %q is not \"sha256:\" and 64 lowercase hex digits", ErrInvalid, clip(d))
	}
	return sum, nil
}

func appendWireString(b, s []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

func readWireString(b []byte) (s, rest []byte, ok bool) {
	if len(b) < 4 {
		return nil, nil, false
	}
	n := binary.BigEndian.Uint32(b)
	if uint64(n) > uint64(len(b)-4) {
		return nil, nil, false
	}
	return b[4 : 4+n], b[4+n:], true
}

// clip shortens s for an error message.
func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}
