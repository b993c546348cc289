package policy

import (
	"crypto/rsa"
	"errors"
	"fmt"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
	"golang.org/x/crypto/ssh"
)

// KeyTypes are the SSH key types a principal may enroll. ssh-rsa keys must
// also have at least MinRSABits bits.
var KeyTypes = []string{
	ssh.KeyAlgoED25519,
	ssh.KeyAlgoSKED25519,
	ssh.KeyAlgoSKECDSA256,
	ssh.KeyAlgoECDSA256,
	ssh.KeyAlgoECDSA384,
	ssh.KeyAlgoECDSA521,
	ssh.KeyAlgoRSA,
}

// enrolledKey locates a parsed key for the duplicate-key check.
type enrolledKey struct {
	principal int    // index in Policy.Principals
	field     string // e.g. "principals[2].keys[0]"
	key       Key
}

// principal decodes one principal, recording its keys in c.enrolled under
// index.
func (c *checker) principal(n *yaml.Node, field string, index int) Principal {
	f := c.mapping(n, field, "id", "name", "groups", "keys", "disabled")
	if f == nil {
		c.requireMapping(n, field)
		return Principal{}
	}
	pr := Principal{
		ID:       c.str(f["id"], child(field, "id")),
		Name:     c.str(f["name"], child(field, "name")),
		Groups:   c.strs(f["groups"], child(field, "groups")),
		Disabled: c.boolean(f["disabled"], child(field, "disabled")),
	}
	if err := plainText(pr.Name); err != nil {
		c.addf(child(field, "name"), "%v", err)
	}
	keys := child(field, "keys")
	for i, n := range c.seq(f["keys"], keys) {
		if !present(n) {
			c.addf(item(keys, i), "empty entry")
			continue
		}
		before := len(c.problems)
		line := c.str(n, item(keys, i))
		if len(c.problems) > before {
			continue
		}
		k, err := ParseKey(line)
		if err != nil {
			c.addf(item(keys, i), "%v", err)
			continue
		}
		pr.Keys = append(pr.Keys, k)
		c.enrolled = append(c.enrolled, enrolledKey{principal: index, field: item(keys, i), key: k})
	}
	return pr
}

// ParseKey parses one authorized_keys line (type, base64 key, optional
// comment) into a Key. Options (from=..., command=...), several keys on one
// line, certificates, key types outside KeyTypes and RSA keys shorter than
// MinRSABits are errors.
func ParseKey(line string) (Key, error) {
	pub, _, options, rest, err := ssh.ParseAuthorizedKey([]byte(line))
	switch {
	case err != nil:
		return Key{}, fmt.Errorf("not an authorized_keys line (want \"ssh-ed25519 AAAA... comment\"): %w", err)
	case len(options) > 0:
		return Key{}, fmt.Errorf("key options are not allowed (%s)", strings.Join(options, ","))
	case len(strings.TrimSpace(string(rest))) > 0:
		return Key{}, errors.New("one key per entry")
	case !slices.Contains(KeyTypes, pub.Type()):
		return Key{}, fmt.Errorf("key type %s is not allowed (allowed: %s)", pub.Type(), strings.Join(KeyTypes, ", "))
	}
	if pub.Type() == ssh.KeyAlgoRSA {
		if bits := rsaBits(pub); bits < MinRSABits {
			return Key{}, fmt.Errorf("RSA key has %d bits; at least %d are required", bits, MinRSABits)
		}
	}
	return Key{Line: line, PublicKey: pub, Fingerprint: ssh.FingerprintSHA256(pub)}, nil
}

// rsaBits returns the modulus size of an ssh-rsa key, 0 if it has none.
func rsaBits(pub ssh.PublicKey) int {
	cp, ok := pub.(ssh.CryptoPublicKey)
	if !ok {
		return 0
	}
	rk, ok := cp.CryptoPublicKey().(*rsa.PublicKey)
	if !ok {
		return 0
	}
	return rk.N.BitLen()
}
