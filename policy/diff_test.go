package policy_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/failsmall/breakglass/policy"
	"golang.org/x/crypto/ssh"
)

const diffBase = `version: 1
admins: [carol]
groups:
  - {name: eng, description: engineers}
  - {name: sre}
  - {name: security}
  - {name: legacy}
principals:
  - {id: alice, name: Alice, groups: [eng], keys: [KEY(alice)]}
  - {id: bob, groups: [sre], keys: [KEY(bob)]}
  - {id: carol, groups: [security], keys: [KEY(carol)]}
  - {id: dave, groups: [sre]}
roles:
  - name: dev-admin
    requesters: [eng]
    approval: [{count: 1, groups: [sre, security]}]
    duration: {default: 30m, max: 1h}
`

// diffEdit returns diffBase with each pair of old, new strings replaced
// once; it fails when an old string is missing.
func diffEdit(t *testing.T, pairs ...string) *policy.Policy {
	t.Helper()
	s := diffBase
	for i := 0; i+1 < len(pairs); i += 2 {
		if !strings.Contains(s, pairs[i]) {
			t.Fatalf("diffBase has no %q", pairs[i])
		}
		s = strings.Replace(s, pairs[i], pairs[i+1], 1)
	}
	return mustParse(t, []byte(withKeys(s)))
}

// withFingerprints replaces FP(name) placeholders with the SHA256
// fingerprint of name's fixed key.
func withFingerprints(t *testing.T, s string) string {
	for {
		i := strings.Index(s, "FP(")
		if i < 0 {
			return s
		}
		j := strings.IndexByte(s[i:], ')')
		s = s[:i] + ssh.FingerprintSHA256(testKey(t, s[i+3:i+j])) + s[i+j+1:]
	}
}

func TestDiff(t *testing.T) {
	const role = "  - name: dev-admin\n"
	cases := []struct {
		name  string
		edits []string
		want  string
	}{
		{"identical", nil, ""},
		{"reordered lists and a new key comment are no change", []string{
			"[sre, security]", "[security, sre]",
			"{id: carol, groups: [security], keys: [KEY(carol)]}", "{groups: [security], id: carol, keys: ['KEY(carol) new-laptop']}"}, ""},
		{"admins and quorum", []string{"admins: [carol]", "admins: [bob, carol]\nadmin_quorum: 2"},
			"+ admin bob\n~ admin_quorum: 1 -> 2\n"},
		{"admin replaced", []string{"admins: [carol]", "admins: [bob]"}, "+ admin bob\n- admin carol\n"},
		{"groups", []string{"  - {name: legacy}\n", "  - {name: ops}\n", "engineers", "product engineers"},
			"+ group ops\n- group legacy\n~ group eng: description\n"},
		{"principals added and removed", []string{"  - {id: dave, groups: [sre]}\n", "  - {id: erin, groups: [sre]}\n  - {id: eve, groups: [eng]}\n"},
			"+ principal erin\n+ principal eve\n- principal dave\n"},
		{"principal changes", []string{
			"{id: bob, groups: [sre], keys: [KEY(bob)]}", "{id: bob, groups: [security, eng], keys: [KEY(bob2), KEY(alice2)], disabled: true}",
			"{id: alice, name: Alice,", "{id: alice, name: Alice Example,",
			"{id: dave, groups: [sre]}", "{id: dave, groups: [sre], disabled: true}"},
			"~ principal alice: name\n" +
				"~ principal bob: joins eng, security; leaves sre; key added FP(alice2); key added FP(bob2); key removed FP(bob); disabled\n" +
				"~ principal dave: disabled\n"},
		{"role added and changed", []string{
			"[{count: 1, groups: [sre, security]}]", "[{count: 1, groups: [sre]}, {count: 1, groups: [security]}]",
			"max: 1h}\n", "max: 2h}\n  - {name: db-admin, requesters: [sre], approval: [{count: 1, groups: [security]}], duration: {max: 1h}}\n"},
			"+ role db-admin\n~ role dev-admin: approval, max duration\n"},
		{"role removed", []string{"roles:\n", "roles:\n  - {name: db-admin, requesters: [sre], approval: [{count: 1, groups: [security]}], duration: {max: 1h}}\n"},
			"+ role db-admin\n"},
		{"every other role field", []string{role, role +
			"    description: admin on dev\n" +
			"    incident: {required: true}\n" +
			"    min_reason: 10\n" +
			"    pending_ttl: 2h\n" +
			"    require_user_verification: true\n" +
			"    jwt: {audience: [dev-api], scopes: [admin]}\n" +
			"    ssh: {principals: [root]}\n" +
			"    drills: true\n" +
			"    stale_after: 720h\n",
			"requesters: [eng]", "requesters: [eng, sre]",
			"{default: 30m, max: 1h}", "{default: 15m, max: 1h}"},
			"~ role dev-admin: description, requesters, default duration, incident, min reason, pending ttl, " +
				"require user verification, audience, scopes, ssh, drills, stale after\n"},
	}
	old := diffEdit(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := policy.Diff(old, diffEdit(t, c.edits...))
			want := withFingerprints(t, c.want)
			if got := d.String(); got != want {
				t.Errorf("Diff:\n%s\nwant:\n%s", got, want)
			}
			if d.Empty() != (want == "") {
				t.Errorf("Empty() = %v with diff %q", d.Empty(), d.String())
			}
		})
	}
}

