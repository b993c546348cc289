package server

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/crypto/ssh"
)

// DevPeople are the development principals: alice requests, bob (sre)
// and carol (security) approve. Their keys are DevKeys()/<name>.
func DevPeople() []string { return []string{"alice", "bob", "carol"} }

// EnsureDev creates, once, the development keys, SSH CA and policy in d,
// and reports whether it wrote the policy file. Re-running reuses them.
func EnsureDev(d Dir) (policyWritten bool, err error) {
	if err := d.mkPrivate(); err != nil {
		return false, err
	}
	if err := os.MkdirAll(d.DevKeys(), 0o700); err != nil {
		return false, fmt.Errorf("dev keys: %w", err)
	}
	pubs := map[string]string{}
	for _, who := range DevPeople() {
		pub, err := ensureDevKey(filepath.Join(d.DevKeys(), who), who)
		if err != nil {
			return false, err
		}
		pubs[who] = pub
	}
	if err := EnsureDevSSHCA(d); err != nil {
		return false, err
	}
	if _, err := os.Stat(d.Policy()); err == nil {
		return false, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return false, err
	}
	return true, os.WriteFile(d.Policy(), []byte(devPolicy(pubs)), 0o600)
}

// ensureDevKey writes an unencrypted OpenSSH ed25519 key and its .pub when
// missing, and returns the authorized_keys line.
func ensureDevKey(path, who string) (string, error) {
	if b, err := os.ReadFile(path + ".pub"); err == nil {
		if _, err := os.Stat(path); err == nil {
			return strings.TrimSpace(string(b)), nil
		}
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return "", err
	}
	block, err := ssh.MarshalPrivateKey(priv, who+"@breakglass-dev")
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		return "", err
	}
	pub, err := ssh.NewPublicKey(priv.Public())
	if err != nil {
		return "", err
	}
	line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub))) + " " + who + "@breakglass-dev"
	return line, os.WriteFile(path+".pub", []byte(line+"\n"), 0o644)
}

func devPolicy(pubs map[string]string) string {
	return fmt.Sprintf(`# Development policy written by "breakglass serve --dev". Not for production.
version: 1
admins: [carol]
groups:
  - name: engineering
    description: engineers who may ask for emergency access
  - name: sre
    description: on-call site reliability engineers
  - name: security
    description: the security team
principals:
  - id: alice
    name: Alice (requester)
    groups: [engineering]
    keys: [%q]
  - id: bob
    name: Bob (SRE approver)
    groups: [sre]
    keys: [%q]
  - id: carol
    name: Carol (security approver)
    groups: [security]
    keys: [%q]
roles:
  - name: dev-admin
    description: admin on the development environment
    requesters: [engineering]
    approval:
      - count: 1
        groups: [sre]
      - count: 1
        groups: [security]
    duration: {default: 30m, max: 1h}
    incident: {required: false, pattern: '^INC-[0-9]+$'}
    min_reason: 10
    pending_ttl: 1h
    require_user_verification: false
    jwt: {audience: [breakglass-dev], scopes: [admin]}
    ssh:
      principals: [breakglass-dev]
      extensions: {permit-pty: ""}
    drills: true
`, pubs["alice"], pubs["bob"], pubs["carol"])
}
