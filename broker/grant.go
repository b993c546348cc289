package broker

import "time"

// Grant is minted exactly once, when a request's quorum is met. Its clock
// starts at issuance.
type Grant struct {
	ID        string
	RequestID string
	Requester string
	Role      string
	Approvers []string
	Issued    time.Time
	Expires   time.Time
	Revoked   time.Time // zero unless revoked
	RevokedBy string
	// Token is the JWT minted with the grant: one set of credentials per grant.
	Token string
	// KeyID is the kid that signed Token.
	KeyID string
	// SSHCert is the OpenSSH user certificate minted with the grant, in
	// authorized_keys form, and SSHSerial its serial; empty and zero for
	// roles without ssh.
	SSHCert   string
	SSHSerial uint64
	// Receipt is the audit receipt of the grant's grant.issued entry
	// (c2sp.org/tlog-proof, the entry as its extra), set by Credentials
	// only; stores neither keep nor return it.
	Receipt []byte
}

// Active reports whether the grant still confers access at now.
func (g *Grant) Active(now time.Time) bool { return g.Revoked.IsZero() && now.Before(g.Expires) }
