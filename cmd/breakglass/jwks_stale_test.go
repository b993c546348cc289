package main

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/failsmall/breakglass/broker"
	"github.com/failsmall/breakglass/token"
)

// TestStaleJWKSHint (issue 10, point 16): when the cached JWKS lacks the
// key that signed the token or the revocation list, as it does after the
// broker rotated its signing key, verify says to fetch the JWKS again, not
// the revocation list; a list that is itself stale still gets the
// revocation-list hint.
func TestStaleJWKSHint(t *testing.T) {
	f := newStrictFixture(t)
	now := time.Now().UTC().Truncate(time.Second)
	rotated, err := token.OpenKeyring(filepath.Join(f.dir, "rotated-keys"), time.Hour, nil)
	if err != nil {
		t.Fatal(err)
	}
	// A list signed with a key the cached JWKS does not hold yet.
	newer := f.writeList(t, "newer.jws", rotated, broker.RevocationList{Issuer: "breakglass-dev", Sequence: 9,
		Issued: now, MaxAge: time.Hour, Revoked: []string{}})
	// A JWKS cached from before the token's key: only another key.
	stale := filepath.Join(f.dir, "stale-jwks.json")
	b, err := json.Marshal(rotated.JWKS())
	if err != nil {
		t.Fatal(err)
	}
	mustWriteFile(t, stale, string(b))
	off := func(jwks string) []string {
		return []string{"verify", "--jwks", jwks, "--iss", "breakglass-dev", "--aud", "breakglass-dev"}
	}
	strict := []string{"--strict", "--evidence", f.ev, "--trust", f.trust, "--receipt", f.receipt, "--log-key", f.logKey}
	fetchAgain := func(jwks, url string) string {
		return "fetch the JWKS again: curl -s " + url + "/.well-known/jwks.json > " + jwks + ")"
	}
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want []string // substrings of stderr
	}{
		{"token of a key the JWKS lacks", nil, append(off(stale), f.tok),
			[]string{"token is NOT valid: token signing key unknown: kid ", " is not in the jwks (", fetchAgain(stale, "BROKER")}},
		{"token of a key the JWKS lacks, broker known", map[string]string{"BREAKGLASS_URL": "http://bg.example:8080/"}, append(off(stale), f.tok),
			[]string{"token is NOT valid: ", fetchAgain(stale, "http://bg.example:8080")}},
		{"list of a key the JWKS lacks", nil, append(off(f.jwks), "--revocations", newer, f.tok),
			[]string{newer + ": invalid revocation list: signed with kid ", "which is not in the jwks (", fetchAgain(f.jwks, "BROKER")}},
		{"list of a key the JWKS lacks, strict", nil, append(append(off(f.jwks), strict...), "--revocations", newer, f.tok),
			[]string{"token is NOT accepted: invalid revocation list: signed with kid ", fetchAgain(f.jwks, "BROKER")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := Main(tc.args, strings.NewReader(""), &out, &errb, func(k string) string { return tc.env[k] })
			if code != 1 || out.Len() != 0 {
				t.Errorf("exit %d, stdout %q; want 1 and nothing", code, out.String())
			}
			for _, w := range tc.want {
				if !strings.Contains(errb.String(), w) {
					t.Errorf("stderr:\n%s\nwant it to contain %q", errb.String(), w)
				}
			}
			if strings.Contains(errb.String(), "revocations --out") {
				t.Errorf("stderr:\n%s\nsays to fetch the revocation list, but the JWKS is what is stale", errb.String())
			}
		})
	}
	// The list itself being stale still says to fetch the list again.
	old := f.writeList(t, "old.jws", f.a.Keyring(), broker.RevocationList{Issuer: "breakglass-dev", Sequence: 1,
		Issued: now.Add(-2 * time.Hour), MaxAge: time.Hour, Revoked: []string{}})
	code, _, errOut := runCLI(append(append(off(f.jwks), strict...), "--revocations", old, f.tok)...)
	if code != 1 || !strings.Contains(errOut, "fetch a fresh one: breakglass revocations --out "+old) || strings.Contains(errOut, "fetch the JWKS") {
		t.Errorf("stale list: exit %d, stderr %q; want the revocation-list hint", code, errOut)
	}
}
