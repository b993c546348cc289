package witness

import (
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/mod/sumdb/tlog"
)

// The add-checkpoint wire format of c2sp.org/tlog-witness, parsed as
// strictly as package audit parses checkpoints: one accepted spelling per
// value.

// ContentTypeTlogSize is the type of a 409 answer's body: the witness's
// size in decimal and a newline.
const ContentTypeTlogSize = "text/x.tlog.size"

// maxProofHashes bounds a consistency proof: 63 hashes cover any tree of
// up to 2^63 entries.
const maxProofHashes = 63

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

// parseHash decodes a canonical standard-base64 SHA-256 hash, refusing the
// CR and LF that encoding/base64 would skip.
func parseHash(s string) (tlog.Hash, error) {
	var h tlog.Hash
	if strings.ContainsAny(s, "\r\n") {
		return h, errors.New("line break inside base64")
	}
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil || len(b) != len(h) {
		return h, errors.New("not a base64 32-byte hash")
	}
	copy(h[:], b)
	return h, nil
}

// validKeyName is note's rule for a key name: non-empty UTF-8 with no space
// and no "+".
func validKeyName(name string) bool {
	return name != "" && utf8.ValidString(name) && strings.IndexFunc(name, unicode.IsSpace) < 0 && !strings.Contains(name, "+")
}

// clip shortens attacker-controlled text quoted in an error.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
