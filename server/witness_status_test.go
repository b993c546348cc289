package server_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/failsmall/breakglass/audit"
	"github.com/failsmall/breakglass/hwkey"
	"github.com/failsmall/breakglass/server"
	"github.com/failsmall/breakglass/web"
	"github.com/failsmall/breakglass/witness"
)

// TestWitnessFailureShows (issue 10, point 15): a witness the broker cannot
// reach shows in /v1/status (up false, with its error) and in the metrics
// (breakglass_witness_up 0). Before, it showed only in the log.
func TestWitnessFailureShows(t *testing.T) {
	d := server.Dir(filepath.Join(t.TempDir(), "data"))
	if _, err := server.EnsureDev(d); err != nil {
		t.Fatal(err)
	}
	carol, err := hwkey.LoadKeyFile(filepath.Join(d.DevKeys(), "carol"))
	if err != nil {
		t.Fatal(err)
	}
	vkey, err := audit.CosignatureVerifierKey("witness.example/down", ed25519.NewKeyFromSeed(bytes.Repeat([]byte{3}, ed25519.SeedSize)).Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	v, err := audit.NewCosignatureVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	const down = "http://127.0.0.1:1" // nothing listens on port 1
	s, err := server.Open(t.Context(), server.Config{Name: "breakglass-dev", Addr: "127.0.0.1:0", Data: d,
		Local:     &server.LocalPolicy{File: d.Policy(), Admins: []ssh.Signer{carol}},
		Witnesses: []audit.WitnessConfig{{URL: down, Verifier: v, Client: &witness.Client{URL: down}}}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	var st web.StatusJSON
	for deadline := time.Now().Add(20 * time.Second); ; {
		res, err := http.Get(s.URL() + "/v1/status")
		if err != nil {
			t.Fatal(err)
		}
		err = json.NewDecoder(res.Body).Decode(&st)
		res.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if len(st.Witnesses) == 1 && st.Witnesses[0].LastError != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no witness failure in /v1/status after 20s: %+v", st.Witnesses)
		}
		time.Sleep(50 * time.Millisecond)
	}
	w := st.Witnesses[0]
	if w.Name != "witness.example/down" || w.URL != down || w.Up || w.LastErrorAt.IsZero() {
		t.Errorf("the witness in /v1/status = %+v, want it down with its error", w)
	}
	res, err := http.Get(s.URL() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if !strings.Contains(string(body), `breakglass_witness_up{witness="witness.example/down"} 0`) {
		t.Errorf("/metrics has no breakglass_witness_up 0 for the witness")
	}
}
