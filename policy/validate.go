package policy

import (
	"fmt"
	"slices"
	"strings"
)

// validate runs the checks that span the policy: names are well-formed and
// unique, every reference resolves, keys are enrolled once, and every role
// can actually be approved.
func (c *checker) validate(p *Policy) {
	groups := c.names("groups", "name", "group", len(p.Groups), func(i int) string { return p.Groups[i].Name })
	principals := c.names("principals", "id", "principal", len(p.Principals), func(i int) string { return p.Principals[i].ID })
	c.names("roles", "name", "role", len(p.Roles), func(i int) string { return p.Roles[i].Name })
	for i, pr := range p.Principals {
		c.refs(child(item("principals", i), "groups"), pr.Groups, groups, "group")
	}
	c.refs("admins", p.Admins, principals, "principal")
	// Whether a role can be approved is judged only on a clean list of
	// principals; otherwise it would repeat their problems as role problems.
	cleanPrincipals := !slices.ContainsFunc(c.problems, func(pr Problem) bool {
		return strings.HasPrefix(pr.Field, "principals[") || strings.HasPrefix(pr.Field, "groups[")
	})
	for i := range p.Roles {
		field := item("roles", i)
		r := &p.Roles[i]
		c.refs(child(field, "requesters"), r.Requesters, groups, "group")
		known := cleanPrincipals
		for j, cl := range r.Approval {
			known = c.refs(child(item(child(field, "approval"), j), "groups"), cl.Groups, groups, "group") && known
			known = known && len(cl.Groups) > 0
		}
		if known {
			c.approvable(p, field, r)
		}
	}
	c.uniqueKeys(p)
}

// names checks the identifying field of each entry of a list: present,
// matching idPattern, unique. It returns the names defined.
func (c *checker) names(list, key, kind string, n int, name func(int) string) []string {
	var defined []string
	firstLine := make(map[string]int, n)
	for i := range n {
		entry := item(list, i)
		if c.broken[entry] {
			continue
		}
		field, v := child(entry, key), name(i)
		switch line := c.line(field); {
		case v == "":
			c.addf(field, "required: the %s's %s", kind, key)
		case !idPattern.MatchString(v):
			c.addf(field, "%s %q must match %s (lower-case letter, then letters, digits, '.', '_' or '-')", key, v, idPattern)
		case firstLine[v] > 0:
			c.addf(field, "duplicate %s %q (first defined on line %d)", kind, v, firstLine[v])
		default:
			firstLine[v] = line
			defined = append(defined, v)
		}
	}
	return defined
}

// refs checks that each name in list is defined and listed once, and
// reports whether all of them are defined.
func (c *checker) refs(field string, list, defined []string, kind string) bool {
	ok := true
	seen := make(map[string]bool, len(list))
	for i, v := range list {
		switch {
		case v == "":
			ok = false // reported while decoding
		case !slices.Contains(defined, v):
			ok = false
			hint := ""
			if best := closest(v, defined); best != "" {
				hint = fmt.Sprintf(" (did you mean %q?)", best)
			}
			c.addf(item(field, i), "unknown %s %q%s", kind, v, hint)
		case seen[v]:
			c.addf(item(field, i), "%s %q listed twice", kind, v)
		}
		seen[v] = true
	}
	return ok
}

// approvable checks that every clause of r can be met by the principals
// who are eligible for it (members of its groups, not disabled), first one
// clause at a time, then all together with each approver counting once.
// Whoever may request the role counts as eligible here: only the actual
// requester is excluded, at evaluation time. A role with stale_after must
// also be approvable with the extra approver a stale bundle asks for.
func (c *checker) approvable(p *Policy, field string, r *Role) {
	all := true
	for j, cl := range r.Approval {
		if cl.Count < 1 {
			all = false
			continue
		}
		n := 0
		for k := range p.Principals {
			if eligible(&p.Principals[k], cl) {
				n++
			}
		}
		if cl.Count > n {
			all = false
			c.addf(child(item(child(field, "approval"), j), "count"),
				"needs %d approvers from %s but only %d principals are eligible", cl.Count, groupList(cl.Groups), n)
		}
	}
	if !all || len(r.Approval) == 0 {
		return
	}
	candidates := make([]*Principal, len(p.Principals))
	for k := range p.Principals {
		candidates[k] = &p.Principals[k]
	}
	m := assign(r, candidates)
	if need, got := m.slots(), m.filled; got < need {
		c.addf(child(field, "approval"),
			"the clauses together need %d distinct approvers but only %d eligible principals can fill them (an approver counts for one clause only)", need, got)
		return
	}
	if r.StaleAfter > 0 {
		stale := assign(withExtra(r, 1), candidates)
		if need, got := stale.slots(), stale.filled; got < need {
			c.addf(child(field, "stale_after"),
				"past %s the role needs %d distinct approvers (one more than its clauses) but only %d eligible principals can fill them", r.StaleAfter, need, got)
		}
	}
}

// uniqueKeys reports a key enrolled twice, naming both places.
func (c *checker) uniqueKeys(p *Policy) {
	first := make(map[string]enrolledKey, len(c.enrolled))
	for _, ek := range c.enrolled {
		wire := string(ek.key.PublicKey.Marshal())
		prev, dup := first[wire]
		if !dup {
			first[wire] = ek
			continue
		}
		if prev.principal == ek.principal {
			c.addf(ek.field, "key %s is listed twice for principal %q (also line %d, %s)",
				ek.key.Fingerprint, p.Principals[ek.principal].ID, c.line(prev.field), prev.field)
			continue
		}
		c.addf(ek.field, "key %s of principal %q is also enrolled for principal %q (line %d, %s); a key identifies exactly one principal",
			ek.key.Fingerprint, p.Principals[ek.principal].ID, p.Principals[prev.principal].ID, c.line(prev.field), prev.field)
	}
}

// groupList formats groups as "[sre, security]".
func groupList(groups []string) string { return "[" + strings.Join(groups, ", ") + "]" }
