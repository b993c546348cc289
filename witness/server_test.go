package witness_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/failsmall/breakglass/audit"
	"github.com/failsmall/breakglass/witness"
)

const testWitnessName = "witness.test.example/w1"

var testWitnessNow = time.Unix(1764104400, 0).UTC()

// witnessFixture is a witness served over loopback HTTP and a log it knows.
type witnessFixture struct {
	dir    string
	w      *witness.Server
	srv    *httptest.Server
	client *witness.Client
	log    *memLog
	signer note.Signer
	cv     note.Verifier
}

func newWitnessFixture(t *testing.T, dir string) *witnessFixture {
	t.Helper()
	s, v := testKeys(t, testLogSeed)
	w, err := witness.NewServer(dir, testWitnessName, ed25519.NewKeyFromSeed(testWitnessSeed),
		map[string]note.Verifier{testOrigin: v}, func() time.Time { return testWitnessNow })
	if err != nil {
		t.Fatal(err)
	}
	cv, err := audit.NewCosignatureVerifier(w.VerifierKey())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(w.Handler())
	t.Cleanup(srv.Close)
	return &witnessFixture{dir: dir, w: w, srv: srv, client: &witness.Client{URL: srv.URL, HTTP: srv.Client()},
		log: &memLog{}, signer: s, cv: cv}
}

// submit grows the log to size, signs it, and asks for a cosignature with a
// proof from old.
func (f *witnessFixture) submit(t *testing.T, old, size int64) ([]byte, []byte, error) {
	t.Helper()
	f.log.grow(t, 0, size)
	signed := f.log.checkpoint(t, f.signer)
	p, err := audit.ProveConsistency(old, size, f.log)
	if err != nil {
		t.Fatal(err)
	}
	cosig, err := f.client.AddCheckpoint(context.Background(), old, p, signed)
	return signed, cosig, err
}

func TestWitnessCosignsGrowingLog(t *testing.T) {
	f := newWitnessFixture(t, t.TempDir())
	old := int64(0)
	for _, size := range []int64{1, 5, 5, 13, 64, 100} {
		signed, cosig, err := f.submit(t, old, size)
		if err != nil {
			t.Fatalf("old %d, size %d: %v", old, size, err)
		}
		n, err := note.Open(audit.AddCosignatures(signed, cosig), note.VerifierList(f.cv))
		if err != nil {
			t.Fatalf("cosignature for size %d does not verify: %v\n%s", size, err, cosig)
		}
		if ts, err := audit.CosignatureTime(n.Sigs[0]); err != nil || !ts.Equal(testWitnessNow) {
			t.Errorf("cosignature time: got %v, %v, want %v", ts, err, testWitnessNow)
		}
		f.log.checkpoints[len(f.log.checkpoints)-1] = audit.AddCosignatures(signed, cosig)
		old = size
	}
	latest, ok, err := f.w.Latest(testOrigin)
	if err != nil || !ok || latest.Size != 100 {
		t.Errorf("Latest: got %+v, %v, %v; want size 100", latest, ok, err)
	}
	_, v := testKeys(t, testLogSeed)
	rep, err := audit.VerifyLog(f.log, audit.VerifyOptions{Verifier: v, Witnesses: note.VerifierList(f.cv)})
	if err != nil || rep.Cosigned != 6 {
		t.Errorf("VerifyLog: got %+v, %v; want 6 cosigned checkpoints", rep, err)
	}
	if names, _ := os.ReadDir(f.dir); len(names) != 1 || strings.HasPrefix(names[0].Name(), ".tmp") {
		t.Errorf("state directory holds %v, want one checkpoint file", names)
	}
}

func TestWitnessStaleOldSize(t *testing.T) {
	f := newWitnessFixture(t, t.TempDir())
	if _, _, err := f.submit(t, 0, 10); err != nil {
		t.Fatal(err)
	}
	_, _, err := f.submit(t, 4, 12)
	var conflict *audit.WitnessConflictError
	if !errors.As(err, &conflict) || conflict.Size != 10 || !errors.Is(err, audit.ErrWitnessConflict) {
		t.Fatalf("stale old size: got %v, want WitnessConflictError{10}", err)
	}
	// On the wire: 409 with the size, as text/x.tlog.size.
	resp := post(t, f.srv.URL, addBody(0, nil, f.log.checkpoints[1]))
	if resp.code != http.StatusConflict || resp.contentType != witness.ContentTypeTlogSize || resp.body != "10\n" {
		t.Errorf("got %d %q %q, want 409 text/x.tlog.size \"10\\n\"", resp.code, resp.contentType, resp.body)
	}
	if _, _, err := f.submit(t, conflict.Size, 12); err != nil {
		t.Errorf("retry from the witness's size: %v", err)
	}
}

