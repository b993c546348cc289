package policy

import (
	"fmt"
	"slices"
	"strings"
)

// QuorumResult says whether approvals meet a role's approval rule.
type QuorumResult struct {
	// Met is true when every clause (and the extra approval, see
	// QuorumWith) has its count of assigned approvers.
	Met bool
	// Assigned maps each approver that counts to the index of the clause
	// it fills; len(role.Approval) stands for the extra approval of
	// QuorumWith. Eligible approvers beyond what the clauses need are in
	// neither Assigned nor Ignored.
	Assigned map[string]int
	// Missing has one human-readable entry per unmet clause, like
	// "1 more from [security]"; empty when Met.
	Missing []string
	// Ignored maps each approver that can never count to why, an error
	// wrapping ErrSelfApproval, ErrUnknownPrincipal, ErrDisabled or
	// ErrNotEligible.
	Ignored map[string]error
}

// CheckApprover reports whether approver may approve a request for role
// made by requester. It returns nil or an error wrapping ErrUnknownRole,
// ErrSelfApproval, ErrUnknownPrincipal, ErrDisabled or ErrNotEligible (a
// member of no group of any clause).
func CheckApprover(p *Policy, role, requester, approver string) error {
	r, ok := p.Role(role)
	if !ok {
		return fmt.Errorf("%w %q", ErrUnknownRole, role)
	}
	_, err := approverFor(p, r, requester, approver)
	return err
}

// ApproverRoles lists, sorted, the roles whose requests principal may
// approve (for a requester other than principal): those with a clause
// naming a group of theirs. A disabled or unknown principal approves none.
func ApproverRoles(p *Policy, principal string) []string {
	var out []string
	for i := range p.Roles {
		if _, err := approverFor(p, &p.Roles[i], "", principal); err == nil {
			out = append(out, p.Roles[i].Name)
		}
	}
	slices.Sort(out)
	return out
}

func approverFor(p *Policy, r *Role, requester, approver string) (*Principal, error) {
	if approver == requester {
		return nil, fmt.Errorf("%w: %q requested role %q", ErrSelfApproval, approver, r.Name)
	}
	pr, ok := p.Principal(approver)
	switch {
	case !ok:
		return nil, fmt.Errorf("approver: %w %q", ErrUnknownPrincipal, approver)
	case pr.Disabled:
		return nil, fmt.Errorf("approver %q: %w", approver, ErrDisabled)
	}
	for _, cl := range r.Approval {
		if eligible(pr, cl) {
			return pr, nil
		}
	}
	return nil, fmt.Errorf("%q for role %q: %w (approvers come from %s)", approver, r.Name, ErrNotEligible, approverGroups(r))
}

// Quorum decides whether approvers meet role's approval rule for a request
// made by requester. Each clause needs Count distinct approvers from its
// groups; all clauses must hold; one approver fills one clause slot at
// most; the requester, unknown and disabled principals never count;
// duplicates count once. Approvers eligible for several clauses are
// assigned by maximum bipartite matching, so the result does not depend on
// their order. An unknown role is never met. Quorum is QuorumWith(..., 0).
func Quorum(p *Policy, role, requester string, approvers []string) QuorumResult {
	return QuorumWith(p, role, requester, approvers, 0)
}

