package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"unicode"
)

// TestJSONShapes runs every --json output this package owns against a dev
// broker in this process and checks that the keys each prints, recursively,
// are the ones docs/json.md documents for it: none undocumented, every
// documented key present (but those marked "?", which are left out when
// empty), and none with an upper-case letter. BREAKGLASS_JSON_SHAPES=print
// prints what it saw, to update the document.
func TestJSONShapes(t *testing.T) {
	doc := readJSONDoc(t, filepath.Join("..", "..", "docs", "json.md"))
	b := startDevBroker(t)
	dir := t.TempDir()
	alice, bob, carol := "--key="+b.key("alice"), "--key="+b.key("bob"), "--key="+b.key("carol")
	seen := map[string]map[string]bool{} // command -> key paths
	run := func(label string, args ...string) map[string]any {
		t.Helper()
		code, out, errOut := b.run(args...)
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", strings.Join(args, " "), code, errOut)
		}
		var v map[string]any
		if err := json.Unmarshal([]byte(out), &v); err != nil {
			t.Fatalf("%s: not a JSON object: %v\n%s", strings.Join(args, " "), err, out)
		}
		if seen[label] == nil {
			seen[label] = map[string]bool{}
		}
		keyPaths(v, "", doc[label], seen[label])
		return v
	}
	idOf := func(v map[string]any) string { return v["id"].(string) }

	id := idOf(run("request", "request", alice, "--json", "--role", "dev-admin", "--reason", "json: shapes", "--incident", "INC-1"))
	run("approve", "--json", "approve", bob, "--yes", id) // client flags before the command too
	run("approve", "approve", carol, "--json", "--yes", id)
	run("list", "list", bob, "--json")
	run("show", "show", bob, "--json", id)
	run("token", "token", alice, "--json", id)
	ev := filepath.Join(dir, "ev.json")
	run("token --evidence", "token", alice, "--json", "--evidence", ev, id)
	run("token --ssh", "token", alice, "--json", "--ssh", "--out", filepath.Join(dir, "alice-cert.pub"), id)
	tok, receipt := filepath.Join(dir, "tok.jwt"), filepath.Join(dir, "receipt.proof")
	if code, _, errOut := b.run("token", alice, "--out", tok, "--receipt", receipt, id); code != 0 {
		t.Fatal(errOut)
	}
	jwks := filepath.Join(dir, "jwks.json")
	httpGet(t, b.env["BREAKGLASS_URL"]+"/.well-known/jwks.json", jwks)
	list := filepath.Join(dir, "list.jws")
	run("revocations", "revocations", "--json", "--out", list)
	off := []string{"--jwks", jwks, "--iss", "breakglass-dev", "--aud", "breakglass-dev"}
	run("verify", append(append([]string{"verify", "--json"}, off...), tok)...)
	run("verify", append(append([]string{"verify", "--json", "--strict", "--revocations", list, "--evidence", ev,
		"--trust", filepath.Join(string(b.data), "bundles", "active.bundle"), "--receipt", receipt,
		"--log-key", filepath.Join(string(b.data), "audit-key.pub")}, off...), tok)...)
	run("status", "--json", "status")
	run("keys", "keys", bob, "--json")
	run("ssh ca", "ssh", "ca", "--json")
	run("ssh krl", "ssh", "krl", "--json", "--out", filepath.Join(dir, "krl"))
	run("policy show", "policy", "show", "--json")
	run("policy validate", "policy", "validate", "--json", b.data.Policy())
	run("policy diff", "policy", "diff", "--json", b.data.Policy())
	run("policy push", "policy", "push", "--json", filepath.Join(string(b.data), "bundles", "active.bundle"))
	run("roles", "roles", alice, "--json")
	run("version", "version", "--json")

	denied := idOf(run("request", "request", alice, "--json", "--role", "dev-admin", "--reason", "json: to deny"))
	run("deny", "deny", bob, "--json", "--reason", "json: denied", denied)
	cancelled := idOf(run("request", "request", alice, "--json", "--role", "dev-admin", "--reason", "json: to cancel"))
	run("cancel", "cancel", alice, "--json", cancelled)
	run("revoke", "revoke", carol, "--json", id)
	run("show", "show", bob, "--json", id) // now with grant.revoked
	run("list", "list", bob, "--json")
	db := b.data.DB()
	run("audit verify", "audit", "verify", "--json", "--db", db)
	run("audit verify", "audit", "verify", "--json", "--broker", b.env["BREAKGLASS_URL"], carol) // grants: null
	run("audit show", "audit", "show", "--json", "--db", db, "0")
	run("audit show", "audit", "show", "--json", "--broker", b.env["BREAKGLASS_URL"], carol, "1")

	if os.Getenv("BREAKGLASS_JSON_SHAPES") == "print" {
		for _, label := range mapKeys(seen) {
			fmt.Printf("## %s\n%s\n\n", label, strings.Join(mapKeys(seen[label]), "\n"))
		}
	}
	for label, keys := range seen {
		want, ok := doc[label]
		if !ok {
			t.Errorf("docs/json.md does not document `breakglass %s --json`", label)
			continue
		}
		for k := range keys {
			if !want[k] && !want[k+"?"] {
				t.Errorf("%s --json prints %q, which docs/json.md does not document", label, k)
			}
			if strings.IndexFunc(k, unicode.IsUpper) >= 0 {
				t.Errorf("%s --json prints %q: keys are snake_case", label, k)
			}
		}
		for k := range want {
			if !strings.HasSuffix(k, "?") && !optionalParent(k, want) && !emptyList(k, keys) && !keys[k] {
				t.Errorf("docs/json.md documents %q for %s --json, which it did not print", k, label)
			}
		}
	}
	for label := range doc {
		if seen[label] == nil && !notRunHere[label] {
			t.Errorf("docs/json.md documents %s --json, which this test does not run", label)
		}
	}
}

