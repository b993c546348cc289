package main

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/failsmall/breakglass/hwkey"
	"github.com/failsmall/breakglass/internal/brokertest"
	"github.com/failsmall/breakglass/server"
	"github.com/failsmall/breakglass/web"
)

// auditPolicy: alice requests prod, two of sre00..sre02 approve.
func auditPolicy() string {
	var pol strings.Builder
	pol.WriteString("version: 1\nadmins: [sre00]\ngroups:\n  - name: eng\n  - name: sre\nprincipals:\n")
	fmt.Fprintf(&pol, "  - {id: alice, name: Alice, groups: [eng], keys: [%q]}\n", brokertest.AuthorizedKey("alice"))
	for i := range 3 {
		fmt.Fprintf(&pol, "  - {id: sre%02d, name: SRE, groups: [sre], keys: [%q]}\n", i, brokertest.AuthorizedKey(fmt.Sprintf("sre%02d", i)))
	}
	pol.WriteString("roles:\n  - name: prod\n    requesters: [eng]\n    approval: [{count: 2, groups: [sre]}]\n    duration: {default: 30m, max: 1h}\n    min_reason: 5\n    pending_ttl: 1h\n    jwt: {audience: [prod-api], scopes: [admin]}\n")
	return pol.String()
}

// writeAuditBroker writes a policy and a serve config into dir and returns
// the config path; the data folder is dir/data.
func writeAuditBroker(t testing.TB, dir, extra string) string {
	t.Helper()
	cfg := filepath.Join(dir, "config.yaml")
	mustWriteFile(t, cfg, "name: bg.audit.test\ndata: data\n"+extra)
	initBroker(t, cfg, auditPolicy(), "sre00")
	return cfg
}

func mustWriteFile(t testing.TB, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

// startAuditApp runs a broker in this process on the data folder dir/data.
func startAuditApp(t testing.TB, dir string) (*server.Server, *web.Client) {
	t.Helper()
	writeAuditBroker(t, dir, "")
	a, err := server.Open(context.Background(), server.Config{Name: "bg.audit.test", Addr: "127.0.0.1:0",
		Data: server.Dir(filepath.Join(dir, "data"))})
	if err != nil {
		t.Fatal(err)
	}
	cl, err := web.NewClient(a.URL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return a, cl
}

// flowResult is what a client saw of one flow.
type flowResult struct {
	request string
	grant   string
	receipt string
}

// runFlow requests, approves twice and fetches the credentials. It returns
// what was acknowledged before the first error.
func runFlow(ctx context.Context, cl *web.Client) (flowResult, error) {
	var res flowResult
	sign := func(who string) web.SignFunc {
		return func(text []byte) ([]byte, error) {
			sig, err := hwkey.Sign(brokertest.Signer(who), hwkey.Namespace, text)
			if err != nil {
				return nil, err
			}
			return sig.Armor(), nil
		}
	}
	stmt, err := cl.Prepare(ctx, web.PrepareJSON{Role: "prod", Requester: "alice", Reason: "audit test flow"})
	if err != nil {
		return res, err
	}
	sig, _ := sign("alice")(stmt)
	r, err := cl.Create(ctx, stmt, sig)
	if err != nil {
		return res, err
	}
	res.request = r.ID
	for _, who := range []string{"sre00", "sre01"} {
		sig, _ := sign(who)([]byte(r.Statement))
		a, err := cl.Approve(ctx, r.ID, sig)
		if err != nil {
			return res, err
		}
		if a.Grant != nil {
			res.grant = a.Grant.ID
		}
	}
	alice := *cl
	if err := alice.Login(ctx, "alice", sign("alice")); err != nil {
		return res, err
	}
	cr, err := alice.CredentialsWithReceipt(ctx, r.ID)
	if err != nil {
		return res, err
	}
	res.grant, res.receipt = cr.ID, cr.Receipt
	return res, nil
}

// runCLI runs the breakglass command line in this process.
func runCLI(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = Main(args, strings.NewReader(""), &out, &errb, func(string) string { return "" })
	return code, out.String(), errb.String()
}

// rawExec runs SQL on the database file as an attacker with write access
// would: with the append-only triggers dropped first.
func rawExec(t testing.TB, path string, stmts ...string) {
	t.Helper()
	db, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT name FROM sqlite_master WHERE type = 'trigger'`)
	if err != nil {
		t.Fatal(err)
	}
	var triggers []string
	for rows.Next() {
		var n string
		rows.Scan(&n)
		triggers = append(triggers, n)
	}
	rows.Close()
	for _, n := range triggers {
		stmts = append([]string{"DROP TRIGGER " + n}, stmts...)
	}
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// copyDir copies the files of a data folder (no subfolders but keys).
func copyDir(t testing.TB, from, to string) {
	t.Helper()
	err := filepath.Walk(from, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		if info.IsDir() {
			return os.MkdirAll(filepath.Join(to, rel), 0o700)
		}
		in, err := os.Open(p)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.OpenFile(filepath.Join(to, rel), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, info.Mode())
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, in); err != nil {
			out.Close()
			return err
		}
		return out.Close()
	})
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
}
