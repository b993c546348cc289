package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/failsmall/breakglass/internal/atomicfile"
	"github.com/failsmall/breakglass/web"
)

func runToken(ctx context.Context, c *cli, args []string) error {
	fs := c.newFlags("token")
	c.addGlobals(fs)
	out := fs.String("out", "", "write the JWT to this file (mode 0600) instead of stdout; with --ssh, the certificate")
	sshCert := fs.Bool("ssh", false, "write the grant's SSH certificate beside --key/--pubkey (KEY-cert.pub) or to --out")
	pubkey := fs.String("pubkey", "", "with --ssh: the public key the certificate is for (KEY.pub); it is written beside it")
	receipt := fs.String("receipt", "", "write the grant's audit receipt (c2sp.org/tlog-proof) to this file")
	evidence := fs.String("evidence", "", "write the grant's evidence (statement, approvals, policy bundle) to this file, for `verify --evidence`; alone, it fetches nothing else (approvers and admins may too)")
	pos, err := parse(fs, args, 1, 1, "ID [--out FILE] [--ssh [--pubkey KEY.pub]] [--receipt FILE] [--evidence FILE]")
	if err != nil {
		return err
	}
	var certFile, keyFile string
	var certKey ssh.PublicKey
	if *sshCert {
		if certFile, err = c.certPath(*out, *pubkey); err != nil {
			return err
		}
		if *pubkey != "" {
			if certKey, err = readPubkey(*pubkey); err != nil {
				return err
			}
			keyFile = strings.TrimSuffix(*pubkey, ".pub")
		} else if c.g.key != "" && *out == "" {
			keyFile = c.g.key
		}
	}
	cl, id, err := c.login(ctx)
	if err != nil {
		return err
	}
	defer id.close()
	var ev *evidenceWritten
	if *evidence != "" {
		if ev, err = writeEvidence(ctx, cl, pos[0], *evidence); err != nil {
			return err
		}
		if *out == "" && *receipt == "" && !*sshCert {
			if c.g.json {
				return c.printJSON(ev)
			}
			fmt.Fprintln(c.stdout, ev)
			return nil
		}
	}
	cr, err := cl.CredentialsWithReceipt(ctx, pos[0])
	if err != nil {
		return err
	}
	g := &cr.GrantJSON
	if err := writeReceipt(*receipt, cr.Receipt); err != nil {
		return err
	}
	if *sshCert {
		// Written beside the --key file, the certificate must be for that key.
		if certKey == nil && c.g.key != "" && *out == "" {
			certKey = id.signer.PublicKey()
		}
		if ev != nil && !c.g.json {
			fmt.Fprintln(c.stdout, ev)
		}
		return c.writeCert(g, certFile, keyFile, certKey)
	}
	if *out != "" {
		if err := writeSecret(*out, []byte(g.Token+"\n")); err != nil {
			return err
		}
	}
	if ev != nil && !c.g.json {
		fmt.Fprintln(c.stdout, ev)
	}
	switch {
	case c.g.json:
		return c.printJSON(cr)
	case *out != "":
		fmt.Fprintf(c.stdout, "wrote the JWT of grant %s to %s; it expires %s (in %s)\n", g.ID, *out,
			g.Expires.Format(time.RFC3339), time.Until(g.Expires).Truncate(time.Second))
	default:
		fmt.Fprintln(c.stdout, g.Token)
	}
	return nil
}

// writeSecret writes data to path with mode 0600, atomically, never through
// an existing file's looser mode (atomicfile.WriteSecret, which the
// broker's key files use too).
func writeSecret(path string, data []byte) error { return atomicfile.WriteSecret(path, data) }

func runRevoke(ctx context.Context, c *cli, args []string) error {
	return c.runOnRequest(ctx, "revoke", args, func(cl *web.Client, id *identity, reqID string) (any, string, error) {
		g, err := cl.Revoke(ctx, reqID, id.principal, id.sign)
		if err != nil {
			return nil, "", err
		}
		return g, fmt.Sprintf("grant %s of request %s revoked by %s", g.ID, g.Request, g.RevokedBy), nil
	})
}

// writeReceipt writes a credentials answer's receipt to path, if asked.
func writeReceipt(path, receipt string) error {
	if path == "" {
		return nil
	}
	if receipt == "" {
		return errors.New("the broker sent no audit receipt with the credentials (is it older than this CLI?)")
	}
	if err := os.WriteFile(path, []byte(receipt), 0o644); err != nil {
		return fmt.Errorf("--receipt: %w", err)
	}
	return nil
}
