package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/failsmall/breakglass/audit"
	"github.com/failsmall/breakglass/server"
	"github.com/failsmall/breakglass/web"
	"github.com/failsmall/breakglass/witness"
)

// TestAuditDBCarriesCosignatures (issue 10, point 16): with a witness
// cosigning the log, `audit prove --db` and `audit export --db` output the
// newest checkpoint with the witness's cosignature the broker keeps, byte
// for byte what the broker's API gives (`audit prove --broker`, /checkpoint
// and /v1/audit/checkpoint); before, --db gave the log's signature alone.
func TestAuditDBCarriesCosignatures(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	first, _ := startAuditApp(t, dir) // makes the log key the witness needs
	first.Close(ctx)
	data := server.Dir(filepath.Join(dir, "data"))
	logKey, err := server.ReadVerifierKey(data.AuditPub())
	if err != nil {
		t.Fatal(err)
	}
	w, err := witness.NewServer(t.TempDir(), "witness.test/w1", ed25519.NewKeyFromSeed(bytes.Repeat([]byte{3}, ed25519.SeedSize)),
		map[string]note.Verifier{logKey.Name(): logKey}, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	ws := httptest.NewServer(w.Handler())
	t.Cleanup(ws.Close)
	wv, err := audit.NewCosignatureVerifier(w.VerifierKey())
	if err != nil {
		t.Fatal(err)
	}
	a := startApp(t, server.Config{Name: "bg.audit.test", Data: data, AuditPublic: true,
		Witnesses: []audit.WitnessConfig{{URL: ws.URL, Verifier: wv, Client: &witness.Client{URL: ws.URL}}}})
	cl, err := web.NewClient(a.URL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := runFlow(ctx, cl); err != nil {
		t.Fatal(err)
	}
	size := waitCosigned(t, cl, data.AuditPub(), []note.Verifier{wv})
	db := filepath.Join(string(data), "breakglass.db")
	cosigned := func(what string, signed []byte) {
		t.Helper()
		n, err := note.Open(signed, note.VerifierList(wv))
		if err != nil || len(n.Sigs) != 1 || n.Sigs[0].Name != wv.Name() {
			t.Fatalf("%s: the witness's cosignature does not verify: %v\n%s", what, err, signed)
		}
		cp, _, err := audit.Open(signed, logKey)
		if err != nil || cp.Size != size {
			t.Fatalf("%s: checkpoint of size %d (%v), want the cosigned %d", what, cp.Size, err, size)
		}
	}

	// audit prove: the receipt's checkpoint is cosigned, and --db and
	// --broker print the same bytes.
	idx := strconv.FormatInt(size-1, 10)
	code, fromDB, errOut := runCLI("audit", "prove", "--db", db, idx)
	if code != 0 {
		t.Fatalf("audit prove --db: exit %d: %s", code, errOut)
	}
	r, err := audit.ParseReceipt([]byte(fromDB))
	if err != nil {
		t.Fatal(err)
	}
	cosigned("audit prove --db", r.Checkpoint)
	if err := r.VerifyCosigned(r.Extra, logKey, note.VerifierList(wv), 1); err != nil {
		t.Errorf("audit prove --db: the receipt does not verify with the witness's cosignature: %v", err)
	}
	code, fromBroker, errOut := runCLI("audit", "prove", "--broker", a.URL(), "--log-key", data.AuditPub(), idx)
	if code != 0 {
		t.Fatalf("audit prove --broker: exit %d: %s", code, errOut)
	}
	if fromDB != fromBroker {
		t.Errorf("audit prove --db printed\n%s\naudit prove --broker printed\n%s", fromDB, fromBroker)
	}

	// audit export: the checkpoint file is the broker's /checkpoint.
	out := t.TempDir()
	if code, _, errOut := runCLI("audit", "export", "--db", db, out); code != 0 {
		t.Fatalf("audit export --db: exit %d: %s", code, errOut)
	}
	exported, err := os.ReadFile(filepath.Join(out, "checkpoint"))
	if err != nil {
		t.Fatal(err)
	}
	cosigned("audit export --db", exported)
	for _, path := range []string{"/checkpoint", "/v1/audit/checkpoint"} {
		resp, err := http.Get(a.URL() + path)
		if err != nil {
			t.Fatal(err)
		}
		served, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %v %s", path, err, resp.Status)
		}
		if !bytes.Equal(exported, served) {
			t.Errorf("audit export --db wrote the checkpoint\n%s\nthe broker serves at %s\n%s", exported, path, served)
		}
	}
	// The cosignatures read from the database are the ones audit verify
	// checks too.
	if code, out, errOut := runCLI("audit", "verify", "--db", db, "--witness", w.VerifierKey()); code != 0 || strings.Contains(out, "(0 cosigned") {
		t.Errorf("audit verify --db --witness: exit %d\n%s%s", code, out, errOut)
	}
}
