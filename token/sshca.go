package token

import (
	"errors"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/failsmall/breakglass/broker"
)

// SSHCA issues grant certificates and KRLs with one CA key for
// broker.Service. Signer is a key loaded from a file or one held by an
// ssh-agent (a hardware token's key); an RSA CA signs with rsa-sha2-512.
type SSHCA struct{ Signer ssh.Signer }

var _ broker.SSHCA = SSHCA{}

// PublicKey is the CA's public key.
func (ca SSHCA) PublicKey() ssh.PublicKey { return ca.Signer.PublicKey() }

// SignCert issues c's certificate with SignCert and returns it in
// authorized_keys form, its key id from KeyID.
func (ca SSHCA) SignCert(c broker.SSHCertClaims) (string, error) {
	if ca.Signer == nil {
		return "", errors.New("sign certificate: no CA signer")
	}
	cert, err := SignCert(ca.Signer, CertSpec{PublicKey: c.PublicKey, Serial: c.Serial,
		KeyID: KeyID(c.GrantID, c.RequestID, c.Requester, c.Approvers), Principals: c.Principals,
		ValidAfter: c.ValidAfter, ValidBefore: c.ValidBefore,
		Extensions: c.Extensions, CriticalOptions: c.CriticalOptions})
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(cert))), nil
}

// KRL encodes a KRL revoking serials of this CA.
func (ca SSHCA) KRL(version uint64, serials []uint64, now time.Time) ([]byte, error) {
	k := &KRL{Version: version, GeneratedAt: now, Comment: "breakglass revoked grants",
		CA: ca.Signer.PublicKey(), Serials: serials}
	return k.Marshal()
}