func TestWitnessRefusesFork(t *testing.T) {
	f := newWitnessFixture(t, t.TempDir())
	if _, _, err := f.submit(t, 0, 10); err != nil {
		t.Fatal(err)
	}
	fork := &memLog{}
	fork.grow(t, 700, 10)
	forked10 := fork.checkpoint(t, f.signer)
	_, err := f.client.AddCheckpoint(context.Background(), 10, nil, forked10)
	if !errors.Is(err, audit.ErrWitnessRefused) || !strings.Contains(err.Error(), "fork") {
		t.Errorf("fork at the same size: got %v, want ErrWitnessRefused saying fork", err)
	}
	fork.grow(t, 700, 16)
	forked16 := fork.checkpoint(t, f.signer)
	p, _ := audit.ProveConsistency(10, 16, fork)
	_, err = f.client.AddCheckpoint(context.Background(), 10, p, forked16)
	var refused *audit.WitnessRefusedError
	if !errors.As(err, &refused) || refused.Status != http.StatusUnprocessableEntity || !strings.Contains(err.Error(), "fork") {
		t.Errorf("fork at a larger size: got %v, want 422 refusal saying fork", err)
	}
	if latest, _, _ := f.w.Latest(testOrigin); latest.Size != 10 || latest.Hash != f.log.head(t).Hash {
		t.Errorf("witness state moved to %+v", latest)
	}
}

func TestWitnessRefusesRollback(t *testing.T) {
	f := newWitnessFixture(t, t.TempDir())
	small, _, err := f.submit(t, 0, 5)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.submit(t, 5, 10); err != nil {
		t.Fatal(err)
	}
	_, err = f.client.AddCheckpoint(context.Background(), 10, nil, small)
	if !errors.Is(err, audit.ErrWitnessRefused) || !strings.Contains(err.Error(), "rollback") {
		t.Errorf("client: got %v, want ErrWitnessRefused saying rollback", err)
	}
	// The witness refuses it on its own too, whatever old size is claimed.
	if r := post(t, f.srv.URL, addBody(10, nil, small)); r.code != http.StatusBadRequest || !strings.Contains(r.body, "rollback") {
		t.Errorf("old 10, size 5: got %d %q, want 400 rollback", r.code, r.body)
	}
	if r := post(t, f.srv.URL, addBody(5, nil, small)); r.code != http.StatusConflict || r.body != "10\n" {
		t.Errorf("old 5, size 5: got %d %q, want 409 10", r.code, r.body)
	}
	if latest, _, _ := f.w.Latest(testOrigin); latest.Size != 10 {
		t.Errorf("witness rolled back to %d", latest.Size)
	}
}

func TestWitnessPersistsAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	f := newWitnessFixture(t, dir)
	if _, _, err := f.submit(t, 0, 8); err != nil {
		t.Fatal(err)
	}
	f.srv.Close()
	g := newWitnessFixture(t, dir) // a new process on the same directory
	g.log = f.log
	_, _, err := g.submit(t, 0, 9)
	var conflict *audit.WitnessConflictError
	if !errors.As(err, &conflict) || conflict.Size != 8 {
		t.Fatalf("after restart: got %v, want conflict at 8", err)
	}
	if _, _, err := g.submit(t, 8, 9); err != nil {
		t.Errorf("after restart, from 8: %v", err)
	}
}

