package main

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// flagLineRE is a well-formed flag line of a usage: two spaces, the flag,
// and at most one word naming its value (not flag's "value" for Var flags).
// One-letter boolean flags share their line with the help, after a tab.
var flagLineRE = regexp.MustCompile(`^  -(?:[a-z][a-z0-9-]*( [A-Za-z][A-Za-z0-9_.|-]*)?|[a-z]\t[^\t` + "`" + `]+)$`)

// TestHelpEveryCommand runs every command and subcommand with -h, and
// `help` on each: all exit 0 with a usage whose lines are not broken. A
// broken line is a flag line with more than one word after the flag (the
// flag package took a back-quoted command in the help text for the value's
// name and cut it out of the text), the uninformative placeholder "value",
// or a stray back quote left in a flag's help.
func TestHelpEveryCommand(t *testing.T) {
	for _, name := range commandNames() {
		paths := [][]string{{name}}
		for _, sub := range subcommands[name] {
			paths = append(paths, []string{name, sub})
		}
		for _, p := range paths {
			for _, h := range []string{"-h", "--help"} {
				args := append(slices.Clone(p), h)
				code, out, errOut := runCLI(args...)
				if code != 0 {
					t.Errorf("%s: exit %d, want 0: %s", strings.Join(args, " "), code, errOut)
				}
				checkUsage(t, strings.Join(args, " "), out+errOut)
			}
			args := append([]string{"help"}, p...)
			code, out, errOut := runCLI(args...)
			if code != 0 || errOut != "" || !strings.Contains(out, strings.Join(p, " ")) {
				t.Errorf("%s: exit %d, stdout %q, stderr %q; want 0 and its usage on stdout", strings.Join(args, " "), code, out, errOut)
			}
			checkUsage(t, strings.Join(args, " "), out)
		}
	}
}

func checkUsage(t *testing.T, what, usage string) {
	t.Helper()
	if strings.TrimSpace(usage) == "" {
		t.Errorf("%s: printed nothing", what)
	}
	for _, l := range strings.Split(usage, "\n") {
		switch {
		case strings.HasPrefix(l, "  -") && !flagLineRE.MatchString(l):
			t.Errorf("%s: broken flag line %q", what, l)
		case strings.HasSuffix(l, " value"):
			t.Errorf("%s: flag line %q names its value \"value\"", what, l)
		case strings.HasPrefix(l, "    \t") && strings.Contains(l, "`"):
			t.Errorf("%s: stray back quote in %q", what, l)
		}
	}
}

// TestVerifyHelpLines pins the lines `verify -h` used to print broken: the
// command in the help text is kept whole.
func TestVerifyHelpLines(t *testing.T) {
	_, _, errOut := runCLI("verify", "-h")
	for _, want := range []string{
		"  -evidence FILE\n    \tcheck the grant's evidence FILE (from 'breakglass token ID --evidence FILE') under the admins of --trust\n",
		"  -revocations FILE\n",
		"  -receipt FILE\n",
		"  -witness KEY\n",
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("verify -h lacks %q:\n%s", want, errOut)
		}
	}
}

// TestSubcommandsListed checks the subcommands map, which help, -h and the
// completions use, against the flag sets the sources make: every
// `newFlags("CMD SUB")` and `policyFlags("SUB"` is listed.
func TestSubcommandsListed(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`newFlags\("([a-z]+) ([a-z]+)"\)|policyFlags\("([a-z]+)"`)
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range re.FindAllStringSubmatch(string(src), -1) {
			cmd, sub := m[1], m[2]
			if m[3] != "" {
				cmd, sub = "policy", m[3]
			}
			if !slices.Contains(subcommands[cmd], sub) {
				t.Errorf("%s makes the flags of `%s %s`, which the subcommands map in main.go does not list", f, cmd, sub)
			}
		}
	}
	for cmd, subs := range subcommands {
		for _, sub := range subs {
			if fl := flagsOf([]string{cmd, sub}); fl == nil {
				t.Errorf("subcommands lists `%s %s`, which makes no flag set", cmd, sub)
			}
		}
	}
}

// TestCompletionsHaveEveryFlag checks that each script names every
// command, subcommand and flag, as the flag sets define them.
func TestCompletionsHaveEveryFlag(t *testing.T) {
	for _, shell := range []string{"bash", "zsh", "fish"} {
		code, out, errOut := runCLI("completion", shell)
		if code != 0 {
			t.Fatalf("completion %s: exit %d: %s", shell, code, errOut)
		}
		for _, n := range commandNames() {
			if !strings.Contains(out, " "+n) {
				t.Errorf("completion %s lacks the command %s", shell, n)
			}
		}
		for _, cf := range commandFlags() {
			for _, sub := range subcommands[cf.path] {
				if !strings.Contains(out, sub) {
					t.Errorf("completion %s lacks %s %s", shell, cf.path, sub)
				}
			}
			for _, f := range cf.flags {
				want := "--" + f.Name
				if shell == "fish" {
					want = "-l " + f.Name
				}
				if !strings.Contains(out, want) {
					t.Errorf("completion %s lacks %s of %s", shell, want, cf.path)
				}
			}
		}
	}
}
