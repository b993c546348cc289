package policy_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/failsmall/breakglass/policy"
)

// baseLines is a small valid policy; cases edit it by line number, so the
// line a problem is expected on can be read off this list.
func baseLines() []string {
	return []string{
		/* 1 */ "version: 1",
		/* 2 */ "groups:",
		/* 3 */ "  - name: sre",
		/* 4 */ "  - name: security",
		/* 5 */ "principals:",
		/* 6 */ "  - id: bob",
		/* 7 */ "    groups: [sre]",
		/* 8 */ "    keys: [KEY(bob)]",
		/* 9 */ "  - id: carol",
		/* 10 */ "    groups: [security]",
		/* 11 */ "roles:",
		/* 12 */ "  - name: ops",
		/* 13 */ "    requesters: [sre]",
		/* 14 */ "    approval:",
		/* 15 */ "      - count: 1",
		/* 16 */ "        groups: [sre]",
		/* 17 */ "    duration: {max: 1h}",
	}
}

// edit returns baseLines with line n (1-based) replaced by s; s may hold
// several lines, or be "" to delete line n.
func edit(n int, s string) string { return editAll(map[int]string{n: s}) }

func editAll(edits map[int]string) string {
	var out []string
	for i, l := range baseLines() {
		s, ok := edits[i+1]
		switch {
		case !ok:
			out = append(out, l)
		case s != "":
			out = append(out, s)
		}
	}
	return withKeys(strings.Join(out, "\n") + "\n")
}

// plus returns baseLines with lines appended after line 17.
func plus(lines ...string) string {
	return withKeys(strings.Join(append(baseLines(), lines...), "\n") + "\n")
}

type problemCase struct {
	name  string
	yaml  string
	line  int
	field string
	msg   string // substring of the problem's message
}

