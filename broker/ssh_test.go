package broker_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/failsmall/breakglass/broker"
	"github.com/failsmall/breakglass/internal/brokertest"
	"github.com/failsmall/breakglass/token"
)

// sshPolicy: shell yields a certificate for breakglass and root, from
// 127.0.0.0/8, running /bin/true; plain yields a JWT only.
const sshPolicy = `version: 1
groups:
  - name: engineering
  - name: sre
principals:
  - {id: alice, groups: [engineering], keys: [KEY(alice)]}
  - {id: bob, groups: [sre], keys: [KEY(bob)]}
  - {id: dave, groups: [sre], keys: [KEY(dave)]}
roles:
  - name: shell
    requesters: [engineering]
    approval: [{count: 1, groups: [sre]}]
    duration: {default: 30m, max: 1h}
    jwt: {audience: [shell]}
    ssh:
      principals: [breakglass, root]
      extensions: {permit-pty: ""}
      source_address: 127.0.0.0/8
      force_command: /bin/true
  - name: plain
    requesters: [engineering]
    approval: [{count: 1, groups: [sre]}]
    duration: {max: 1h}
    jwt: {audience: [plain]}
`

func sshInput(role, key string) broker.RequestInput {
	return broker.RequestInput{Role: role, Requester: "alice", Reason: "need a shell on db-7", SSHKey: key}
}

func TestSSHStatementGolden(t *testing.T) {
	st := sampleStatement()
	st.SSHKey = brokertest.AuthorizedKey("alice")
	got, err := st.Encode()
	if err != nil {
		t.Fatal(err)
	}
	golden := "testdata/approval-ssh.txt"
	checkGolden(t, golden, got)
	for _, kind := range []broker.Kind{broker.KindRequest, broker.KindApproval, broker.KindDenial} {
		st.Kind, st.DenialReason = kind, ""
		if kind == broker.KindDenial {
			st.DenialReason = "not during the freeze"
		}
		text, err := st.Encode()
		if err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
		back, err := broker.ParseStatement(text)
		if err != nil {
			t.Fatalf("%s: parse: %v\n%s", kind, err, text)
		}
		if back != st {
			t.Errorf("%s: round trip = %+v, want %+v", kind, back, st)
		}
	}
}

func TestSSHStatementRejects(t *testing.T) {
	st := sampleStatement()
	st.SSHKey = brokertest.AuthorizedKey("alice")
	good, err := st.Encode()
	if err != nil {
		t.Fatal(err)
	}
	aliceFP := ssh.FingerprintSHA256(brokertest.Signer("alice").PublicKey())
	bobFP := ssh.FingerprintSHA256(brokertest.Signer("bob").PublicKey())
	cases := []struct{ name, from, to, want string }{
		{"fingerprint of another key", aliceFP, bobFP, "is not the key's"},
		{"no fingerprint", aliceFP + " ", "", "not an authorized_keys line"},
		{"comment after the key", st.SSHKey + "\n", st.SSHKey + " alice@host\n", "without a comment"},
		{"key type unknown", "ssh-ed25519 ", "ssh-ed25520 ", "not an authorized_keys line"},
		{"ssh-key line before not-after", "not-after: 2026-11-25T21:30:00Z\nssh-key: " + aliceFP + " " + st.SSHKey,
			"ssh-key: " + aliceFP + " " + st.SSHKey + "\nnot-after: 2026-11-25T21:30:00Z", "statement has 10 fields, want 9"},
		{"ssh-key line twice", st.SSHKey + "\n", st.SSHKey + "\nssh-key: " + aliceFP + " " + st.SSHKey + "\n", "fields"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			bad := strings.Replace(string(good), c.from, c.to, 1)
			if bad == string(good) {
				t.Fatalf("edit %q -> %q changed nothing", c.from, c.to)
			}
			_, err := broker.ParseStatement([]byte(bad))
			if !errors.Is(err, broker.ErrInvalid) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("ParseStatement = %v, want ErrInvalid containing %q\n%s", err, c.want, bad)
			}
		})
	}
	t.Run("certificate as key", func(t *testing.T) {
		st := sampleStatement()
		st.SSHKey = issueCertLine(t)
		if _, err := st.Encode(); !errors.Is(err, broker.ErrInvalid) || !strings.Contains(err.Error(), "certificate") {
			t.Errorf("Encode = %v, want ErrInvalid naming the certificate", err)
		}
	})
}

