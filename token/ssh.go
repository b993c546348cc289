package token

import (
	"crypto/rand"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
)

// ErrInvalidCertSpec is wrapped by every error SignCert returns for a
// CertSpec it refuses; the message names the field and what is wrong. The
// caller must fix the spec (it is a bug or a bad role definition), not retry.
var ErrInvalidCertSpec = errors.New("invalid certificate spec")

// CertSpec says what OpenSSH user certificate a grant yields.
type CertSpec struct {
	// PublicKey is the requester's own key (from their agent or --pubkey).
	// It must be a plain key, not a certificate.
	PublicKey ssh.PublicKey
	// Serial is unique per CA, from the broker's store, and not zero:
	// OpenSSH ignores serial 0 in a KRL, so such a certificate could only be
	// revoked by key id.
	Serial uint64
	// KeyID names the grant, the request, the requester and the approvers
	// (see KeyID); sshd logs it with every login.
	KeyID string
	// Principals the certificate is valid for; at least one.
	Principals []string
	// ValidAfter and ValidBefore bound the certificate, to the second;
	// they lie inside the grant window.
	ValidAfter, ValidBefore time.Time
	// Extensions such as permit-pty; the standard ones take an empty value.
	Extensions map[string]string
	// CriticalOptions: source-address (a comma-separated list of addresses
	// and CIDR prefixes), force-command, verify-required.
	CriticalOptions map[string]string
}

// SignCert validates spec and issues the certificate it describes, signed by
// ca (a key from a file or held by an ssh-agent). An RSA CA signs with
// rsa-sha2-512, never SHA-1, so ca must then be an ssh.AlgorithmSigner (as
// ssh.NewSignerFromKey and agent signers are). Errors wrap ErrInvalidCertSpec
// for a bad spec; other errors come from the signer.
func SignCert(ca ssh.Signer, spec CertSpec) (*ssh.Certificate, error) {
	if ca == nil {
		return nil, errors.New("sign certificate: no CA signer")
	}
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	signer, err := certSigner(ca)
	if err != nil {
		return nil, fmt.Errorf("sign certificate: %w", err)
	}
	cert := &ssh.Certificate{
		Key:             spec.PublicKey,
		Serial:          spec.Serial,
		CertType:        ssh.UserCert,
		KeyId:           spec.KeyID,
		ValidPrincipals: slices.Clone(spec.Principals),
		ValidAfter:      uint64(spec.ValidAfter.Unix()),
		ValidBefore:     uint64(spec.ValidBefore.Unix()),
		Permissions: ssh.Permissions{
			CriticalOptions: maps.Clone(spec.CriticalOptions),
			Extensions:      maps.Clone(spec.Extensions),
		},
	}
	if err := cert.SignCert(rand.Reader, signer); err != nil {
		return nil, fmt.Errorf("sign certificate with %s CA: %w", ca.PublicKey().Type(), err)
	}
	if cert.Signature.Format == ssh.KeyAlgoRSA {
		return nil, errors.New("sign certificate: CA signed with ssh-rsa (SHA-1); refusing")
	}
	return cert, nil
}

// certSigner returns ca, or for an RSA CA a signer restricted to
// rsa-sha2-512.
func certSigner(ca ssh.Signer) (ssh.Signer, error) {
	if ca.PublicKey().Type() != ssh.KeyAlgoRSA {
		return ca, nil
	}
	as, ok := ca.(ssh.AlgorithmSigner)
	if !ok {
		return nil, errors.New("RSA CA signer cannot choose rsa-sha2-512 (not an ssh.AlgorithmSigner)")
	}
	return ssh.NewSignerWithAlgorithms(as, []string{ssh.KeyAlgoRSASHA512})
}

// Validate reports the first problem with spec, wrapped in
// ErrInvalidCertSpec, or nil.
func (spec CertSpec) Validate() error {
	for _, check := range []func() error{
		spec.validateKey, spec.validateIdentity, spec.validateWindow,
		spec.validateCriticalOptions, spec.validateExtensions,
	} {
		if err := check(); err != nil {
			return fmt.Errorf("%w: %w", ErrInvalidCertSpec, err)
		}
	}
	return nil
}

func (spec CertSpec) validateKey() error {
	if spec.PublicKey == nil {
		return errors.New("public key: missing")
	}
	if _, ok := spec.PublicKey.(*ssh.Certificate); ok {
		return errors.New("public key: is a certificate; give the plain key")
	}
	return nil
}

func (spec CertSpec) validateIdentity() error {
	if spec.Serial == 0 {
		return errors.New("serial: zero (OpenSSH cannot revoke serial 0)")
	}
	if spec.KeyID == "" {
		return errors.New("key id: empty")
	}
	if len(spec.Principals) == 0 {
		return errors.New("principals: none given")
	}
	seen := make(map[string]bool, len(spec.Principals))
	for _, p := range spec.Principals {
		switch {
		case p == "":
			return errors.New("principals: empty principal")
		case strings.ContainsAny(p, ", \t\r\n\x00"):
			return fmt.Errorf("principals: %q contains a comma, space or control character", p)
		case seen[p]:
			return fmt.Errorf("principals: %q given twice", p)
		}
		seen[p] = true
	}
	return nil
}

func (spec CertSpec) validateWindow() error {
	after, before := spec.ValidAfter, spec.ValidBefore
	switch {
	case after.IsZero() || before.IsZero():
		return errors.New("validity window: ValidAfter and ValidBefore must both be set")
	case after.Unix() < 0:
		return fmt.Errorf("validity window: ValidAfter %s is before 1970", after.UTC().Format(time.RFC3339))
	case before.Unix() <= after.Unix():
		return fmt.Errorf("validity window: empty (ValidBefore %s is not after ValidAfter %s, to the second)",
			before.UTC().Format(time.RFC3339), after.UTC().Format(time.RFC3339))
	}
	return nil
}
