package policy_test

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/failsmall/breakglass/policy"
)

// scim is what a directory might report against testdata/valid.yaml: bob
// left, erin left the security team, plus names the policy never defined
// and a removal from a group alice was never in.
var scim = policy.Restriction{
	Disabled: map[string]string{"bob": "left the company", "mallory": "never enrolled", "frank": "already disabled in the file"},
	RemovedFrom: map[string][]string{
		"erin":  {"security", "ops"},
		"alice": {"sre"},
		"ghost": {"sre"},
	},
}

func TestRestrictLookups(t *testing.T) {
	p := mustValid(t)
	q := p.Restrict(scim)
	if q == p {
		t.Fatal("Restrict returned p itself")
	}
	if q.Hash() != p.Hash() || q.FileHash() != p.FileHash() || !bytes.Equal(q.Bytes(), p.Bytes()) {
		t.Errorf("Hash/FileHash/Bytes changed: %s %s, want %s %s", q.Hash(), q.FileHash(), p.Hash(), p.FileHash())
	}
	cases := []struct {
		name      string
		got, want bool
	}{
		{"bob disabled", mustPrincipal(t, q, "bob").Disabled, true},
		{"dave untouched", mustPrincipal(t, q, "dave").Disabled, false},
		{"frank still disabled", mustPrincipal(t, q, "frank").Disabled, true},
		{"erin not in security", q.InGroup("erin", "security"), false},
		{"erin still in sre", q.InGroup("erin", "sre"), true},
		{"erin's groups", slices.Equal(mustPrincipal(t, q, "erin").Groups, []string{"sre"}), true},
		{"alice still in engineering", q.InGroup("alice", "engineering"), true},
		{"alice not made a member of sre", q.InGroup("alice", "sre"), false},
		{"mallory not added", principalExists(q, "mallory"), false},
		{"carol still admin", q.IsAdmin("carol"), true},
	}
	for _, c := range cases {
		if c.got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
	}
	pr, _, ok := q.PrincipalByKey(testKey(t, "bob"))
	if !ok || pr != mustPrincipal(t, q, "bob") || !pr.Disabled {
		t.Errorf("PrincipalByKey(bob) = %+v, %v; want the copy's disabled bob", pr, ok)
	}
	if len(q.Principals) != len(p.Principals) || len(q.Roles) != len(p.Roles) || len(q.Groups) != len(p.Groups) {
		t.Errorf("copy has %d principals, %d roles, %d groups; want %d, %d, %d",
			len(q.Principals), len(q.Roles), len(q.Groups), len(p.Principals), len(p.Roles), len(p.Groups))
	}
}

func TestRestrictLeavesOriginal(t *testing.T) {
	p := mustValid(t)
	before := fmt.Sprintf("%+v", p.Principals)
	q := p.Restrict(scim)
	if after := fmt.Sprintf("%+v", p.Principals); after != before {
		t.Errorf("Principals changed:\n%s\nwant\n%s", after, before)
	}
	if mustPrincipal(t, p, "bob").Disabled || !p.InGroup("erin", "security") {
		t.Error("the original's lookups see the restriction")
	}
	if r := p.Restricted(); len(r.Disabled) != 0 || len(r.RemovedFrom) != 0 {
		t.Errorf("original Restricted() = %+v, want empty", r)
	}
	if mustParse(t, p.Bytes()).Hash() != q.Hash() {
		t.Error("the copy's hash is not the hash of the file")
	}
}

func TestRestrictEvaluation(t *testing.T) {
	p, q := mustValid(t), mustValid(t).Restrict(scim)
	cases := []struct {
		name   string
		check  func(*policy.Policy) error
		before error // nil: allowed in p
		after  error
	}{
		{"disabled requester", func(p *policy.Policy) error {
			_, err := policy.CheckRequest(p, policy.RequestInput{Role: "rollout-halt", Requester: "bob"})
			return err
		}, nil, policy.ErrDisabled},
		{"disabled approver", func(p *policy.Policy) error { return policy.CheckApprover(p, "prod-ssh-root", "alice", "bob") },
			nil, policy.ErrDisabled},
		{"untouched approver", func(p *policy.Policy) error {
			return policy.CheckApprover(p, "prod-ssh-root", "alice", "carol")
		}, nil, nil},
		{"approver still eligible by another group", func(p *policy.Policy) error {
			return policy.CheckApprover(p, "prod-ssh-root", "alice", "erin")
		}, nil, nil},
		{"quorum that needed bob", func(p *policy.Policy) error {
			return quorumErr(policy.Quorum(p, "prod-ssh-root", "alice", []string{"bob", "dave", "erin"}))
		}, nil, errMissing},
		{"quorum that still holds", func(p *policy.Policy) error {
			return quorumErr(policy.Quorum(p, "prod-ssh-root", "alice", []string{"dave", "erin", "carol"}))
		}, nil, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := c.check(p); !sameErr(err, c.before) {
				t.Errorf("original: %v, want %v", err, c.before)
			}
			if err := c.check(q); !sameErr(err, c.after) {
				t.Errorf("restricted: %v, want %v", err, c.after)
			}
		})
	}
	q2 := mustValid(t).Restrict(policy.Restriction{RemovedFrom: map[string][]string{"carol": {"security"}}})
	if err := policy.CheckApprover(q2, "prod-ssh-root", "alice", "carol"); !errors.Is(err, policy.ErrNotEligible) {
		t.Errorf("carol removed from security: CheckApprover = %v, want ErrNotEligible", err)
	}
	// erin, in sre and security, filled the security clause; removed from
	// security she can only fill an sre slot.
	onlySRE := mustValid(t).Restrict(policy.Restriction{RemovedFrom: map[string][]string{"erin": {"security"}}})
	if got := policy.Quorum(onlySRE, "prod-ssh-root", "alice", []string{"bob", "dave", "erin"}); got.Met || !slices.Equal(got.Missing, []string{"1 more from [security]"}) {
		t.Errorf("erin removed from security: Quorum = %+v, want 1 more from [security]", got)
	}
	if got := policy.Quorum(onlySRE, "prod-ssh-root", "alice", []string{"erin", "dave", "carol"}); !got.Met || got.Assigned["erin"] != 0 {
		t.Errorf("erin removed from security: Quorum = %+v, want met with erin in the sre clause", got)
	}
	got := policy.Quorum(q, "prod-ssh-root", "alice", []string{"bob", "dave", "erin"})
	if want := []string{"1 more from [security]"}; !slices.Equal(got.Missing, want) || !errors.Is(got.Ignored["bob"], policy.ErrDisabled) {
		t.Errorf("Quorum = %+v; want Missing %q and bob ignored as disabled", got, want)
	}
}

