package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/failsmall/breakglass/internal/systest"
	"github.com/failsmall/breakglass/server"
)

// sshPolicyRoles are the roles the sshd tests request; every one yields a
// certificate, and only shell is one sshd accepts.
const sshPolicyRoles = `roles:
  - name: shell
    requesters: [engineering]
    approval: [{count: 1, groups: [sre]}, {count: 1, groups: [security]}]
    duration: {default: 30m, max: 1h}
    jwt: {audience: [shell]}
    ssh: {principals: [breakglass-dev], extensions: {permit-pty: ""}, source_address: "10.0.0.0/8,127.0.0.1/32"}
  - name: brief
    requesters: [engineering]
    approval: [{count: 1, groups: [sre]}, {count: 1, groups: [security]}]
    duration: {max: 3s}
    jwt: {audience: [shell]}
    ssh: {principals: [breakglass-dev]}
  - name: prod
    requesters: [engineering]
    approval: [{count: 1, groups: [sre]}, {count: 1, groups: [security]}]
    duration: {max: 1h}
    jwt: {audience: [shell]}
    ssh: {principals: [breakglass-prod]}
  - name: remote
    requesters: [engineering]
    approval: [{count: 1, groups: [sre]}, {count: 1, groups: [security]}]
    duration: {max: 1h}
    jwt: {audience: [shell]}
    ssh: {principals: [breakglass-dev], source_address: 10.0.0.0/8}
`

// sshBroker is a broker run in this process, with the dev keys and an SSH
// CA, driven through the CLI.
type sshBroker struct {
	data  server.Dir
	url   string
	env   map[string]string
	clock *offsetClock // the broker's clock; nil for none set
}

// offsetClock is the wall clock moved by an offset a test sets: a broker
// whose clock runs behind issues certificates whose validity sshd, on the
// wall clock, finds already lapsed.
type offsetClock struct{ offset atomic.Int64 }

func (c *offsetClock) Now() time.Time { return time.Now().Add(time.Duration(c.offset.Load())) }

// behind runs fn with the clock d behind the wall clock.
func (c *offsetClock) behind(d time.Duration, fn func()) {
	c.offset.Store(int64(-d))
	defer c.offset.Store(0)
	fn()
}

// startSSHBroker starts a broker whose SSH CA is src (the dev CA when
// zero) and whose policy is the dev principals with sshPolicyRoles.
func startSSHBroker(t *testing.T, src server.SSHCASource) *sshBroker {
	t.Helper()
	d := server.Dir(filepath.Join(t.TempDir(), "data")) // created 0700 by the broker
	if _, err := server.EnsureDev(d); err != nil {
		t.Fatal(err)
	}
	dev, err := os.ReadFile(d.Policy())
	if err != nil {
		t.Fatal(err)
	}
	people, _, _ := strings.Cut(string(dev), "roles:\n")
	policyFile := filepath.Join(string(d), "ssh-policy.yaml")
	if err := os.WriteFile(policyFile, []byte(people+sshPolicyRoles), 0o600); err != nil {
		t.Fatal(err)
	}
	clock := &offsetClock{}
	a := startApp(t, server.Config{Name: "breakglass-dev", Data: d, Local: devLocal(t, d, policyFile), SSHCA: src, Clock: clock})
	return &sshBroker{data: d, url: a.URL(), env: map[string]string{"BREAKGLASS_URL": a.URL()}, clock: clock}
}

// cli runs the breakglass CLI in this process and returns its stdout;
// it fails t when the command fails.
func (b *sshBroker) cli(t *testing.T, args ...string) string {
	t.Helper()
	out, err := b.try(args...)
	if err != nil {
		t.Fatalf("breakglass %s: %v", strings.Join(args, " "), err)
	}
	return out
}

func (b *sshBroker) try(args ...string) (string, error) {
	var stdout, stderr bytes.Buffer
	code := Main(args, strings.NewReader(""), &stdout, &stderr, func(k string) string { return b.env[k] })
	if code != 0 {
		return stdout.String(), fmt.Errorf("exit %d: %s", code, stderr.String())
	}
	return stdout.String(), nil
}

