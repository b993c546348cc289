package main

import (
	"context"
	"fmt"
	"strings"
	"time"

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
	var d time.Duration
	if *duration != "" {
		var err error
		if d, err = broker.ParseDuration(*duration); err != nil {
			return errUsage("--duration: %v (write it like 30m or 1h30m)", err)
		}
		// 0 means "the role's default" to the broker: say it rather than
		// turn --duration 0s into the default silently.
		if d <= 0 {
			return errUsage("--duration %s: a grant must last longer than 0; leave --duration out for the role's default (`breakglass roles` shows it)", *duration)
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
	ask := broker.RequestInput{Role: *role, Requester: id.principal, Reason: *reason, Incident: *incident,
		Duration: d, SSHKey: authorizedKey(certKey)}
	stmt, err := cl.Prepare(ctx, web.PrepareJSON{Role: ask.Role, Requester: ask.Requester, Reason: ask.Reason,
		Incident: ask.Incident, Duration: *duration, SSHKey: ask.SSHKey})
	if err != nil {
		if strings.Contains(err.Error(), "unknown role") {
			if hint := unknownRole(ctx, cl, *role, id.principal); hint != nil {
				return hint
			}
		}
		return err
	}
	// What you see is what you sign: the statement must ask for what you
	// asked for before your key signs it.
	st, err := broker.CheckRequestStatement(stmt, ask)
	if err != nil {
		return fmt.Errorf("the broker sent a request statement that is not what you asked for (%v); not signing", err)
	}
	if *pubkey != "" && st.SSHKey == "" {
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
	shown, err := broker.DisplayText([]byte(req.Statement))
	if err != nil {
		return fmt.Errorf("request %s: the broker's statement does not parse: %w", req.ID, err)
	}
	fmt.Fprintf(c.stdout, "request %s is pending; approvers sign this statement:\n\n%s\n", req.ID, shown)
	fmt.Fprintf(c.stdout, "Approvers run: breakglass approve %s\nThen fetch the credentials with: breakglass token %s\n", req.ID, req.ID)
	return nil
}

// requestOf is the broker's view of a request record the API sent.
func requestOf(r *web.RequestJSON) (*broker.Request, error) {
	d, err := broker.ParseDuration(r.Duration)
	if err != nil {
		return nil, fmt.Errorf("the broker sent request %s with duration %q: %w", r.ID, r.Duration, err)
	}
	return &broker.Request{ID: r.ID, Role: r.Role, Requester: r.Requester, Reason: r.Reason, Incident: r.Incident,
		Duration: d, Created: r.Created, Expires: r.Expires, State: r.State, SupersededBy: r.SupersededBy, Updated: r.Updated, PolicyHash: r.Policy,
		Statement: []byte(r.Statement), StatementDigest: r.StatementDigest}, nil
}
