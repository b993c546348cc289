package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// MaxTypeLength bounds an entry's Type.
const MaxTypeLength = 64

// CheckType reports why t cannot be an entry's Type. A type names the
// domain that records it and the event, in lowercase dotted words,
// "domain.event" ("grant.issued", "rollout.halted"): two or more words of
// a-z, 0-9 and '_', each starting with a letter, at most MaxTypeLength
// bytes in all. The log checks only this shape: which types exist is the
// business of the domains that append them (broker's Event* constants), so
// that a new domain adds event types without changing the log.
func CheckType(t string) error {
	if t == "" || len(t) > MaxTypeLength {
		return fmt.Errorf("malformed type %.80q: want 1 to %d bytes", t, MaxTypeLength)
	}
	if !strings.Contains(t, ".") {
		return fmt.Errorf("malformed type %q: want lowercase dotted words, \"domain.event\"", t)
	}
	for rest := t; ; {
		w, after, more := strings.Cut(rest, ".")
		if !typeWord(w) {
			return fmt.Errorf("malformed type %q: each dotted word is a-z, 0-9 and '_', starting with a letter", t)
		}
		if !more {
			return nil
		}
		rest = after
	}
}

// typeWord reports whether w is one word of a type: [a-z][a-z0-9_]*.
func typeWord(w string) bool {
	if w == "" || w[0] < 'a' || w[0] > 'z' {
		return false
	}
	for i := 1; i < len(w); i++ {
		if c := w[i]; (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' {
			return false
		}
	}
	return true
}

// Entry is one audit record. Its canonical encoding (Marshal) is the Merkle
// leaf: the bytes that are stored, hashed and proven.
type Entry struct {
	Type     string          // "domain.event": see CheckType
	Time     time.Time       // encoded in UTC with nanoseconds
	Actor    string          // principal id, or "broker"
	Subjects []string        // ids the entry is about: request, grant, key...
	Data     json.RawMessage // MUST be valid JSON; encoded compact
}

// EntryPrefix starts every encoded entry. It separates audit leaves from any
// other data signed or hashed with the same keys, and versions the format.
const EntryPrefix = "breakglass-audit-entry/v1\n"

// TimeFormat is the fixed-width encoding of Entry.Time (always UTC).
const TimeFormat = "2006-01-02T15:04:05.000000000Z"

// maxEntrySize bounds one encoded entry; larger input is rejected unparsed.
const maxEntrySize = 1 << 20

// ErrMalformedEntry is wrapped by every Marshal and ParseEntry error.
var ErrMalformedEntry = errors.New("malformed audit entry")

// Marshal returns the canonical encoding of e: EntryPrefix followed by
// compact JSON {"type","time","actor","subjects","data"} in that order and
// a final newline. Strings escape only '"', '\\' and control characters (no
// HTML escaping). Data is compacted with json.Compact: whitespace goes, its
// key order and string escapes stay as given. The same Entry always gives
// the same bytes. It fails on a malformed type (CheckType), a zero time, an empty actor
// or subject, strings that are not valid UTF-8, or Data that is not valid
// JSON.
func (e *Entry) Marshal() ([]byte, error) {
	if err := e.validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformedEntry, err)
	}
	n := len(EntryPrefix) + 128 + len(e.Type) + len(e.Actor) + len(e.Data)
	for _, s := range e.Subjects {
		n += len(s) + 3
	}
	b := make([]byte, 0, n)
	b = append(b, EntryPrefix+`{"type":`...)
	b = appendJSONString(b, e.Type)
	b = append(b, `,"time":"`...)
	b = appendTime(b, e.Time.UTC())
	b = append(b, `","actor":`...)
	b = appendJSONString(b, e.Actor)
	b = append(b, `,"subjects":[`...)
	for i, s := range e.Subjects {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, s)
	}
	b = append(b, `],"data":`...)
	buf := bytes.NewBuffer(b)
	if err := json.Compact(buf, e.Data); err != nil {
		return nil, fmt.Errorf("%w: data: not valid JSON: %w", ErrMalformedEntry, err)
	}
	buf.WriteString("}\n")
	return buf.Bytes(), nil
}

