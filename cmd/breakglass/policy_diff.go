package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/failsmall/breakglass/broker"
	"github.com/failsmall/breakglass/policy"
	"github.com/failsmall/breakglass/web"
)

// affected is a request or grant a new policy changes things for.
type affected struct {
	Request   string    `json:"request"`
	Grant     string    `json:"grant,omitempty"`
	State     string    `json:"state"`
	Role      string    `json:"role"`
	Requester string    `json:"requester"`
	Expires   time.Time `json:"expires,omitzero"` // the grant's
	Reasons   []string  `json:"reasons"`
}

// policyDiffJSON is `policy diff --json`. Pending and Grants are nil when
// they were not listed (no broker, or no key to log in); Note says why.
type policyDiffJSON struct {
	Diff    *policy.PolicyDiff `json:"diff"`
	Old     string             `json:"old"`
	Pending []affected         `json:"pending"`
	Grants  []affected         `json:"grants"`
	Note    string             `json:"note,omitempty"`
}

func runPolicyDiff(ctx context.Context, c *cli, args []string) error {
	fs := c.policyFlags("diff", "[--json] [--key FILE] FILE [OLD]", "Prints what FILE (a policy file or bundle) changes from OLD, by default the broker's\n"+
		"active bundle. Against the broker, and when you can log in (--key or ssh-agent), it also lists\n"+
		"the pending requests (all must be requested again once FILE is active: their statements name\n"+
		"the active bundle) and the live grants whose requester, role or approvals FILE changes.")
	c.addGlobals(fs)
	pos, err := parse(fs, args, 1, 2, "[--json] [--key FILE] FILE [OLD]")
	if err != nil {
		return err
	}
	nf, err := readPolicyFile(pos[0])
	if err != nil {
		return err
	}
	if nf.p == nil {
		return nf.invalid()
	}
	if len(pos) == 2 {
		of, err := readPolicyFile(pos[1])
		if err != nil {
			return err
		}
		if of.p == nil {
			return of.invalid()
		}
		out := &policyDiffJSON{Diff: policy.Diff(of.p, nf.p), Old: of.name}
		return c.printDiff(out, nf.name)
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	raw, err := cl.ActiveBundle(ctx)
	if err != nil {
		return fmt.Errorf("fetch the broker's active bundle to compare with: %w (or name the OLD file to compare with)", err)
	}
	sb, err := policy.ParseSignedBundle(raw)
	if err != nil {
		return fmt.Errorf("the broker's active bundle: %w", err)
	}
	old, err := policy.BundlePolicy(sb)
	if err != nil {
		return fmt.Errorf("the broker's active bundle: %w", err)
	}
	out := &policyDiffJSON{Diff: policy.Diff(old, nf.p), Old: fmt.Sprintf("the active bundle serial %d (%s)", sb.Bundle.Serial, sb.Hash)}
	c.listAffected(ctx, out, nf.p)
	return c.printDiff(out, nf.name)
}

// listAffected fills out's pending requests and grants, or its note when
// the CLI cannot log in to list them.
func (c *cli) listAffected(ctx context.Context, out *policyDiffJSON, p *policy.Policy) {
	if c.g.key == "" && c.getenv("SSH_AUTH_SOCK") == "" {
		out.Note = "pass --key FILE (or use ssh-agent) to list the pending requests and live grants this change affects"
		return
	}
	cl, id, err := c.login(ctx)
	if err != nil {
		out.Note = fmt.Sprintf("cannot list the affected requests: %v", err)
		return
	}
	defer id.close()
	pending, grants, err := affectedBy(ctx, cl, out.Diff, p)
	if err != nil {
		out.Note = fmt.Sprintf("cannot list the affected requests: %v", err)
		return
	}
	out.Pending, out.Grants = pending, grants
}

// affectedBy lists the pending requests and live grants that p affects
// (broker.PolicyImpact), from the broker's records.
func affectedBy(ctx context.Context, cl *web.Client, d *policy.PolicyDiff, p *policy.Policy) (pending, grants []affected, err error) {
	var views []*broker.RequestView
	for _, state := range []broker.State{broker.StatePending, broker.StateApproved, broker.StateIssued} {
		reqs, err := cl.List(ctx, string(state), "")
		if err != nil {
			return nil, nil, err
		}
		for _, r := range reqs {
			v, err := viewOf(ctx, cl, r)
			if err != nil {
				return nil, nil, err
			}
			views = append(views, v)
		}
	}
	pi, gi := broker.PolicyImpact(views, d, p, time.Now())
	return affectedList(pi), affectedList(gi), nil
}

// viewOf is the broker's view of r, with its grant when it was issued.
func viewOf(ctx context.Context, cl *web.Client, r web.RequestJSON) (*broker.RequestView, error) {
	req, err := requestOf(&r)
	if err != nil {
		return nil, err
	}
	v := &broker.RequestView{Request: req}
	if r.State != broker.StateIssued {
		return v, nil
	}
	full, err := cl.Get(ctx, r.ID)
	if err != nil {
		return nil, err
	}
	if g := full.Grant; g != nil {
		v.Grant = &broker.Grant{ID: g.ID, RequestID: g.Request, Requester: g.Requester, Role: g.Role,
			Approvers: g.Approvers, Issued: g.Issued, Expires: g.Expires, Revoked: g.Revoked, RevokedBy: g.RevokedBy}
	}
	return v, nil
}

func affectedList(in []broker.Impact) []affected {
	out := make([]affected, len(in))
	for i, im := range in {
		r := im.Request
		out[i] = affected{Request: r.ID, State: string(r.State), Role: r.Role, Requester: r.Requester, Reasons: im.Reasons}
		if im.Grant != nil {
			out[i].Grant, out[i].Expires = im.Grant.ID, im.Grant.Expires
		}
	}
	return out
}

func (c *cli) printDiff(out *policyDiffJSON, name string) error {
	if c.g.json {
		return c.printJSON(out)
	}
	w := c.stdout
	if out.Diff.Empty() {
		fmt.Fprintf(w, "no changes from %s to %s\n", out.Old, name)
	} else {
		fmt.Fprintf(w, "changes from %s to %s:\n%s", out.Old, name, out.Diff.String())
	}
	if out.Note != "" {
		fmt.Fprintf(c.stderr, "note: %s\n", out.Note)
	}
	if out.Pending == nil {
		return nil
	}
	printAffected(w, "pending request(s), to be requested again once the new bundle is active", out.Pending)
	printAffected(w, "live grant(s) affected", out.Grants)
	return nil
}

func printAffected(w io.Writer, title string, list []affected) {
	fmt.Fprintf(w, "%d %s\n", len(list), title)
	for _, a := range list {
		grant := ""
		if a.Grant != "" {
			grant = fmt.Sprintf(", grant %s until %s", a.Grant, a.Expires.Format(time.RFC3339))
		}
		fmt.Fprintf(w, "  %s %s by %s (%s%s)\n", a.Request, a.Role, a.Requester, a.State, grant)
		for _, r := range a.Reasons {
			fmt.Fprintf(w, "    %s\n", r)
		}
	}
}
