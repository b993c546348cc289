package web_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/failsmall/breakglass/broker"
	"github.com/failsmall/breakglass/internal/brokertest"
	"github.com/failsmall/breakglass/token"
	"github.com/failsmall/breakglass/web"
)

const sshWebPolicy = `version: 1
groups: [{name: eng}, {name: sre}]
principals:
  - {id: alice, groups: [eng], keys: [KEY(alice)]}
  - {id: bob, groups: [sre], keys: [KEY(bob)]}
roles:
  - name: shell
    requesters: [eng]
    approval: [{count: 1, groups: [sre]}]
    duration: {max: 1h}
    jwt: {audience: [shell]}
    ssh: {principals: [breakglass]}
`

// TestSSHAPI: the CA key and the KRL are public; the certificate comes with
// the credentials, for the key alice named when she prepared the request.
func TestSSHAPI(t *testing.T) {
	e := brokertest.New(t, sshWebPolicy, "")
	ts := newServer(t, e)
	ctx := context.Background()
	cl, err := web.NewClient(ts.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := cl.SSHCA(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := ssh.FingerprintSHA256(e.SSHCA.PublicKey()); ca.Fingerprint != want || !strings.HasPrefix(ca.PublicKey, "ssh-ed25519 ") {
		t.Errorf("CA = %+v, want the broker's key %s", ca, want)
	}
	stmt, err := cl.Prepare(ctx, web.PrepareJSON{Role: "shell", Requester: "alice", Reason: "need a shell",
		SSHKey: brokertest.AuthorizedKey("alice")})
	if err != nil {
		t.Fatal(err)
	}
	req, err := cl.Create(ctx, stmt, brokertest.Sign(t, "alice", stmt))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Approve(ctx, req.ID, brokertest.Sign(t, "bob", []byte(req.Statement))); err != nil {
		t.Fatal(err)
	}
	if err := cl.Login(ctx, "alice", func(text []byte) ([]byte, error) { return brokertest.Sign(t, "alice", text), nil }); err != nil {
		t.Fatal(err)
	}
	g, err := cl.Credentials(ctx, req.ID)
	if err != nil {
		t.Fatal(err)
	}
	pub, _, _, _, err := ssh.ParseAuthorizedKey([]byte(g.SSHCertificate))
	if err != nil {
		t.Fatalf("ssh_certificate %q: %v", g.SSHCertificate, err)
	}
	if cert, ok := pub.(*ssh.Certificate); !ok || cert.Serial != g.SSHSerial || cert.Serial == 0 {
		t.Errorf("ssh_certificate = %T serial %d, want a certificate with serial %d", pub, g.SSHSerial, g.SSHSerial)
	}
	view, err := cl.Get(ctx, req.ID)
	if err != nil {
		t.Fatal(err)
	}
	if view.Grant == nil || view.Grant.SSHCertificate != "" || view.Grant.SSHSerial != g.SSHSerial {
		t.Errorf("request view grant = %+v, want the serial without the certificate", view.Grant)
	}

	text, sig := e.Challenge(t, "alice", broker.ActionRevoke, req.ID)
	if _, err := e.Svc.Revoke(ctx, text, sig); err != nil {
		t.Fatal(err)
	}
	raw, err := cl.SSHKRL(ctx)
	if err != nil {
		t.Fatal(err)
	}
	krl, err := token.ParseKRL(raw)
	if err != nil {
		t.Fatal(err)
	}
	if len(krl.Serials) != 1 || krl.Serials[0] != g.SSHSerial || krl.Version != 1 {
		t.Errorf("KRL = version %d serials %v, want version 1 serials [%d]", krl.Version, krl.Serials, g.SSHSerial)
	}
}

func TestSSHAPIWithoutCA(t *testing.T) {
	e := brokertest.New(t, sshWebPolicy, "")
	svc, err := broker.New(broker.Config{Name: brokertest.Name, Store: e.DB, Minter: tokenMinter(e)})
	if err != nil {
		t.Fatal(err)
	}
	ts := newServerFor(t, svc)
	for _, path := range []string{"/v1/ssh/ca", "/v1/ssh/krl"} {
		status, body, raw := call(t, http.MethodGet, ts+path, "")
		if status != http.StatusNotFound || body.Error.Code != "not_found" || !strings.Contains(body.Error.Message, "no SSH CA") {
			t.Errorf("GET %s = %d %s, want 404 not_found naming the missing SSH CA", path, status, raw)
		}
	}
	cl, _ := web.NewClient(ts, nil)
	if _, err := cl.SSHCA(context.Background()); !errors.Is(err, broker.ErrNotFound) {
		t.Errorf("client SSHCA = %v, want ErrNotFound", err)
	}
}

func newServerFor(t *testing.T, svc *broker.Service) string {
	t.Helper()
	e := &brokertest.Env{Svc: svc}
	return newServer(t, e).URL
}
