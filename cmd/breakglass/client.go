package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"

	"golang.org/x/crypto/ssh"

	"github.com/failsmall/breakglass/hwkey"
	"github.com/failsmall/breakglass/web"
)

// defaultBroker is where the CLI looks when neither --broker nor
// BREAKGLASS_URL says otherwise: `make run`'s address.
const defaultBroker = "http://127.0.0.1:8080"

// globals are the client flags every client command takes.
type globals struct {
	broker string
	as     string
	key    string
	json   bool
}

func (c *cli) addGlobals(fs *flag.FlagSet) {
	def := c.getenv("BREAKGLASS_URL")
	if def == "" {
		def = defaultBroker
	}
	fs.StringVar(&c.g.broker, "broker", def, "broker URL (env BREAKGLASS_URL)")
	fs.StringVar(&c.g.as, "as", "", "act as this principal (picks among the agent's keys)")
	fs.StringVar(&c.g.key, "key", "", "sign with this private key file instead of ssh-agent")
	fs.BoolVar(&c.g.json, "json", false, "print JSON")
}

func (c *cli) client() (*web.Client, error) { return web.NewClient(c.g.broker, nil) }

// identity is the key the CLI signs with and the principal it is enrolled for.
type identity struct {
	principal string
	signer    ssh.Signer
	close     func()
}

func (id *identity) sign(text []byte) ([]byte, error) {
	sig, err := hwkey.Sign(id.signer, hwkey.Namespace, text)
	if err != nil {
		return nil, fmt.Errorf("sign with %s: %w (a security key may be waiting for a touch or its PIN)", ssh.FingerprintSHA256(id.signer.PublicKey()), err)
	}
	return sig.Armor(), nil
}

// identity finds the signing key: --key FILE, or the ssh-agent's keys, asking
// the broker which principal each is enrolled for and keeping the one for
// --as (or the only enrolled principal).
func (c *cli) identity(ctx context.Context, cl *web.Client) (*identity, error) {
	signers, closeFn, err := c.signers()
	if err != nil {
		return nil, err
	}
	lines := make([]string, len(signers))
	for i, s := range signers {
		lines[i] = strings.TrimSpace(string(ssh.MarshalAuthorizedKey(s.PublicKey())))
	}
	found, err := cl.LookupKeys(ctx, lines)
	if err != nil {
		closeFn()
		return nil, err
	}
	var matches []*identity
	var principals []string
	for i, k := range found {
		if k.Principal == "" || (c.g.as != "" && k.Principal != c.g.as) {
			continue
		}
		matches = append(matches, &identity{principal: k.Principal, signer: signers[i], close: closeFn})
		principals = append(principals, k.Principal)
	}
	switch {
	case len(matches) == 0 && c.g.as != "":
		closeFn()
		return nil, fmt.Errorf("none of your %d key(s) is enrolled for %s in the broker's policy; check `breakglass keys`", len(signers), c.g.as)
	case len(matches) == 0 && c.g.key != "":
		closeFn()
		return nil, fmt.Errorf("the key in %s (%s) is not enrolled in the broker's policy; check `breakglass keys --key %s`", c.g.key, ssh.FingerprintSHA256(signers[0].PublicKey()), c.g.key)
	case len(matches) == 0:
		closeFn()
		return nil, fmt.Errorf("none of your %d key(s) is enrolled in the broker's policy; check `breakglass keys`, or add your enrolled key to ssh-agent", len(signers))
	}
	for _, m := range matches[1:] {
		if m.principal != matches[0].principal {
			closeFn()
			return nil, fmt.Errorf("your keys are enrolled for several principals (%s): pass --as PRINCIPAL", strings.Join(principals, ", "))
		}
	}
	return matches[0], nil
}

// signers returns the keys to try: --key FILE, else every key in ssh-agent.
func (c *cli) signers() ([]ssh.Signer, func(), error) {
	if c.g.key != "" {
		s, err := hwkey.LoadKeyFile(c.g.key)
		if err != nil {
			return nil, nil, err
		}
		return []ssh.Signer{s}, func() {}, nil
	}
	a, err := hwkey.Agent(c.getenv("SSH_AUTH_SOCK"))
	if err != nil {
		return nil, nil, err
	}
	s, err := a.Signers()
	if err != nil {
		a.Close()
		return nil, nil, err
	}
	return s, func() { a.Close() }, nil
}

// connect returns a client for the broker and the CLI's signing identity.
func (c *cli) connect(ctx context.Context) (*web.Client, *identity, error) {
	cl, err := c.client()
	if err != nil {
		return nil, nil, err
	}
	id, err := c.identity(ctx, cl)
	if err != nil {
		return nil, nil, err
	}
	return cl, id, nil
}

// login opens a read session for the CLI's identity.
func (c *cli) login(ctx context.Context) (*web.Client, *identity, error) {
	cl, id, err := c.connect(ctx)
	if err != nil {
		return nil, nil, err
	}
	if err := cl.Login(ctx, id.principal, id.sign); err != nil {
		id.close()
		return nil, nil, err
	}
	return cl, id, nil
}

// humanOut is where a command writes text meant for a person: stdout,
// but stderr with --json, whose stdout is the JSON document alone.
func (c *cli) humanOut() io.Writer {
	if c.g.json {
		return c.stderr
	}
	return c.stdout
}

func (c *cli) printJSON(v any) error {
	enc := json.NewEncoder(c.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// errUsage marks a command-line mistake (exit 2).
func errUsage(format string, a ...any) error {
	return &exitError{2, fmt.Errorf(format, a...)}
}