var errMissing = errors.New("quorum not met")

func quorumErr(q policy.QuorumResult) error {
	if q.Met {
		return nil
	}
	return fmt.Errorf("%w: %s", errMissing, strings.Join(q.Missing, "; "))
}

func sameErr(err, want error) bool {
	if want == nil {
		return err == nil
	}
	return errors.Is(err, want)
}

func TestRestricted(t *testing.T) {
	p := mustValid(t)
	q := p.Restrict(scim)
	want := `map[bob:left the company] map[erin:[security]]`
	if r := q.Restricted(); fmt.Sprint(r.Disabled, " ", r.RemovedFrom) != want {
		t.Errorf("Restricted() = %v %v, want %s", r.Disabled, r.RemovedFrom, want)
	}
	r := q.Restricted()
	r.Disabled["dave"] = "edited by the caller"
	r.RemovedFrom["erin"][0] = "sre"
	if again := q.Restricted(); fmt.Sprint(again.Disabled, " ", again.RemovedFrom) != want {
		t.Errorf("Restricted() shares its maps with the caller: now %v %v", again.Disabled, again.RemovedFrom)
	}
	// The effective restriction applied to the original gives the same policy.
	same := p.Restrict(q.Restricted())
	if fmt.Sprintf("%+v", same.Principals) != fmt.Sprintf("%+v", q.Principals) {
		t.Error("p.Restrict(q.Restricted()) differs from q")
	}
	// Restricting again adds to what was taken away and keeps the first reason.
	more := q.Restrict(policy.Restriction{
		Disabled:    map[string]string{"bob": "second reason", "carol": "on leave"},
		RemovedFrom: map[string][]string{"erin": {"sre"}},
	})
	want = `map[bob:left the company carol:on leave] map[erin:[security sre]]`
	if r := more.Restricted(); fmt.Sprint(r.Disabled, " ", r.RemovedFrom) != want {
		t.Errorf("Restricted() after two restrictions = %v %v, want %s", r.Disabled, r.RemovedFrom, want)
	}
	if fmt.Sprint(q.Restricted().Disabled) != "map[bob:left the company]" || !q.InGroup("erin", "sre") {
		t.Error("restricting q changed q")
	}
}

func TestRestrictionUnknown(t *testing.T) {
	want := []string{`group "ops" (removed from erin)`, `principal "ghost"`, `principal "mallory"`}
	if got := scim.Unknown(mustValid(t)); !slices.Equal(got, want) {
		t.Errorf("Unknown = %q, want %q", got, want)
	}
	if got := (policy.Restriction{}).Unknown(mustValid(t)); len(got) != 0 {
		t.Errorf("empty restriction: Unknown = %q, want none", got)
	}
}

func TestRestrictDisabledAdminSignature(t *testing.T) {
	cur, info, next := chain(t) // admins carol, erin, bob
	signed := mustSigned(t, next, "carol", "erin")
	if _, _, err := policy.VerifyBundle(signed, cur, info, 2); err != nil {
		t.Fatalf("before the restriction: %v", err)
	}
	restricted := cur.Restrict(policy.Restriction{Disabled: map[string]string{"erin": "left"}})
	_, _, err := policy.VerifyBundle(signed, restricted, info, 2)
	var qe *policy.BundleQuorumError
	if !errors.Is(err, policy.ErrBundleQuorum) || !errors.As(err, &qe) || !slices.Equal(qe.Valid, []string{"carol"}) {
		t.Fatalf("erin disabled: err = %v; want ErrBundleQuorum with only carol valid", err)
	}
	sb, err := policy.ParseSignedBundle(mustSigned(t, next, "carol", "bob"))
	if err != nil {
		t.Fatal(err)
	}
	if err := policy.CheckBundleSignatures(sb, restricted, 2); err != nil {
		t.Errorf("carol and bob, erin disabled: %v", err)
	}
}

func mustPrincipal(t *testing.T, p *policy.Policy, id string) *policy.Principal {
	t.Helper()
	pr, ok := p.Principal(id)
	if !ok {
		t.Fatalf("principal %s not found", id)
	}
	return pr
}

func principalExists(p *policy.Policy, id string) bool {
	_, ok := p.Principal(id)
	return ok
}