// QuorumWith is Quorum with extra more distinct approvers required beyond
// all the clauses, each eligible for at least one clause of the role (the
// broker asks for one when the active policy bundle is older than the
// role's StaleAfter). The extra approvers are an additional clause whose
// groups are those of all clauses, matched together with the others, so
// an approver fills either a clause or an extra slot, never both. In
// Assigned the extra slots have clause index len(role.Approval); a short
// extra reads like "1 more from sre or security (extra approval)". extra
// below 1 adds nothing.
func QuorumWith(p *Policy, role, requester string, approvers []string, extra int) QuorumResult {
	res := QuorumResult{Assigned: map[string]int{}, Ignored: map[string]error{}}
	r, ok := p.Role(role)
	if !ok {
		res.Missing = []string{fmt.Sprintf("unknown role %q", role)}
		return res
	}
	seen := make(map[string]bool, len(approvers))
	var candidates []*Principal
	for _, id := range approvers {
		if seen[id] {
			continue
		}
		seen[id] = true
		pr, err := approverFor(p, r, requester, id)
		if err != nil {
			res.Ignored[id] = err
			continue
		}
		candidates = append(candidates, pr)
	}
	full := withExtra(r, extra)
	m := assign(full, candidates)
	res.Assigned = m.assigned
	for j, cl := range full.Approval {
		short := cl.Count - len(m.byClause[j])
		switch {
		case short <= 0:
		case j == len(r.Approval):
			res.Missing = append(res.Missing, fmt.Sprintf("%d more from %s (extra approval)", short, orList(cl.Groups)))
		default:
			res.Missing = append(res.Missing, fmt.Sprintf("%d more from %s", short, groupList(cl.Groups)))
		}
	}
	res.Met = len(r.Approval) > 0 && len(res.Missing) == 0
	return res
}

// withExtra returns r itself when extra < 1, else a copy of r with one
// more clause: extra approvers from the groups of all its clauses.
func withExtra(r *Role, extra int) *Role {
	if extra < 1 {
		return r
	}
	cp := *r
	cp.Approval = append(slices.Clone(r.Approval), Clause{Count: extra, Groups: clauseGroups(r)})
	return &cp
}

// eligible reports whether pr may fill a slot of cl.
func eligible(pr *Principal, cl Clause) bool {
	if pr.Disabled {
		return false
	}
	for _, g := range cl.Groups {
		for _, mine := range pr.Groups {
			if g == mine {
				return true
			}
		}
	}
	return false
}

// approverGroups lists the groups of all clauses of r, once each.
func approverGroups(r *Role) string { return groupList(clauseGroups(r)) }

// clauseGroups returns the groups of all clauses of r, once each, in the
// order they first appear.
func clauseGroups(r *Role) []string {
	var groups []string
	for _, cl := range r.Approval {
		for _, g := range cl.Groups {
			if !slices.Contains(groups, g) {
				groups = append(groups, g)
			}
		}
	}
	return groups
}

// orList formats groups as "sre", "sre or security", "a, b or c".
func orList(groups []string) string {
	if len(groups) < 2 {
		return strings.Join(groups, "")
	}
	return strings.Join(groups[:len(groups)-1], ", ") + " or " + groups[len(groups)-1]
}

// matching assigns approvers to clause slots (clause j has Count slots).
type matching struct {
	role     *Role
	byClause [][]*Principal // approvers filling each clause
	assigned map[string]int // approver id -> clause index
	filled   int            // slots filled in all
}

// slots is the number of approvers the role needs in all.
func (m *matching) slots() int {
	n := 0
	for _, cl := range m.role.Approval {
		n += cl.Count
	}
	return n
}

// assign computes a maximum matching of candidates (distinct, already
// filtered) to the clause slots of r with Kuhn's augmenting paths: each
// candidate either takes a free slot or moves an assigned approver to
// another clause it is eligible for, so no order of candidates loses a
// quorum that some assignment would meet.
func assign(r *Role, candidates []*Principal) *matching {
	m := &matching{role: r, byClause: make([][]*Principal, len(r.Approval)), assigned: map[string]int{}}
	need := m.slots()
	for _, a := range candidates {
		if m.filled == need {
			break
		}
		if m.augment(a, make([]bool, len(r.Approval))) {
			m.filled++
		}
	}
	return m
}

// augment tries to place a, visiting each clause at most once per search.
func (m *matching) augment(a *Principal, visited []bool) bool {
	for j, cl := range m.role.Approval {
		if visited[j] || !eligible(a, cl) {
			continue
		}
		visited[j] = true
		if len(m.byClause[j]) < cl.Count {
			m.byClause[j] = append(m.byClause[j], a)
			m.assigned[a.ID] = j
			return true
		}
		for k, b := range m.byClause[j] {
			if m.augment(b, visited) {
				m.byClause[j][k] = a
				m.assigned[a.ID] = j
				return true
			}
		}
	}
	return false
}
