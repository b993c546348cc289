package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/failsmall/breakglass/broker"
	"github.com/failsmall/breakglass/web"
)

func runApprove(ctx context.Context, c *cli, args []string) error {
	fs := c.newFlags("approve")
	c.addGlobals(fs)
	yes := fs.Bool("yes", false, "sign without asking to confirm")
	var off offlineFlags
	off.add(fs)
	pos, err := parse(fs, args, 0, 1, "ID [--yes]")
	if err != nil {
		return err
	}
	if off.offline {
		if len(pos) != 0 {
			return errUsage("approve --offline takes the statement, not a request id: --statement FILE (or the statement on stdin)")
		}
		return c.approveOffline(off, *yes)
	}
	if err := off.onlyOffline(); err != nil {
		return err
	}
	if len(pos) != 1 {
		return errUsage("usage: breakglass approve ID [--yes]")
	}
	cl, id, err := c.login(ctx)
	if err != nil {
		return err
	}
	defer id.close()
	r, err := cl.Get(ctx, pos[0])
	if err != nil {
		return err
	}
	if err := checkShown(r, id.principal); err != nil {
		return err
	}
	shown, err := broker.DisplayText([]byte(r.Statement))
	if err != nil {
		return fmt.Errorf("not approved: the broker's statement for %s does not parse: %w", r.ID, err)
	}
	fmt.Fprintf(c.humanOut(), "You (%s) are approving:\n\n%s\n", id.principal, shown)
	if !*yes && !c.confirm("Sign this approval with your key? [y/N] ") {
		return fmt.Errorf("not approved: you did not confirm")
	}
	sig, err := id.sign([]byte(r.Statement))
	if err != nil {
		return err
	}
	res, err := cl.Approve(ctx, r.ID, sig)
	if err != nil {
		return err
	}
	return c.printApproval(r.ID, res)
}

// printApproval prints what an approval did, for approve and submit.
func (c *cli) printApproval(reqID string, res *web.ApproveResultJSON) error {
	if c.g.json {
		return c.printJSON(res)
	}
	switch {
	case res.Granted:
		fmt.Fprintf(c.stdout, "approved by %s: quorum met, grant %s issued until %s\n", res.Approver, res.Grant.ID, res.Grant.Expires.Format("2006-01-02T15:04:05Z07:00"))
	case res.Duplicate:
		fmt.Fprintf(c.stdout, "%s had already approved %s; it counts once. Still needed: %s\n", res.Approver, reqID, strings.Join(res.Missing, "; "))
	default:
		fmt.Fprintf(c.stdout, "approved by %s; still needed: %s\n", res.Approver, strings.Join(res.Missing, "; "))
	}
	return nil
}

// confirm asks a yes/no question on stdin.
func (c *cli) confirm(prompt string) bool {
	fmt.Fprint(c.humanOut(), prompt)
	line, _ := bufio.NewReader(c.stdin).ReadString('\n')
	a := strings.ToLower(strings.TrimSpace(line))
	return a == "y" || a == "yes"
}

// checkShown checks, before principal signs an approval or a denial of r,
// that r's statement says what the request record says: what you see is
// what you sign (broker.CheckApprovalStatement).
func checkShown(r *web.RequestJSON, principal string) error {
	shown, err := requestOf(r)
	if err != nil {
		return err
	}
	if _, err := broker.CheckApprovalStatement([]byte(r.Statement), shown, principal); err != nil {
		if errors.Is(err, broker.ErrStatementMismatch) || errors.Is(err, broker.ErrInvalid) {
			return fmt.Errorf("the broker sent a statement that does not match request %s (%v); not signing", r.ID, err)
		}
		return err
	}
	return nil
}

func runDeny(ctx context.Context, c *cli, args []string) error {
	fs := c.newFlags("deny")
	c.addGlobals(fs)
	reason := fs.String("reason", "", "why you deny it, in one line (required)")
	pos, err := parse(fs, args, 1, 1, "ID --reason TEXT")
	if err != nil {
		return err
	}
	if *reason == "" {
		return errUsage("--reason is required: breakglass deny ID --reason TEXT")
	}
	cl, id, err := c.login(ctx)
	if err != nil {
		return err
	}
	defer id.close()
	r, err := cl.Get(ctx, pos[0])
	if err != nil {
		return err
	}
	if err := checkShown(r, id.principal); err != nil {
		return err
	}
	text, err := broker.DenialStatement([]byte(r.Statement), *reason)
	if err != nil {
		return err
	}
	sig, err := id.sign(text)
	if err != nil {
		return err
	}
	out, err := cl.Deny(ctx, r.ID, text, sig)
	if err != nil {
		return err
	}
	if c.g.json {
		return c.printJSON(out)
	}
	fmt.Fprintf(c.stdout, "request %s denied by %s\n", out.ID, id.principal)
	return nil
}

func runCancel(ctx context.Context, c *cli, args []string) error {
	return c.runOnRequest(ctx, "cancel", args, func(cl *web.Client, id *identity, reqID string) (any, string, error) {
		out, err := cl.Cancel(ctx, reqID, id.principal, id.sign)
		if err != nil {
			return nil, "", err
		}
		return out, fmt.Sprintf("request %s cancelled", out.ID), nil
	})
}

// runOnRequest runs a command that takes one request id and signs as the
// CLI's identity: parse, connect, do, then print JSON or do's message.
func (c *cli) runOnRequest(ctx context.Context, name string, args []string,
	do func(cl *web.Client, id *identity, reqID string) (out any, msg string, err error)) error {
	fs := c.newFlags(name)
	c.addGlobals(fs)
	pos, err := parse(fs, args, 1, 1, "ID")
	if err != nil {
		return err
	}
	cl, id, err := c.connect(ctx)
	if err != nil {
		return err
	}
	defer id.close()
	out, msg, err := do(cl, id, pos[0])
	if err != nil {
		return err
	}
	if c.g.json {
		return c.printJSON(out)
	}
	fmt.Fprintln(c.stdout, msg)
	return nil
}
