package policy

import (
	"fmt"
	"maps"
	"slices"
)

// Restriction takes rights away from principals of an accepted policy, for
// a live directory (SCIM) that may disable people or drop them from groups
// between signed policy bundles but never grant anything.
type Restriction struct {
	// Disabled maps a principal id to why it is disabled; the principal
	// counts as Disabled.
	Disabled map[string]string `json:"disabled,omitempty"`
	// RemovedFrom maps a principal id to groups it no longer counts as a
	// member of.
	RemovedFrom map[string][]string `json:"removed_from,omitempty"`
}

// Restrict returns a copy of p with r applied: the principals in
// r.Disabled are Disabled, and those in r.RemovedFrom lose the groups
// listed, in the copy's Principals and in every lookup and evaluation
// (InGroup, Principal, PrincipalByKey, CheckRequest, CheckApprover,
// Quorum, CheckBundleSignatures). Admins stays as written: a disabled
// admin is still listed but its signatures no longer count. Principals
// and groups p does not define are ignored (see Restriction.Unknown). It
// never adds anything. Hash, FileHash and Bytes of the copy equal p's;
// p is not modified. Restricting a restricted policy adds to what was
// taken away.
func (p *Policy) Restrict(r Restriction) *Policy {
	cp := *p
	cp.Principals = slices.Clone(p.Principals)
	cp.restricted = p.Restricted()
	for _, id := range slices.Sorted(maps.Keys(r.Disabled)) {
		i, ok := p.principals[id]
		if !ok || cp.Principals[i].Disabled {
			continue
		}
		cp.Principals[i].Disabled = true
		cp.restricted.Disabled[id] = r.Disabled[id]
	}
	for _, id := range slices.Sorted(maps.Keys(r.RemovedFrom)) {
		i, ok := p.principals[id]
		if !ok {
			continue
		}
		pr := &cp.Principals[i]
		gone := slices.DeleteFunc(slices.Clone(pr.Groups), func(g string) bool { return !slices.Contains(r.RemovedFrom[id], g) })
		if len(gone) == 0 {
			continue
		}
		pr.Groups = slices.DeleteFunc(slices.Clone(pr.Groups), func(g string) bool { return slices.Contains(gone, g) })
		cp.restricted.RemovedFrom[id] = slices.Sorted(slices.Values(append(cp.restricted.RemovedFrom[id], gone...)))
	}
	cp.lookups()
	return &cp
}

// Restricted returns what Restrict took away from the policy as written,
// as a copy the caller may keep: only principals that were enabled and
// groups they were members of, so applying it to the unrestricted policy
// gives the same result. Both maps are empty (not nil) when nothing was.
func (p *Policy) Restricted() Restriction {
	out := Restriction{Disabled: maps.Clone(p.restricted.Disabled), RemovedFrom: make(map[string][]string, len(p.restricted.RemovedFrom))}
	if out.Disabled == nil {
		out.Disabled = map[string]string{}
	}
	for id, groups := range p.restricted.RemovedFrom {
		out.RemovedFrom[id] = slices.Clone(groups)
	}
	return out
}

// Unknown lists, sorted, what r names that p does not define, like
// `principal "mallory"` or `group "ops" (removed from bob)`; Restrict
// ignores these.
func (r Restriction) Unknown(p *Policy) []string {
	var out []string
	for id := range r.Disabled {
		if _, ok := p.principals[id]; !ok {
			out = append(out, fmt.Sprintf("principal %q", id))
		}
	}
	for id, groups := range r.RemovedFrom {
		if _, ok := p.principals[id]; !ok {
			out = append(out, fmt.Sprintf("principal %q", id))
		}
		for _, g := range groups {
			if !slices.ContainsFunc(p.Groups, func(d Group) bool { return d.Name == g }) {
				out = append(out, fmt.Sprintf("group %q (removed from %s)", g, id))
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}
