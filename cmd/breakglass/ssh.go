package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"golang.org/x/crypto/ssh"

	"github.com/failsmall/breakglass/broker"
	"github.com/failsmall/breakglass/internal/atomicfile"
	"github.com/failsmall/breakglass/token"
)

// runSSH is `breakglass ssh ca|krl`: what an sshd needs to trust the broker.
func runSSH(ctx context.Context, c *cli, args []string) error {
	if len(args) == 0 {
		return errUsage("usage: breakglass ssh ca [--json] | breakglass ssh krl --out FILE")
	}
	switch args[0] {
	case "ca":
		return runSSHCA(ctx, c, args[1:])
	case "krl":
		return runSSHKRL(ctx, c, args[1:])
	}
	return errUsage("unknown subcommand %q: breakglass ssh ca [--json] | breakglass ssh krl --out FILE", args[0])
}

// sshdConfigLines are the sshd_config lines that trust the broker's CA.
var sshdConfigLines = []string{
	"TrustedUserCAKeys /etc/ssh/breakglass_ca.pub",
	"RevokedKeys /etc/ssh/breakglass.krl",
	"AuthorizedPrincipalsFile /etc/ssh/auth_principals/%u",
}

func runSSHCA(ctx context.Context, c *cli, args []string) error {
	fs := c.newFlags("ssh ca")
	c.addGlobals(fs)
	if _, err := parse(fs, args, 0, 0, ""); err != nil {
		return err
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	ca, err := cl.SSHCA(ctx)
	if err != nil {
		return err
	}
	if c.g.json {
		return c.printJSON(sshCAJSON{PublicKey: ca.PublicKey, Fingerprint: ca.Fingerprint, SSHDConfig: sshdConfigLines})
	}
	fmt.Fprintf(c.stdout, "%s\n\n", ca.PublicKey)
	fmt.Fprintf(c.stdout, `# The broker's SSH CA (%s). To let sshd accept its certificates:
# 1. put the line above in /etc/ssh/breakglass_ca.pub;
# 2. keep the KRL fresh, e.g. from cron: breakglass ssh krl --out /etc/ssh/breakglass.krl
#    (sshd refuses every certificate while that file is missing);
# 3. list the certificate principals each login user accepts in /etc/ssh/auth_principals/USER;
# 4. add to sshd_config:
%s
`, ca.Fingerprint, strings.Join(sshdConfigLines, "\n"))
	return nil
}

func runSSHKRL(ctx context.Context, c *cli, args []string) error {
	fs := c.newFlags("ssh krl")
	c.addGlobals(fs)
	out := fs.String("out", "", "write the KRL to this file, atomically (required)")
	if _, err := parse(fs, args, 0, 0, ""); err != nil {
		return err
	}
	if *out == "" {
		return errUsage("--out FILE is required: breakglass ssh krl --out /etc/ssh/breakglass.krl")
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	raw, err := cl.SSHKRL(ctx)
	if err != nil {
		return err
	}
	// Never hand sshd a file it cannot read: it would refuse every
	// certificate, or worse, a truncated one could revoke too little.
	krl, err := token.ParseKRL(raw)
	if err != nil {
		return fmt.Errorf("the broker's KRL: %w; %s left as it was", err, *out)
	}
	if err := writeFileAtomic(*out, raw, 0o644); err != nil {
		return err
	}
	if c.g.json {
		return c.printJSON(sshKRLJSON{File: *out, Version: krl.Version, RevokedSerials: nonNil(krl.Serials)})
	}
	fmt.Fprintf(c.stdout, "wrote KRL version %d (%d revoked certificates) to %s\n", krl.Version, len(krl.Serials), *out)
	return nil
}

// authorizedKey is pub as an authorized_keys line without a comment.
func authorizedKey(pub ssh.PublicKey) string { return broker.CanonicalSSHKey(pub) }

// readPubkey reads an OpenSSH public key file (KEY.pub).
func readPubkey(path string) (ssh.PublicKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--pubkey: %w", err)
	}
	pub, _, _, _, err := ssh.ParseAuthorizedKey(b)
	if err != nil {
		return nil, fmt.Errorf("--pubkey %s is not an OpenSSH public key (KEY.pub): %v", path, err)
	}
	if _, ok := pub.(*ssh.Certificate); ok {
		return nil, fmt.Errorf("--pubkey %s is a certificate; give the plain public key", path)
	}
	return pub, nil
}

// writeFileAtomic writes data to path with mode through a temporary file in
// the same folder and a rename, so readers see the old file or the new one
// (atomicfile.Write, which the broker's data folder uses too).
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	return atomicfile.Write(path, data, mode)
}