func (b *sshBroker) key(who string) string { return filepath.Join(b.data.DevKeys(), who) }

// grant runs the full flow for role with the certificate for pubFile
// (alice's own key when ""), and writes the certificate to certFile.
// It returns the request id.
func (b *sshBroker) grant(t *testing.T, role, pubFile, certFile string) string {
	t.Helper()
	args := []string{"request", "--key", b.key("alice"), "--role", role, "--reason", "sshd test: need a shell", "--quiet"}
	if pubFile != "" {
		args = append(args, "--pubkey", pubFile)
	}
	id := strings.TrimSpace(b.cli(t, args...))
	b.cli(t, "approve", "--key", b.key("bob"), "--yes", id)
	b.cli(t, "approve", "--key", b.key("carol"), "--yes", id)
	b.cli(t, "token", "--key", b.key("alice"), "--ssh", "--out", certFile, id)
	return id
}

// sshdLogin logs in to d with keyFile and certFile and reports sshd's verdict.
func sshdLogin(t *testing.T, d *systest.SSHD, keyFile, certFile string, extra ...string) (bool, string) {
	t.Helper()
	mark := len(d.Log())
	out, err := d.Login(t, keyFile, certFile, extra...)
	if err == nil {
		d.WaitLog(mark, "Accepted publickey")
		return true, d.LogSince(mark)
	}
	d.WaitLog(mark, "Failed publickey")
	return false, out + d.LogSince(mark)
}

func mustSSHLogin(t *testing.T, d *systest.SSHD, keyFile, certFile string, extra ...string) {
	t.Helper()
	if ok, log := sshdLogin(t, d, keyFile, certFile, extra...); !ok {
		t.Fatalf("login with %s refused:\n%s", certFile, log)
	}
}

func mustSSHRefuse(t *testing.T, d *systest.SSHD, keyFile, certFile, reason string) {
	t.Helper()
	ok, log := sshdLogin(t, d, keyFile, certFile)
	if ok {
		t.Fatalf("login with %s accepted, want refusal (%s):\n%s", certFile, reason, log)
	}
	if !strings.Contains(log, reason) {
		t.Errorf("refusal does not say %q:\n%s", reason, log)
	}
}

