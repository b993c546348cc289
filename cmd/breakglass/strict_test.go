package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/failsmall/breakglass/audit"
	"github.com/failsmall/breakglass/broker"
	"github.com/failsmall/breakglass/hwkey"
	"github.com/failsmall/breakglass/offline"
	"github.com/failsmall/breakglass/policy"
	"github.com/failsmall/breakglass/server"
	"github.com/failsmall/breakglass/token"
	"github.com/failsmall/breakglass/web"
)

// strictFixture is a dev broker with one grant of dev-admin to alice,
// approved by bob and carol, and what a relying party caches to verify it
// strictly: the token, its evidence and audit receipt, the JWKS, a
// revocation list, the broker's active bundle as the pinned one and its
// audit log key.
type strictFixture struct {
	a                          *server.Server
	dir                        string
	keys                       server.Dir // holds dev-keys/{alice,bob,carol}
	id                         string     // the request
	tok, ev, jwks, list, trust string     // files
	receipt, logKey            string     // files
	evidence                   *offline.Evidence
	alice, bob, carol          ssh.Signer
	bobApproval, carolApproval offline.Approval
	bundleHash                 string
}

func newStrictFixture(t *testing.T) *strictFixture {
	t.Helper()
	dir := t.TempDir()
	d := server.Dir(filepath.Join(dir, "data"))
	if _, err := server.EnsureDev(d); err != nil {
		t.Fatal(err)
	}
	a := startApp(t, server.Config{Name: "breakglass-dev", Data: d, Local: devLocal(t, d, d.Policy())})
	f := &strictFixture{a: a, dir: dir, keys: d,
		tok: filepath.Join(dir, "tok.jwt"), ev: filepath.Join(dir, "ev.json"), jwks: filepath.Join(dir, "jwks.json"),
		list: filepath.Join(dir, "list.jws"), trust: filepath.Join(dir, "trusted.bundle"),
		receipt: filepath.Join(dir, "grant.receipt"), logKey: d.AuditPub(),
		alice: mustLoadKey(t, filepath.Join(d.DevKeys(), "alice")), bob: mustLoadKey(t, filepath.Join(d.DevKeys(), "bob")),
		carol: mustLoadKey(t, filepath.Join(d.DevKeys(), "carol"))}
	out := f.mustRun(t, "request", "--key", f.key("alice"), "--role", "dev-admin", "--reason", "strict test: recompute the quorum", "--quiet")
	f.id = strings.TrimSpace(out)
	f.mustRun(t, "approve", "--key", f.key("bob"), "--yes", f.id)
	f.mustRun(t, "approve", "--key", f.key("carol"), "--yes", f.id)
	f.mustRun(t, "token", "--key", f.key("alice"), "--out", f.tok, "--evidence", f.ev, "--receipt", f.receipt, f.id)
	f.mustRun(t, "revocations", "--out", f.list)
	f.fetchJWKS(t)
	bundle, err := os.ReadFile(d.ActiveBundle())
	if err != nil {
		t.Fatal(err)
	}
	mustWriteFile(t, f.trust, string(bundle))
	f.evidence = mustReadEvidence(t, f.ev)
	f.bobApproval = f.approvalBy(t, f.bob)
	f.carolApproval = f.approvalBy(t, f.carol)
	sb, err := policy.ParseSignedBundle([]byte(f.evidence.Bundle))
	if err != nil {
		t.Fatal(err)
	}
	f.bundleHash = sb.Hash
	return f
}

func (f *strictFixture) key(who string) string { return filepath.Join(f.keys.DevKeys(), who) }

