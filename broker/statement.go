package broker

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Kind says what a signature over a Statement means.
type Kind string

const (
	KindRequest  Kind = "request"
	KindApproval Kind = "approval"
	KindDenial   Kind = "denial"
)

// Statement is the human-readable text a requester or an approver signs:
// exactly what is asked or approved, never an opaque id. Its canonical
// encoding is one "key: value" line per field in a fixed order after the
// header line "breakglass <kind> v1"; an empty value is written as "key:".
// Binding the signature to this text defeats replay onto another request.
type Statement struct {
	Kind      Kind
	Broker    string
	Request   string
	Role      string
	Requester string
	Duration  time.Duration
	Incident  string
	Reason    string
	Policy    string
	NotAfter  time.Time
	// DenialReason is present in denials only.
	DenialReason string
}

// statementFields is the canonical field order.
var statementFields = []string{"broker", "request", "role", "requester", "duration", "incident", "reason", "policy", "not-after"}

// MaxStatementSize bounds a statement's encoding.
const MaxStatementSize = 4096

// Encode returns the canonical text. It fails when a field cannot be put on
// one line, so that a statement always means what it shows.
func (s Statement) Encode() ([]byte, error) {
	if s.Kind != KindRequest && s.Kind != KindApproval && s.Kind != KindDenial {
		return nil, fmt.Errorf("%w: statement kind %q", ErrInvalid, s.Kind)
	}
	if (s.Kind == KindDenial) != (s.DenialReason != "") {
		return nil, fmt.Errorf("%w: a denial, and only a denial, carries a denial reason", ErrInvalid)
	}
	vals := []string{s.Broker, s.Request, s.Role, s.Requester, FormatDuration(s.Duration),
		s.Incident, s.Reason, s.Policy, s.NotAfter.UTC().Format(time.RFC3339)}
	var b bytes.Buffer
	fmt.Fprintf(&b, "breakglass %s v1\n", s.Kind)
	for i, k := range statementFields {
		if err := writeLine(&b, k, vals[i]); err != nil {
			return nil, err
		}
	}
	if s.Kind == KindDenial {
		if err := writeLine(&b, "denial-reason", s.DenialReason); err != nil {
			return nil, err
		}
	}
	if b.Len() > MaxStatementSize {
		return nil, fmt.Errorf("%w: statement is %d bytes, more than %d", ErrInvalid, b.Len(), MaxStatementSize)
	}
	return b.Bytes(), nil
}

func writeLine(b *bytes.Buffer, key, val string) error {
	if err := CheckLine(val); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrInvalid, key, err)
	}
	b.WriteString(key)
	b.WriteByte(':')
	if val != "" {
		b.WriteByte(' ')
		b.WriteString(val)
	}
	b.WriteByte('\n')
	return nil
}

// CheckLine reports why s cannot be a statement value: control characters
// (a newline would forge a field), invalid UTF-8, or space at either end.
func CheckLine(s string) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("invalid UTF-8")
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return fmt.Errorf("contains a control character (%U)", r)
		}
	}
	if strings.TrimSpace(s) != s {
		return fmt.Errorf("starts or ends with white space")
	}
	return nil
}

// ParseStatement parses canonical statement text. It accepts only what Encode
// produces: any other spelling of the same content is an error.
func ParseStatement(text []byte) (Statement, error) {
	var s Statement
	if len(text) > MaxStatementSize {
		return s, fmt.Errorf("%w: statement is %d bytes, more than %d", ErrInvalid, len(text), MaxStatementSize)
	}
	if len(text) == 0 || text[len(text)-1] != '\n' {
		return s, fmt.Errorf("%w: statement must end with a newline", ErrInvalid)
	}
	lines := strings.Split(string(text[:len(text)-1]), "\n")
	head := strings.TrimSuffix(strings.TrimPrefix(lines[0], "breakglass "), " v1")
	switch Kind(head) {
	case KindRequest, KindApproval, KindDenial:
		s.Kind = Kind(head)
	default:
		return s, fmt.Errorf("%w: statement header %q is not \"breakglass request|approval|denial v1\"", ErrInvalid, lines[0])
	}
	keys := statementFields
	if s.Kind == KindDenial {
		keys = append(append([]string{}, statementFields...), "denial-reason")
	}
	if len(lines)-1 != len(keys) {
		return s, fmt.Errorf("%w: statement has %d fields, want %d", ErrInvalid, len(lines)-1, len(keys))
	}
	vals := make([]string, len(keys))
	for i, k := range keys {
		v, ok := strings.CutPrefix(lines[i+1], k+":")
		if !ok {
			return s, fmt.Errorf("%w: statement line %d: want field %q", ErrInvalid, i+2, k)
		}
		if v != "" {
			if v, ok = strings.CutPrefix(v, " "); !ok || v == "" {
				return s, fmt.Errorf("%w: statement line %d: want %q", ErrInvalid, i+2, k+": value")
			}
		}
		vals[i] = v
	}
	s.Broker, s.Request, s.Role, s.Requester = vals[0], vals[1], vals[2], vals[3]
	d, err := ParseDuration(vals[4])
	if err != nil {
		return s, fmt.Errorf("%w: statement duration: %v", ErrInvalid, err)
	}
	s.Duration = d
	s.Incident, s.Reason, s.Policy = vals[5], vals[6], vals[7]
	if s.NotAfter, err = time.Parse(time.RFC3339, vals[8]); err != nil {
		return s, fmt.Errorf("%w: statement not-after: %v", ErrInvalid, err)
	}
	if s.Kind == KindDenial {
		s.DenialReason = vals[9]
	}
	// Round-trip: only the canonical spelling is accepted.
	enc, err := s.Encode()
	if err != nil {
		return s, err
	}
	if !bytes.Equal(enc, text) {
		return s, fmt.Errorf("%w: statement is not in canonical form", ErrInvalid)
	}
	return s, nil
}

// Digest is the statement's SHA-256, "sha256:" and hex.
func Digest(text []byte) string {
	sum := sha256.Sum256(text)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// FormatDuration writes d canonically: "30m", "1h30m", "45s"; zero is "0s".
func FormatDuration(d time.Duration) string {
	if d <= 0 {
		return "0s"
	}
	d = d.Truncate(time.Second)
	var b strings.Builder
	if h := d / time.Hour; h > 0 {
		fmt.Fprintf(&b, "%dh", h)
	}
	if m := (d % time.Hour) / time.Minute; m > 0 {
		fmt.Fprintf(&b, "%dm", m)
	}
	if s := (d % time.Minute) / time.Second; s > 0 {
		fmt.Fprintf(&b, "%ds", s)
	}
	return b.String()
}

// ParseDuration accepts Go duration syntax in whole seconds.
func ParseDuration(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, err
	}
	if d < 0 || d%time.Second != 0 {
		return 0, fmt.Errorf("duration %q must be a positive whole number of seconds", s)
	}
	return d, nil
}