func TestDiffRoleDetails(t *testing.T) {
	const before = "  - name: dev-admin\n    incident: {pattern: 'INC-1'}\n    jwt: {audience: [a, b]}\n    ssh: {principals: [root, ops], extensions: {permit-pty: ''}}\n"
	cases := []struct{ name, after, want string }{
		{"pattern", strings.Replace(before, "INC-1", "INC-2", 1), "incident"},
		{"extension", strings.Replace(before, "{permit-pty: ''}", "{permit-pty: '', permit-port-forwarding: ''}", 1), "ssh"},
		{"ssh removed", strings.Replace(before, "    ssh: {principals: [root, ops], extensions: {permit-pty: ''}}\n", "", 1), "ssh"},
		{"audience order", strings.Replace(before, "[a, b]", "[b, a]", 1), ""},
		{"ssh principal order", strings.Replace(before, "[root, ops]", "[ops, root]", 1), ""},
	}
	old := diffEdit(t, "  - name: dev-admin\n", before)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := policy.Diff(old, diffEdit(t, "  - name: dev-admin\n", c.after))
			want := ""
			if c.want != "" {
				want = "~ role dev-admin: " + c.want + "\n"
			}
			if got := d.String(); got != want {
				t.Errorf("Diff = %q, want %q", got, want)
			}
		})
	}
}

func TestDiffFromNothing(t *testing.T) {
	want := "+ admin carol\n~ admin_quorum: 0 -> 1\n+ group eng\n+ group legacy\n+ group security\n+ group sre\n" +
		"+ principal alice\n+ principal bob\n+ principal carol\n+ principal dave\n+ role dev-admin\n"
	if got := policy.Diff(nil, diffEdit(t)).String(); got != want {
		t.Errorf("Diff(nil, p):\n%s\nwant:\n%s", got, want)
	}
	if got := policy.Diff(nil, nil); !got.Empty() {
		t.Errorf("Diff(nil, nil) = %q, want empty", got)
	}
}

func TestDiffShowsRestriction(t *testing.T) {
	p := diffEdit(t)
	q := p.Restrict(policy.Restriction{Disabled: map[string]string{"bob": "left"}, RemovedFrom: map[string][]string{"dave": {"sre"}}})
	if got, want := policy.Diff(p, q).String(), "~ principal bob: disabled\n~ principal dave: leaves sre\n"; got != want {
		t.Errorf("Diff(p, restricted):\n%s\nwant:\n%s", got, want)
	}
}

func TestDiffJSON(t *testing.T) {
	d := policy.Diff(diffEdit(t), diffEdit(t,
		"admins: [carol]", "admins: [bob, carol]\nadmin_quorum: 2",
		"{id: dave, groups: [sre]}", "{id: dave, groups: [sre, eng], disabled: true}",
		"{default: 30m, max: 1h}", "{max: 1h}"))
	got, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"admins_added":["bob"],"admin_quorum":{"old":1,"new":2},` +
		`"principals_changed":[{"id":"dave","joined":["eng"],"disabled":true}],` +
		`"roles_changed":[{"name":"dev-admin","fields":["default duration"]}]}`
	if string(got) != want {
		t.Errorf("JSON:\n%s\nwant:\n%s", got, want)
	}
	empty, err := json.Marshal(policy.Diff(diffEdit(t), diffEdit(t)))
	if err != nil || string(empty) != "{}" {
		t.Errorf("JSON of no change = %s, %v; want {}", empty, err)
	}
}