// mustRun runs the CLI against the broker and returns its stdout.
func (f *strictFixture) mustRun(t *testing.T, args ...string) string {
	t.Helper()
	args = append([]string{args[0], "--broker", f.a.URL()}, args[1:]...)
	code, out, errOut := runCLI(args...)
	if code != 0 {
		t.Fatalf("breakglass %s: exit %d: %s%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

func (f *strictFixture) fetchJWKS(t *testing.T) {
	t.Helper()
	cl, err := web.NewClient(f.a.URL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	data, err := cl.JWKS(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	mustWriteFile(t, f.jwks, string(data))
}

// verify runs `verify --strict` offline with the fixture's files, each
// replaced by the one given in files ("evidence", "list", "trust",
// "receipt").
func (f *strictFixture) verify(files map[string]string) (code int, stdout, stderr string) {
	get := func(name, def string) string {
		if v, ok := files[name]; ok {
			return v
		}
		return def
	}
	return runCLI("verify", "--strict", "--jwks", f.jwks, "--iss", "breakglass-dev", "--aud", "breakglass-dev",
		"--revocations", get("list", f.list), "--evidence", get("evidence", f.ev), "--trust", get("trust", f.trust),
		"--receipt", get("receipt", f.receipt), "--log-key", f.logKey, f.tok)
}

// approvalBy returns the fixture evidence's approval signed by s.
func (f *strictFixture) approvalBy(t *testing.T, s ssh.Signer) offline.Approval {
	t.Helper()
	for _, a := range f.evidence.Approvals {
		sig, err := hwkey.ParseSignature([]byte(a.Signature))
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Equal(sig.PublicKey.Marshal(), s.PublicKey().Marshal()) {
			return a
		}
	}
	t.Fatalf("the evidence holds no approval by %s", ssh.FingerprintSHA256(s.PublicKey()))
	return offline.Approval{}
}

// signedApproval is s's approval signature over message, as the evidence
// carries it for statement.
func signedApproval(t *testing.T, s ssh.Signer, statement, message string) offline.Approval {
	t.Helper()
	sig, err := hwkey.Sign(s, hwkey.Namespace, []byte(message))
	if err != nil {
		t.Fatal(err)
	}
	return offline.Approval{Statement: statement, Signature: string(sig.Armor())}
}

func mustReadEvidence(t *testing.T, file string) *offline.Evidence {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	e, err := offline.ParseEvidence(data)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// writeEvidenceFile writes the fixture's evidence with its approvals
// replaced by approvals.
func (f *strictFixture) writeEvidenceFile(t *testing.T, name string, approvals ...offline.Approval) string {
	t.Helper()
	e := *f.evidence
	e.Approvals = approvals
	data, err := e.Encode()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(f.dir, name)
	mustWriteFile(t, path, string(data))
	return path
}

// writeList writes a revocation list signed by signer.
func (f *strictFixture) writeList(t *testing.T, name string, signer token.JWSSigner, l broker.RevocationList) string {
	t.Helper()
	jws, err := token.RevocationPublisher{Signer: signer}.SignRevocations(l)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(f.dir, name)
	mustWriteFile(t, path, jws+"\n")
	return path
}

// writeBobTrust writes a signed bundle of the dev policy whose only admin
// is bob, signed by bob: the trust of a relying party that pinned another
// broker's admins.
func (f *strictFixture) writeBobTrust(t *testing.T) string {
	t.Helper()
	pol, err := os.ReadFile(f.keys.Policy())
	if err != nil {
		t.Fatal(err)
	}
	other := bytes.Replace(pol, []byte("admins: [carol]"), []byte("admins: [bob]"), 1)
	if bytes.Equal(other, pol) {
		t.Fatal("the dev policy has no line admins: [carol]")
	}
	raw, err := server.SignBundle(&policy.Bundle{Serial: 1, Created: time.Now().UTC().Truncate(time.Second), Policy: other}, []ssh.Signer{f.bob})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(f.dir, "bob.bundle")
	mustWriteFile(t, path, string(raw))
	return path
}

// TestStrictVerify: strict verification accepts the grant's own evidence and
// refuses each way the evidence or the cached material can be wrong, with
// its own message and exit 1, printing no claims.
func TestStrictVerify(t *testing.T) {
	f := newStrictFixture(t)
	statement := f.evidence.Statement
	stranger := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))
	strangerSigner, err := ssh.NewSignerFromKey(stranger)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	otherKeys, err := token.OpenKeyring(filepath.Join(f.dir, "other-keys"), time.Hour, nil)
	if err != nil {
		t.Fatal(err)
	}
	ev, stale := f.ev, filepath.Join(f.dir, "stale.jws")

	for _, tc := range []struct {
		name  string
		files func(t *testing.T) map[string]string
		want  string // a regexp the whole stderr line must match
	}{
		{"quorum short: bob's approval removed", func(t *testing.T) map[string]string {
			return map[string]string{"evidence": f.writeEvidenceFile(t, "short.json", f.carolApproval)}
		}, `token is NOT valid: approvals do not meet the quorum for role dev-admin: approvals from \[carol\], still missing 1 more from \[sre\] \(the approvals in \S+short.json do not add up to the role's quorum\)`},
		{"forged: bob's signature over another statement", func(t *testing.T) map[string]string {
			forged := signedApproval(t, f.bob, statement, strings.Replace(statement, "reason: strict test", "reason: other test", 1))
			return map[string]string{"evidence": f.writeEvidenceFile(t, "forged.json", forged, f.carolApproval)}
		}, `token is NOT valid: forged approval signature: approval 1 by bob: .+ \(an approval in \S+forged.json is not a valid signature by a key the bundle enrolled\)`},
		{"forged: signed by a key nobody enrolled", func(t *testing.T) map[string]string {
			return map[string]string{"evidence": f.writeEvidenceFile(t, "stranger.json", f.bobApproval, signedApproval(t, strangerSigner, statement, statement))}
		}, `token is NOT valid: forged approval signature: approval 2 is signed by a key no principal of the policy bundle enrolled \(an approval in \S+stranger.json is not a valid signature by a key the bundle enrolled\)`},
		{"not eligible: the requester approves", func(t *testing.T) map[string]string {
			self := signedApproval(t, f.alice, statement, statement)
			return map[string]string{"evidence": f.writeEvidenceFile(t, "self.json", f.bobApproval, f.carolApproval, self)}
		}, `token is NOT valid: approver not eligible under the policy bundle: approval 3: .*alice.* \(an approval in \S+self.json comes from someone the bundle does not let approve this request\)`},
		{"no approvals", func(t *testing.T) map[string]string {
			return map[string]string{"evidence": f.writeEvidenceFile(t, "none.json")}
		}, `token is NOT valid: evidence holds no approvals: the grant of request ` + f.id + ` carries no approval signatures \(the broker granted it without approvals\)`},
		{"bundle not signed by the trusted admins", func(t *testing.T) map[string]string {
			return map[string]string{"trust": f.writeBobTrust(t)}
		}, `token is NOT valid: evidence policy bundle is not signed by the trusted admins: .* \(the grant was judged under a bundle the admins of \S+bob.bundle did not sign; if they rotated, pin their newer bundle\)`},
		{"revocation list older than its max age", func(t *testing.T) map[string]string {
			f.writeList(t, "stale.jws", f.a.Keyring(), broker.RevocationList{Issuer: "breakglass-dev", Sequence: 1,
				Issued: now.Add(-2 * time.Hour), MaxAge: time.Hour, Revoked: []string{}})
			return map[string]string{"list": stale}
		}, `token is NOT accepted: revocation list too old: list 1 issued \S+ with max age 1h0m0s expired at ` + now.Add(-time.Hour).Format(time.RFC3339) +
			`, now is \S+ \(fetch a fresh one: breakglass revocations --out ` + regexp.QuoteMeta(stale) + `\)`},
		{"revocation list signed by another key", func(t *testing.T) map[string]string {
			return map[string]string{"list": f.writeList(t, "other.jws", otherKeys, broker.RevocationList{Issuer: "breakglass-dev",
				Sequence: 9, Issued: now, MaxAge: time.Hour, Revoked: []string{}})}
		}, `token is NOT accepted: invalid revocation list: signed with kid "\S+", which is not in the jwks \(if the broker rotated its signing key after \S+jwks.json was fetched, fetch the JWKS again: curl -s BROKER/.well-known/jwks.json > \S+jwks.json\)`},
		{"evidence missing", func(t *testing.T) map[string]string {
			return map[string]string{"evidence": filepath.Join(f.dir, "missing.json")}
		}, `read --evidence: open \S+missing.json: no such file or directory`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := f.verify(tc.files(t))
			checkVerifyRefusal(t, code, out, errOut, tc.want)
		})
	}
	// The fixture's own files still verify: the failures above came from
	// what each case changed.
	t.Run("the grant's own evidence", func(t *testing.T) {
		code, out, errOut := f.verify(map[string]string{"evidence": ev})
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		want := regexp.MustCompile(`(?m)^strict: quorum recomputed from 2 approvals by \[bob carol\] under bundle serial 1 \(` +
			regexp.QuoteMeta(f.bundleHash) + `\)\naudit: grant.issued entry \d+ included in checkpoint of size \d+ signed by breakglass-dev\n\z`)
		if !want.MatchString(out) {
			t.Errorf("stdout:\n%s\nwant it to end with the strict and audit lines (%s)", out, want)
		}
	})
	// Strict verification without the receipt or the log key is refused:
	// they bind the token to the grant the broker logged.
	for _, drop := range []string{"--receipt", "--log-key"} {
		args := []string{"verify", "--strict", "--jwks", f.jwks, "--iss", "breakglass-dev", "--aud", "breakglass-dev",
			"--revocations", f.list, "--evidence", f.ev, "--trust", f.trust, "--receipt", f.receipt, "--log-key", f.logKey, f.tok}
		i := slices.Index(args, drop)
		args = slices.Delete(args, i, i+2)
		code, _, errOut := runCLI(args...)
		if code != 2 || !strings.Contains(errOut, "--strict needs "+drop+" FILE") {
			t.Errorf("verify --strict without %s: exit %d, stderr %q; want 2 naming %s", drop, code, errOut, drop)
		}
	}
}

// TestStrictTokenEvidenceFile: the evidence file token --evidence writes is
// public (0644), parses, and holds exactly the approvals the grant counted
// under the broker's active bundle.
func TestStrictTokenEvidenceFile(t *testing.T) {
	f := newStrictFixture(t)
	fi, err := os.Stat(f.ev)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o644 {
		t.Errorf("mode %v, want 0644", got)
	}
	if got := len(f.evidence.Approvals); got != 2 {
		t.Errorf("%d approvals, want 2 (bob's and carol's)", got)
	}
	active, err := os.ReadFile(f.keys.ActiveBundle())
	if err != nil {
		t.Fatal(err)
	}
	if f.evidence.Bundle != string(active) {
		t.Errorf("the evidence's bundle is not the broker's active bundle")
	}
	// Fetched again over an existing file, by carol, an approver and admin:
	// the same bytes, replaced atomically.
	mustWriteFile(t, filepath.Join(f.dir, "ev2.json"), "old")
	out := f.mustRun(t, "token", "--key", f.key("carol"), "--evidence", filepath.Join(f.dir, "ev2.json"), f.id)
	want := "wrote the evidence of request " + f.id + " (2 approvals, policy bundle serial 1 " + f.bundleHash + ") to " + filepath.Join(f.dir, "ev2.json") + "\n"
	if out != want {
		t.Errorf("stdout %q, want %q", out, want)
	}
	a, b := mustReadFile(t, f.ev), mustReadFile(t, filepath.Join(f.dir, "ev2.json"))
	if a != b {
		t.Errorf("carol's evidence differs from alice's:\n%s\n%s", a, b)
	}
}

func mustReadFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// TestStrictVerifyReceipt: verify --receipt --log-key accepts the receipt
// `token --receipt` wrote and refuses one without its entry, with a
// tampered entry, under another log key, or short of a witness quorum.
func TestStrictVerifyReceipt(t *testing.T) {
	f := newStrictFixture(t)
	receipt := filepath.Join(f.dir, "receipt.proof")
	f.mustRun(t, "token", "--key", f.key("alice"), "--out", f.tok, "--receipt", receipt, f.id)
	good, err := audit.ParseReceipt([]byte(mustReadFile(t, receipt)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := audit.ParseEntry(good.Extra); err != nil {
		t.Fatalf("the receipt's extra is not an audit entry: %v", err)
	}
	writeReceipt := func(name string, edit func(r *audit.Receipt)) string {
		r, err := audit.ParseReceipt([]byte(mustReadFile(t, receipt)))
		if err != nil {
			t.Fatal(err)
		}
		edit(r)
		path := filepath.Join(f.dir, name)
		mustWriteFile(t, path, string(r.Marshal()))
		return path
	}
	_, otherVkey, err := audit.NewKeyFromSeed("breakglass-dev", bytes.Repeat([]byte{9}, ed25519.SeedSize))
	if err != nil {
		t.Fatal(err)
	}
	otherKey := filepath.Join(f.dir, "other-audit-key.pub")
	mustWriteFile(t, otherKey, otherVkey+"\n")
	witnessKey, err := audit.CosignatureVerifierKey("witness.example/w1", ed25519.NewKeyFromSeed(bytes.Repeat([]byte{8}, ed25519.SeedSize)).Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	logKey := f.keys.AuditPub()
	verify := func(extra ...string) (int, string, string) {
		args := []string{"verify", "--strict", "--jwks", f.jwks, "--iss", "breakglass-dev", "--aud", "breakglass-dev",
			"--revocations", f.list, "--evidence", f.ev, "--trust", f.trust}
		return runCLI(append(append(args, extra...), f.tok)...)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string // a regexp the whole stderr line must match
	}{
		{"no entry in the receipt", []string{"--receipt", writeReceipt("old.proof", func(r *audit.Receipt) { r.Extra = nil }), "--log-key", logKey},
			`token is NOT accepted: malformed audit receipt: it does not carry its audit entry \(a receipt from an older broker\): fetch it again with ` +
				"`breakglass token ID --receipt FILE` from a current broker" + ` \(fetch it again: breakglass token ID --receipt \S+old.proof\)`},
		{"tampered entry", []string{"--receipt", writeReceipt("tampered.proof", func(r *audit.Receipt) {
			r.Extra = bytes.Replace(r.Extra, []byte(`"bob"`), []byte(`"eve"`), 1)
		}), "--log-key", logKey},
			`token is NOT valid: audit receipt does not verify: its entry is not at index \d+ of the checkpoint of size \d+: .* \(is \S+audit-key.pub this broker's audit-key.pub\? .*\)`},
		{"another log key", []string{"--receipt", receipt, "--log-key", otherKey},
			`token is NOT valid: audit receipt does not verify: its checkpoint is not signed by log key breakglass-dev: .* \(is \S+other-audit-key.pub this broker's audit-key.pub\? .*\)`},
		{"witness quorum unmet", []string{"--receipt", receipt, "--log-key", logKey, "--witness", witnessKey},
			`token is NOT accepted: audit checkpoint lacks witness cosignatures: 0 of the given witnesses cosigned the receipt's checkpoint, want 1 \(.*\)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := verify(tc.args...)
			checkVerifyRefusal(t, code, out, errOut, tc.want)
		})
	}
	t.Run("usage", func(t *testing.T) {
		code, _, errOut := verify("--receipt", receipt, "--log-key", logKey, "--witness", witnessKey, "--witness-quorum", "2")
		if want := "breakglass verify: --witness-quorum 2: give at least that many --witness keys\n"; code != 2 || errOut != want {
			t.Errorf("exit %d, stderr %q; want exit 2, %q", code, errOut, want)
		}
	})
	t.Run("the grant's own receipt", func(t *testing.T) {
		code, out, errOut := verify("--receipt", receipt, "--log-key", logKey)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		want := regexp.MustCompile(`\naudit: grant.issued entry \d+ included in checkpoint of size \d+ signed by breakglass-dev\n$`)
		if !want.MatchString(out) {
			t.Errorf("stdout:\n%s\nwant it to match %s", out, want)
		}
	})
}

// checkVerifyRefusal wants `breakglass verify` to have exited 1 with nothing
// on stdout and exactly one stderr line matching the regexp want.
func checkVerifyRefusal(t *testing.T, code int, out, errOut, want string) {
	t.Helper()
	if code != 1 {
		t.Errorf("exit %d, want 1; stderr: %s", code, errOut)
	}
	if out != "" {
		t.Errorf("stdout %q, want nothing", out)
	}
	if re := regexp.MustCompile(`^breakglass verify: ` + want + "\n$"); !re.MatchString(errOut) {
		t.Errorf("stderr:\n%s\nwant it to match:\n%s", errOut, re)
	}
}
