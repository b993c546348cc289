package main

import (
	"fmt"
	"io"
	"path/filepath"

	"github.com/failsmall/breakglass/server"
)

// devPeople are the development principals whose keys `bench` loads.
var devPeople = server.DevPeople()

// printDevWalkthrough tells the operator of `serve --dev` how to run a
// flow against it with the dev keys.
func printDevWalkthrough(w io.Writer, url string, d server.Dir) {
	k := func(who string) string { return filepath.Join(d.DevKeys(), who) }
	fmt.Fprintf(w, `
Development mode: alice may request dev-admin; it needs one approval from bob (sre)
and one from carol (security). In another shell, in this folder ("make run" built ./bin/breakglass):

  export BREAKGLASS_URL=%s
  ID=$(./bin/breakglass request --key %s --role dev-admin --reason "walkthrough: clear the stuck deploy" --incident INC-1 --quiet)
  ./bin/breakglass approve --key %s --yes $ID
  ./bin/breakglass approve --key %s --yes $ID
  ./bin/breakglass token --key %s --out alice.jwt $ID
  curl -s $BREAKGLASS_URL/.well-known/jwks.json > jwks.json
  ./bin/breakglass verify --jwks jwks.json --iss breakglass-dev --aud breakglass-dev alice.jwt

dev-admin also yields an SSH certificate for alice's key, for the login name breakglass-dev:

  ./bin/breakglass token --key %s --ssh $ID
  ./bin/breakglass ssh ca

`, url, k("alice"), k("bob"), k("carol"), k("alice"), k("alice"))
}
