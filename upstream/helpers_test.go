package upstream_test

import (
	"strings"
	"time"

	"github.com/failsmall/breakglass/internal/brokertest"
	"github.com/failsmall/breakglass/policy"
)

var start = time.Date(2026, 11, 25, 21, 0, 0, 0, time.UTC)

// testPolicy: prod-ssh-root needs two sre and one security approvers; carol
// and erin are the policy admins. KEY(name) becomes name's brokertest key.
const testPolicy = `version: 1
admins: [carol, erin]
groups:
  - name: engineering
  - name: sre
  - name: security
principals:
  - {id: alice, name: Alice, groups: [engineering], keys: [KEY(alice)]}
  - {id: bob, name: Bob, groups: [sre], keys: [KEY(bob)]}
  - {id: dave, name: Dave, groups: [sre], keys: [KEY(dave)]}
  - {id: erin, name: Erin, groups: [security], keys: [KEY(erin)]}
  - {id: carol, name: Carol, groups: [security], keys: [KEY(carol)]}
  - {id: mallory, name: Mallory, groups: [engineering], keys: [KEY(mallory)]}
  - {id: frank, name: Frank, groups: [sre], keys: [KEY(frank)], disabled: true}
roles:
  - name: prod-ssh-root
    requesters: [engineering]
    approval:
      - {count: 2, groups: [sre]}
      - {count: 1, groups: [security]}
    duration: {default: 30m, max: 1h}
    incident: {required: true, pattern: 'INC-[0-9]+'}
    jwt: {audience: [ops-api], scopes: [admin]}
`

// withKeys replaces KEY(name) with name's authorized key, quoted.
func withKeys(text string, names ...string) string {
	for _, n := range names {
		text = strings.ReplaceAll(text, "KEY("+n+")", `"`+brokertest.AuthorizedKey(n)+`"`)
	}
	return text
}

var everyone = []string{"alice", "bob", "dave", "erin", "carol", "mallory", "frank"}

// signedBundle returns the bundle of policyText signed by signers, and its hash.
func signedBundle(policyText string, serial uint64, signers ...string) ([]byte, string, error) {
	b := &policy.Bundle{Serial: serial, Created: start, Policy: []byte(policyText)}
	out, err := b.Encode()
	if err != nil {
		return nil, "", err
	}
	for _, n := range signers {
		sig, err := policy.SignBundle(b, brokertest.Signer(n))
		if err != nil {
			return nil, "", err
		}
		out = append(out, sig...)
	}
	h, err := b.Hash()
	return out, h, err
}
