package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/failsmall/breakglass/broker"
	"github.com/failsmall/breakglass/internal/systest"
	"github.com/failsmall/breakglass/policy"
	"github.com/failsmall/breakglass/server"
	"github.com/failsmall/breakglass/web"
)

// devBroker is a dev broker (carol the only admin) in this process.
type devBroker struct {
	data server.Dir
	cl   *web.Client
	env  map[string]string
}

func startDevBroker(t *testing.T) *devBroker {
	t.Helper()
	d := server.Dir(filepath.Join(t.TempDir(), "data")) // created 0700 by the broker
	if _, err := server.EnsureDev(d); err != nil {
		t.Fatal(err)
	}
	a := startApp(t, server.Config{Name: "breakglass-dev", Data: d, Local: devLocal(t, d, d.Policy())})
	cl, err := web.NewClient(a.URL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return &devBroker{data: d, cl: cl, env: map[string]string{"BREAKGLASS_URL": a.URL()}}
}

func (b *devBroker) key(who string) string { return filepath.Join(b.data.DevKeys(), who) }

// run runs the CLI in this process with b's environment.
func (b *devBroker) run(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = Main(args, strings.NewReader(""), &out, &errb, func(k string) string { return b.env[k] })
	return code, out.String(), errb.String()
}

func mustActive(t *testing.T, cl *web.Client) *broker.BundleState {
	t.Helper()
	st, err := cl.Policy(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.Bundle == nil {
		t.Fatalf("no active bundle: %s", st.Error)
	}
	return st.Bundle
}

// invalidPolicy is the dev policy with a role whose clause nobody can fill.
func invalidPolicy(t *testing.T, d server.Dir) []byte {
	t.Helper()
	dev, err := os.ReadFile(d.Policy())
	if err != nil {
		t.Fatal(err)
	}
	bad := bytes.Replace(dev, []byte("      - count: 1\n        groups: [sre]"), []byte("      - count: 3\n        groups: [sre]"), 1)
	if bytes.Equal(bad, dev) {
		t.Fatal("the dev policy changed: no sre clause to break")
	}
	return bad
}

// TestPushInvalidPolicyBundle: a bundle the active admin validly signed but
// whose policy does not validate is rejected by the broker with the
// policy's problems, and the active bundle stays; the CLI will not add a
// signature to it and says why.
func TestPushInvalidPolicyBundle(t *testing.T) {
	b := startDevBroker(t)
	ctx := context.Background()
	active := mustActive(t, b.cl)
	bundle := &policy.Bundle{Serial: active.Serial + 1, Previous: active.Hash, Created: time.Now().UTC().Truncate(time.Second),
		Policy: invalidPolicy(t, b.data)}
	raw, err := server.SignBundle(bundle, []ssh.Signer{mustLoadKey(t, b.key("carol"))})
	if err != nil {
		t.Fatal(err)
	}

	_, err = b.cl.PushBundle(ctx, raw)
	if !errors.Is(err, broker.ErrBundleRejected) {
		t.Fatalf("PushBundle: %v, want ErrBundleRejected", err)
	}
	for _, want := range []string{"policy bundle holds an invalid policy (serial 2)", "needs 3 approvers from [sre]"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("PushBundle: %q, want it to contain %q", err, want)
		}
	}
	if got := mustActive(t, b.cl); got.Hash != active.Hash {
		t.Errorf("active bundle = serial %d %s, want serial %d %s still", got.Serial, got.Hash, active.Serial, active.Hash)
	}

	file := filepath.Join(t.TempDir(), "bad.bundle")
	mustWriteFile(t, file, string(raw))
	code, _, errOut := b.run("policy", "push", file)
	if code != 1 || !strings.Contains(errOut, "the broker rejected "+file+": policy bundle rejected: policy bundle holds an invalid policy") {
		t.Errorf("policy push: exit %d, stderr %q; want exit 1 and the broker's reason", code, errOut)
	}
	code, _, errOut = b.run("policy", "sign", "--key", b.key("bob"), file)
	if code != 1 || !strings.Contains(errOut, "the policy is invalid, 1 problem(s):\nline ") {
		t.Errorf("policy sign: exit %d, stderr %q; want exit 1 and the problem with its line", code, errOut)
	}
	if got, _ := os.ReadFile(file); !bytes.Equal(got, raw) {
		t.Error("policy sign changed the file it refused")
	}
}

// TestPickAdminKey: without --key, sign uses the agent key of an admin of
// the bundle's policy; --as picks among several admins.
func TestPickAdminKey(t *testing.T) {
	d := server.Dir(filepath.Join(t.TempDir(), "data")) // created 0700 by the broker
	if _, err := server.EnsureDev(d); err != nil {
		t.Fatal(err)
	}
	dev, err := os.ReadFile(d.Policy())
	if err != nil {
		t.Fatal(err)
	}
	twoAdmins, err := policy.Parse(bytes.Replace(dev, []byte("admins: [carol]"), []byte("admins: [bob, carol]"), 1))
	if err != nil {
		t.Fatal(err)
	}
	oneAdmin, err := policy.Parse(dev)
	if err != nil {
		t.Fatal(err)
	}
	key := func(who string) ssh.Signer { return mustLoadKey(t, filepath.Join(d.DevKeys(), who)) }
	alice, bob, carol := key("alice"), key("bob"), key("carol")
	for _, tc := range []struct {
		name    string
		p       *policy.Policy
		as      string
		signers []ssh.Signer
		want    ssh.Signer
		wantErr string
	}{
		{"the admin's key among others", oneAdmin, "", []ssh.Signer{alice, bob, carol}, carol, ""},
		{"a single key, admin or not", oneAdmin, "", []ssh.Signer{bob}, bob, ""},
		{"no admin among several", oneAdmin, "", []ssh.Signer{alice, bob}, nil, "none of your 2 agent key(s) is enrolled for an admin of the policy (admins [carol])"},
		{"several admins need --as", twoAdmins, "", []ssh.Signer{bob, carol}, nil, "several admins (bob, carol): pass --as ADMIN"},
		{"--as picks one", twoAdmins, "carol", []ssh.Signer{bob, carol}, carol, ""},
		{"--as names no admin", oneAdmin, "bob", []ssh.Signer{bob}, nil, "enrolled for --as bob for an admin"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &cli{g: globals{as: tc.as}}
			got, err := c.pickAdminKey(tc.p, tc.signers)
			switch {
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("pickAdminKey: %v, want an error containing %q", err, tc.wantErr)
			case tc.wantErr == "" && err != nil:
				t.Fatalf("pickAdminKey: %v", err)
			case tc.want != nil && !bytes.Equal(got.PublicKey().Marshal(), tc.want.PublicKey().Marshal()):
				t.Errorf("pickAdminKey picked %s, want %s", ssh.FingerprintSHA256(got.PublicKey()), ssh.FingerprintSHA256(tc.want.PublicKey()))
			}
		})
	}
}