// appendTime appends t (UTC, year 1-9999) in TimeFormat; it is
// time.Time.AppendFormat(b, TimeFormat) without the layout interpretation.
func appendTime(b []byte, t time.Time) []byte {
	y, mo, d := t.Date()
	h, mi, s := t.Clock()
	b = appendDigits(b, y, 4)
	b = appendDigits(append(b, '-'), int(mo), 2)
	b = appendDigits(append(b, '-'), d, 2)
	b = appendDigits(append(b, 'T'), h, 2)
	b = appendDigits(append(b, ':'), mi, 2)
	b = appendDigits(append(b, ':'), s, 2)
	b = appendDigits(append(b, '.'), t.Nanosecond(), 9)
	return append(b, 'Z')
}

// appendDigits appends v >= 0 as exactly width decimal digits.
func appendDigits(b []byte, v, width int) []byte {
	for i := width - 1; i >= 0; i-- {
		b = append(b, 0)
	}
	for i := len(b) - 1; width > 0; i, width = i-1, width-1 {
		b[i] = byte('0' + v%10)
		v /= 10
	}
	return b
}

// appendJSONString appends s as a JSON string, escaping only what JSON
// requires: '"', '\\' and bytes below 0x20. s is valid UTF-8 (validated).
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c == '\n':
			b = append(b, '\\', 'n')
		case c == '\r':
			b = append(b, '\\', 'r')
		case c == '\t':
			b = append(b, '\\', 't')
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}

func (e *Entry) validate() error {
	if err := CheckType(e.Type); err != nil {
		return err
	}
	if e.Time.IsZero() {
		return errors.New("zero time")
	}
	if y := e.Time.UTC().Year(); y < 1 || y > 9999 {
		return fmt.Errorf("time year %d outside 1-9999", y)
	}
	if err := checkID("actor", e.Actor); err != nil {
		return err
	}
	for i, s := range e.Subjects {
		if err := checkID("subject", s); err != nil {
			return fmt.Errorf("subject %d: %w", i, errors.Unwrap(err))
		}
	}
	if len(e.Data) == 0 {
		return errors.New("data: empty (use {} or null)")
	}
	return nil // Marshal's json.Compact refuses data that is not JSON
}

// checkID accepts a non-empty UTF-8 string without control characters.
func checkID(what, s string) error {
	var why error
	switch {
	case s == "":
		why = errEmpty
	case !utf8.ValidString(s):
		why = errNotUTF8
	case strings.IndexFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0:
		why = errControl
	default:
		return nil
	}
	return fmt.Errorf("%s: %w", what, why)
}

var (
	errEmpty   = errors.New("empty")
	errNotUTF8 = errors.New("not valid UTF-8")
	errControl = errors.New("control character")
)

// ParseEntry parses the canonical encoding of an entry. It is strict: any
// input that Marshal would not produce byte for byte (other field order,
// whitespace, unknown or duplicate fields, other escaping, non-UTC time) is
// rejected, so Marshal(ParseEntry(b)) == b for every accepted b. Errors wrap
// ErrMalformedEntry.
func ParseEntry(b []byte) (*Entry, error) {
	if len(b) > maxEntrySize {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrMalformedEntry, len(b), maxEntrySize)
	}
	if !bytes.HasPrefix(b, []byte(EntryPrefix)) {
		return nil, fmt.Errorf("%w: missing %q prefix", ErrMalformedEntry, strings.TrimSpace(EntryPrefix))
	}
	e, err := scanEntry(b[len(EntryPrefix):])
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformedEntry, err)
	}
	again, err := e.Marshal()
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(again, b) {
		return nil, fmt.Errorf("%w: not in canonical form", ErrMalformedEntry)
	}
	return e, nil
}
