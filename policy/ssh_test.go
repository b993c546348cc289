package policy_test

import (
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/failsmall/breakglass/policy"
)

func TestParseSSH(t *testing.T) {
	p := mustParse(t, []byte(plus(
		"    ssh:",
		"      principals: [breakglass, root]",
		`      extensions: {permit-pty: "", "login@example.com": "alice"}`,
		"      source_address: 10.0.0.0/8,127.0.0.1,::1/128",
		"      force_command: /usr/local/bin/fix-disk",
	)))
	r, _ := p.Role("ops")
	if r.SSH == nil {
		t.Fatal("role ops: SSH is nil, want the parsed ssh section")
	}
	if got, want := r.SSH.Principals, []string{"breakglass", "root"}; !slices.Equal(got, want) {
		t.Errorf("principals = %q, want %q", got, want)
	}
	if got, want := r.SSH.Extensions, map[string]string{"permit-pty": "", "login@example.com": "alice"}; !maps.Equal(got, want) {
		t.Errorf("extensions = %v, want %v", got, want)
	}
	if got, want := r.SSH.SourceAddress, "10.0.0.0/8,127.0.0.1,::1/128"; got != want {
		t.Errorf("source address = %q, want %q", got, want)
	}
	if got, want := r.SSH.ForceCommand, "/usr/local/bin/fix-disk"; got != want {
		t.Errorf("force command = %q, want %q", got, want)
	}
	if r := mustParse(t, []byte(plus())).Roles[0]; r.SSH != nil {
		t.Errorf("a role without ssh: SSH = %+v, want nil", r.SSH)
	}
}

func TestParseSSHProblems(t *testing.T) {
	cases := []struct {
		name, yaml, field, msg string
		line                   int
	}{
		{"no principals", plus("    ssh: {extensions: {permit-pty: \"\"}}"), "roles[0].ssh.principals", "required: at least one login principal", 18},
		{"empty principals", plus("    ssh: {principals: []}"), "roles[0].ssh.principals", "required", 18},
		{"principal with comma", plus("    ssh: {principals: ['a,b']}"), "roles[0].ssh.principals[0]", "contains a comma", 18},
		{"principal with space", plus("    ssh: {principals: ['a b']}"), "roles[0].ssh.principals[0]", "contains a comma, a space", 18},
		{"principal twice", plus("    ssh: {principals: [root, root]}"), "roles[0].ssh.principals[1]", `"root" listed twice`, 18},
		{"unknown field", plus("    ssh: {principals: [root], source_adress: 10.0.0.0/8}"), "roles[0].ssh.source_adress", `did you mean "source_address"?`, 18},
		{"not a mapping", plus("    ssh: [root]"), "roles[0].ssh", "expected a mapping", 18},
		{"standard extension with value", plus("    ssh: {principals: [root], extensions: {permit-pty: yes}}"), "roles[0].ssh.extensions.permit-pty", "takes no value", 18},
		{"unknown extension", plus("    ssh: {principals: [root], extensions: {permit-ptty: \"\"}}"), "roles[0].ssh.extensions.permit-ptty", `unknown extension (did you mean "permit-pty"?)`, 18},
		{"extensions as list", plus("    ssh: {principals: [root], extensions: [permit-pty]}"), "roles[0].ssh.extensions", "expected a mapping", 18},
		{"source address with space", plus("    ssh: {principals: [root], source_address: '10.0.0.0/8, 127.0.0.1'}"), "roles[0].ssh.source_address", "without spaces", 18},
		{"source address host bits", plus("    ssh: {principals: [root], source_address: 10.0.0.1/8}"), "roles[0].ssh.source_address", "did you mean 10.0.0.0/8?", 18},
		{"source address garbage", plus("    ssh: {principals: [root], source_address: intranet}"), "roles[0].ssh.source_address", `"intranet" is not an IP address`, 18},
		{"source address empty", plus("    ssh: {principals: [root], source_address: ''}"), "roles[0].ssh.source_address", "empty address list", 18},
		{"force command blank", plus("    ssh: {principals: [root], force_command: ' '}"), "roles[0].ssh.force_command", "empty", 18},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ve := mustProblems(t, []byte(c.yaml))
			ok := slices.ContainsFunc(ve.Problems, func(p policy.Problem) bool {
				return p.Line == c.line && p.Field == c.field && strings.Contains(p.Msg, c.msg)
			})
			if !ok {
				t.Errorf("problems:\n%v\nwant one on line %d, field %q, containing %q", ve, c.line, c.field, c.msg)
			}
		})
	}
}
