package policy_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/failsmall/breakglass/policy"
)

const quorumPolicy = `version: 1
groups: [{name: eng}, {name: sre}, {name: security}]
principals:
  - {id: alice, groups: [eng]}
  - {id: s1, groups: [sre]}
  - {id: s2, groups: [sre]}
  - {id: s3, groups: [sre]}
  - {id: sec1, groups: [security]}
  - {id: both, groups: [sre, security]}
  - {id: off, groups: [sre, security], disabled: true}
  - {id: req, groups: [eng, sre]}
roles:
  - name: two-sre-one-sec
    requesters: [eng]
    approval: [{count: 2, groups: [sre]}, {count: 1, groups: [security]}]
    duration: {max: 1h}
  - name: overlap
    requesters: [eng]
    approval: [{count: 1, groups: [sre, security]}, {count: 1, groups: [security]}]
    duration: {max: 1h}
`

func TestQuorum(t *testing.T) {
	p := mustParse(t, []byte(quorumPolicy))
	cases := []struct {
		name, role, requester string
		approvers             []string
		met                   bool
		assigned              map[string]int // nil: not checked
		missing               []string
		ignored               map[string]error
	}{
		{name: "2 sre and 1 security", role: "two-sre-one-sec", requester: "alice", approvers: []string{"s1", "s2", "sec1"},
			met: true, assigned: map[string]int{"s1": 0, "s2": 0, "sec1": 1}},
		{name: "sre only", role: "two-sre-one-sec", requester: "alice", approvers: []string{"s1", "s2", "s3"},
			missing: []string{"1 more from [security]"}},
		{name: "security and one sre", role: "two-sre-one-sec", requester: "alice", approvers: []string{"s1", "sec1"},
			missing: []string{"1 more from [sre]"}},
		{name: "nobody", role: "two-sre-one-sec", requester: "alice",
			missing: []string{"2 more from [sre]", "1 more from [security]"}},
		{name: "duplicates count once", role: "two-sre-one-sec", requester: "alice", approvers: []string{"s1", "s1", "sec1", "sec1"},
			missing: []string{"1 more from [sre]"}},
		{name: "requester never counts", role: "two-sre-one-sec", requester: "req", approvers: []string{"req", "s1", "sec1"},
			missing: []string{"1 more from [sre]"}, ignored: map[string]error{"req": policy.ErrSelfApproval}},
		{name: "disabled never counts", role: "two-sre-one-sec", requester: "alice", approvers: []string{"off", "s1", "sec1"},
			missing: []string{"1 more from [sre]"}, ignored: map[string]error{"off": policy.ErrDisabled}},
		{name: "unknown never counts", role: "two-sre-one-sec", requester: "alice", approvers: []string{"mallory", "s1", "s2", "sec1"},
			met: true, ignored: map[string]error{"mallory": policy.ErrUnknownPrincipal}},
		{name: "ineligible never counts", role: "two-sre-one-sec", requester: "req", approvers: []string{"alice", "s1", "s2", "sec1"},
			met: true, ignored: map[string]error{"alice": policy.ErrNotEligible}},
		{name: "one approver fills one clause", role: "two-sre-one-sec", requester: "alice", approvers: []string{"both", "s1"},
			missing: []string{"1 more from [security]"}},
		{name: "member of both groups moves to the clause that needs it", role: "two-sre-one-sec", requester: "alice",
			approvers: []string{"both", "s1", "s2"}, met: true, assigned: map[string]int{"both": 1, "s1": 0, "s2": 0}},
		{name: "surplus approvers are not assigned", role: "two-sre-one-sec", requester: "alice", approvers: []string{"s1", "s2", "s3", "sec1"},
			met: true, assigned: map[string]int{"s1": 0, "s2": 0, "sec1": 1}},
		{name: "overlapping groups, broad first", role: "overlap", requester: "alice", approvers: []string{"both", "sec1"},
			met: true},
		{name: "overlapping groups, narrow first", role: "overlap", requester: "alice", approvers: []string{"sec1", "both"},
			met: true},
		{name: "overlapping groups, needs the narrow clause", role: "overlap", requester: "alice", approvers: []string{"both", "s1"},
			met: true, assigned: map[string]int{"s1": 0, "both": 1}},
		{name: "overlapping groups, one approver", role: "overlap", requester: "alice", approvers: []string{"sec1"},
			missing: []string{"1 more from [security]"}},
		{name: "unknown role", role: "nope", requester: "alice", approvers: []string{"s1"},
			missing: []string{`unknown role "nope"`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := policy.Quorum(p, c.role, c.requester, c.approvers)
			checkQuorum(t, got, c.met, c.missing, c.assigned, c.ignored)
			if _, self := got.Assigned[c.requester]; self {
				t.Errorf("the requester %s was assigned", c.requester)
			}
		})
	}
}

