package main

import (
	"bytes"
	"context"
	"fmt"

	"github.com/failsmall/breakglass/broker"
	"github.com/failsmall/breakglass/web"
)

func runRequest(ctx context.Context, c *cli, args []string) error {
	fs := c.newFlags("request")
	c.addGlobals(fs)
	role := fs.String("role", "", "the role to request (required)")
	reason := fs.String("reason", "", "why you need it, in one line (required)")
	incident := fs.String("incident", "", "incident reference, when the role asks for one")
	duration := fs.String("duration", "", "how long the grant should last (default: the role's default)")
	quiet := fs.Bool("quiet", false, "print only the request id")
	pubkey := fs.String("pubkey", "", "public key (KEY.pub) an SSH certificate is issued for, for roles with ssh (default: the key you sign with)")
	if _, err := parse(fs, args, 0, 0, ""); err != nil {
		return err
	}
	if *role == "" || *reason == "" {
		return errUsage("--role and --reason are required: breakglass request --role R --reason TEXT [--incident ID] [--duration 30m]")
	}
	if *duration != "" {
		if _, err := broker.ParseDuration(*duration); err != nil {
			return errUsage("--duration: %v (write it like 30m or 1h30m)", err)
		}
	}
	cl, id, err := c.connect(ctx)
	if err != nil {
		return err
	}
	defer id.close()
	certKey := id.signer.PublicKey()
	if *pubkey != "" {
		if certKey, err = readPubkey(*pubkey); err != nil {
			return err
		}
	}
	stmt, err := cl.Prepare(ctx, web.PrepareJSON{Role: *role, Requester: id.principal, Reason: *reason,
		Incident: *incident, Duration: *duration, SSHKey: authorizedKey(certKey)})
	if err != nil {
		return err
	}
	if *pubkey != "" && !bytes.Contains(stmt, []byte("\nssh-key: ")) {
		return errUsage("--pubkey: role %s yields no SSH certificate", *role)
	}
	sig, err := id.sign(stmt)
	if err != nil {
		return err
	}
	req, err := cl.Create(ctx, stmt, sig)
	if err != nil {
		return err
	}
	if c.g.json {
		return c.printJSON(req)
	}
	if *quiet {
		fmt.Fprintln(c.stdout, req.ID)
		return nil
	}
	fmt.Fprintf(c.stdout, "request %s is pending; approvers sign this statement:\n\n%s\n", req.ID, req.Statement)
	fmt.Fprintf(c.stdout, "Approvers run: breakglass approve %s\nThen fetch the credentials with: breakglass token %s\n", req.ID, req.ID)
	return nil
}
