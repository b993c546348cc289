package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/failsmall/breakglass/audit"
	"github.com/failsmall/breakglass/broker"
	"github.com/failsmall/breakglass/hwkey"
	"github.com/failsmall/breakglass/internal/brokertest"
	"github.com/failsmall/breakglass/server"
	"github.com/failsmall/breakglass/web"
)

// writeTestKey writes name's brokertest software key as an OpenSSH private
// key file in dir, for the CLI's --key, and returns its path.
func writeTestKey(t testing.TB, dir, name string) string {
	t.Helper()
	seed := sha256.Sum256([]byte("breakglass test key " + name)) // brokertest.Signer's
	priv := ed25519.NewKeyFromSeed(seed[:])
	pub, err := ssh.NewPublicKey(priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(pub.Marshal(), brokertest.Signer(name).PublicKey().Marshal()) {
		t.Fatalf("the key written for %s is not brokertest.Signer(%q)", name, name)
	}
	block, err := ssh.MarshalPrivateKey(priv, name)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name+".key")
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// testSign signs as name's brokertest key.
func testSign(name string) web.SignFunc {
	return func(text []byte) ([]byte, error) {
		sig, err := hwkey.Sign(brokertest.Signer(name), hwkey.Namespace, text)
		if err != nil {
			return nil, err
		}
		return sig.Armor(), nil
	}
}

// TestAuditBrokerSession: the audit commands that read a broker's entries
// (verify, tail, show, prove) say so when the broker wants a session for
// them, open one with --key (or --as), and need none when the broker sets
// audit_public.
func TestAuditBrokerSession(t *testing.T) {
	dir := t.TempDir()
	a, cl := startAuditApp(t, dir)
	for range 2 {
		if _, err := runFlow(context.Background(), cl); err != nil {
			a.Close(context.Background())
			t.Fatal(err)
		}
	}
	pub := filepath.Join(dir, "data", "audit-key.pub")
	v, err := server.ReadVerifierKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	waitCheckpointCovers(t, a, cl, v)
	key := writeTestKey(t, dir, "sre00")
	url := a.URL()
	commands := [][]string{{"audit", "verify"}, {"audit", "tail", "-n", "2"}, {"audit", "show", "0"}, {"audit", "prove", "0"}}
	for _, cmd := range commands {
		args := append(cmd[:len(cmd):len(cmd)], "--broker", url, "--log-key", pub)
		code, out, errOut := runCLI(args...)
		want := "breakglass audit: the broker's audit entries need a session: pass --key, or set audit_public: true on the broker\n"
		if code != 1 || errOut != want || strings.Contains(out, "credentials.fetched") {
			t.Errorf("%s without a session: exit %d\nstdout: %s\nstderr: %q, want %q", strings.Join(cmd, " "), code, out, errOut, want)
		}
		code, out, errOut = runCLI(append(args, "--key", key)...)
		if code != 0 {
			t.Errorf("%s --key: exit %d\n%s%s", strings.Join(cmd, " "), code, out, errOut)
		}
		switch cmd[1] {
		case "verify":
			if !strings.Contains(out, "audit log verified") {
				t.Errorf("audit verify --key: %s", out)
			}
		case "tail":
			if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 2 || !strings.Contains(lines[1], "credentials.fetched") {
				t.Errorf("audit tail --key: %s", out)
			}
		}
	}
	// --as picks the principal; a key that is not theirs says so.
	if code, out, errOut := runCLI("audit", "verify", "--broker", url, "--log-key", pub, "--key", key, "--as", "sre00"); code != 0 {
		t.Errorf("audit verify --key --as sre00: exit %d\n%s%s", code, out, errOut)
	}
	if code, _, errOut := runCLI("audit", "verify", "--broker", url, "--log-key", pub, "--key", key, "--as", "alice"); code != 1 || !strings.Contains(errOut, "enrolled for alice") {
		t.Errorf("audit verify --key (sre00's) --as alice: exit %d\n%s", code, errOut)
	}
	// --db reads the file and ignores --key.
	if code, out, errOut := runCLI("audit", "verify", "--db", filepath.Join(dir, "data", "breakglass.db"), "--key", key); code != 0 {
		t.Errorf("audit verify --db --key: exit %d\n%s%s", code, out, errOut)
	}

	checkServedTiles(t, a, cl, v)
	if err := a.Close(context.Background()); err != nil {
		t.Fatal(err)
	}

	// audit_public: true serves the entries to anyone.
	a, err = server.Open(context.Background(), server.Config{Name: "bg.audit.test", Addr: "127.0.0.1:0",
		Data: server.Dir(filepath.Join(dir, "data")), AuditPublic: true})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close(context.Background())
	for _, cmd := range commands {
		args := append(cmd[:len(cmd):len(cmd)], "--broker", a.URL(), "--log-key", pub)
		if code, out, errOut := runCLI(args...); code != 0 {
			t.Errorf("%s on a broker with audit_public: exit %d\n%s%s", strings.Join(cmd, " "), code, out, errOut)
		}
	}
	anon, err := web.NewClient(a.URL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if es, err := anon.AuditEntries(context.Background(), 0, 3); err != nil || len(es) != 3 {
		t.Errorf("anonymous entries with audit_public: %d, %v", len(es), err)
	}
}

// checkServedTiles checks a running broker's c2sp.org/tlog-tiles layout
// against its database: tlog's TileHashReader over the hash tiles (which
// checks each tile against the signed root) proves every entry's inclusion
// in the newest checkpoint, and the entry bundles, for a session only,
// hold the entries.
func checkServedTiles(t *testing.T, a *server.Server, cl *web.Client, v note.Verifier) {
	t.Helper()
	ctx := context.Background()
	resp, err := http.Get(a.URL() + "/checkpoint")
	if err != nil {
		t.Fatal(err)
	}
	var signed bytes.Buffer
	signed.ReadFrom(resp.Body)
	resp.Body.Close()
	c, _, err := audit.Open(signed.Bytes(), v)
	if err != nil {
		t.Fatalf("/checkpoint: %v", err)
	}
	anon, err := web.NewClient(a.URL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	thr := tlog.TileHashReader(tlog.Tree{N: c.Size, Hash: c.Hash}, web.TileReader{Ctx: ctx, Client: anon})
	for i := range c.Size {
		leaf, err := a.Store().AuditEntry(ctx, i)
		if err != nil {
			t.Fatal(err)
		}
		p, err := tlog.ProveRecord(c.Size, i, thr)
		if err != nil {
			t.Fatalf("prove entry %d from the tiles: %v", i, err)
		}
		if err := tlog.CheckRecord(p, c.Size, c.Hash, i, tlog.RecordHash(leaf)); err != nil {
			t.Fatalf("entry %d: %v", i, err)
		}
	}
	bundle := tlog.Tile{H: web.TileHeight, L: -1, N: 0, W: int(c.Size)}
	if _, err := anon.AuditTile(ctx, bundle); !errors.Is(err, broker.ErrUnauthenticated) {
		t.Errorf("anonymous %s: %v, want unauthenticated", web.TilePath(bundle), err)
	}
	reader := *cl
	if err := reader.Login(ctx, "sre01", testSign("sre01")); err != nil {
		t.Fatal(err)
	}
	b, err := reader.AuditTile(ctx, bundle)
	if err != nil {
		t.Fatalf("%s with a session: %v", web.TilePath(bundle), err)
	}
	for i := range c.Size {
		leaf, _ := a.Store().AuditEntry(ctx, i)
		if len(b) < 2 || int(binary.BigEndian.Uint16(b)) != len(leaf) || !bytes.Equal(b[2:2+len(leaf)], leaf) {
			t.Fatalf("%s: entry %d is not the stored one", web.TilePath(bundle), i)
		}
		b = b[2+len(leaf):]
	}
	if len(b) != 0 {
		t.Fatalf("%s: %d bytes after the last entry", web.TilePath(bundle), len(b))
	}
}