func problemCases() []problemCase {
	return []problemCase{
		{"unknown top-level field", edit(1, "version: 1\nvershun: 1"), 2, "vershun", `unknown field (did you mean "version"?)`},
		{"typo in role field", plus("    min_reson: 10"), 18, "roles[0].min_reson", `did you mean "min_reason"?`},
		{"unknown field in clause", edit(16, "        groups: [sre]\n        quorum: 1"), 17, "roles[0].approval[0].quorum", "unknown field"},
		{"field set twice", plus("    requesters: [security]"), 18, "roles[0].requesters", "set twice (first on line 13)"},
		{"count not a number", edit(15, "      - count: two"), 15, "roles[0].approval[0].count", "expected a whole number, got a string"},
		{"groups not a list", edit(7, "    groups: sre"), 7, "principals[0].groups", "expected a list, got a string"},
		{"principal not a mapping", edit(9, "  - carol\n  - id: carol"), 9, "principals[1]", "expected a mapping, got a string"},
		{"disabled not a boolean", edit(8, "    keys: [KEY(bob)]\n    disabled: maybe"), 9, "principals[0].disabled", "expected true or false"},
		{"version 2", edit(1, "version: 2"), 1, "version", "unsupported version 2"},
		{"version quoted", edit(1, `version: "1"`), 1, "version", "expected a whole number"},
		{"version missing", edit(1, ""), 1, "version", "required"},
		{"duplicate group", edit(4, "  - name: sre"), 4, "groups[1].name", `duplicate group "sre" (first defined on line 3)`},
		{"duplicate principal", edit(9, "  - id: bob"), 9, "principals[1].id", `duplicate principal "bob" (first defined on line 6)`},
		{"duplicate role", plus("  - name: ops", "    requesters: [sre]", "    approval: [{count: 1, groups: [sre]}]", "    duration: {max: 1h}"),
			18, "roles[1].name", `duplicate role "ops" (first defined on line 12)`},
		{"bad principal id", edit(9, "  - id: Carol"), 9, "principals[1].id", `id "Carol" must match`},
		{"bad group name", edit(4, "  - name: 9sec"), 4, "groups[1].name", "must match"},
		{"group without name", edit(4, "  - description: no name"), 4, "groups[1].name", "required"},
		{"unknown group of principal", edit(7, "    groups: [sre, sreee]"), 7, "principals[0].groups[1]", `unknown group "sreee" (did you mean "sre"?)`},
		{"group listed twice", edit(7, "    groups: [sre, sre]"), 7, "principals[0].groups[1]", `group "sre" listed twice`},
		{"unknown requester group", edit(13, "    requesters: [dev]"), 13, "roles[0].requesters[0]", `unknown group "dev"`},
		{"unknown clause group", edit(16, "        groups: [ops]"), 16, "roles[0].approval[0].groups[0]", `unknown group "ops"`},
		{"unknown admin", edit(1, "version: 1\nadmins: [mallory]"), 2, "admins[0]", `unknown principal "mallory"`},
		{"admin_quorum above admins", edit(1, "version: 1\nadmins: [carol]\nadmin_quorum: 2"), 3, "admin_quorum", "2 admin signatures required but only 1 admins are listed"},
		{"admin_quorum without admins", edit(1, "version: 1\nadmin_quorum: 1"), 2, "admin_quorum", "only 0 admins are listed"},
		{"admin_quorum zero", edit(1, "version: 1\nadmins: [carol]\nadmin_quorum: 0"), 3, "admin_quorum", "must be at least 1, got 0"},
		{"admin_quorum not a number", edit(1, "version: 1\nadmins: [carol]\nadmin_quorum: two"), 3, "admin_quorum", "expected a whole number, got a string"},
		{"admin_quorum decimal", edit(1, "version: 1\nadmins: [carol]\nadmin_quorum: 1.5"), 3, "admin_quorum", "expected a whole number, got a decimal number"},
		{"count zero", edit(15, "      - count: 0"), 15, "roles[0].approval[0].count", "must be at least 1, got 0"},
		{"count missing", editAll(map[int]string{15: "      - groups: [sre]", 16: ""}), 15, "roles[0].approval[0].count", "required"},
		{"clause without groups", edit(16, ""), 15, "roles[0].approval[0].groups", "required"},
		{"count above eligible", edit(15, "      - count: 2"), 15, "roles[0].approval[0].count",
			"needs 2 approvers from [sre] but only 1 principals are eligible"},
		{"disabled principals are not eligible", edit(8, "    keys: [KEY(bob)]\n    disabled: true"), 16, "roles[0].approval[0].count",
			"needs 1 approvers from [sre] but only 0 principals are eligible"},
		{"clauses together need more than exist", edit(16, "        groups: [sre]\n      - count: 1\n        groups: [sre, security]\n      - count: 1\n        groups: [sre]"),
			14, "roles[0].approval", "together need 3 distinct approvers but only 2"},
		{"no requesters", edit(13, ""), 12, "roles[0].requesters", "required"},
		{"empty requesters", edit(13, "    requesters: []"), 13, "roles[0].requesters", "required"},
		{"no approval", editAll(map[int]string{14: "", 15: "", 16: ""}), 12, "roles[0].approval", "required"},
		{"no duration", edit(17, ""), 12, "roles[0].duration.max", "required"},
		{"duration does not parse", edit(17, "    duration: {max: 1 hour}"), 17, "roles[0].duration.max", `"1 hour" is not a duration`},
		{"duration as number", edit(17, "    duration: {max: 60}"), 17, "roles[0].duration.max", "expected a duration"},
		{"default above max", edit(17, "    duration: {default: 2h, max: 1h}"), 17, "roles[0].duration.default", "default 2h0m0s is longer than max 1h0m0s"},
		{"default negative", edit(17, "    duration: {default: -5m, max: 1h}"), 17, "roles[0].duration.default", "must be positive"},
		{"max zero", edit(17, "    duration: {max: 0s}"), 17, "roles[0].duration.max", "must be positive"},
		{"max above 24h", edit(17, "    duration: {max: 25h}"), 17, "roles[0].duration.max", "above the 24h0m0s limit"},
		{"pending_ttl zero", plus("    pending_ttl: 0s"), 18, "roles[0].pending_ttl", "must be positive"},
		{"pending_ttl above 7 days", plus("    pending_ttl: 169h"), 18, "roles[0].pending_ttl", "above the 168h0m0s limit"},
		{"pending_ttl in days", plus("    pending_ttl: 7d"), 18, "roles[0].pending_ttl", "168h for 7 days"},
		{"stale_after below a minute", plus("    stale_after: 30s"), 18, "roles[0].stale_after", "30s is below the 1m0s minimum"},
		{"stale_after above a year", plus("    stale_after: 8761h"), 18, "roles[0].stale_after", "8761h0m0s is above the 8760h0m0s limit"},
		{"stale_after in days", plus("    stale_after: 30d"), 18, "roles[0].stale_after", `"30d" is not a duration`},
		{"stale_after as number", plus("    stale_after: 60"), 18, "roles[0].stale_after", "expected a duration"},
		{"stale_after without a spare approver", plus("    stale_after: 720h"), 18, "roles[0].stale_after",
			"past 720h0m0s the role needs 2 distinct approvers (one more than its clauses) but only 1 eligible principals can fill them"},
		{"bad regexp", plus("    incident: {required: true, pattern: '^INC-[0-9+$'}"), 18, "roles[0].incident.pattern", "bad regular expression"},
		{"unanchorable regexp", plus(`    incident: {pattern: '\QINC'}`), 18, "roles[0].incident.pattern", "cannot be anchored"},
		{"negative min_reason", plus("    min_reason: -1"), 18, "roles[0].min_reason", "between 0 and 1000"},
		{"scope with a space", plus("    jwt: {scopes: [admin, 'deploy all']}"), 18, "roles[0].jwt.scopes[1]", "without spaces"},
		{"malformed key", edit(8, "    keys: ['ssh-ed25519 not-base64']"), 8, "principals[0].keys[0]", "not an authorized_keys line"},
		{"key with options", edit(8, `    keys: ['from="10.0.0.1" KEY(bob)']`), 8, "principals[0].keys[0]", "key options are not allowed"},
		{"two keys on one line", edit(8, `    keys: ["KEY(bob)\nKEY(carol)"]`), 8, "principals[0].keys[0]", "one key per entry"},
		{"empty key entry", edit(8, "    keys: [~]"), 8, "principals[0].keys[0]", "empty entry"},
		{"key enrolled for two principals", edit(10, "    groups: [security]\n    keys:\n      - KEY(bob)"), 12, "principals[1].keys[0]",
			`principal "carol" is also enrolled for principal "bob" (line 8, principals[0].keys[0])`},
		{"key enrolled twice for one principal", edit(8, "    keys: [KEY(bob), KEY(bob)]"), 8, "principals[0].keys[1]",
			`listed twice for principal "bob" (also line 8, principals[0].keys[0])`},
		{"control character in name", edit(10, "    groups: [security]\n    name: \"Carol\\u202e\""), 11, "principals[1].name", "U+202E"},
		{"alias", editAll(map[int]string{7: "    groups: &x [sre]", 13: "    requesters: *x"}), 13, "roles[0].requesters", "aliases are not supported"},
		{"empty document", "", 0, "", "empty policy document"},
		{"only comments", "# nothing here\n", 0, "", "empty policy document"},
		{"null document", "---\n~\n", 2, "", "empty policy document"},
		{"multiple documents", plus("---", "version: 1"), 18, "", "multiple YAML documents"},
		{"not a mapping", "- version: 1\n", 1, "", "expected a mapping, got a list"},
		{"invalid YAML", edit(13, "    requesters: [sre"), 13, "", "invalid YAML"},
		{"tab indentation", edit(13, "\trequesters: [sre]"), 13, "", "invalid YAML"},
	}
}

