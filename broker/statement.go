package broker

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/failsmall/breakglass/policy"
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
	// SSHKey is the requester's public key that the grant's OpenSSH
	// certificate will be issued for, in authorized_keys form without a
	// comment ("ssh-ed25519 AAAA..."); empty for roles without ssh. It is
	// encoded as "ssh-key: SHA256:<fingerprint> <key>", after not-after,
	// so approvers see which key gets the certificate.
	SSHKey string
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
	if s.SSHKey != "" {
		pub, err := ParseSSHKey(s.SSHKey)
		if err != nil {
			return nil, err
		}
		if CanonicalSSHKey(pub) != s.SSHKey {
			return nil, fmt.Errorf("%w: ssh key must be written as \"type base64\", without a comment", ErrInvalid)
		}
		if err := writeLine(&b, "ssh-key", ssh.FingerprintSHA256(pub)+" "+s.SSHKey); err != nil {
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

// CheckLine reports why s cannot be a statement value: what policy.CheckText
// refuses in any human text (a newline would forge a field; bidirectional
// controls, invisible fillers, odd spaces and piles of combining marks would
// make a value read otherwise than it is signed), or space at either end.
// Every field of every statement kind goes through it, denial reasons too.
func CheckLine(s string) error {
	if err := policy.CheckText(s); err != nil {
		return err
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
	keys := slices.Clone(statementFields)
	if len(lines) > len(keys)+1 && strings.HasPrefix(lines[len(keys)+1], "ssh-key:") {
		keys = append(keys, "ssh-key")
	}
	if s.Kind == KindDenial {
		keys = append(keys, "denial-reason")
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
	rest := vals[len(statementFields):]
	if len(rest) > 0 && keys[len(statementFields)] == "ssh-key" {
		if s.SSHKey, err = parseSSHKeyLine(rest[0]); err != nil {
			return s, err
		}
		rest = rest[1:]
	}
	if s.Kind == KindDenial {
		s.DenialReason = rest[0]
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

// ParseSSHKey parses a requester's SSH public key given as an authorized_keys
// line (options and comment are not allowed; a trailing comment is) and
// returns it. It refuses certificates: a certificate is issued for a plain key.
func ParseSSHKey(line string) (ssh.PublicKey, error) {
	pub, _, options, rest, err := ssh.ParseAuthorizedKey([]byte(line))
	switch {
	case err != nil:
		return nil, fmt.Errorf("%w: ssh key %.40q is not an authorized_keys line: %v", ErrInvalid, line, err)
	case len(options) > 0 || len(bytes.TrimSpace(rest)) > 0:
		return nil, fmt.Errorf("%w: ssh key: give one public key without options", ErrInvalid)
	}
	if _, ok := pub.(*ssh.Certificate); ok {
		return nil, fmt.Errorf("%w: ssh key is a certificate; give the plain public key", ErrInvalid)
	}
	return pub, nil
}

// CanonicalSSHKey returns pub in the form a Statement carries: "type base64".
func CanonicalSSHKey(pub ssh.PublicKey) string {
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub)))
}

// parseSSHKeyLine reads "SHA256:<fingerprint> <type> <base64>" and checks the
// fingerprint is the key's.
func parseSSHKeyLine(v string) (string, error) {
	fp, key, ok := strings.Cut(v, " ")
	if !ok {
		return "", fmt.Errorf("%w: statement ssh-key: want \"SHA256:<fingerprint> <type> <key>\"", ErrInvalid)
	}
	pub, err := ParseSSHKey(key)
	if err != nil {
		return "", err
	}
	if got := ssh.FingerprintSHA256(pub); got != fp {
		return "", fmt.Errorf("%w: statement ssh-key: fingerprint %s is not the key's (%s)", ErrInvalid, fp, got)
	}
	return key, nil
}
