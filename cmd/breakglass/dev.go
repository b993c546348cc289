package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/crypto/ssh"
)

// devPeople are the development principals: alice requests, bob (sre) and
// carol (security) approve.
var devPeople = []string{"alice", "bob", "carol"}

// ensureDev creates, once, the development keys, SSH CA and policy in d.
// Re-running reuses them.
func ensureDev(d dataDir, out io.Writer) error {
	if err := os.MkdirAll(d.devKeys(), 0o700); err != nil {
		return fmt.Errorf("dev keys: %w", err)
	}
	pubs := map[string]string{}
	for _, who := range devPeople {
		pub, err := ensureDevKey(filepath.Join(d.devKeys(), who), who)
		if err != nil {
			return err
		}
		pubs[who] = pub
	}
	if err := ensureDevSSHCA(d); err != nil {
		return err
	}
	if _, err := os.Stat(d.policy()); err == nil {
		return nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	fmt.Fprintf(out, "generated a development policy at %s\n", d.policy())
	return os.WriteFile(d.policy(), []byte(devPolicy(pubs)), 0o600)
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

func printDevWalkthrough(w io.Writer, url string, d dataDir) {
	k := func(who string) string { return filepath.Join(string(d), "dev-keys", who) }
	fmt.Fprintf(w, `
Development mode: alice may request dev-admin; it needs one approval from bob (sre)
and one from carol (security). In another shell, in this folder ("make run" built ./bin/breakglass):

  export BREAKGLASS_URL=%s
  ID=$(./bin/breakglass request --key %s --role dev-admin --reason "walkthrough: clear the stuck deploy" --incident INC-1 --quiet)
  ./bin/breakglass approve --key %s --yes $ID
  ./bin/breakglass approve --key %s --yes $ID
  ./bin/breakglass token --key %s --out alice.jwt $ID
  curl -s $BREAKGLASS_URL/.well-known/jwks.json > jwks.json
  ./bin/breakglass verify --jwks jwks.json --iss breakglass-dev --aud breakglass-dev alice.jwt

dev-admin also yields an SSH certificate for alice's key, for the login name breakglass-dev:

  ./bin/breakglass token --key %s --ssh $ID
  ./bin/breakglass ssh ca

`, url, k("alice"), k("bob"), k("carol"), k("alice"), k("alice"))
}
