package hwkey

import (
	"bytes"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/crypto/ssh"
)

// LoadKeyFile returns a signer for an unencrypted private key file in
// OpenSSH or PEM format. It fails with an error wrapping ErrKeyFile, with a
// hint, when the file cannot be used directly: unreadable, a public key
// (*.pub), passphrase-protected, or a security-key (sk) file, which
// x/crypto cannot sign with (both of the latter belong in ssh-agent), and
// with ErrAlgorithm for a refused key type.
func LoadKeyFile(path string) (ssh.Signer, error) {
	if strings.HasSuffix(path, ".pub") {
		return nil, fmt.Errorf("%w: %s is a public key; pass the private key file %s", ErrKeyFile, path, strings.TrimSuffix(path, ".pub"))
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKeyFile, err)
	}
	if _, _, _, _, err := ssh.ParseAuthorizedKey(b); err == nil {
		return nil, fmt.Errorf("%w: %s holds a public key; pass the private key file", ErrKeyFile, path)
	}
	if keyType := skKeyType(b); keyType != "" {
		return nil, fmt.Errorf("%w: %s is a security-key file (%s), which cannot sign without its authenticator: add it to ssh-agent (`ssh-add %s`) and use the agent instead of --key",
			ErrKeyFile, path, keyType, path)
	}
	signer, err := ssh.ParsePrivateKey(b)
	if pm := (*ssh.PassphraseMissingError)(nil); errors.As(err, &pm) {
		return nil, fmt.Errorf("%w: %s is passphrase-protected: add it to ssh-agent (`ssh-add %s`) and use the agent instead of --key", ErrKeyFile, path, path)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrKeyFile, path, err)
	}
	if err := checkKey(signer.PublicKey()); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return signer, nil
}

// skKeyType returns the key type of an OpenSSH private key file that holds a
// security key, read from its unencrypted public part, or "".
func skKeyType(pemBytes []byte) string {
	block, _ := pem.Decode(pemBytes)
	if block == nil || block.Type != "OPENSSH PRIVATE KEY" {
		return ""
	}
	body, ok := bytes.CutPrefix(block.Bytes, []byte("openssh-key-v1\x00"))
	if !ok {
		return ""
	}
	var w struct {
		CipherName, KdfName, KdfOpts string
		NumKeys                      uint32
		PubKey                       []byte
		Rest                         []byte `ssh:"rest"`
	}
	if ssh.Unmarshal(body, &w) != nil {
		return ""
	}
	pub, err := ssh.ParsePublicKey(w.PubKey)
	if err != nil || !isSKFormat(pub.Type()) {
		return ""
	}
	return pub.Type()
}