// issueCertLine returns an authorized_keys certificate line for alice's key.
func issueCertLine(t *testing.T) string {
	t.Helper()
	line, err := token.SSHCA{Signer: brokertest.Signer("ca")}.SignCert(broker.SSHCertClaims{
		PublicKey: brokertest.Signer("alice").PublicKey(), Serial: 1, GrantID: "g", RequestID: "r",
		Requester: "alice", Principals: []string{"x"}, ValidAfter: time.Unix(1, 0), ValidBefore: time.Unix(2, 0)})
	if err != nil {
		t.Fatal(err)
	}
	return line
}

func mustCert(t *testing.T, line string) *ssh.Certificate {
	t.Helper()
	pub, _, _, _, err := ssh.ParseAuthorizedKey([]byte(line))
	if err != nil {
		t.Fatalf("parse certificate %q: %v", line, err)
	}
	cert, ok := pub.(*ssh.Certificate)
	if !ok {
		t.Fatalf("%q is a %s, not a certificate", line, pub.Type())
	}
	return cert
}

func TestSSHGrantMintsCertificate(t *testing.T) {
	e := brokertest.New(t, sshPolicy, "")
	alice := brokertest.AuthorizedKey("alice")
	r := e.Request(t, sshInput("shell", alice+" alice@laptop"))
	if want := "\nssh-key: " + ssh.FingerprintSHA256(brokertest.Signer("alice").PublicKey()) + " " + alice + "\n"; !strings.Contains(string(r.Statement), want) {
		t.Errorf("approval statement lacks %q:\n%s", want, r.Statement)
	}
	g := mustApprove(t, e, "bob", r).Grant
	if g == nil || g.SSHCert == "" || g.SSHSerial == 0 {
		t.Fatalf("grant = %+v, want an SSH certificate with a serial", g)
	}
	cert := mustCert(t, g.SSHCert)
	checks := []struct {
		what      string
		got, want any
	}{
		{"cert type", cert.CertType, uint32(ssh.UserCert)},
		{"key", string(cert.Key.Marshal()), string(brokertest.Signer("alice").PublicKey().Marshal())},
		{"CA", string(cert.SignatureKey.Marshal()), string(e.SSHCA.PublicKey().Marshal())},
		{"serial", cert.Serial, g.SSHSerial},
		{"key id", cert.KeyId, token.KeyID(g.ID, r.ID, "alice", []string{"bob"})},
		{"principals", strings.Join(cert.ValidPrincipals, ","), "breakglass,root"},
		{"valid after", int64(cert.ValidAfter), g.Issued.Add(-time.Minute).Unix()},
		{"valid before", int64(cert.ValidBefore), g.Expires.Unix()},
		{"source-address", cert.CriticalOptions["source-address"], "127.0.0.0/8"},
		{"force-command", cert.CriticalOptions["force-command"], "/bin/true"},
		{"extensions", len(cert.Extensions), 1},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.what, c.got, c.want)
		}
	}
	if _, ok := cert.Extensions["permit-pty"]; !ok {
		t.Errorf("extensions = %v, want permit-pty", cert.Extensions)
	}
	stored, err := e.Svc.Credentials(context.Background(), "alice", r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if stored.SSHCert != g.SSHCert || stored.SSHSerial != g.SSHSerial {
		t.Errorf("stored grant certificate differs from the minted one")
	}
	g2 := mustApprove(t, e, "bob", e.Request(t, sshInput("shell", alice))).Grant
	if g2.SSHSerial == g.SSHSerial {
		t.Errorf("two grants share serial %d", g.SSHSerial)
	}
}

