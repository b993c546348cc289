package archtest

import (
	"bufio"
	"bytes"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestModuleKeepsImportRules runs Check over `go list -deps` of every
// package of the module (tests excluded: a test may wire what its package
// may not).
func TestModuleKeepsImportRules(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command")
	}
	out, err := exec.Command("go", "list", "-deps", "-f", `{{.ImportPath}}{{range .Deps}} {{.}}{{end}}`, Module+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	deps := Deps{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) > 0 {
			deps[f[0]] = f[1:]
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(deps[Module+"/broker"]) == 0 {
		t.Fatalf("go list gave no dependencies for %s/broker: %d packages listed", Module, len(deps))
	}
	for _, v := range Check(deps) {
		t.Error(v)
	}
}

// TestCheckReportsBrokenRules feeds Check the edges the rules forbid.
func TestCheckReportsBrokenRules(t *testing.T) {
	m := Module + "/"
	tests := []struct {
		pkg, dep, want string
	}{
		{m + "broker", m + "sqlite", "a domain package imports no driver"},
		{m + "broker", "github.com/mattn/go-sqlite3", "a domain package imports no driver"},
		{m + "policy", "net/http", "a domain package imports no driver"},
		{m + "rollout/agent", "database/sql", "a domain package imports no driver"},
		{m + "web", m + "sqlite", "web imports no sqlite"},
		{m + "token", m + "server", "nothing but cmd imports server"},
		{m + "web", m + "server", "nothing but cmd imports server"},
		{m + "upstream", m + "server", "nothing but cmd imports server"},
		{m + "internal/brokertest", m + "server", "nothing but cmd imports server"},
		{m + "broker", m + "web", "a domain package imports no driver"},
		{m + "audit", m + "web", "nothing but cmd and server import web"},
		{m + "sqlite", m + "cmd/breakglass", "nothing imports cmd"},
		{m + "offline", m + "sqlite", "offline, the relying-party verifier, imports no store or web"},
		{m + "offline", "github.com/mattn/go-sqlite3", "offline, the relying-party verifier, imports no store or web"},
		{m + "offline", "net/http", "offline, the relying-party verifier, imports no HTTP or poller"},
		{m + "offline", "net/http/httptrace", "offline, the relying-party verifier, imports no HTTP or poller"},
		{m + "offline", m + "upstream", "offline, the relying-party verifier, imports no HTTP or poller"},
		{m + "offline", m + "witness", "offline, the relying-party verifier, imports no HTTP or poller"},
		{m + "audit", "net/http", "audit, the log core, imports no HTTP (the witness is package witness)"},
		{m + "audit", m + "witness", "audit, the log core, imports no HTTP (the witness is package witness)"},
		{m + "policy", m + "witness", "a domain package imports no driver"},
	}
	for _, tt := range tests {
		got := Check(Deps{tt.pkg: {tt.dep}})
		want := tt.pkg + " imports " + tt.dep + ": " + tt.want
		if !slices.Equal(got, []string{want}) {
			t.Errorf("%s -> %s: got %q, want %q", tt.pkg, tt.dep, got, want)
		}
	}
	allowed := Deps{
		m + "cmd/breakglass": {m + "server", m + "web", m + "sqlite"},
		m + "server":         {m + "web", m + "sqlite", m + "broker", m + "upstream", m + "token", m + "audit", m + "internal/atomicfile"},
		m + "web":            {m + "broker", "net/http", "github.com/go-chi/chi/v5"},
		m + "sqlite":         {m + "broker", "github.com/mattn/go-sqlite3"},
		m + "broker":         {m + "policy", m + "audit", "crypto/ed25519"},
		m + "offline":        {m + "audit", m + "token", m + "policy", m + "broker", "crypto/ed25519"},
		m + "audit":          {"golang.org/x/mod/sumdb/note", "os"},
		m + "witness":        {m + "audit", "net/http"},
		m + "upstream":       {m + "policy", "net/http"},
		m + "token":          {m + "internal/sshopt", m + "broker"},
		m + "policy":         {m + "internal/sshopt"},
		"example.com/other":  {m + "cmd/breakglass"},
	}
	if got := Check(allowed); len(got) != 0 {
		t.Errorf("allowed edges reported: %q", got)
	}
}
