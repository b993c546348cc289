package policy

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// PolicyDiff is what changed from one policy to the next, for the admins
// who review a bundle before signing it. Every list is sorted and nil when
// empty. It compares the exported fields only, so the changes a
// Restriction makes show up too (disabled, leaves).
type PolicyDiff struct {
	AdminsAdded   []string `json:"admins_added,omitempty"`
	AdminsRemoved []string `json:"admins_removed,omitempty"`
	// AdminQuorum is nil when admin_quorum did not change.
	AdminQuorum *IntChange `json:"admin_quorum,omitempty"`

	GroupsAdded   []string `json:"groups_added,omitempty"`
	GroupsRemoved []string `json:"groups_removed,omitempty"`
	// GroupsChanged names the groups whose description changed.
	GroupsChanged []string `json:"groups_changed,omitempty"`

	PrincipalsAdded   []string          `json:"principals_added,omitempty"`
	PrincipalsRemoved []string          `json:"principals_removed,omitempty"`
	PrincipalsChanged []PrincipalChange `json:"principals_changed,omitempty"` // by ID

	RolesAdded   []string     `json:"roles_added,omitempty"`
	RolesRemoved []string     `json:"roles_removed,omitempty"`
	RolesChanged []RoleChange `json:"roles_changed,omitempty"` // by Name
}

// IntChange is a number that changed.
type IntChange struct {
	Old int `json:"old"`
	New int `json:"new"`
}

// PrincipalChange is how a principal present in both policies changed.
type PrincipalChange struct {
	ID          string   `json:"id"`
	NameChanged bool     `json:"name_changed,omitempty"`
	Joined      []string `json:"joined,omitempty"` // groups
	Left        []string `json:"left,omitempty"`   // groups
	Disabled    bool     `json:"disabled,omitempty"`
	Enabled     bool     `json:"enabled,omitempty"`
	// KeysAdded and KeysRemoved are SHA256 fingerprints; a key whose
	// comment changed is the same key.
	KeysAdded   []string `json:"keys_added,omitempty"`
	KeysRemoved []string `json:"keys_removed,omitempty"`
}

// RoleChange names the fields of a role present in both policies that
// changed, in this order: description, requesters, approval, default
// duration, max duration, incident, min reason, pending ttl, require user
// verification, audience, scopes, ssh, drills, stale after. Lists compare
// as sets: reordering requesters, clauses or groups is no change.
type RoleChange struct {
	Name   string   `json:"name"`
	Fields []string `json:"fields"`
}

// Diff returns what changed from old to new. A nil policy counts as an
// empty one (admin_quorum 0), so Diff(nil, p) lists everything p defines
// as added.
func Diff(old, new *Policy) *PolicyDiff {
	old, new = orEmpty(old), orEmpty(new)
	d := &PolicyDiff{}
	d.AdminsAdded, d.AdminsRemoved = setDiff(old.Admins, new.Admins)
	if old.AdminQuorum != new.AdminQuorum {
		d.AdminQuorum = &IntChange{Old: old.AdminQuorum, New: new.AdminQuorum}
	}
	oldGroups, newGroups := byName(old.Groups, groupName), byName(new.Groups, groupName)
	d.GroupsAdded, d.GroupsRemoved = keyDiff(oldGroups, newGroups)
	for _, name := range common(oldGroups, newGroups) {
		if oldGroups[name].Description != newGroups[name].Description {
			d.GroupsChanged = append(d.GroupsChanged, name)
		}
	}
	oldPr, newPr := byName(old.Principals, principalID), byName(new.Principals, principalID)
	d.PrincipalsAdded, d.PrincipalsRemoved = keyDiff(oldPr, newPr)
	for _, id := range common(oldPr, newPr) {
		if c := diffPrincipal(oldPr[id], newPr[id]); c != nil {
			d.PrincipalsChanged = append(d.PrincipalsChanged, *c)
		}
	}
	oldRoles, newRoles := byName(old.Roles, roleName), byName(new.Roles, roleName)
	d.RolesAdded, d.RolesRemoved = keyDiff(oldRoles, newRoles)
	for _, name := range common(oldRoles, newRoles) {
		if fields := diffRole(oldRoles[name], newRoles[name]); len(fields) > 0 {
			d.RolesChanged = append(d.RolesChanged, RoleChange{Name: name, Fields: fields})
		}
	}
	return d
}