// TestQuorumMatchesExhaustiveSearch compares Quorum with a search over every
// assignment of approvers to clauses, on random small policies and in
// random approver orders.
func TestQuorumMatchesExhaustiveSearch(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	groups := []string{"g0", "g1", "g2"}
	var checked, met, metExtra int
	for iter := range 300 {
		var b strings.Builder
		b.WriteString("version: 1\ngroups: [{name: g0}, {name: g1}, {name: g2}, {name: req}]\nprincipals:\n  - {id: requester, groups: [req]}\n")
		members := map[string][]string{}
		var ids []string
		for i := range 2 + rng.IntN(5) {
			id := fmt.Sprintf("p%d", i)
			ids = append(ids, id)
			for _, g := range groups {
				if rng.IntN(2) == 0 {
					members[id] = append(members[id], g)
				}
			}
			if len(members[id]) == 0 {
				members[id] = []string{groups[rng.IntN(len(groups))]}
			}
			fmt.Fprintf(&b, "  - {id: %s, groups: [%s]}\n", id, strings.Join(members[id], ", "))
		}
		var clauses []policy.Clause
		b.WriteString("roles:\n  - name: r\n    requesters: [req]\n    duration: {max: 1h}\n    approval:\n")
		for range 1 + rng.IntN(3) {
			cl := policy.Clause{Count: 1 + rng.IntN(2), Groups: []string{groups[rng.IntN(3)]}}
			if rng.IntN(2) == 0 && cl.Groups[0] != "g2" {
				cl.Groups = append(cl.Groups, "g2")
			}
			clauses = append(clauses, cl)
			fmt.Fprintf(&b, "      - {count: %d, groups: [%s]}\n", cl.Count, strings.Join(cl.Groups, ", "))
		}
		p, err := policy.Parse([]byte(b.String()))
		if err != nil {
			continue // e.g. a clause needs more members than exist
		}
		approvers := slices.Clone(ids)
		rng.Shuffle(len(approvers), func(i, j int) { approvers[i], approvers[j] = approvers[j], approvers[i] })
		approvers = approvers[:rng.IntN(len(approvers)+1)]
		want := exhaustive(clauses, approvers, members)
		got := policy.Quorum(p, "r", "requester", approvers)
		if got.Met != want {
			t.Fatalf("iteration %d: Quorum(%v).Met = %v, exhaustive search says %v\n%s", iter, approvers, got.Met, want, b.String())
		}
		checked++
		if got.Met {
			met++
			checkAssignment(t, clauses, members, got.Assigned)
		}
		// One more approver from any clause's groups is one more clause.
		withExtra := append(slices.Clone(clauses), policy.Clause{Count: 1, Groups: unionGroups(clauses)})
		want = exhaustive(withExtra, approvers, members)
		got = policy.QuorumWith(p, "r", "requester", approvers, 1)
		if got.Met != want {
			t.Fatalf("iteration %d: QuorumWith(%v, 1).Met = %v, exhaustive search says %v\n%s", iter, approvers, got.Met, want, b.String())
		}
		if got.Met {
			metExtra++
			checkAssignment(t, withExtra, members, got.Assigned)
		}
	}
	if checked < 100 || met < 20 || checked-met < 20 || metExtra < 10 || met-metExtra < 10 {
		t.Errorf("only %d random policies checked, %d met: the generator needs tuning", checked, met)
	}
}

// unionGroups returns the groups of all clauses, once each.
func unionGroups(clauses []policy.Clause) []string {
	var groups []string
	for _, cl := range clauses {
		for _, g := range cl.Groups {
			if !slices.Contains(groups, g) {
				groups = append(groups, g)
			}
		}
	}
	return groups
}

