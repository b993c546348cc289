package broker

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
)

// Display renders a statement for a person about to sign it, or reading
// one signed: each field on a line of its own under a visible label, and
// every free text (incident, reason, denial reason) quoted, with any
// quote or backslash inside it escaped. So no padding or look-alike text
// inside a reason can pass for another field: a field ends where its
// quote closes, and the next label starts a new line. (policy.CheckText
// keeps line breaks, control, format and invisible characters out of
// every statement, so nothing hides inside the quotes either.)
func (s Statement) Display() string {
	var b strings.Builder
	line := func(label, val string) { fmt.Fprintf(&b, "  %-14s %s\n", label+":", val) }
	line("kind", string(s.Kind))
	line("broker", s.Broker)
	if s.Request != "" {
		line("request", s.Request)
	}
	line("role", s.Role)
	line("requester", s.Requester)
	line("duration", s.Duration.String())
	if s.Incident == "" {
		line("incident", "(none)")
	} else {
		line("incident", strconv.Quote(s.Incident))
	}
	line("reason", strconv.Quote(s.Reason))
	line("policy", s.Policy)
	line("not after", s.NotAfter.UTC().Format(time.RFC3339))
	if s.SSHKey != "" {
		if pub, _, _, _, err := ssh.ParseAuthorizedKey([]byte(s.SSHKey)); err == nil {
			line("ssh key", ssh.FingerprintSHA256(pub)+" ("+pub.Type()+")")
		} else {
			line("ssh key", strconv.Quote(s.SSHKey))
		}
	}
	if s.Kind == KindDenial {
		line("denial reason", strconv.Quote(s.DenialReason))
	}
	return b.String()
}

// DisplayText is Display of the statement text, or, when it does not
// parse, the error saying why, which a signer must not sign past.
func DisplayText(text []byte) (string, error) {
	st, err := ParseStatement(text)
	if err != nil {
		return "", err
	}
	return st.Display(), nil
}
