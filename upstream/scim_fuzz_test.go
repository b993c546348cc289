package upstream

import (
	"os"
	"testing"

	"github.com/failsmall/breakglass/policy"
)

// FuzzSCIMPage feeds arbitrary bytes to the SCIM page parser and the
// directory builder, then computes the restrictions against the example
// policy: nothing may panic, and a directory may only take away: every
// principal it disables and every group it removes someone from exists in
// the policy, and that person was a member.
func FuzzSCIMPage(f *testing.F) {
	f.Add([]byte(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:ListResponse"],"totalResults":2,"startIndex":1,"Resources":[
		{"id":"1","userName":"bob","active":false},{"id":"g","displayName":"sre","members":[{"value":"1"}]}]}`))
	f.Add([]byte(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:ListResponse"],"totalResults":0,"Resources":[]}`))
	f.Add([]byte(`{"totalResults":-1}`))
	data, err := os.ReadFile("../policy/testdata/valid.yaml")
	if err != nil {
		f.Fatal(err)
	}
	p, err := policy.Parse(data)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		pg, err := parsePage(body, 1, -1)
		if err != nil {
			return
		}
		b := &builder{seen: map[string]bool{}}
		for _, raw := range pg.Resources {
			b.addUser(raw)
			b.addGroup(raw)
		}
		r, _ := Restrictions(p, &b.d)
		for id := range r.Disabled {
			if _, ok := p.Principal(id); !ok {
				t.Fatalf("disabled %q, who is not in the policy", id)
			}
		}
		for id, groups := range r.RemovedFrom {
			for _, g := range groups {
				if !p.InGroup(id, g) {
					t.Fatalf("removed %q from %q, which they were not in", id, g)
				}
			}
		}
		q := p.Restrict(r)
		if q.Hash() != p.Hash() || len(q.Principals) != len(p.Principals) {
			t.Fatal("a restriction changed the policy's identity or its people")
		}
	})
}
