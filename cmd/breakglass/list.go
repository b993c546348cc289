package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/failsmall/breakglass/broker"
	"github.com/failsmall/breakglass/web"
)

func runList(ctx context.Context, c *cli, args []string) error {
	fs := c.newFlags("list")
	c.addGlobals(fs)
	state := fs.String("state", "", "only requests in this state (pending, issued, denied, cancelled, expired, revoked)")
	requester := fs.String("requester", "", "only requests by this principal")
	if _, err := parse(fs, args, 0, 0, ""); err != nil {
		return err
	}
	if *state != "" {
		if _, err := broker.ParseState(*state); err != nil {
			return errUsage("--state: %v", err)
		}
	}
	cl, id, err := c.login(ctx)
	if err != nil {
		return err
	}
	defer id.close()
	reqs, err := cl.List(ctx, *state, *requester)
	if err != nil {
		return err
	}
	if c.g.json {
		return c.printJSON(listJSON{Requests: nonNil(reqs)})
	}
	if len(reqs) == 0 {
		fmt.Fprintln(c.stdout, "no requests")
		return nil
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATE\tROLE\tREQUESTER\tDURATION\tINCIDENT\tCREATED")
	for _, r := range reqs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.State, r.Role, r.Requester, r.Duration,
			dash(r.Incident), r.Created.Local().Format(time.DateTime))
	}
	return tw.Flush()
}

func runShow(ctx context.Context, c *cli, args []string) error {
	fs := c.newFlags("show")
	c.addGlobals(fs)
	stmtOnly := fs.Bool("statement", false, "print only the approval statement, e.g. to send to an approver who signs with `approve --offline`")
	pos, err := parse(fs, args, 1, 1, "ID [--json | --statement]")
	if err != nil {
		return err
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
	switch {
	case c.g.json:
		return c.printJSON(r)
	case *stmtOnly:
		_, err := io.WriteString(c.stdout, r.Statement)
		return err
	}
	printRequest(c, r)
	return nil
}

func printRequest(c *cli, r *web.RequestJSON) {
	shown, err := broker.DisplayText([]byte(r.Statement))
	if err != nil {
		shown = fmt.Sprintf("  (the statement does not parse: %v)\n", err)
	}
	fmt.Fprintf(c.stdout, "request %s: %s\n\n%s\n", r.ID, r.State, shown)
	if r.SupersededBy != "" {
		fmt.Fprintf(c.stdout, "superseded by policy bundle %s: request again under it\n", r.SupersededBy)
	}
	fmt.Fprintf(c.stdout, "statement digest: %s\ncreated: %s\n", r.StatementDigest, r.Created.Format(time.RFC3339))
	for _, a := range r.Approvals {
		extra := ""
		if a.UserVerified {
			extra += ", user verified"
		}
		if a.CounterWarning {
			extra += ", WARNING: security key counter did not increase"
		}
		fmt.Fprintf(c.stdout, "%s by %s at %s (%s %s%s)\n", a.Kind, a.Approver, a.Created.Format(time.RFC3339), a.KeyType, a.Key, extra)
	}
	if g := r.Grant; g != nil {
		fmt.Fprintf(c.stdout, "grant %s: issued %s, expires %s, approvers %s\n", g.ID, g.Issued.Format(time.RFC3339),
			g.Expires.Format(time.RFC3339), strings.Join(g.Approvers, ", "))
		if !g.Revoked.IsZero() {
			fmt.Fprintf(c.stdout, "revoked %s by %s\n", g.Revoked.Format(time.RFC3339), g.RevokedBy)
		}
	}
}

func runStatus(ctx context.Context, c *cli, args []string) error {
	fs := c.newFlags("status")
	c.addGlobals(fs)
	if _, err := parse(fs, args, 0, 0, ""); err != nil {
		return err
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	st, err := cl.Status(ctx)
	if err != nil {
		return err
	}
	if c.g.json {
		return c.printJSON(st)
	}
	fmt.Fprintf(c.stdout, "broker: %s at %s\n", st.Broker, cl.URL())
	if st.Policy != "" {
		fmt.Fprintf(c.stdout, "policy: %s (loaded %s ago)\n", st.Policy, st.PolicyAge)
	} else {
		fmt.Fprintf(c.stdout, "policy: NONE, refusing requests: %s\n", st.PolicyError)
	}
	if b := st.Bundle; b != nil {
		fmt.Fprintf(c.stdout, "bundle: serial %d, created %s, age %s (last known current %s), from %s\n", b.Serial,
			b.Created.Format(time.RFC3339), roundAge(b.AgeSeconds), b.Confirmed.Format(time.RFC3339), b.Source)
		for _, who := range slices.Sorted(maps.Keys(b.Deactivated)) {
			fmt.Fprintf(c.stdout, "deactivated: %s (%s)\n", who, b.Deactivated[who])
		}
	}
	for _, src := range st.Sources {
		fmt.Fprintf(c.stdout, "source %s (%s): %s\n", src.Name, src.Kind, sourceLine(src, st.Time))
	}
	for _, w := range st.Witnesses {
		fmt.Fprintf(c.stdout, "witness %s (%s): %s\n", w.Name, w.URL, witnessLine(w))
	}
	fmt.Fprintf(c.stdout, "signing keys: %s\n", strings.Join(st.SigningKeys, ", "))
	for _, s := range broker.States {
		if n := st.Counts[s]; n > 0 {
			fmt.Fprintf(c.stdout, "%s: %d\n", s, n)
		}
	}
	return nil
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func roundAge(seconds float64) time.Duration {
	return time.Duration(seconds * float64(time.Second)).Truncate(time.Second)
}

// sourceLine says how an upstream is doing: its last success and age, and
// its last error when the last poll failed.
func sourceLine(s web.SourceJSON, now time.Time) string {
	var out string
	if s.LastSuccess.IsZero() {
		out = "never succeeded"
	} else {
		out = fmt.Sprintf("last success %s (%s ago)", s.LastSuccess.UTC().Format(time.RFC3339), roundAge(s.AgeSeconds))
		if s.Result != "" {
			out += ": " + s.Result
		}
	}
	if s.LastError != "" && !s.LastErrorAt.Before(s.LastSuccess) {
		out += fmt.Sprintf("; FAILING since %s: %s", s.LastErrorAt.UTC().Format(time.RFC3339), s.LastError)
	} else if s.LastAttempt.IsZero() {
		out += "; not polled yet"
	}
	return out
}

// witnessLine says how a witness is doing.
func witnessLine(w web.WitnessJSON) string {
	switch {
	case w.Up:
		return fmt.Sprintf("ok, cosigned size %d", w.Cosigned)
	case w.LastError != "" && w.LastSuccess.IsZero():
		return fmt.Sprintf("FAILING since the start: %s (at %s)", w.LastError, w.LastErrorAt.UTC().Format(time.RFC3339))
	case w.LastError != "":
		return fmt.Sprintf("FAILING: %s (at %s; last cosigned size %d at %s)", w.LastError, w.LastErrorAt.UTC().Format(time.RFC3339),
			w.Cosigned, w.LastSuccess.UTC().Format(time.RFC3339))
	}
	return "no checkpoint pushed yet"
}