func TestParseProblems(t *testing.T) {
	for _, c := range problemCases() {
		t.Run(c.name, func(t *testing.T) {
			ve := mustProblems(t, []byte(c.yaml))
			i := slices.IndexFunc(ve.Problems, func(p policy.Problem) bool {
				// The YAML library's syntax errors sometimes name the line
				// before the one at fault, where the construct began.
				near := strings.HasPrefix(c.msg, "invalid YAML")
				lineOK := p.Line == c.line || near && p.Line == c.line-1
				return lineOK && p.Field == c.field && strings.Contains(p.Msg, c.msg)
			})
			if i < 0 {
				t.Fatalf("problems:\n%v\nwant one on line %d, field %q, containing %q", ve, c.line, c.field, c.msg)
			}
			var want string
			if p := ve.Problems[i]; p.Line > 0 {
				want = fmt.Sprintf("line %d: ", p.Line)
			}
			if c.field != "" {
				want += c.field + ": "
			}
			want += ve.Problems[i].Msg
			if !strings.Contains(ve.Error(), want) {
				t.Errorf("Error() = %q, want it to name %q", ve.Error(), want)
			}
		})
	}
}

func TestParseValidVariants(t *testing.T) {
	cases := []struct{ name, yaml string }{
		{"base", plus()},
		{"incident pattern without required", plus("    incident: {pattern: '^INC-[0-9]+$'}")},
		{"principal without keys", edit(8, "")},
		{"disabled principal outside any clause", edit(10, "    groups: [security]\n    disabled: true")},
		{"null optional fields", plus("    description: ~", "    jwt: ~", "    incident:")},
		{"admins", edit(1, "version: 1\nadmins: [carol, bob]")},
		{"overlapping clauses that a matching can fill", editAll(map[int]string{
			7: "    groups: [sre, security]", 16: "        groups: [sre, security]\n      - count: 1\n        groups: [security]"})},
		{"explicit document start", "---\n" + plus()},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			mustParse(t, []byte(c.yaml))
		})
	}
}

