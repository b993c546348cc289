package broker

import (
	"context"
	"fmt"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/failsmall/breakglass/internal/sshopt"
	"github.com/failsmall/breakglass/policy"
)

// SSHCA issues the OpenSSH user certificates of grants and the KRL of the
// revoked ones, with one CA key (from a file or held by an ssh-agent).
// SignCert runs while the grant is planned, outside the store's writer, like
// Minter.MintJWT (a round trip to an ssh-agent holds up no other write); it
// MUST NOT keep state of its own.
type SSHCA interface {
	// PublicKey is the CA's public key, for sshd's TrustedUserCAKeys.
	PublicKey() ssh.PublicKey
	// SignCert issues the certificate c describes and returns it in
	// authorized_keys form ("<type>-cert-v01@openssh.com AAAA..."). It
	// fails for a claim sshd would refuse or misread.
	SignCert(c SSHCertClaims) (string, error)
	// KRL encodes an OpenSSH KRL (PROTOCOL.krl) revoking serials of this
	// CA; version MUST increase whenever serials gains one.
	KRL(version uint64, serials []uint64, now time.Time) ([]byte, error)
}

// SSHCertClaims is what a grant's certificate asserts. The key id names the
// grant, the request, the requester and the approvers.
type SSHCertClaims struct {
	PublicKey                     ssh.PublicKey
	Serial                        uint64
	GrantID, RequestID, Requester string
	Approvers                     []string
	Principals                    []string
	ValidAfter, ValidBefore       time.Time
	Extensions                    map[string]string
	CriticalOptions               map[string]string
}

// sshClockSkew backdates a certificate's ValidAfter so that a server whose
// clock runs a little behind the broker's accepts it at once.
const sshClockSkew = time.Minute

// checkSSHRole checks that a request for role carries an SSH key exactly
// when the role yields a certificate, and that this broker can issue one.
func (s *Service) checkSSHRole(role *policy.Role, sshKey string) error {
	switch {
	case role.SSH == nil && sshKey != "":
		return fmt.Errorf("%w: role %s yields no SSH certificate, so the statement must not name an ssh key", ErrInvalid, role.Name)
	case role.SSH == nil:
		return nil
	case s.cfg.SSHCA == nil:
		return fmt.Errorf("%w: role %s yields an SSH certificate but this broker has no SSH CA; the operator must start it with --ssh-ca FILE (or ssh_ca_agent)", ErrInvalid, role.Name)
	case sshKey == "":
		return fmt.Errorf("%w: role %s yields an SSH certificate: give the public key it is for (breakglass request --pubkey FILE)", ErrInvalid, role.Name)
	}
	return nil
}

// mintSSH issues grant g's certificate for the key named in r's statement,
// with a serial of its own, valid from issuance (less sshClockSkew) to the
// grant's expiry.
func (s *Service) mintSSH(ctx context.Context, role *policy.Role, r *Request, g *Grant) error {
	st, err := ParseStatement(r.Statement)
	if err != nil {
		return fmt.Errorf("request %s: stored statement: %w", r.ID, err)
	}
	if err := s.checkSSHRole(role, st.SSHKey); err != nil {
		return err
	}
	pub, err := ParseSSHKey(st.SSHKey)
	if err != nil {
		return err
	}
	serial, err := s.serials.next(ctx, s.cfg.Store)
	if err != nil {
		return err
	}
	crit := map[string]string{}
	if role.SSH.SourceAddress != "" {
		crit[sshopt.SourceAddress] = role.SSH.SourceAddress
	}
	if role.SSH.ForceCommand != "" {
		crit[sshopt.ForceCommand] = role.SSH.ForceCommand
	}
	cert, err := s.cfg.SSHCA.SignCert(SSHCertClaims{PublicKey: pub, Serial: serial, GrantID: g.ID,
		RequestID: r.ID, Requester: r.Requester, Approvers: g.Approvers, Principals: role.SSH.Principals,
		ValidAfter: g.Issued.Add(-sshClockSkew), ValidBefore: g.Expires,
		Extensions: role.SSH.Extensions, CriticalOptions: crit})
	if err != nil {
		return fmt.Errorf("sign the SSH certificate of request %s: %w", r.ID, err)
	}
	g.SSHCert, g.SSHSerial = cert, serial
	return nil
}

// SSHCA returns the public key of the broker's SSH CA; ErrNotFound when the
// broker has none.
func (s *Service) SSHCA() (ssh.PublicKey, error) {
	if s.cfg.SSHCA == nil {
		return nil, fmt.Errorf("%w: this broker has no SSH CA (start it with --ssh-ca FILE)", ErrNotFound)
	}
	return s.cfg.SSHCA.PublicKey(), nil
}

// SSHKRL returns the OpenSSH KRL that revokes the certificate of every
// revoked grant, generated from the store now. Its version is the number of
// revoked certificates, which only grows since a revocation is permanent.
// ErrNotFound when the broker has no SSH CA.
func (s *Service) SSHKRL(ctx context.Context) ([]byte, error) {
	if s.cfg.SSHCA == nil {
		return nil, fmt.Errorf("%w: this broker has no SSH CA (start it with --ssh-ca FILE)", ErrNotFound)
	}
	var serials []uint64
	err := s.view(ctx, func(tx Tx) error {
		var err error
		serials, err = tx.RevokedSSHSerials()
		return err
	})
	if err != nil {
		return nil, err
	}
	return s.cfg.SSHCA.KRL(uint64(len(serials)), serials, s.cfg.Clock.Now())
}