func TestSSHRequestRefusals(t *testing.T) {
	e := brokertest.New(t, sshPolicy, "")
	noCA, err := broker.New(broker.Config{Name: brokertest.Name, Store: e.DB, Minter: token.Minter{Keyring: e.Keys}, Clock: e.Clock})
	if err != nil {
		t.Fatal(err)
	}
	if err := noCA.SetPolicy(context.Background(), e.Policy); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	cases := []struct {
		name string
		svc  *broker.Service
		in   broker.RequestInput
		want string
	}{
		{"no key for a role with ssh", e.Svc, sshInput("shell", ""), "--pubkey FILE"},
		{"key is garbage", e.Svc, sshInput("shell", "ssh-ed25519 AAAA"), "not an authorized_keys line"},
		{"key is a certificate", e.Svc, sshInput("shell", issueCertLine(t)), "is a certificate"},
		{"broker has no CA", noCA, sshInput("shell", brokertest.AuthorizedKey("alice")), "no SSH CA"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := c.svc.Prepare(ctx, c.in)
			if !errors.Is(err, broker.ErrInvalid) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Prepare = %v, want ErrInvalid containing %q", err, c.want)
			}
		})
	}
	t.Run("role without ssh ignores the key", func(t *testing.T) {
		r := e.Request(t, sshInput("plain", brokertest.AuthorizedKey("alice")))
		if strings.Contains(string(r.Statement), "ssh-key") {
			t.Errorf("statement names an ssh key for a role without ssh:\n%s", r.Statement)
		}
		if g := mustApprove(t, e, "bob", r).Grant; g.SSHCert != "" || g.SSHSerial != 0 {
			t.Errorf("grant of a role without ssh has a certificate: %+v", g)
		}
	})
	t.Run("signed statement naming a key for a role without ssh", func(t *testing.T) {
		text, err := e.Svc.Prepare(ctx, sshInput("plain", ""))
		if err != nil {
			t.Fatal(err)
		}
		st, err := broker.ParseStatement(text)
		if err != nil {
			t.Fatal(err)
		}
		st.SSHKey = brokertest.AuthorizedKey("alice")
		forged, err := st.Encode()
		if err != nil {
			t.Fatal(err)
		}
		_, err = e.Svc.CreateRequest(ctx, forged, brokertest.Sign(t, "alice", forged))
		if !errors.Is(err, broker.ErrInvalid) || !strings.Contains(err.Error(), "yields no SSH certificate") {
			t.Errorf("CreateRequest = %v, want ErrInvalid: yields no SSH certificate", err)
		}
	})
}

func TestSSHKRLListsRevokedGrants(t *testing.T) {
	e := brokertest.New(t, sshPolicy, "")
	ctx := context.Background()
	krl := func() *token.KRL {
		t.Helper()
		b, err := e.Svc.SSHKRL(ctx)
		if err != nil {
			t.Fatal(err)
		}
		k, err := token.ParseKRL(b)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	empty := krl()
	if empty.Version != 0 || len(empty.Serials) != 0 || !bytes.Equal(empty.CA.Marshal(), e.SSHCA.PublicKey().Marshal()) {
		t.Errorf("KRL before any revocation = version %d, serials %v; want version 0, none, for the broker's CA", empty.Version, empty.Serials)
	}
	var grants []*broker.Grant
	for range 3 {
		grants = append(grants, mustApprove(t, e, "bob", e.Request(t, sshInput("shell", brokertest.AuthorizedKey("alice")))).Grant)
	}
	for i, g := range grants[:2] {
		text, sig := e.Challenge(t, "alice", broker.ActionRevoke, g.RequestID)
		if _, err := e.Svc.Revoke(ctx, text, sig); err != nil {
			t.Fatal(err)
		}
		k := krl()
		want := []uint64{}
		for _, r := range grants[:i+1] {
			want = append(want, r.SSHSerial)
		}
		if k.Version != uint64(i+1) || !slices.Equal(k.Serials, want) {
			t.Errorf("after %d revocations: KRL version %d serials %v, want version %d serials %v", i+1, k.Version, k.Serials, i+1, want)
		}
		if !k.IsRevoked(mustCert(t, g.SSHCert)) || k.IsRevoked(mustCert(t, grants[2].SSHCert)) {
			t.Errorf("KRL revokes the wrong certificates")
		}
	}
}