// TestSSHCertificatesRealSSHD: certificates the broker grants log in to a
// real sshd trusting its CA, and are refused once expired, for a principal
// they do not name, from a source address they do not allow, after
// revocation once sshd has the new KRL, and when another CA signed them.
func TestSSHCertificatesRealSSHD(t *testing.T) {
	systest.Need(t, "ssh")
	b := startSSHBroker(t, server.SSHCASource{})
	other := startSSHBroker(t, server.SSHCASource{})
	krl := filepath.Join(t.TempDir(), "breakglass.krl")
	b.cli(t, "ssh", "krl", "--out", krl)
	ca := strings.SplitN(b.cli(t, "ssh", "ca"), "\n", 2)[0]
	d := systest.StartSSHD(t, systest.SSHDOptions{TrustedUserCAKeys: []string{ca}, RevokedKeys: krl,
		Principals: []string{"breakglass-dev"}})
	dir := t.TempDir()
	alice := b.key("alice")

	cert := filepath.Join(dir, "shell-cert.pub")
	id := b.grant(t, "shell", "", cert)
	t.Run("logs in, and sshd logs the key id", func(t *testing.T) {
		_, log := sshdLogin(t, d, alice, cert)
		if !strings.Contains(log, "Accepted publickey for "+d.User) || !strings.Contains(log, "request="+id+" requester=alice approvers=bob,carol") {
			t.Fatalf("sshd log lacks the login with the grant's key id:\n%s", log)
		}
	})
	t.Run("refused after it expires", func(t *testing.T) {
		brief := filepath.Join(dir, "brief-cert.pub")
		b.grant(t, "brief", "", brief)
		mustSSHLogin(t, d, alice, brief)
		// The same grant issued a minute ago by the broker's clock: its
		// certificate ends with it, 57 seconds before sshd's now.
		lapsed := filepath.Join(dir, "lapsed-cert.pub")
		b.clock.behind(time.Minute, func() { b.grant(t, "brief", "", lapsed) })
		mustSSHRefuse(t, d, alice, lapsed, "Certificate invalid: expired")
	})
	t.Run("refused for a principal it does not name", func(t *testing.T) {
		prod := filepath.Join(dir, "prod-cert.pub")
		b.grant(t, "prod", "", prod)
		mustSSHRefuse(t, d, alice, prod, "Certificate does not contain an authorized principal")
	})
	t.Run("refused from a source address it does not allow", func(t *testing.T) {
		remote := filepath.Join(dir, "remote-cert.pub")
		b.grant(t, "remote", "", remote)
		mustSSHRefuse(t, d, alice, remote, "not from a permitted source address (127.0.0.1)")
	})
	t.Run("refused when another CA signed it", func(t *testing.T) {
		foreign := filepath.Join(dir, "foreign-cert.pub")
		other.grant(t, "shell", alice+".pub", foreign)
		mustSSHRefuse(t, d, alice, foreign, "Failed publickey for "+d.User)
	})
	t.Run("FIDO ecdsa-sk user key", func(t *testing.T) {
		sk := systest.Keygen(t, t.TempDir(), "user-sk", "ecdsa-sk")
		skCert := sk + "-cert.pub"
		b.grant(t, "shell", sk+".pub", skCert)
		mustSSHLogin(t, d, sk, skCert, "-o", "SecurityKeyProvider="+systest.Need(t, systest.SKDummy))
	})
	t.Run("refused after revocation once sshd has the new KRL", func(t *testing.T) {
		mustSSHLogin(t, d, alice, cert)
		b.cli(t, "revoke", "--key", alice, id)
		mustSSHLogin(t, d, alice, cert) // sshd still has the old KRL
		if out := b.cli(t, "ssh", "krl", "--out", krl); !strings.Contains(out, "(1 revoked certificates)") {
			t.Fatalf("ssh krl: %s", out)
		}
		mustSSHRefuse(t, d, alice, cert, "revoked by file "+krl)
	})
}

// TestSSHCAInAgentRealSSHD: with the CA key held by ssh-agent (as a key on
// a hardware token would be), ECDSA and RSA CAs issue certificates sshd
// accepts; an RSA CA signs with rsa-sha2-512, which sshd requires.
func TestSSHCAInAgentRealSSHD(t *testing.T) {
	systest.Need(t, "ssh")
	for _, c := range []struct{ name, keyType string }{{"ecdsa", "ecdsa"}, {"rsa", "rsa"}} {
		t.Run(c.name, func(t *testing.T) {
			caKey := systest.Keygen(t, t.TempDir(), "ca", c.keyType)
			ag := systest.StartAgent(t)
			ag.Add(t, caKey)
			b := startSSHBroker(t, server.SSHCASource{Agent: true, AgentSock: ag.Socket})
			if got, want := strings.SplitN(b.cli(t, "ssh", "ca"), "\n", 2)[0], systest.ReadPub(t, caKey); !strings.HasPrefix(want, got) {
				t.Fatalf("broker CA = %q, want the agent's key %q", got, want)
			}
			krl := filepath.Join(t.TempDir(), "breakglass.krl")
			b.cli(t, "ssh", "krl", "--out", krl)
			d := systest.StartSSHD(t, systest.SSHDOptions{TrustedUserCAKeys: []string{systest.ReadPub(t, caKey)},
				RevokedKeys: krl, Principals: []string{"breakglass-dev"}})
			cert := filepath.Join(t.TempDir(), "cert.pub")
			id := b.grant(t, "shell", "", cert)
			mustSSHLogin(t, d, b.key("alice"), cert)
			b.cli(t, "revoke", "--key", b.key("alice"), id)
			b.cli(t, "ssh", "krl", "--out", krl)
			mustSSHRefuse(t, d, b.key("alice"), cert, "revoked by file "+krl)
		})
	}
}
