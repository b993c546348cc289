package audit

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// Receipt proves that an entry is in the log: what travels with a
// credential. It is encoded in the c2sp.org/tlog-proof@v1 text format:
//
//	c2sp.org/tlog-proof@v1
//	[extra <base64>]
//	index <decimal>
//	<base64 inclusion proof hash, leaf's sibling first>...
//	<empty line>
//	<signed checkpoint, verbatim, possibly with witness cosignatures>
type Receipt struct {
	Index      int64            // leaf index of the entry
	Proof      tlog.RecordProof // inclusion proof in the checkpoint's tree
	Checkpoint []byte           // signed note
	// Extra is optional and NOT authenticated by itself. The broker's
	// credential receipts carry the proven entry's canonical bytes (the
	// leaf) here; passing those bytes to Verify as the leaf authenticates
	// them, since the leaf hash must match the proof.
	Extra []byte
}

// ReceiptHeader is the first line of an encoded receipt.
const ReceiptHeader = "c2sp.org/tlog-proof@v1"

// maxProofHashes bounds an inclusion proof: a tree of 2^63 leaves needs 63.
const maxProofHashes = 63

// ErrMalformedReceipt is wrapped by every ParseReceipt error.
var ErrMalformedReceipt = errors.New("malformed receipt")

// Marshal returns the tlog-proof encoding of r.
func (r *Receipt) Marshal() []byte {
	var b bytes.Buffer
	b.WriteString(ReceiptHeader + "\n")
	if len(r.Extra) > 0 {
		b.WriteString("extra " + base64.StdEncoding.EncodeToString(r.Extra) + "\n")
	}
	b.WriteString("index " + strconv.FormatInt(r.Index, 10) + "\n")
	for _, h := range r.Proof {
		b.WriteString(base64.StdEncoding.EncodeToString(h[:]) + "\n")
	}
	b.WriteString("\n")
	b.Write(r.Checkpoint)
	return b.Bytes()
}

// ParseReceipt parses a tlog-proof encoding. It checks the framing only;
// Verify checks the signatures and the proof. Errors wrap ErrMalformedReceipt.
func ParseReceipt(b []byte) (*Receipt, error) {
	bad := func(format string, a ...any) (*Receipt, error) {
		return nil, fmt.Errorf("%w: %s", ErrMalformedReceipt, fmt.Sprintf(format, a...))
	}
	if len(b) > maxCheckpointSize+maxProofHashes*64+1024 {
		return bad("%d bytes is too large", len(b))
	}
	head, signed, ok := bytes.Cut(b, []byte("\n\n"))
	if !ok {
		return bad("no empty line before the checkpoint")
	}
	if len(signed) == 0 {
		return bad("no checkpoint")
	}
	lines := strings.Split(string(head), "\n")
	if lines[0] != ReceiptHeader {
		return bad("first line %q, want %q", clip(lines[0]), ReceiptHeader)
	}
	r := &Receipt{Checkpoint: signed}
	lines = lines[1:]
	if len(lines) > 0 && strings.HasPrefix(lines[0], "extra ") {
		x, err := decodeBase64(lines[0][len("extra "):])
		if err != nil || len(x) == 0 {
			return bad("extra line is not non-empty base64")
		}
		r.Extra, lines = x, lines[1:]
	}
	if len(lines) == 0 || !strings.HasPrefix(lines[0], "index ") {
		return bad("missing index line")
	}
	idx, err := parseDecimal(lines[0][len("index "):])
	if err != nil {
		return bad("index line %q: %v", clip(lines[0]), err)
	}
	r.Index, lines = idx, lines[1:]
	if len(lines) > maxProofHashes {
		return bad("%d proof hashes, limit %d", len(lines), maxProofHashes)
	}
	for i, l := range lines {
		h, err := parseHash(l)
		if err != nil {
			return bad("proof line %d %q: %v", i+1, clip(l), err)
		}
		r.Proof = append(r.Proof, h)
	}
	return r, nil
}

// clip shortens attacker-controlled text quoted in an error.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// Verify checks that leaf (the canonical entry bytes) is at r.Index in the
// tree of r.Checkpoint, and that the checkpoint is signed by the log key v.
// Witness cosignatures are not required here; use VerifyCosigned for that.
func (r *Receipt) Verify(leaf []byte, v note.Verifier) error {
	_, err := r.verify(leaf, v)
	return err
}

// VerifyCosigned is Verify plus a quorum: at least quorum distinct
// witnesses among witnesses MUST have cosigned the checkpoint.
func (r *Receipt) VerifyCosigned(leaf []byte, v note.Verifier, witnesses note.Verifiers, quorum int) error {
	if _, err := r.verify(leaf, v); err != nil {
		return err
	}
	n, err := note.Open(r.Checkpoint, witnesses)
	got := 0
	if err == nil {
		got = len(n.Sigs)
	} else if _, ok := err.(*note.UnverifiedNoteError); !ok {
		return fmt.Errorf("receipt: witness cosignature: %w", err)
	}
	if got < quorum {
		return fmt.Errorf("receipt: %d valid witness cosignatures, want %d", got, quorum)
	}
	return nil
}

func (r *Receipt) verify(leaf []byte, v note.Verifier) (Checkpoint, error) {
	c, _, err := Open(r.Checkpoint, v)
	if err != nil {
		return c, fmt.Errorf("receipt: %w", err)
	}
	if err := CheckInclusion(r.Proof, c.Size, c.Hash, r.Index, leaf); err != nil {
		return c, fmt.Errorf("receipt: %w", err)
	}
	return c, nil
}
