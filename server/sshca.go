package server

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"golang.org/x/crypto/ssh"

	"github.com/failsmall/breakglass/broker"
	"github.com/failsmall/breakglass/hwkey"
	"github.com/failsmall/breakglass/internal/atomicfile"
	"github.com/failsmall/breakglass/token"
)

// SSHCASource says where the broker's SSH CA key is: a private key file, or
// the first key of the ssh-agent at AgentSock (a key on a hardware token).
// With neither, <data>/ssh-ca is used when it exists, and otherwise the
// broker issues no certificates.
type SSHCASource struct {
	File      string
	Agent     bool
	AgentSock string
}

// openSSHCA loads the CA signer; close releases the agent connection.
func openSSHCA(src SSHCASource, d Dir) (ca broker.SSHCA, close func(), err error) {
	switch {
	case src.Agent:
		conn, err := hwkey.Agent(src.AgentSock)
		if err != nil {
			return nil, nil, fmt.Errorf("SSH CA in ssh-agent: %w", err)
		}
		signers, err := conn.Signers()
		if err != nil {
			conn.Close()
			return nil, nil, fmt.Errorf("SSH CA in ssh-agent: %w", err)
		}
		return token.SSHCA{Signer: signers[0]}, func() { conn.Close() }, nil
	case src.File != "":
		s, err := hwkey.LoadKeyFile(src.File)
		if err != nil {
			return nil, nil, fmt.Errorf("SSH CA (--ssh-ca): %w", err)
		}
		return token.SSHCA{Signer: s}, func() {}, nil
	}
	if _, err := os.Stat(d.SSHCA()); errors.Is(err, fs.ErrNotExist) {
		return nil, func() {}, nil
	}
	s, err := hwkey.LoadKeyFile(d.SSHCA())
	if err != nil {
		return nil, nil, fmt.Errorf("SSH CA: %w", err)
	}
	return token.SSHCA{Signer: s}, func() {}, nil
}

// EnsureDevSSHCA creates the development SSH CA key (ed25519, mode 0600)
// and its .pub once.
func EnsureDevSSHCA(d Dir) error {
	path := d.SSHCA()
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	if err := d.mkPrivate(); err != nil {
		return err
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	block, err := ssh.MarshalPrivateKey(priv, "breakglass-dev SSH CA")
	if err != nil {
		return err
	}
	pub, err := ssh.NewPublicKey(priv.Public())
	if err != nil {
		return err
	}
	if err := os.WriteFile(path+".pub", []byte(strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub)))+" breakglass-dev-ca\n"), 0o644); err != nil {
		return fmt.Errorf("dev SSH CA: %w", err)
	}
	if err := atomicfile.WriteSecret(path, pem.EncodeToMemory(block)); err != nil {
		return fmt.Errorf("dev SSH CA: %w", err)
	}
	return nil
}
