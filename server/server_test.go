package server_test

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/failsmall/breakglass/audit"
	"github.com/failsmall/breakglass/broker"
	"github.com/failsmall/breakglass/hwkey"
	"github.com/failsmall/breakglass/server"
	"github.com/failsmall/breakglass/web"
)

// devServer is a development broker (the dev policy signed with carol's
// dev key, as `serve --dev` runs it) opened in this process.
type devServer struct {
	s    *server.Server
	cl   *web.Client
	keys map[string]ssh.Signer
}

// openDev opens the development broker of data folder d on a free
// loopback port, creating the dev keys and policy on first use.
func openDev(t *testing.T, d server.Dir) *devServer {
	t.Helper()
	if _, err := server.EnsureDev(d); err != nil {
		t.Fatal(err)
	}
	keys := map[string]ssh.Signer{}
	for _, who := range server.DevPeople() {
		k, err := hwkey.LoadKeyFile(filepath.Join(d.DevKeys(), who))
		if err != nil {
			t.Fatal(err)
		}
		keys[who] = k
	}
	s, err := server.Open(t.Context(), server.Config{Name: "breakglass-dev", Addr: "127.0.0.1:0", Data: d,
		Local: &server.LocalPolicy{File: d.Policy(), Admins: []ssh.Signer{keys["carol"]}}})
	if err != nil {
		t.Fatalf("server.Open: %v", err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	cl, err := web.NewClient(s.URL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return &devServer{s: s, cl: cl, keys: keys}
}

// sign is who's SSHSIG over text, as the CLI makes it.
func (b *devServer) sign(who string) web.SignFunc {
	return func(text []byte) ([]byte, error) {
		sig, err := hwkey.Sign(b.keys[who], hwkey.Namespace, text)
		if err != nil {
			return nil, err
		}
		return sig.Armor(), nil
	}
}

// mustSign is sign that fails the test on error.
func (b *devServer) mustSign(t *testing.T, who string, text []byte) []byte {
	t.Helper()
	sig, err := b.sign(who)(text)
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

// getJSON fetches path from the server and decodes its JSON answer.
func (b *devServer) getJSON(t *testing.T, path string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Get(b.s.URL() + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return resp.StatusCode, out
}

// TestOpenServesAFlowAndCloses: server.Open starts a development broker in
// a temporary folder; health and status answer; a request, two approvals
// and the grant with a JWT and an SSH certificate work over its API;
// Close releases the port and audits the stop; the folder opens again.
func TestOpenServesAFlowAndCloses(t *testing.T) {
	ctx := context.Background()
	d := server.Dir(filepath.Join(t.TempDir(), "data"))
	b := openDev(t, d)
	if got := b.s.Data(); got != d {
		t.Errorf("Data() = %q, want %q", got, d)
	}
	if got, want := b.s.URL(), "http://"+b.s.Addr().String(); got != want || !strings.HasPrefix(got, "http://127.0.0.1:") {
		t.Errorf("URL() = %q, want %q on 127.0.0.1", got, want)
	}

	t.Run("health and status", func(t *testing.T) {
		if code, body := b.getJSON(t, "/healthz"); code != http.StatusOK || body["status"] != "ok" {
			t.Errorf("/healthz: %d %v, want 200 ok", code, body)
		}
		st, err := b.cl.Status(ctx)
		if err != nil {
			t.Fatalf("/v1/status: %v", err)
		}
		if st.Broker != "breakglass-dev" || !st.Ready || st.Policy == "" {
			t.Errorf("/v1/status: broker %q, ready %v, policy %q; want breakglass-dev ready with a policy", st.Broker, st.Ready, st.Policy)
		}
	})

	var reqID, grantID string
	t.Run("request, approvals, grant", func(t *testing.T) {
		stmt, err := b.cl.Prepare(ctx, web.PrepareJSON{Role: "dev-admin", Requester: "alice", Reason: "server test flow run",
			Duration: "5m", SSHKey: string(ssh.MarshalAuthorizedKey(b.keys["alice"].PublicKey()))})
		if err != nil {
			t.Fatal(err)
		}
		req, err := b.cl.Create(ctx, stmt, b.mustSign(t, "alice", stmt))
		if err != nil {
			t.Fatal(err)
		}
		var res *web.ApproveResultJSON
		for _, who := range []string{"bob", "carol"} {
			if res, err = b.cl.Approve(ctx, req.ID, b.mustSign(t, who, []byte(req.Statement))); err != nil {
				t.Fatalf("%s approves: %v", who, err)
			}
		}
		if !res.Granted || res.Grant == nil {
			t.Fatalf("after bob's and carol's approvals: granted %v, missing %v; want the grant", res.Granted, res.Missing)
		}
		reqID, grantID = req.ID, res.Grant.ID
		alice := *b.cl
		if err := alice.Login(ctx, "alice", b.sign("alice")); err != nil {
			t.Fatal(err)
		}
		g, err := alice.Credentials(ctx, req.ID)
		if err != nil {
			t.Fatal(err)
		}
		if g.ID != grantID || g.Token == "" || g.SSHCertificate == "" {
			t.Errorf("credentials: grant %q, token %d bytes, certificate %d bytes; want grant %q with both", g.ID, len(g.Token), len(g.SSHCertificate), grantID)
		}
		if v, err := b.s.Service().Get(ctx, "carol", req.ID); err != nil || v.Request.State != broker.StateIssued {
			t.Errorf("Service().Get(%s) = %+v, %v; want state %s", req.ID, v, err, broker.StateIssued)
		}
	})

	addr := b.s.Addr().String()
	if err := b.s.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := b.s.Close(ctx); err != nil {
		t.Errorf("second Close: %v, want the first's nil", err)
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Errorf("%s still accepts connections after Close", addr)
	}

	t.Run("reopen", func(t *testing.T) {
		again := openDev(t, d)
		if v, err := again.s.Service().Get(ctx, "carol", reqID); err != nil || v.Grant == nil || v.Grant.ID != grantID {
			t.Errorf("the reopened broker's request %s: %+v, %v; want grant %s", reqID, v, err, grantID)
		}
		types := auditTypes(t, again.s)
		stopped := -1
		for i, typ := range types {
			if typ == broker.EventBrokerStopped {
				stopped = i
			}
		}
		if stopped < 0 || stopped+1 >= len(types) || types[stopped+1] != broker.EventBrokerStarted {
			t.Errorf("audit log %v: want broker.stopped from the Close, then broker.started from the reopen", types)
		}
		if code, body := again.getJSON(t, "/v1/status"); code != http.StatusOK || body["ready"] != true {
			t.Errorf("/v1/status after reopening: %d %v, want 200 ready", code, body)
		}
	})
}

// auditTypes lists the event types of s's audit log in order.
func auditTypes(t *testing.T, s *server.Server) []string {
	t.Helper()
	ctx := context.Background()
	n, err := s.Store().AuditSize(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	err = s.Store().AuditEntries(ctx, 0, n, func(_ int64, leaf []byte) error {
		e, err := audit.ParseEntry(leaf)
		if err != nil {
			return err
		}
		types = append(types, e.Type)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return types
}

// TestOpenWithoutAddr: with no Addr the broker opens its folder and serves
// nothing, for one-shot jobs such as `breakglass init`.
func TestOpenWithoutAddr(t *testing.T) {
	s, err := server.Open(t.Context(), server.Config{Name: "bg.server.test", Data: server.Dir(filepath.Join(t.TempDir(), "data"))})
	if err != nil {
		t.Fatal(err)
	}
	if s.URL() != "" || s.Addr() != nil {
		t.Errorf("URL() = %q, Addr() = %v; want none without Config.Addr", s.URL(), s.Addr())
	}
	if _, err := s.Service().Policy(); err == nil {
		t.Errorf("a fresh folder has an active policy; want none until one is pinned")
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestOpenRefusesABusyAddr (issue 10, point 14): a second broker on the
// same address fails with what to do before it writes anything: on another
// data folder, the folder is not even created; on the first broker's own
// folder, its audit log gains no entry (no broker.started, no policy
// entries, no broker.stopped) and no file appears. The refused folder
// opens afterwards.
func TestOpenRefusesABusyAddr(t *testing.T) {
	ctx := context.Background()
	a := server.Dir(filepath.Join(t.TempDir(), "a"))
	first := openDev(t, a)
	busy := first.s.Addr().String()
	const hint = "is another broker running? pick another --addr"

	d := server.Dir(filepath.Join(t.TempDir(), "data"))
	_, err := server.Open(ctx, server.Config{Name: "bg.server.test", Addr: busy, Data: d})
	if err == nil || !strings.Contains(err.Error(), hint) {
		t.Fatalf("Open on a busy address: %v, want the listen error with its hint", err)
	}
	if _, err := os.Stat(string(d)); !os.IsNotExist(err) {
		t.Errorf("the refused broker's fresh data folder: %v; want it not created", err)
	}

	before := auditTypes(t, first.s)
	files := folderFiles(t, a)
	_, err = server.Open(ctx, server.Config{Name: "breakglass-dev", Addr: busy, Data: a,
		Local: &server.LocalPolicy{File: a.Policy(), Admins: []ssh.Signer{first.keys["carol"]}}})
	if err == nil || !strings.Contains(err.Error(), hint) {
		t.Fatalf("Open of the running broker's own folder on its address: %v, want the listen error with its hint", err)
	}
	if after := auditTypes(t, first.s); len(after) != len(before) {
		t.Errorf("the refused Open added audit entries to the running broker's log: %v", after[len(before):])
	}
	if got := folderFiles(t, a); !slices.Equal(got, files) {
		t.Errorf("the refused Open changed the running broker's folder: %v, was %v", got, files)
	}

	s, err := server.Open(ctx, server.Config{Name: "bg.server.test", Data: d})
	if err != nil {
		t.Fatalf("Open after the refused one: %v", err)
	}
	s.Close(ctx)
}

// folderFiles lists the files under d, folders included, relative to it.
func folderFiles(t *testing.T, d server.Dir) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(string(d), func(p string, _ os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(string(d), p)
		out = append(out, rel)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestOpenRefusesAReadableDataFolder: a data folder that group or others
// can read is refused with what to run, before anything is written in it;
// once tightened, the broker starts and its database and keys are private.
func TestOpenRefusesAReadableDataFolder(t *testing.T) {
	d := server.Dir(filepath.Join(t.TempDir(), "data"))
	if err := os.Mkdir(string(d), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(string(d), 0o755); err != nil { // whatever the umask
		t.Fatal(err)
	}
	_, err := server.Open(t.Context(), server.Config{Name: "bg.server.test", Data: d})
	if err == nil || !strings.Contains(err.Error(), "mode 0755") || !strings.Contains(err.Error(), "chmod 700 "+string(d)) {
		t.Fatalf("Open on a 0755 data folder = %v, want a refusal naming the mode and `chmod 700`", err)
	}
	if es, _ := os.ReadDir(string(d)); len(es) != 0 {
		t.Errorf("the refused folder holds %d files, want none", len(es))
	}
	// serve --dev writes its keys and CA before it opens the broker: they
	// refuse the folder too, and write nothing.
	if _, err := server.EnsureDev(d); err == nil || !strings.Contains(err.Error(), "chmod 700") {
		t.Errorf("EnsureDev on a 0755 data folder = %v, want the refusal", err)
	}
	if err := server.EnsureDevSSHCA(d); err == nil || !strings.Contains(err.Error(), "chmod 700") {
		t.Errorf("EnsureDevSSHCA on a 0755 data folder = %v, want the refusal", err)
	}
	if es, _ := os.ReadDir(string(d)); len(es) != 0 {
		t.Errorf("the refused folder holds %d files after the dev setup, want none", len(es))
	}
	if err := os.Chmod(string(d), 0o700); err != nil {
		t.Fatal(err)
	}
	s, err := server.Open(t.Context(), server.Config{Name: "bg.server.test", Data: d})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	for _, p := range []string{d.DB(), d.AuditKey()} {
		fi, err := os.Stat(p)
		if err != nil || fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s: mode %v, %v; want no group or other access", filepath.Base(p), fi.Mode().Perm(), err)
		}
	}
}