// exhaustive reports whether some assignment of approvers (each to one
// clause it is eligible for, or to none) fills every clause.
func exhaustive(clauses []policy.Clause, approvers []string, members map[string][]string) bool {
	filled := make([]int, len(clauses))
	var try func(i int) bool
	try = func(i int) bool {
		if i == len(approvers) {
			for j, cl := range clauses {
				if filled[j] < cl.Count {
					return false
				}
			}
			return true
		}
		if try(i + 1) {
			return true
		}
		for j, cl := range clauses {
			if slices.ContainsFunc(cl.Groups, func(g string) bool { return slices.Contains(members[approvers[i]], g) }) {
				filled[j]++
				ok := try(i + 1)
				filled[j]--
				if ok {
					return true
				}
			}
		}
		return false
	}
	return try(0)
}

// checkAssignment verifies a met quorum's Assigned: each approver is in a
// group of its clause, and each clause has exactly its count.
func checkAssignment(t *testing.T, clauses []policy.Clause, members map[string][]string, assigned map[string]int) {
	t.Helper()
	count := make([]int, len(clauses))
	for id, j := range assigned {
		if !slices.ContainsFunc(clauses[j].Groups, func(g string) bool { return slices.Contains(members[id], g) }) {
			t.Errorf("%s assigned to clause %d without being in %v", id, j, clauses[j].Groups)
		}
		count[j]++
	}
	for j, cl := range clauses {
		if count[j] != cl.Count {
			t.Errorf("clause %d has %d approvers assigned, want %d", j, count[j], cl.Count)
		}
	}
}

func TestQuorumOrderIndependent(t *testing.T) {
	p := mustParse(t, []byte(quorumPolicy))
	approvers := []string{"both", "s1", "s2", "sec1"}
	permute(approvers, 0, func(order []string) {
		if got := policy.Quorum(p, "two-sre-one-sec", "alice", order); !got.Met {
			t.Errorf("Quorum(%v) not met: %v", order, got.Missing)
		}
		if got := policy.Quorum(p, "two-sre-one-sec", "alice", order[:2]); got.Met {
			t.Errorf("Quorum(%v) met with two approvers", order[:2])
		}
	})
}

func permute(s []string, k int, f func([]string)) {
	if k == len(s) {
		f(s)
		return
	}
	for i := k; i < len(s); i++ {
		s[k], s[i] = s[i], s[k]
		permute(s, k+1, f)
		s[k], s[i] = s[i], s[k]
	}
}