func TestParseAdminQuorum(t *testing.T) {
	cases := []struct {
		name, yaml string
		want       int
	}{
		{"default without admins", plus(), 1},
		{"default with admins", edit(1, "version: 1\nadmins: [carol, bob]"), 1},
		{"null", edit(1, "version: 1\nadmins: [carol, bob]\nadmin_quorum: ~"), 1},
		{"all admins", edit(1, "version: 1\nadmins: [carol, bob]\nadmin_quorum: 2"), 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := mustParse(t, []byte(c.yaml)).AdminQuorum; got != c.want {
				t.Errorf("AdminQuorum = %d, want %d", got, c.want)
			}
		})
	}
}

func TestParseStaleAfter(t *testing.T) {
	cases := []struct {
		name, yaml string
		want       time.Duration
	}{
		{"absent", plus(), 0},
		{"null", plus("    stale_after: ~"), 0},
		{"minimum", edit(16, "        groups: [sre, security]\n    stale_after: 1m"), time.Minute},
		{"a year", edit(16, "        groups: [sre, security]\n    stale_after: 8760h"), policy.MaxStaleAfter},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, ok := mustParse(t, []byte(c.yaml)).Role("ops")
			if !ok {
				t.Fatal("role ops not found")
			}
			if r.StaleAfter != c.want {
				t.Errorf("StaleAfter = %s, want %s", r.StaleAfter, c.want)
			}
		})
	}
}

func TestParseReportsEveryProblem(t *testing.T) {
	data := editAll(map[int]string{
		7:  "    groups: [sre, sreee]",
		13: "    requesters: [sre]\n    min_reson: 10",
		17: "    duration: {max: forever}",
	})
	ve := mustProblems(t, []byte(data))
	want := []struct {
		line  int
		field string
	}{{7, "principals[0].groups[1]"}, {14, "roles[0].min_reson"}, {18, "roles[0].duration.max"}}
	if len(ve.Problems) != len(want) {
		t.Fatalf("got %d problems:\n%v\nwant %d", len(ve.Problems), ve, len(want))
	}
	lines := strings.Split(ve.Error(), "\n")
	for i, w := range want {
		if p := ve.Problems[i]; p.Line != w.line || p.Field != w.field {
			t.Errorf("problem %d = line %d %s, want line %d %s", i, p.Line, p.Field, w.line, w.field)
		}
		if prefix := fmt.Sprintf("line %d: %s: ", w.line, w.field); !strings.HasPrefix(lines[i], prefix) {
			t.Errorf("Error() line %d = %q, want prefix %q", i, lines[i], prefix)
		}
	}
}

func TestParseTooLarge(t *testing.T) {
	data := []byte(plus() + "# " + strings.Repeat("x", policy.MaxSize) + "\n")
	ve := mustProblems(t, data)
	if len(ve.Problems) != 1 || !strings.Contains(ve.Problems[0].Msg, "bytes, more than") {
		t.Errorf("got %v, want one size problem", ve)
	}
}
