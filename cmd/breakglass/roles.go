package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/failsmall/breakglass/broker"
	"github.com/failsmall/breakglass/policy"
	"github.com/failsmall/breakglass/web"
)

// rolesJSON is `breakglass roles --json`.
type rolesJSON struct {
	Principal string     `json:"principal"`
	Policy    string     `json:"policy"`
	Roles     []roleJSON `json:"roles"`
}

// roleJSON is one role the principal may request.
type roleJSON struct {
	Name             string       `json:"name"`
	Description      string       `json:"description"`
	Quorum           string       `json:"quorum"`
	Approval         []clauseJSON `json:"approval"`
	DefaultDuration  string       `json:"default_duration"`
	MaxDuration      string       `json:"max_duration"`
	IncidentRequired bool         `json:"incident_required"`
	SSH              bool         `json:"ssh"`
	// StaleAfter is the bundle age past which the role needs one more
	// approver, or "" for never.
	StaleAfter string `json:"stale_after"`
}

// clauseJSON is one clause of a role's quorum: count approvers from any of
// groups.
type clauseJSON struct {
	Count  int      `json:"count"`
	Groups []string `json:"groups"`
}

// runRoles is `breakglass roles`: the roles of the active policy whose
// requesters include a group of the principal behind --key (or the agent's
// keys, --as), with their quorum and durations.
func runRoles(ctx context.Context, c *cli, args []string) error {
	fs := c.newFlags("roles")
	c.addGlobals(fs)
	if _, err := parse(fs, args, 0, 0, ""); err != nil {
		return err
	}
	cl, id, err := c.connect(ctx)
	if err != nil {
		return err
	}
	defer id.close()
	p, err := activePolicy(ctx, cl)
	if err != nil {
		return err
	}
	roles := requestable(p, id.principal)
	out := rolesJSON{Principal: id.principal, Policy: p.Hash(), Roles: []roleJSON{}}
	for _, r := range roles {
		out.Roles = append(out.Roles, newRoleJSON(r))
	}
	if c.g.json {
		return c.printJSON(out)
	}
	if len(roles) == 0 {
		fmt.Fprintf(c.stdout, "no role in policy %s may be requested by %s\n", p.Hash(), id.principal)
		return nil
	}
	fmt.Fprintf(c.stdout, "roles %s may request (policy %s):\n\n", id.principal, p.Hash())
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ROLE\tQUORUM\tDEFAULT\tMAX\tINCIDENT\tDESCRIPTION")
	for _, r := range out.Roles {
		q := r.Quorum
		if r.StaleAfter != "" {
			q += fmt.Sprintf(" (+1 once the bundle is %s old)", r.StaleAfter)
		}
		inc := "-"
		if r.IncidentRequired {
			inc = "required"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Name, q, r.DefaultDuration, r.MaxDuration, inc, dash(r.Description))
	}
	return tw.Flush()
}

// activePolicy reads the broker's active policy from its public signed
// bundle, as it is after the live directory's restrictions (deactivated
// people and removed group memberships, from /v1/policy).
func activePolicy(ctx context.Context, cl *web.Client) (*policy.Policy, error) {
	raw, err := cl.ActiveBundle(ctx)
	if err != nil {
		return nil, err
	}
	sb, err := policy.ParseSignedBundle(raw)
	if err != nil {
		return nil, fmt.Errorf("the broker's active bundle: %w", err)
	}
	p, err := policy.BundlePolicy(sb)
	if err != nil {
		return nil, fmt.Errorf("the broker's active bundle: %w", err)
	}
	st, err := cl.Policy(ctx)
	if err != nil {
		return nil, err
	}
	if b := st.Bundle; b != nil && b.Hash == p.Hash() && (len(b.Deactivated) > 0 || len(b.RemovedFrom) > 0) {
		p = p.Restrict(policy.Restriction{Disabled: b.Deactivated, RemovedFrom: b.RemovedFrom})
	}
	return p, nil
}

// requestable returns the roles of p that principal may request: it is
// enabled and in one of the role's requester groups.
func requestable(p *policy.Policy, principal string) []*policy.Role {
	pr, ok := p.Principal(principal)
	if !ok || pr.Disabled {
		return nil
	}
	var out []*policy.Role
	for i := range p.Roles {
		r := &p.Roles[i]
		if slices.ContainsFunc(r.Requesters, func(g string) bool { return p.InGroup(principal, g) }) {
			out = append(out, r)
		}
	}
	return out
}

func newRoleJSON(r *policy.Role) roleJSON {
	out := roleJSON{Name: r.Name, Description: r.Description, Quorum: quorumText(r.Approval),
		Approval: []clauseJSON{}, DefaultDuration: broker.FormatDuration(r.DefaultDuration),
		MaxDuration: broker.FormatDuration(r.MaxDuration), IncidentRequired: r.IncidentRequired, SSH: r.SSH != nil}
	for _, cl := range r.Approval {
		out.Approval = append(out.Approval, clauseJSON{Count: cl.Count, Groups: slices.Clone(cl.Groups)})
	}
	if r.StaleAfter > 0 {
		out.StaleAfter = broker.FormatDuration(r.StaleAfter)
	}
	return out
}

// quorumText says a role's approval clauses as "2 of sre AND 1 of
// security"; a clause of several groups reads "1 of (sre or oncall)".
func quorumText(clauses []policy.Clause) string {
	parts := make([]string, len(clauses))
	for i, cl := range clauses {
		g := strings.Join(cl.Groups, " or ")
		if len(cl.Groups) > 1 {
			g = "(" + g + ")"
		}
		parts[i] = fmt.Sprintf("%d of %s", cl.Count, g)
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, " AND ")
}

// unknownRole explains a role the broker does not know, naming the close
// matches among the roles of its active policy (those principal may
// request first). It returns nil, and the caller keeps the broker's error,
// when no role is close or the active policy has the role after all.
func unknownRole(ctx context.Context, cl *web.Client, role, principal string) error {
	p, err := activePolicy(ctx, cl)
	if err != nil {
		return nil
	}
	if _, ok := p.Role(role); ok {
		return nil
	}
	var mine, all []string
	for _, r := range requestable(p, principal) {
		mine = append(mine, r.Name)
	}
	for _, r := range p.Roles {
		all = append(all, r.Name)
	}
	hint := didYouMean(role, mine)
	if hint == "" {
		hint = didYouMean(role, all)
	}
	if hint == "" {
		return nil // nothing close: the broker's error says it all
	}
	return fmt.Errorf("unknown role %q%s; `breakglass roles` lists the roles you may request", role, hint)
}
