package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/failsmall/breakglass/broker"
	"github.com/failsmall/breakglass/server"
	"github.com/failsmall/breakglass/sqlite"
	"github.com/failsmall/breakglass/token"
)

func runKeys(ctx context.Context, c *cli, args []string) error {
	if len(args) > 0 && args[0] == "rotate" {
		return runKeysRotate(ctx, c, args[1:])
	}
	fs := c.newFlags("keys")
	c.addGlobals(fs)
	if _, err := parse(fs, args, 0, 0, ""); err != nil {
		return err
	}
	signers, closeFn, err := c.signers()
	if err != nil {
		return err
	}
	defer closeFn()
	lines := make([]string, len(signers))
	for i, s := range signers {
		lines[i] = strings.TrimSpace(string(ssh.MarshalAuthorizedKey(s.PublicKey())))
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	found, err := cl.LookupKeys(ctx, lines)
	if err != nil {
		return err
	}
	if c.g.json {
		return c.printJSON(keysJSON{Keys: nonNil(found)})
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TYPE\tFINGERPRINT\tPRINCIPAL")
	for i, k := range found {
		p := k.Principal
		if p == "" {
			p = "(not enrolled)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", signers[i].PublicKey().Type(), k.Fingerprint, p)
	}
	return tw.Flush()
}

// runKeysRotate rotates the JWT signing key in the broker's data folder
// with broker.Service.RotateKey: the key.rotated entry commits before the
// new key becomes current, and a failed append leaves the old key current. A
// running broker picks the new key up within seconds; the old public key
// stays in the JWKS until tokens it signed have expired.
func runKeysRotate(ctx context.Context, c *cli, args []string) error {
	fs := c.newFlags("keys rotate")
	data := fs.String("data", "./breakglass-data", "the broker's data folder")
	if _, err := parse(fs, args, 0, 0, ""); err != nil {
		return err
	}
	d := server.Dir(*data)
	// A mistyped --data must not create a fresh keyring nobody serves.
	for _, p := range []string{d.Keys(), d.DB()} {
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("%s is not a broker's data folder (%w): pass the --data of the broker to rotate", *data, err)
		}
	}
	kr, err := token.OpenKeyring(d.Keys(), server.KeyRetention, time.Now)
	if err != nil {
		return err
	}
	db, err := sqlite.Open(d.DB(), sqlite.Options{})
	if err != nil {
		return fmt.Errorf("open the broker's database to audit the rotation (nothing rotated): %w", err)
	}
	defer db.Close()
	// A Service over the data folder's store, to rotate as the broker does;
	// it signs no statement, so its name is only a label.
	svc, err := broker.New(broker.Config{Name: "keys-rotate", Store: db, Minter: token.Minter{Keyring: kr}})
	if err != nil {
		return err
	}
	rot, err := svc.RotateKey(ctx, token.Stager{Keyring: kr}, "operator")
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "signing key rotated: %s -> %s; %s stays in the JWKS for %s\n", rot.Old, rot.New, rot.Old, server.KeyRetention)
	return nil
}
