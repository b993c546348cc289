package token

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
)

// KRL format constants from OpenSSH's PROTOCOL.krl.
const (
	krlMagic         = "SSHKRL\n\x00"
	krlFormatVersion = 1

	krlSectionCertificates = 0x01

	krlCertSerialList   = 0x20
	krlCertSerialRange  = 0x21
	krlCertSerialBitmap = 0x22
	krlCertKeyID        = 0x23
)

// KRL is an OpenSSH key revocation list (PROTOCOL.krl) as sshd's RevokedKeys
// reads it, limited to what the broker revokes: certificates of one CA, by
// serial and by key id. With no CA it is the empty KRL (the header only),
// which sshd reads as "nothing revoked".
type KRL struct {
	Version     uint64    // krl_version; must increase with every change
	GeneratedAt time.Time // generated_date, to the second
	Comment     string
	CA          ssh.PublicKey // the CA whose serials and key ids are revoked
	Serials     []uint64      // revoked certificate serials; never 0
	KeyIDs      []string      // revoked certificate key ids; never empty
}

// Marshal encodes k in the KRL format: the header, then (when CA is set) one
// KRL_SECTION_CERTIFICATES section holding a KRL_SECTION_CERT_SERIAL_LIST
// subsection with the serials sorted and deduplicated, and a
// KRL_SECTION_CERT_KEY_ID subsection with the key ids sorted and
// deduplicated. Each subsection is left out when it would be empty. It
// refuses a KRL that sshd would reject or misread: GeneratedAt unset or
// before 1970, a NUL in the comment or a key id, serial 0, an empty key id,
// serials or key ids without a CA, a certificate as CA.
func (k *KRL) Marshal() ([]byte, error) {
	if err := k.validate(); err != nil {
		return nil, fmt.Errorf("marshal KRL: %w", err)
	}
	var b []byte
	b = append(b, krlMagic...)
	b = binary.BigEndian.AppendUint32(b, krlFormatVersion)
	b = binary.BigEndian.AppendUint64(b, k.Version)
	b = binary.BigEndian.AppendUint64(b, uint64(k.GeneratedAt.Unix()))
	b = binary.BigEndian.AppendUint64(b, 0) // flags: none defined
	b = krlAppendString(b, nil)             // reserved
	b = krlAppendString(b, []byte(k.Comment))
	if k.CA != nil {
		b = append(b, krlSectionCertificates)
		b = krlAppendString(b, k.certSection())
	}
	return b, nil
}

func (k *KRL) validate() error {
	switch {
	case k.GeneratedAt.IsZero():
		return errors.New("GeneratedAt is not set")
	case k.GeneratedAt.Unix() < 0:
		return fmt.Errorf("GeneratedAt %s is before 1970", k.GeneratedAt.UTC().Format(time.RFC3339))
	case strings.ContainsRune(k.Comment, 0):
		return errors.New("comment contains NUL")
	case k.CA == nil && (len(k.Serials) > 0 || len(k.KeyIDs) > 0):
		return errors.New("serials or key ids are revoked but no CA is set")
	}
	if _, ok := k.CA.(*ssh.Certificate); ok {
		return errors.New("CA is a certificate; give the CA's plain public key")
	}
	if slices.Contains(k.Serials, 0) {
		return errors.New("serial 0 cannot be revoked (OpenSSH ignores it)")
	}
	for _, id := range k.KeyIDs {
		if id == "" || strings.ContainsRune(id, 0) {
			return fmt.Errorf("key id %q is empty or contains NUL", id)
		}
	}
	return nil
}

// certSection encodes the body of the KRL_SECTION_CERTIFICATES section.
func (k *KRL) certSection() []byte {
	var b []byte
	b = krlAppendString(b, k.CA.Marshal())
	b = krlAppendString(b, nil) // reserved
	if serials := slices.Compact(slices.Sorted(slices.Values(k.Serials))); len(serials) > 0 {
		var list []byte
		for _, s := range serials {
			list = binary.BigEndian.AppendUint64(list, s)
		}
		b = append(b, krlCertSerialList)
		b = krlAppendString(b, list)
	}
	if ids := slices.Compact(slices.Sorted(slices.Values(k.KeyIDs))); len(ids) > 0 {
		var list []byte
		for _, id := range ids {
			list = krlAppendString(list, []byte(id))
		}
		b = append(b, krlCertKeyID)
		b = krlAppendString(b, list)
	}
	return b
}

// IsRevoked reports whether k revokes cert the way sshd decides it: cert was
// signed by k.CA and its key id is listed, or its serial (when not zero) is.
func (k *KRL) IsRevoked(cert *ssh.Certificate) bool {
	if k.CA == nil || cert == nil || cert.SignatureKey == nil ||
		!bytes.Equal(cert.SignatureKey.Marshal(), k.CA.Marshal()) {
		return false
	}
	if slices.Contains(k.KeyIDs, cert.KeyId) {
		return true
	}
	return cert.Serial != 0 && slices.Contains(k.Serials, cert.Serial)
}

// krlAppendString appends an SSH wire string: uint32 length, then the bytes.
func krlAppendString(b, s []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}