// notRunHere are the outputs docs/json.md documents that TestJSONShapes
// does not produce.
var notRunHere = map[string]bool{"submit": true}

// optionalParent says whether a key above k is marked "?": k is there
// only when its parent is.
func optionalParent(k string, doc map[string]bool) bool {
	for i := range len(k) {
		if (k[i] == '.' || k[i] == '[') && doc[k[:i]+"?"] {
			return true
		}
	}
	return false
}

// emptyList says whether k is a key of the elements of a list that was
// always empty when printed, so that its elements' keys were not seen.
func emptyList(k string, seen map[string]bool) bool {
	i := strings.LastIndex(k, "[]")
	if i < 0 {
		return false
	}
	for s := range seen {
		if strings.HasPrefix(s, k[:i+2]+".") {
			return false
		}
	}
	return true
}

// keyPaths adds to out the key paths of v: "a", "a.b", "a[]", "a[].b". An
// object whose path doc lists as "P.*" is a map: its keys are data, so its
// entries count as "P.*".
func keyPaths(v any, prefix string, doc map[string]bool, out map[string]bool) {
	switch v := v.(type) {
	case map[string]any:
		if prefix != "" && (doc[prefix+".*"] || doc[prefix+".*?"]) {
			out[prefix+".*"] = true
			return
		}
		for k, e := range v {
			p := k
			if prefix != "" {
				p = prefix + "." + k
			}
			out[p] = true
			keyPaths(e, p, doc, out)
		}
	case []any:
		for _, e := range v {
			if _, ok := e.(map[string]any); ok {
				keyPaths(e, prefix+"[]", doc, out)
			}
		}
	}
}

// jsonHeading is a docs/json.md section: ## `breakglass COMMAND --json`.
var jsonHeading = regexp.MustCompile("^## `breakglass ([a-z -]+?) --json`$")

// readJSONDoc reads each section's "keys" block: one key path a line, then
// its type and what it is.
func readJSONDoc(t *testing.T, file string) map[string]map[string]bool {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc := map[string]map[string]bool{}
	var label string
	inKeys := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case jsonHeading.MatchString(line):
			label = jsonHeading.FindStringSubmatch(line)[1]
			if doc[label] != nil {
				t.Fatalf("%s: two sections for %s", file, label)
			}
			doc[label] = map[string]bool{}
		case line == "```keys":
			inKeys = true
		case line == "```":
			inKeys = false
		case inKeys && label != "" && strings.TrimSpace(line) != "":
			doc[label][strings.Fields(line)[0]] = true
		}
	}
	if len(doc) == 0 {
		t.Fatalf("%s: no sections", file)
	}
	return doc
}

func httpGet(t *testing.T, url, file string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %v %s", url, err, resp.Status)
	}
	if err := os.WriteFile(file, body, 0o644); err != nil {
		t.Fatal(err)
	}
}

func mapKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
