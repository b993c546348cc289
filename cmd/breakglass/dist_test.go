package main

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strings"
	"testing"
)

// distUnit is the systemd unit `make install-systemd` installs.
var distUnit = filepath.Join("..", "..", "dist", "breakglass.service")

// serveFlags returns the flags of `breakglass serve`, as its own flag set
// prints them for -h, each with whether it takes a value (bool flags do
// not).
func serveFlags(t *testing.T) map[string]bool {
	t.Helper()
	// runServe tunes the garbage collector before parsing its flags; put
	// the test process's settings back.
	gc := debug.SetGCPercent(100)
	debug.SetGCPercent(gc)
	limit := debug.SetMemoryLimit(-1)
	t.Cleanup(func() {
		debug.SetGCPercent(gc)
		debug.SetMemoryLimit(limit)
	})
	var stdout, stderr bytes.Buffer
	if code := Main([]string{"serve", "-h"}, strings.NewReader(""), &stdout, &stderr, func(string) string { return "" }); code != 0 {
		t.Fatalf("serve -h exited %d: %s%s", code, stdout.String(), stderr.String())
	}
	// flag.PrintDefaults: "  -name type" for a flag with a value,
	// "  -name" for a bool.
	line := regexp.MustCompile(`^  -([A-Za-z0-9][A-Za-z0-9-]*)( \S+)?$`)
	flags := map[string]bool{}
	for _, l := range strings.Split(stderr.String(), "\n") {
		if m := line.FindStringSubmatch(l); m != nil {
			flags[m[1]] = m[2] != ""
		}
	}
	if len(flags) == 0 || !flags["data"] || flags["dev"] {
		t.Fatalf("could not read serve's flags (want --data with a value, --dev without) from its -h output:\n%s", stderr.String())
	}
	return flags
}

// unitFile is a parsed systemd unit: section, then key, then every value
// assigned to it, in order.
type unitFile map[string]map[string][]string

func parseUnit(t *testing.T, r io.Reader) unitFile {
	t.Helper()
	u := unitFile{}
	section := ""
	sc := bufio.NewScanner(r)
	var cont string
	for n := 1; sc.Scan(); n++ {
		l := strings.TrimSpace(sc.Text())
		if cont != "" {
			l = cont + " " + l
			cont = ""
		}
		if l == "" || l[0] == '#' || l[0] == ';' {
			continue
		}
		if strings.HasSuffix(l, `\`) {
			cont = strings.TrimSuffix(l, `\`)
			continue
		}
		if strings.HasPrefix(l, "[") && strings.HasSuffix(l, "]") {
			section = l[1 : len(l)-1]
			if u[section] == nil {
				u[section] = map[string][]string{}
			}
			continue
		}
		k, v, ok := strings.Cut(l, "=")
		if !ok || section == "" {
			t.Fatalf("%s:%d: want [Section] or Key=Value, got %q", distUnit, n, l)
		}
		k = strings.TrimSpace(k)
		u[section][k] = append(u[section][k], strings.TrimSpace(v))
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return u
}

func readDistUnit(t *testing.T) unitFile {
	t.Helper()
	f, err := os.Open(distUnit)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return parseUnit(t, f)
}

// TestDistUnitSandbox checks that the unit keeps its sandbox: a dynamic
// user, a private state directory (the broker refuses a data folder group
// or others can read), a read-only system, no capabilities, and a syscall
// and address-family allow list.
func TestDistUnitSandbox(t *testing.T) {
	svc := readDistUnit(t)["Service"]
	if svc == nil {
		t.Fatalf("%s has no [Service] section", distUnit)
	}
	want := map[string]string{
		"DynamicUser":             "yes",
		"StateDirectory":          "breakglass",
		"StateDirectoryMode":      "0700",
		"ProtectSystem":           "strict",
		"ProtectHome":             "yes",
		"PrivateTmp":              "yes",
		"NoNewPrivileges":         "yes",
		"CapabilityBoundingSet":   "",
		"RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
		"SystemCallFilter":        "@system-service",
		"LockPersonality":         "yes",
		"MemoryDenyWriteExecute":  "yes",
		"RestrictNamespaces":      "yes",
		"Restart":                 "on-failure",
	}
	for k, v := range want {
		got, ok := svc[k]
		if !ok {
			t.Errorf("%s: [Service] has no %s= (want %s=%s)", distUnit, k, k, v)
			continue
		}
		// The first assignment is the one that must hold: a later empty
		// one would reset it, a later ~list only narrows a filter.
		if got[0] != v {
			t.Errorf("%s: %s=%s, want %s=%s", distUnit, k, got[0], k, v)
		}
		for _, later := range got[1:] {
			if later == "" || (k != "SystemCallFilter" && later != v) {
				t.Errorf("%s: a later %s=%s overrides %s=%s", distUnit, k, later, k, v)
			}
		}
	}
}

// TestDistUnitExecStart checks that ExecStart runs `breakglass serve` with
// flags serve has, its config from /etc/breakglass and its data in the
// state directory.
func TestDistUnitExecStart(t *testing.T) {
	exec := readDistUnit(t)["Service"]["ExecStart"]
	if len(exec) != 1 {
		t.Fatalf("%s: want one ExecStart=, got %q", distUnit, exec)
	}
	args := strings.Fields(exec[0])
	if len(args) < 2 || !strings.HasPrefix(args[0], "/") || filepath.Base(args[0]) != "breakglass" || args[1] != "serve" {
		t.Fatalf("%s: ExecStart=%s: want /PATH/breakglass serve ...", distUnit, exec[0])
	}
	flags := serveFlags(t)
	got := map[string]string{}
	for i := 2; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") {
			t.Errorf("%s: ExecStart: serve takes no arguments, got %q", distUnit, a)
			continue
		}
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		takesValue, ok := flags[name]
		if !ok {
			t.Errorf("%s: ExecStart: %s is not a flag of serve (its flags: %v)", distUnit, a, sortedKeys(flags))
			continue
		}
		if takesValue && !hasVal {
			if i+1 == len(args) {
				t.Errorf("%s: ExecStart: %s needs a value", distUnit, a)
				continue
			}
			i++
			val = args[i]
		}
		got[name] = val
	}
	if got["data"] != "${STATE_DIRECTORY}" {
		t.Errorf("%s: ExecStart: --data %q, want ${STATE_DIRECTORY} (the unit's StateDirectory)", distUnit, got["data"])
	}
	if !strings.HasPrefix(got["config"], "/etc/breakglass/") {
		t.Errorf("%s: ExecStart: --config %q, want a file in /etc/breakglass", distUnit, got["config"])
	}
	if _, dev := got["dev"]; dev {
		t.Errorf("%s: ExecStart runs a development broker (--dev)", distUnit)
	}
}
