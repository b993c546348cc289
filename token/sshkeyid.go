package token

import (
	"strings"
)

// KeyID formats a certificate key id that names the grant, the request, the
// requester and the approvers (in the order given):
//
//	breakglass grant=<g> request=<r> requester=<p> approvers=<a,b>
//
// sshd logs it with every login and a KRL can revoke by it, so it must be
// unambiguous: in each value every byte other than ASCII letters, digits and
// "-._~@:+/" is percent-encoded (a space becomes %20, a comma %2C), so no value
// can forge another field or another approver.
func KeyID(grant, request, requester string, approvers []string) string {
	var b strings.Builder
	b.WriteString("breakglass grant=")
	b.WriteString(keyIDEscape(grant))
	b.WriteString(" request=")
	b.WriteString(keyIDEscape(request))
	b.WriteString(" requester=")
	b.WriteString(keyIDEscape(requester))
	b.WriteString(" approvers=")
	for i, a := range approvers {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(keyIDEscape(a))
	}
	return b.String()
}

// keyIDEscape percent-encodes every byte of s outside [A-Za-z0-9-._~@:+/].
func keyIDEscape(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if keyIDSafe(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

func keyIDSafe(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("-._~@:+/", c) >= 0
}