// Empty reports whether nothing changed.
func (d *PolicyDiff) Empty() bool { return d.String() == "" }

// String returns one change per line, each ending in a newline, and ""
// when nothing changed. Lines come by kind (admins, admin_quorum, groups,
// principals, roles), then added (+), removed (-), changed (~), each
// sorted by name, e.g.
//
//   - admin erin
//     ~ admin_quorum: 1 -> 2
//   - principal dave
//     ~ principal bob: joins security; key added SHA256:...; disabled
//   - role db-admin
//     ~ role dev-admin: approval, max duration
func (d *PolicyDiff) String() string {
	var b strings.Builder
	lines := func(sign, kind string, names []string) {
		for _, n := range names {
			fmt.Fprintf(&b, "%s %s %s\n", sign, kind, n)
		}
	}
	lines("+", "admin", d.AdminsAdded)
	lines("-", "admin", d.AdminsRemoved)
	if d.AdminQuorum != nil {
		fmt.Fprintf(&b, "~ admin_quorum: %d -> %d\n", d.AdminQuorum.Old, d.AdminQuorum.New)
	}
	lines("+", "group", d.GroupsAdded)
	lines("-", "group", d.GroupsRemoved)
	for _, g := range d.GroupsChanged {
		fmt.Fprintf(&b, "~ group %s: description\n", g)
	}
	lines("+", "principal", d.PrincipalsAdded)
	lines("-", "principal", d.PrincipalsRemoved)
	for _, c := range d.PrincipalsChanged {
		fmt.Fprintf(&b, "~ principal %s: %s\n", c.ID, strings.Join(c.parts(), "; "))
	}
	lines("+", "role", d.RolesAdded)
	lines("-", "role", d.RolesRemoved)
	for _, c := range d.RolesChanged {
		fmt.Fprintf(&b, "~ role %s: %s\n", c.Name, strings.Join(c.Fields, ", "))
	}
	return b.String()
}

// parts describes c's changes in the order String prints them.
func (c PrincipalChange) parts() []string {
	var out []string
	if c.NameChanged {
		out = append(out, "name")
	}
	if len(c.Joined) > 0 {
		out = append(out, "joins "+strings.Join(c.Joined, ", "))
	}
	if len(c.Left) > 0 {
		out = append(out, "leaves "+strings.Join(c.Left, ", "))
	}
	for _, k := range c.KeysAdded {
		out = append(out, "key added "+k)
	}
	for _, k := range c.KeysRemoved {
		out = append(out, "key removed "+k)
	}
	if c.Disabled {
		out = append(out, "disabled")
	}
	if c.Enabled {
		out = append(out, "enabled")
	}
	return out
}

// diffPrincipal returns nil when a and b differ in nothing PrincipalChange
// records.
func diffPrincipal(a, b *Principal) *PrincipalChange {
	c := &PrincipalChange{ID: b.ID, NameChanged: a.Name != b.Name, Disabled: !a.Disabled && b.Disabled, Enabled: a.Disabled && !b.Disabled}
	c.Joined, c.Left = setDiff(a.Groups, b.Groups)
	c.KeysAdded, c.KeysRemoved = setDiff(fingerprints(a.Keys), fingerprints(b.Keys))
	if len(c.parts()) == 0 {
		return nil
	}
	return c
}

func fingerprints(keys []Key) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = k.Fingerprint
	}
	return out
}

