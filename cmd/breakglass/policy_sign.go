package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"slices"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/failsmall/breakglass/broker"
	"github.com/failsmall/breakglass/policy"
	"github.com/failsmall/breakglass/web"
)

// signFlags are `policy sign`'s own flags.
type signFlags struct {
	out, previous, created string
	serial                 uint64
	set                    map[string]bool
}

func runPolicySign(ctx context.Context, c *cli, args []string) error {
	fs := c.policyFlags("sign", "[--key FILE] [--out FILE] [--serial N --previous HASH] [--created TIME] FILE",
		"FILE is a policy file: it is validated and wrapped in a new bundle numbered after the broker's\n"+
			"active one (serial + 1, previous = its hash), or as --serial and --previous say, then signed.\n"+
			"FILE is a bundle: your signature is added to it. The signing key is --key FILE, or the\n"+
			"ssh-agent key of an admin of the bundle's policy. The output goes to --out, by default\n"+
			"FILE itself for a bundle and FILE.bundle for a policy file.")
	c.addGlobals(fs)
	f := signFlags{}
	fs.StringVar(&f.out, "out", "", "write the signed bundle here, atomically (default: FILE for a bundle, FILE.bundle for a policy file)")
	fs.Uint64Var(&f.serial, "serial", 0, "the new bundle's serial (default: the broker's active serial + 1); --serial 1 for a first bundle")
	fs.StringVar(&f.previous, "previous", "", "the hash of the bundle this one follows, sha256:... (default: the broker's active bundle)")
	fs.StringVar(&f.created, "created", "", "the new bundle's created time, RFC 3339 (default: now)")
	pos, err := parse(fs, args, 1, 1, "[--key FILE] [--out FILE] [--serial N --previous HASH] FILE")
	if err != nil {
		return err
	}
	f.set = map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { f.set[fl.Name] = true })
	in, err := readPolicyFile(pos[0])
	if err != nil {
		return err
	}
	if in.signed != nil && (f.set["serial"] || f.set["previous"] || f.set["created"]) {
		return errUsage("%s is already a bundle: its serial, previous and created are signed as they are; --serial, --previous and --created are for a policy file", in.name)
	}
	if in.p == nil {
		return in.invalid()
	}
	var b *policy.Bundle
	var sigs []byte // the signatures b has already
	if in.signed != nil {
		b, sigs = in.signed.Bundle, in.signed.Encode()[len(in.signed.Raw):]
	} else if b, err = c.newBundle(ctx, f, in.yaml); err != nil {
		return err
	}
	out := f.out
	switch {
	case out == "" && in.signed != nil:
		out = in.name
	case out == "":
		out = in.name + ".bundle"
	}
	return c.signInto(in, b, sigs, out)
}

// newBundle numbers a bundle for yaml: from the flags, or after the
// broker's active bundle.
func (c *cli) newBundle(ctx context.Context, f signFlags, yaml []byte) (*policy.Bundle, error) {
	b := &policy.Bundle{Serial: f.serial, Previous: f.previous, Created: time.Now().UTC().Truncate(time.Second), Policy: yaml}
	if f.created != "" {
		t, err := time.Parse(time.RFC3339, f.created)
		if err != nil {
			return nil, errUsage("--created %q is not an RFC 3339 time like 2025-01-02T15:04:05Z", f.created)
		}
		b.Created = t.UTC().Truncate(time.Second)
	}
	switch {
	case f.set["previous"] && !f.set["serial"]:
		return nil, errUsage("--previous needs --serial: pass both, or neither to number the bundle after the broker's active one")
	case f.set["serial"]:
		if _, err := b.Encode(); err != nil {
			return nil, errUsage("--serial %d --previous %q: %v", f.serial, f.previous, err)
		}
		if b.Serial > 1 && b.Previous == "" {
			fmt.Fprintf(c.stderr, "warning: serial %d with no --previous: only `breakglass init` accepts a bundle that follows none\n", b.Serial)
		}
		return b, nil
	}
	cl, err := c.client()
	if err != nil {
		return nil, err
	}
	st, err := cl.Policy(ctx)
	if err == nil && st.Bundle == nil {
		err = fmt.Errorf("the broker has no active policy bundle (%s)", st.Error)
	}
	if err != nil {
		return nil, fmt.Errorf("cannot number the new bundle after the broker's active one: %w; pass --serial 1 for a first bundle (to pin with `breakglass init`), or --serial N --previous sha256:... yourself", err)
	}
	b.Serial, b.Previous = st.Bundle.Serial+1, st.Bundle.Hash
	return b, nil
}