// TestPolicySignWithAgent: a real ssh-agent holding alice's, bob's and
// carol's keys; sign finds carol's, the broker activates the bundle.
func TestPolicySignWithAgent(t *testing.T) {
	b := startDevBroker(t)
	agent := systest.StartAgent(t)
	for _, who := range []string{"alice", "bob", "carol"} {
		agent.Add(t, b.key(who))
	}
	b.env["SSH_AUTH_SOCK"] = agent.Socket
	dev, err := os.ReadFile(b.data.Policy())
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "next.yaml")
	mustWriteFile(t, file, strings.Replace(string(dev), "min_reason: 10", "min_reason: 12", 1))

	code, out, errOut := b.run("policy", "sign", file)
	if code != 0 || !strings.Contains(out, "signed bundle serial 2 (sha256:") || !strings.Contains(out, ") as carol: 1 signature(s) now") {
		t.Fatalf("policy sign: exit %d\nstdout %q\nstderr %q", code, out, errOut)
	}
	code, out, errOut = b.run("policy", "push", file+".bundle")
	if code != 0 || !strings.HasPrefix(out, "activated serial 2 ") || !strings.HasSuffix(out, " signed by [carol]\n") {
		t.Fatalf("policy push: exit %d\nstdout %q\nstderr %q", code, out, errOut)
	}
	if got := mustActive(t, b.cl); got.Serial != 2 {
		t.Errorf("active serial = %d, want 2", got.Serial)
	}
}

// TestPrintPolicyState: sources, deactivations and a missing bundle.
func TestPrintPolicyState(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	st := &web.PolicyJSON{
		Bundle: &broker.BundleState{Serial: 7, Hash: "sha256:ab", Created: now.Add(-time.Hour), Activated: now.Add(-time.Minute),
			Source: "push", Confirmed: now.Add(-time.Hour), AgeSeconds: 3600, Admins: []string{"carol", "dave"}, AdminQuorum: 2,
			Previous: &broker.BundleRef{Serial: 6, Hash: "sha256:cd"}, Deactivated: map[string]string{"bob": "inactive in the directory"}},
		Sources: []web.SourceJSON{
			{Name: "https://bundles.example/p.bundle", Kind: "bundle", LastSuccess: now.Add(-30 * time.Second), AgeSeconds: 30, Result: "current serial 7",
				LastError: "503 Service Unavailable", LastErrorAt: now.Add(-10 * time.Second)},
			{Name: "scim", Kind: "scim", AgeSeconds: -1},
		},
	}
	var w bytes.Buffer
	if err := printPolicyState(&w, "http://bg", st, now); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"serial: 7\n", "hash: sha256:ab\n", "activated: 2025-03-01T11:59:00Z (source push)\n", "age: 1h0m0s (since 2025-03-01T11:00:00Z",
		"admins: [carol dave], admin_quorum 2\n", "previous: serial 6 sha256:cd\n", "deactivated: bob (inactive in the directory)\n",
		"source https://bundles.example/p.bundle (bundle): last success 2025-03-01T11:59:30Z (30s ago): current serial 7; last error 2025-03-01T11:59:50Z (10s ago): 503 Service Unavailable\n",
		"source scim (scim): never succeeded\n",
	} {
		if !strings.Contains(w.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, w.String())
		}
	}
	w.Reset()
	err := printPolicyState(&w, "http://bg", &web.PolicyJSON{Error: "no policy bundle is pinned"}, now)
	if err == nil || !strings.Contains(w.String(), "broker http://bg has NO active policy bundle: no policy bundle is pinned\n") {
		t.Errorf("no bundle: err %v, output %q; want an error and the reason", err, w.String())
	}
}
