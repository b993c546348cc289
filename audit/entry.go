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

// Entry types. An entry whose Type is not one of these is rejected by
// Marshal and ParseEntry, so a typo in a caller fails at append time.
const (
	TypeRequestCreated     = "request.created"
	TypeApprovalRecorded   = "approval.recorded"
	TypeDenialRecorded     = "denial.recorded"
	TypeRequestCancelled   = "request.cancelled"
	TypeRequestExpired     = "request.expired"
	TypeGrantIssued        = "grant.issued"
	TypeCredentialsFetched = "credentials.fetched"
	TypeGrantRevoked       = "grant.revoked"
	TypeGrantExpired       = "grant.expired"
	TypePolicyLoaded       = "policy.loaded"
	TypePolicyRejected     = "policy.rejected"
	TypeKeyRotated         = "key.rotated"
	TypeBrokerStarted      = "broker.started"
	TypeBrokerStopped      = "broker.stopped"
)

// KnownType reports whether t is one of the Type* constants.
func KnownType(t string) bool {
	switch t {
	case TypeRequestCreated, TypeApprovalRecorded, TypeDenialRecorded,
		TypeRequestCancelled, TypeRequestExpired, TypeGrantIssued,
		TypeCredentialsFetched, TypeGrantRevoked, TypeGrantExpired,
		TypePolicyLoaded, TypePolicyRejected, TypeKeyRotated,
		TypeBrokerStarted, TypeBrokerStopped:
		return true
	}
	return false
}

// Entry is one audit record. Its canonical encoding (Marshal) is the Merkle
// leaf: the bytes that are stored, hashed and proven.
type Entry struct {
	Type     string          // one of the Type* constants
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

// wireEntry fixes the JSON field order of the canonical encoding.
type wireEntry struct {
	Type     string          `json:"type"`
	Time     string          `json:"time"`
	Actor    string          `json:"actor"`
	Subjects []string        `json:"subjects"`
	Data     json.RawMessage `json:"data"`
}

// Marshal returns the canonical encoding of e: EntryPrefix followed by
// compact JSON {"type","time","actor","subjects","data"} in that order,
// without HTML escaping, and a final newline. Data is compacted with
// json.Compact: whitespace goes, its key order and string escapes stay as
// given. The same Entry always gives the
// same bytes. It fails on an unknown type, a zero time, an empty actor or
// subject, strings that are not valid UTF-8, or Data that is not valid JSON.
func (e *Entry) Marshal() ([]byte, error) {
	if err := e.validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformedEntry, err)
	}
	var data bytes.Buffer
	if err := json.Compact(&data, e.Data); err != nil {
		return nil, fmt.Errorf("%w: data: %w", ErrMalformedEntry, err)
	}
	subjects := e.Subjects
	if subjects == nil {
		subjects = []string{}
	}
	w := wireEntry{
		Type:     e.Type,
		Time:     e.Time.UTC().Format(TimeFormat),
		Actor:    e.Actor,
		Subjects: subjects,
		Data:     data.Bytes(),
	}
	var buf bytes.Buffer
	buf.Grow(len(EntryPrefix) + 128 + data.Len())
	buf.WriteString(EntryPrefix)
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(&w); err != nil { // Encode appends the final "\n"
		return nil, fmt.Errorf("%w: %w", ErrMalformedEntry, err)
	}
	return buf.Bytes(), nil
}

func (e *Entry) validate() error {
	if !KnownType(e.Type) {
		return fmt.Errorf("unknown type %q", e.Type)
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
		if err := checkID(fmt.Sprintf("subject %d", i), s); err != nil {
			return err
		}
	}
	if len(e.Data) == 0 {
		return errors.New("data: empty (use {} or null)")
	}
	if !json.Valid(e.Data) {
		return errors.New("data: not valid JSON")
	}
	return nil
}

// checkID accepts a non-empty UTF-8 string without control characters.
func checkID(what, s string) error {
	if s == "" {
		return fmt.Errorf("%s: empty", what)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("%s: not valid UTF-8", what)
	}
	if strings.IndexFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0 {
		return fmt.Errorf("%s: control character", what)
	}
	return nil
}

// ParseEntry parses the canonical encoding of an entry. It is strict: any
// input that Marshal would not produce byte for byte (other field order,
// whitespace, unknown or duplicate fields, other escaping, non-UTC time) is
// rejected, so Marshal(ParseEntry(b)) == b for every accepted b. Errors wrap
// ErrMalformedEntry.
func ParseEntry(b []byte) (*Entry, error) {
	if len(b) > maxEntrySize {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrMalformedEntry, len(b), maxEntrySize)
	}
	body, ok := bytes.CutPrefix(b, []byte(EntryPrefix))
	if !ok {
		return nil, fmt.Errorf("%w: missing %q prefix", ErrMalformedEntry, strings.TrimSpace(EntryPrefix))
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var w wireEntry
	if err := dec.Decode(&w); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformedEntry, err)
	}
	t, err := time.Parse(TimeFormat, w.Time)
	if err != nil {
		return nil, fmt.Errorf("%w: time: %w", ErrMalformedEntry, err)
	}
	e := &Entry{Type: w.Type, Time: t, Actor: w.Actor, Subjects: w.Subjects, Data: w.Data}
	if len(e.Subjects) == 0 {
		e.Subjects = nil
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