// signInto signs b with the CLI's key, appends the signature to sigs (the
// signatures b already has) and writes the signed bundle to out.
func (c *cli) signInto(in *policyFile, b *policy.Bundle, sigs []byte, out string) error {
	signer, who, closeFn, err := c.bundleSigner(in.p)
	if err != nil {
		return err
	}
	defer closeFn()
	pub := signer.PublicKey().Marshal()
	if in.signed != nil {
		for _, s := range in.signed.Signatures {
			if bytes.Equal(s.PublicKey.Marshal(), pub) {
				return fmt.Errorf("%s already carries a signature by %s (%s); a second one by the same key counts for nothing", in.name, who, ssh.FingerprintSHA256(signer.PublicKey()))
			}
		}
	}
	sig, err := policy.SignBundle(b, signer)
	if err != nil {
		return fmt.Errorf("%w (a security key may be waiting for a touch or its PIN)", err)
	}
	enc, err := b.Encode()
	if err != nil {
		return err
	}
	signed := append(append(enc, sigs...), sig...)
	sb, err := policy.ParseSignedBundle(signed)
	if err != nil {
		return fmt.Errorf("the signed bundle does not parse back: %w", err)
	}
	if err := writeFileAtomic(out, signed, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "signed bundle serial %d (%s) as %s: %d signature(s) now\nwrote %s\n", b.Serial, sb.Hash, who, len(sb.Signatures), out)
	return nil
}

// bundleSigner picks the key to sign a bundle whose policy is p: --key, or
// the agent's key enrolled for an admin of p (--as chooses among admins).
// who is the key's principal in p, or its fingerprint. A key that is not an
// enabled admin's gets a warning, not a refusal: the broker judges
// signatures against its active policy, which may differ.
func (c *cli) bundleSigner(p *policy.Policy) (signer ssh.Signer, who string, closeFn func(), err error) {
	signers, closeFn, err := c.signers()
	if err != nil {
		return nil, "", nil, err
	}
	signer, err = c.pickAdminKey(p, signers)
	if err != nil {
		closeFn()
		return nil, "", nil, err
	}
	who = ssh.FingerprintSHA256(signer.PublicKey())
	pr, _, ok := p.PrincipalByKey(signer.PublicKey())
	if ok {
		who = pr.ID
	}
	if !ok || !p.IsAdmin(pr.ID) || pr.Disabled {
		fmt.Fprintf(c.stderr, "warning: %s is not an enabled admin of this bundle's policy (admins [%s]); the broker counts only signatures by admins of its active policy\n",
			who, strings.Join(p.Admins, " "))
	}
	return signer, who, closeFn, nil
}

func (c *cli) pickAdminKey(p *policy.Policy, signers []ssh.Signer) (ssh.Signer, error) {
	if c.g.key != "" {
		return signers[0], nil
	}
	var found ssh.Signer
	var admins []string
	for _, s := range signers {
		pr, _, ok := p.PrincipalByKey(s.PublicKey())
		if !ok || !p.IsAdmin(pr.ID) || (c.g.as != "" && pr.ID != c.g.as) {
			continue
		}
		if found == nil {
			found = s
		}
		if !slices.Contains(admins, pr.ID) {
			admins = append(admins, pr.ID)
		}
	}
	switch {
	case len(admins) > 1:
		return nil, fmt.Errorf("your agent holds keys of several admins (%s): pass --as ADMIN", strings.Join(admins, ", "))
	case found != nil:
		return found, nil
	case len(signers) == 1 && c.g.as == "":
		return signers[0], nil
	}
	as := ""
	if c.g.as != "" {
		as = " for --as " + c.g.as
	}
	return nil, fmt.Errorf("none of your %d agent key(s) is enrolled%s for an admin of the policy (admins [%s]); add the admin's key to ssh-agent or pass --key FILE",
		len(signers), as, strings.Join(p.Admins, " "))
}

func runPolicyPush(ctx context.Context, c *cli, args []string) error {
	fs := c.policyFlags("push", "[--json] FILE", "Offers the signed bundle FILE to the broker, which activates it when enough admins\n"+
		"of its active policy signed it, its serial is higher and it follows the active bundle.")
	c.addGlobals(fs)
	pos, err := parse(fs, args, 1, 1, "[--json] FILE")
	if err != nil {
		return err
	}
	raw, err := readLimited(pos[0], web.MaxBundleBody)
	if err != nil {
		return err
	}
	if !isBundle(raw) {
		return fmt.Errorf("%s is not a policy bundle (it does not start with \"breakglass policy bundle\"); wrap and sign a policy file first: breakglass policy sign %s", pos[0], pos[0])
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	act, err := cl.PushBundle(ctx, raw)
	if errors.Is(err, broker.ErrBundleRejected) {
		return &exitError{1, fmt.Errorf("the broker rejected %s: %v; the active bundle stays", pos[0], err)}
	} else if err != nil {
		return err
	}
	if c.g.json {
		return c.printJSON(act)
	}
	switch act.Outcome {
	case broker.OutcomeActivated:
		fmt.Fprintf(c.stdout, "activated serial %d %s signed by [%s]\n", act.Serial, act.Hash, strings.Join(act.Signers, " "))
	case broker.OutcomeCurrent:
		fmt.Fprintf(c.stdout, "already active: serial %d %s\n", act.Serial, act.Hash)
	case broker.OutcomeOlder:
		fmt.Fprintf(c.stdout, "older than the active bundle (serial %d %s): nothing changed\n", act.Serial, act.Hash)
	default:
		fmt.Fprintf(c.stdout, "%s: serial %d %s\n", act.Outcome, act.Serial, act.Hash)
	}
	return nil
}