func TestWitnessRejects(t *testing.T) {
	f := newWitnessFixture(t, t.TempDir())
	f.log.grow(t, 0, 3)
	signed := f.log.checkpoint(t, f.signer)
	other, _ := testKeys(t, testOtherSeed)
	forged, _ := audit.Sign(f.log.head(t), other)
	skey, _, _ := audit.NewKeyFromSeed("unknown.example/log", testLogSeed)
	us, _ := note.NewSigner(skey)
	c := f.log.head(t)
	c.Origin = "unknown.example/log"
	unknown, _ := audit.Sign(c, us)
	hash := "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
	notCheckpoint, _ := note.Sign(&note.Note{Text: testOrigin + "\nthree\n"}, f.signer)
	tests := []struct {
		name string
		body string
		code int
	}{
		{"unknown log", addBody(0, nil, unknown), http.StatusNotFound},
		{"signed by another key", addBody(0, nil, forged), http.StatusForbidden},
		{"empty", "", http.StatusBadRequest},
		{"no old line", string(signed), http.StatusBadRequest},
		{"old leading zero", "old 00\n\n" + string(signed), http.StatusBadRequest},
		{"old negative", "old -1\n\n" + string(signed), http.StatusBadRequest},
		{"no empty line", "old 0\n", http.StatusBadRequest},
		{"bad proof line", "old 0\nAAAA\n\n" + string(signed), http.StatusBadRequest},
		{"64 proof lines", "old 1\n" + strings.Repeat(hash, 64) + "\n" + string(signed), http.StatusBadRequest},
		{"proof with old 0", "old 0\n" + hash + "\n" + string(signed), http.StatusBadRequest},
		{"old above size", addBody(4, nil, signed), http.StatusBadRequest},
		{"not a checkpoint", addBody(0, nil, notCheckpoint), http.StatusBadRequest},
		{"unverifiable signature", "old 0\n\n" + testOrigin + "\n3\n" + hash + "\n— " + testOrigin + " AAAAAAA=\n", http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if r := post(t, f.srv.URL, tt.body); r.code != tt.code || r.body == "" {
				t.Errorf("got %d %q, want %d with a reason", r.code, r.body, tt.code)
			}
		})
	}
	resp, err := f.srv.Client().Get(f.srv.URL + "/add-checkpoint")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: got %d, want 405", resp.StatusCode)
	}
	if latest, ok, _ := f.w.Latest(testOrigin); ok {
		t.Errorf("witness cosigned something: %+v", latest)
	}
}

// TestWitnessConcurrentSameOld races many submissions from the same old
// size: exactly one wins, the others see the conflict it created.
func TestWitnessConcurrentSameOld(t *testing.T) {
	f := newWitnessFixture(t, t.TempDir())
	const n = 8
	bodies := make([]string, n)
	for i := range bodies {
		f.log.grow(t, 0, int64(i+1))
		bodies[i] = addBody(0, nil, f.log.checkpoint(t, f.signer))
	}
	var wg sync.WaitGroup
	codes := make([]int, n)
	for i := range bodies {
		wg.Go(func() { codes[i] = post(t, f.srv.URL, bodies[i]).code })
	}
	wg.Wait()
	ok := 0
	for _, c := range codes {
		switch c {
		case http.StatusOK:
			ok++
		case http.StatusConflict:
		default:
			t.Errorf("unexpected status %d", c)
		}
	}
	if ok != 1 {
		t.Errorf("%d submissions from old size 0 were cosigned, want exactly 1 (codes %v)", ok, codes)
	}
}

func TestNewServerRejects(t *testing.T) {
	_, v := testKeys(t, testLogSeed)
	key := ed25519.NewKeyFromSeed(testWitnessSeed)
	now := func() time.Time { return testWitnessNow }
	if _, err := witness.NewServer(t.TempDir(), "bad name", key, nil, now); err == nil {
		t.Error("witness name with a space: got nil error")
	}
	if _, err := witness.NewServer(t.TempDir(), testWitnessName, key, map[string]note.Verifier{"other.example/log": v}, now); err == nil {
		t.Error("log key not named after its origin: got nil error")
	}
	if _, err := witness.NewServer("", testWitnessName, key, nil, now); err == nil {
		t.Error("empty state directory: got nil error")
	}
}

func addBody(old int64, proof [][]byte, signed []byte) string {
	var b strings.Builder
	fmt.Fprintf(&b, "old %d\n", old)
	b.WriteString("\n")
	b.Write(signed)
	return b.String()
}

type httpResult struct {
	code              int
	contentType, body string
}

func post(t *testing.T, url, body string) httpResult {
	t.Helper()
	resp, err := http.Post(url+"/add-checkpoint", "text/plain", bytes.NewBufferString(body))
	if err != nil {
		t.Error(err)
		return httpResult{}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return httpResult{resp.StatusCode, resp.Header.Get("Content-Type"), string(b)}
}
