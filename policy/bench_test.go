package policy_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/failsmall/breakglass/policy"
)

// largePolicy has n principals with one key each, spread over three
// groups, and ten roles of three clauses.
func largePolicy(n int) []byte {
	var b strings.Builder
	b.WriteString("version: 1\ngroups: [{name: eng}, {name: sre}, {name: security}]\nprincipals:\n")
	groups := []string{"eng", "sre", "security"}
	for i := range n {
		fmt.Fprintf(&b, "  - id: p%d\n    groups: [%s]\n    keys: [%s]\n", i, groups[i%3], keyLine(fmt.Sprint("p", i)))
	}
	b.WriteString("roles:\n")
	for i := range 10 {
		fmt.Fprintf(&b, "  - name: r%d\n    requesters: [eng]\n    duration: {max: 1h}\n    approval:\n"+
			"      - {count: 2, groups: [sre]}\n      - {count: 1, groups: [security]}\n      - {count: 1, groups: [sre, security]}\n", i)
	}
	return []byte(b.String())
}

func BenchmarkParseLarge(b *testing.B) {
	data := largePolicy(1000)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := policy.Parse(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkQuorum(b *testing.B) {
	p := mustParse(b, largePolicy(1000))
	approvers := []string{"p1", "p2", "p4", "p5", "p7", "p8"}
	for b.Loop() {
		if q := policy.Quorum(p, "r3", "p0", approvers); !q.Met {
			b.Fatal(q.Missing)
		}
	}
}
