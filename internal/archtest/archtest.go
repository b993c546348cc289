// Package archtest keeps the import rules of DESIGN.md: arrows point one
// way, and domain packages import no driver. Check is a pure function over a
// dependency map, so a test can show that it reports a broken rule; the
// package's test runs it over `go list -deps` of the whole module.
package archtest

import (
	"fmt"
	"slices"
	"strings"
)

// Module is the module path the rules speak of.
const Module = "github.com/failsmall/breakglass"

// Deps maps a package's import path to every package it depends on,
// directly or not (what `go list -deps` prints for it, itself excluded).
type Deps map[string][]string

// domain packages hold the business rules; they import no driver.
var domain = []string{"broker", "policy", "rollout", "drill"}

// drivers are what a domain package must never depend on: storage and HTTP
// technology, and the adapters and wiring built on them.
var drivers = []string{
	"database/sql", "github.com/mattn/go-sqlite3", "github.com/go-chi/chi/v5", "net/http",
	Module + "/sqlite", Module + "/web", Module + "/server", Module + "/upstream", Module + "/witness", Module + "/cmd",
}

// network is HTTP and the packages that speak it: what the relying-party
// verifier and the audit core, embeddable in any service, never pull in.
var network = []string{"net/http", Module + "/upstream", Module + "/witness", Module + "/web", Module + "/server"}

// Check returns one line per broken rule, sorted; none when all hold:
//   - domain packages (broker, policy, rollout, drill) depend on no driver;
//   - web depends on no sqlite (neither the adapter nor the driver);
//   - nothing but cmd/... depends on server or web;
//   - nothing depends on cmd/...;
//   - offline, the relying-party verifier, depends on no sqlite or web,
//     and on no HTTP: not net/http, nor the upstream poller, the witness or
//     the server, so that a service embeds it without a poller;
//   - audit, the log core that offline checks receipts with, depends on no
//     HTTP either: the witness server and client are package witness.
func Check(deps Deps) []string {
	var out []string
	for pkg, ds := range deps {
		rel, ok := strings.CutPrefix(pkg, Module+"/")
		if !ok {
			continue
		}
		for _, d := range ds {
			if why := rule(rel, d); why != "" {
				out = append(out, fmt.Sprintf("%s imports %s: %s", pkg, d, why))
			}
		}
	}
	slices.Sort(out)
	return out
}

// rule says which rule package rel (relative to Module) breaks by
// depending on d, or "".
func rule(rel, d string) string {
	top, _, _ := strings.Cut(rel, "/")
	switch {
	case slices.Contains(domain, top) && slices.ContainsFunc(drivers, func(x string) bool { return under(d, x) }):
		return "a domain package imports no driver"
	case top == "web" && (under(d, Module+"/sqlite") || under(d, "github.com/mattn/go-sqlite3")):
		return "web imports no sqlite"
	case top != "cmd" && top != "server" && under(d, Module+"/server"):
		return "nothing but cmd imports server"
	case top != "cmd" && top != "server" && top != "web" && under(d, Module+"/web"):
		return "nothing but cmd and server import web"
	case top != "cmd" && under(d, Module+"/cmd"):
		return "nothing imports cmd"
	case top == "offline" && (under(d, Module+"/sqlite") || under(d, Module+"/web") || under(d, "github.com/mattn/go-sqlite3")):
		return "offline, the relying-party verifier, imports no store or web"
	case top == "offline" && slices.ContainsFunc(network, func(x string) bool { return under(d, x) }):
		return "offline, the relying-party verifier, imports no HTTP or poller"
	case top == "audit" && slices.ContainsFunc(network, func(x string) bool { return under(d, x) }):
		return "audit, the log core, imports no HTTP (the witness is package witness)"
	}
	return ""
}

// under reports whether package path p is x or below it.
func under(p, x string) bool { return p == x || strings.HasPrefix(p, x+"/") }