func orEmpty(p *Policy) *Policy {
	if p == nil {
		return &Policy{}
	}
	return p
}

func groupName(g *Group) string        { return g.Name }
func principalID(pr *Principal) string { return pr.ID }
func roleName(r *Role) string          { return r.Name }

// byName indexes list by name.
func byName[T any](list []T, name func(*T) string) map[string]*T {
	out := make(map[string]*T, len(list))
	for i := range list {
		out[name(&list[i])] = &list[i]
	}
	return out
}

// keyDiff returns the keys only in b (added) and only in a (removed),
// sorted.
func keyDiff[T any](a, b map[string]*T) (added, removed []string) {
	return setDiff(slices.Collect(maps.Keys(a)), slices.Collect(maps.Keys(b)))
}

// common returns the keys in both a and b, sorted.
func common[T any](a, b map[string]*T) []string {
	var out []string
	for k := range a {
		if _, ok := b[k]; ok {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// setDiff returns what is only in b (added) and only in a (removed),
// sorted, once each, nil when none.
func setDiff(a, b []string) (added, removed []string) {
	inA, inB := make(map[string]bool, len(a)), make(map[string]bool, len(b))
	for _, v := range a {
		inA[v] = true
	}
	for _, v := range b {
		inB[v] = true
	}
	for v := range inB {
		if !inA[v] {
			added = append(added, v)
		}
	}
	for v := range inA {
		if !inB[v] {
			removed = append(removed, v)
		}
	}
	slices.Sort(added)
	slices.Sort(removed)
	return added, removed
}

// sameSet reports whether a and b hold the same strings, ignoring order
// and repeats.
func sameSet(a, b []string) bool {
	added, removed := setDiff(a, b)
	return added == nil && removed == nil
}

// diffRole names the fields that differ between a and b, in the order
// RoleChange documents.
func diffRole(a, b *Role) []string {
	fields := []struct {
		name string
		same bool
	}{
		{"description", a.Description == b.Description},
		{"requesters", sameSet(a.Requesters, b.Requesters)},
		{"approval", slices.Equal(sortClauses(a), sortClauses(b))},
		{"default duration", a.DefaultDuration == b.DefaultDuration},
		{"max duration", a.MaxDuration == b.MaxDuration},
		{"incident", a.IncidentRequired == b.IncidentRequired && patternOf(a) == patternOf(b)},
		{"min reason", a.MinReason == b.MinReason},
		{"pending ttl", a.PendingTTL == b.PendingTTL},
		{"require user verification", a.RequireUserVerification == b.RequireUserVerification},
		{"audience", sameSet(a.Audience, b.Audience)},
		{"scopes", sameSet(a.Scopes, b.Scopes)},
		{"ssh", sameSSH(a.SSH, b.SSH)},
		{"drills", a.Drills == b.Drills},
		{"stale after", a.StaleAfter == b.StaleAfter},
	}
	var out []string
	for _, f := range fields {
		if !f.same {
			out = append(out, f.name)
		}
	}
	return out
}

// patternOf returns the incident pattern as written, "" for none.
func patternOf(r *Role) string {
	if r.IncidentPattern == nil {
		return ""
	}
	return r.IncidentPattern.String()
}

// sameSSH compares certificate settings; principal order is no change.
func sameSSH(a, b *SSH) bool {
	if a == nil || b == nil {
		return a == b
	}
	return sameSet(a.Principals, b.Principals) && maps.Equal(a.Extensions, b.Extensions) &&
		a.SourceAddress == b.SourceAddress && a.ForceCommand == b.ForceCommand
}

// sortClauses returns r's clauses as sorted, comparable strings.
func sortClauses(r *Role) []string {
	out := make([]string, len(r.Approval))
	for i, cl := range r.Approval {
		out[i] = fmt.Sprintf("%d of %s", cl.Count, slices.Sorted(slices.Values(cl.Groups)))
	}
	slices.Sort(out)
	return out
}