func TestQuorumWith(t *testing.T) {
	p := mustParse(t, []byte(quorumPolicy))
	cases := []struct {
		name, role, requester string
		approvers             []string
		extra                 int
		met                   bool
		assigned              map[string]int // nil: not checked
		missing               []string
		ignored               map[string]error
	}{
		{name: "clauses met, extra short", role: "two-sre-one-sec", requester: "alice", approvers: []string{"s1", "s2", "sec1"}, extra: 1,
			missing: []string{"1 more from sre or security (extra approval)"}},
		{name: "a third sre is the extra", role: "two-sre-one-sec", requester: "alice", approvers: []string{"s1", "s2", "s3", "sec1"}, extra: 1,
			met: true},
		{name: "extra from the security clause's group", role: "two-sre-one-sec", requester: "alice", approvers: []string{"s1", "s2", "sec1", "both"}, extra: 1,
			met: true},
		{name: "member of two groups fills a clause, not also the extra", role: "two-sre-one-sec", requester: "alice",
			approvers: []string{"both", "s1", "s2"}, extra: 1,
			assigned: map[string]int{"both": 1, "s1": 0, "s2": 0}, missing: []string{"1 more from sre or security (extra approval)"}},
		{name: "member of two groups moves so a plain sre can be the extra", role: "two-sre-one-sec", requester: "alice",
			approvers: []string{"both", "s1", "s2", "s3"}, extra: 1, met: true},
		{name: "member of two groups alone", role: "two-sre-one-sec", requester: "alice", approvers: []string{"both"}, extra: 1,
			missing: []string{"1 more from [sre]", "1 more from [security]", "1 more from sre or security (extra approval)"}},
		{name: "the extra does not take the clause's place", role: "two-sre-one-sec", requester: "alice", approvers: []string{"s1", "s2", "s3"}, extra: 1,
			missing: []string{"1 more from [security]"}},
		{name: "nobody", role: "two-sre-one-sec", requester: "alice", extra: 1,
			missing: []string{"2 more from [sre]", "1 more from [security]", "1 more from sre or security (extra approval)"}},
		{name: "two extra", role: "two-sre-one-sec", requester: "alice", approvers: []string{"s1", "s2", "s3", "sec1"}, extra: 2,
			missing: []string{"1 more from sre or security (extra approval)"}},
		{name: "two extra met", role: "two-sre-one-sec", requester: "alice", approvers: []string{"s1", "s2", "s3", "sec1", "both"}, extra: 2,
			met: true},
		{name: "requester is not the extra", role: "two-sre-one-sec", requester: "req", approvers: []string{"req", "s1", "s2", "sec1"}, extra: 1,
			missing: []string{"1 more from sre or security (extra approval)"}, ignored: map[string]error{"req": policy.ErrSelfApproval}},
		{name: "disabled is not the extra", role: "two-sre-one-sec", requester: "alice", approvers: []string{"off", "s1", "s2", "sec1"}, extra: 1,
			missing: []string{"1 more from sre or security (extra approval)"}, ignored: map[string]error{"off": policy.ErrDisabled}},
		{name: "ineligible is not the extra", role: "two-sre-one-sec", requester: "req", approvers: []string{"alice", "s1", "s2", "sec1"}, extra: 1,
			missing: []string{"1 more from sre or security (extra approval)"}, ignored: map[string]error{"alice": policy.ErrNotEligible}},
		{name: "extra 0 is Quorum", role: "two-sre-one-sec", requester: "alice", approvers: []string{"s1", "s2", "sec1"}, extra: 0,
			met: true, assigned: map[string]int{"s1": 0, "s2": 0, "sec1": 1}},
		{name: "negative extra adds nothing", role: "two-sre-one-sec", requester: "alice", approvers: []string{"s1", "s2", "sec1"}, extra: -1,
			met: true},
		{name: "overlapping groups, extra from either", role: "overlap", requester: "alice", approvers: []string{"sec1", "both", "s1"}, extra: 1,
			met: true},
		{name: "unknown role", role: "nope", requester: "alice", extra: 1, missing: []string{`unknown role "nope"`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := policy.QuorumWith(p, c.role, c.requester, c.approvers, c.extra)
			checkQuorum(t, got, c.met, c.missing, c.assigned, c.ignored)
			if got.Met && len(got.Assigned) != countSlots(p, c.role)+max(c.extra, 0) {
				t.Errorf("met with %d approvers assigned (%v), want one per slot", len(got.Assigned), got.Assigned)
			}
		})
	}
}

func countSlots(t *policy.Policy, role string) int {
	r, _ := t.Role(role)
	n := 0
	for _, cl := range r.Approval {
		n += cl.Count
	}
	return n
}

// checkQuorum compares a QuorumResult with what a case expects; a nil
// assigned is not checked.
func checkQuorum(t *testing.T, got policy.QuorumResult, met bool, missing []string, assigned map[string]int, ignored map[string]error) {
	t.Helper()
	if got.Met != met {
		t.Errorf("Met = %v, want %v (result %+v)", got.Met, met, got)
	}
	if !slices.Equal(got.Missing, missing) {
		t.Errorf("Missing = %q, want %q", got.Missing, missing)
	}
	if assigned != nil && fmt.Sprint(got.Assigned) != fmt.Sprint(assigned) {
		t.Errorf("Assigned = %v, want %v", got.Assigned, assigned)
	}
	if len(got.Ignored) != len(ignored) {
		t.Errorf("Ignored = %v, want %v", got.Ignored, ignored)
	}
	for id, want := range ignored {
		if !errors.Is(got.Ignored[id], want) {
			t.Errorf("Ignored[%s] = %v, want %v", id, got.Ignored[id], want)
		}
	}
}
