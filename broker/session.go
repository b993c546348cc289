package broker

import (
	"bytes"
	"fmt"
	"strings"
	"time"
)

// Actions a challenge can authorise.
const (
	ActionSession = "session"
	ActionCancel  = "cancel"
	ActionRevoke  = "revoke"
)

// Challenge is a single-use server nonce that a principal signs to open a
// session or to cancel or revoke. Its text, like a Statement's, says exactly
// what the signature authorises.
type Challenge struct {
	Broker    string
	Principal string
	Action    string
	Subject   string // request id for cancel and revoke; empty for session
	Nonce     string
	NotAfter  time.Time
}

// Encode returns the canonical challenge text.
func (c Challenge) Encode() ([]byte, error) {
	var b bytes.Buffer
	b.WriteString("breakglass challenge v1\n")
	for _, kv := range [][2]string{{"broker", c.Broker}, {"principal", c.Principal}, {"action", c.Action},
		{"subject", c.Subject}, {"nonce", c.Nonce}, {"not-after", c.NotAfter.UTC().Format(time.RFC3339)}} {
		if err := writeLine(&b, kv[0], kv[1]); err != nil {
			return nil, err
		}
	}
	return b.Bytes(), nil
}

// ParseChallenge parses canonical challenge text.
func ParseChallenge(text []byte) (Challenge, error) {
	var c Challenge
	if len(text) == 0 || len(text) > MaxStatementSize || text[len(text)-1] != '\n' {
		return c, fmt.Errorf("%w: challenge must be 1 to %d bytes ending in a newline", ErrInvalid, MaxStatementSize)
	}
	lines := strings.Split(string(text[:len(text)-1]), "\n")
	keys := []string{"broker", "principal", "action", "subject", "nonce", "not-after"}
	if lines[0] != "breakglass challenge v1" || len(lines) != len(keys)+1 {
		return c, fmt.Errorf("%w: not a breakglass challenge v1", ErrInvalid)
	}
	vals := make([]string, len(keys))
	for i, k := range keys {
		v, ok := strings.CutPrefix(lines[i+1], k+":")
		if !ok {
			return c, fmt.Errorf("%w: challenge line %d: want field %q", ErrInvalid, i+2, k)
		}
		vals[i] = strings.TrimPrefix(v, " ")
	}
	c.Broker, c.Principal, c.Action, c.Subject, c.Nonce = vals[0], vals[1], vals[2], vals[3], vals[4]
	t, err := time.Parse(time.RFC3339, vals[5])
	if err != nil {
		return c, fmt.Errorf("%w: challenge not-after: %v", ErrInvalid, err)
	}
	c.NotAfter = t
	enc, err := c.Encode()
	if err != nil {
		return c, err
	}
	if !bytes.Equal(enc, text) {
		return c, fmt.Errorf("%w: challenge is not in canonical form", ErrInvalid)
	}
	return c, nil
}

// Session is a short-lived read session opened by signing a challenge.
type Session struct {
	TokenHash string
	Principal string
	Created   time.Time
	Expires   time.Time
}
