package policy_test

import (
	"fmt"

	"github.com/failsmall/breakglass/policy"
)

func ExampleParse() {
	_, err := policy.Parse([]byte(`version: 1
groups: [{name: sre}]
principals:
  - {id: bob, groups: [sre]}
roles:
  - name: ops
    requesters: [sre]
    approval: [{count: 2, groups: [sre]}]
    duration: {max: 1h}
    min_reson: 10
`))
	fmt.Println(err)
	// Output:
	// line 8: roles[0].approval[0].count: needs 2 approvers from [sre] but only 1 principals are eligible
	// line 10: roles[0].min_reson: unknown field (did you mean "min_reason"?)
}

func ExampleQuorum() {
	p, err := policy.Parse([]byte(`version: 1
groups: [{name: eng}, {name: sre}, {name: security}]
principals:
  - {id: alice, groups: [eng]}
  - {id: bob, groups: [sre, security]}
  - {id: carol, groups: [security]}
roles:
  - name: prod
    requesters: [eng]
    approval:
      - {count: 1, groups: [sre, security]}
      - {count: 1, groups: [security]}
    duration: {max: 1h}
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(policy.Quorum(p, "prod", "alice", []string{"bob"}).Missing)
	q := policy.Quorum(p, "prod", "alice", []string{"carol", "bob", "alice"})
	fmt.Println(q.Met, q.Assigned, q.Ignored["alice"])
	// Output:
	// [1 more from [security]]
	// true map[bob:0 carol:1] requester cannot approve their own request: "alice" requested role "prod"
}

func ExampleQuorumWith() {
	p, err := policy.Parse([]byte(`version: 1
groups: [{name: eng}, {name: sre}, {name: security}]
principals:
  - {id: alice, groups: [eng]}
  - {id: bob, groups: [sre, security]}
  - {id: carol, groups: [security]}
  - {id: dave, groups: [sre]}
roles:
  - name: prod
    requesters: [eng]
    approval: [{count: 1, groups: [sre]}, {count: 1, groups: [security]}]
    duration: {max: 1h}
    stale_after: 720h
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	// The active bundle is older than 720h: one more approver is needed.
	fmt.Println(policy.QuorumWith(p, "prod", "alice", []string{"bob", "carol"}, 1).Missing)
	fmt.Println(policy.QuorumWith(p, "prod", "alice", []string{"bob", "carol", "dave"}, 1).Met)
	// Output:
	// [1 more from sre or security (extra approval)]
	// true
}
