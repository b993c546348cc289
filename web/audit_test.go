package web_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/failsmall/breakglass/audit"
	"github.com/failsmall/breakglass/broker"
	"github.com/failsmall/breakglass/internal/brokertest"
	"github.com/failsmall/breakglass/web"
)

// memLog is a web.AuditLog in memory: leaves whose contents are secret,
// their tlog stored hashes, and one signed checkpoint, which may cover
// fewer leaves than are stored (as when the checkpointer lags a commit).
type memLog struct {
	vkey   string
	signed []byte
	size   int64 // the checkpoint's
	root   tlog.Hash
	leaves [][]byte
	hashes []tlog.Hash
}

const memOrigin = "mem.audit.test"

func memLeaf(i int64) []byte {
	return fmt.Appendf(nil, "entry %d: requester alice, secret reason %d", i, i*7919)
}

// newMemLog stores n leaves and signs a checkpoint of the first size.
func newMemLog(t testing.TB, n, size int64) *memLog {
	t.Helper()
	skey, vkey, err := audit.GenerateKey(memOrigin)
	if err != nil {
		t.Fatal(err)
	}
	m := &memLog{vkey: vkey, size: size}
	for i := range n {
		leaf := memLeaf(i)
		hs, err := tlog.StoredHashes(i, leaf, m)
		if err != nil {
			t.Fatal(err)
		}
		m.leaves = append(m.leaves, leaf)
		m.hashes = append(m.hashes, hs...)
	}
	if m.root, err = tlog.TreeHash(size, m); err != nil {
		t.Fatal(err)
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	if m.signed, err = audit.Sign(audit.Checkpoint{Origin: memOrigin, Size: size, Hash: m.root}, s); err != nil {
		t.Fatal(err)
	}
	return m
}

// ReadHashes makes memLog a tlog.HashReader over its stored hashes.
func (m *memLog) ReadHashes(idx []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(idx))
	for i, x := range idx {
		if x < 0 || x >= int64(len(m.hashes)) {
			return nil, fmt.Errorf("%w: stored hash %d", broker.ErrNotFound, x)
		}
		out[i] = m.hashes[x]
	}
	return out, nil
}

func (m *memLog) VerifierKey() string                        { return m.vkey }
func (m *memLog) Checkpoint(context.Context) ([]byte, error) { return m.signed, nil }
func (m *memLog) Checkpoints(context.Context, int, int) ([][]byte, error) {
	return [][]byte{m.signed}, nil
}

func (m *memLog) Entries(_ context.Context, from, to int64, fn func(int64, []byte) error) error {
	if from < 0 || to < from {
		return broker.ErrInvalid
	}
	if to > int64(len(m.leaves)) {
		return fmt.Errorf("%w: entry %d", broker.ErrNotFound, to-1)
	}
	for i := from; i < to; i++ {
		if err := fn(i, m.leaves[i]); err != nil {
			return err
		}
	}
	return nil
}

func (m *memLog) Hashes(_ context.Context, from, to int64) ([]tlog.Hash, error) {
	if from < 0 || to < from {
		return nil, broker.ErrInvalid
	}
	if to > int64(len(m.hashes)) {
		return nil, fmt.Errorf("%w: stored hash %d", broker.ErrNotFound, to-1)
	}
	return m.hashes[from:to], nil
}

func (m *memLog) ProveInclusion(_ context.Context, index, size int64) (tlog.RecordProof, error) {
	return tlog.ProveRecord(size, index, m)
}

func (m *memLog) ProveConsistency(_ context.Context, old, size int64) (tlog.TreeProof, error) {
	return tlog.ProveTree(size, old, m)
}

func newAuditServer(t *testing.T, e *brokertest.Env, m *memLog, public bool) *httptest.Server {
	t.Helper()
	ts := httptest.NewServer(web.NewServer(web.Config{Service: e.Svc, Audit: m, AuditPublic: public}).Handler())
	t.Cleanup(ts.Close)
	return ts
}

// get fetches url with an optional bearer token and returns the status,
// the body and the response's headers.
func get(t *testing.T, url, token string) (int, []byte, http.Header) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b, resp.Header
}

// decodeBundle splits an entry bundle: each entry a big-endian uint16
// length and its bytes.
func decodeBundle(t *testing.T, b []byte) [][]byte {
	t.Helper()
	var out [][]byte
	for len(b) > 0 {
		if len(b) < 2 {
			t.Fatalf("entry bundle ends in the middle of a length")
		}
		n := int(binary.BigEndian.Uint16(b))
		if len(b) < 2+n {
			t.Fatalf("entry bundle: entry of %d bytes, %d left", n, len(b)-2)
		}
		out = append(out, b[2:2+n])
		b = b[2+n:]
	}
	return out
}

// leaks reports whether body holds an entry's contents, as is or base64
// (as /v1/audit/entries sends them).
func leaks(body []byte) bool {
	return bytes.Contains(body, []byte("secret reason")) || bytes.Contains(body, []byte(base64.StdEncoding.EncodeToString(memLeaf(0)[:12])))
}

// entriesIn counts the entries of a /v1/audit/entries answer that are the
// log's.
func entriesIn(t *testing.T, body []byte) int {
	t.Helper()
	var out web.AuditEntriesJSON
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatalf("%v: %.200s", err, body)
	}
	for _, e := range out.Entries {
		if !bytes.Equal(e.Leaf, memLeaf(e.Index)) {
			t.Fatalf("entry %d is %q, want %q", e.Index, e.Leaf, memLeaf(e.Index))
		}
	}
	return len(out.Entries)
}

// TestAuditEntriesNeedSession: anonymous readers get the checkpoints,
// proofs, hashes and hash tiles, never the entries' contents
// (/v1/audit/entries and the /tile/entries/ bundles answer 401); a session
// reads them, and so does anyone when the config sets audit_public.
func TestAuditEntriesNeedSession(t *testing.T) {
	e := brokertest.New(t, racePolicy(3, 2), "")
	m := newMemLog(t, 300, 300)
	ts := newAuditServer(t, e, m, false)
	ctext, csig := e.Challenge(t, "sre01", broker.ActionSession, "")
	tok, _, err := e.Svc.OpenSession(t.Context(), ctext, csig)
	if err != nil {
		t.Fatal(err)
	}
	contents := []string{"/v1/audit/entries?start=0&end=10", "/tile/entries/000", "/tile/entries/001.p/44"}
	for _, path := range contents {
		for _, bad := range []string{"", "not-a-session"} {
			code, body, _ := get(t, ts.URL+path, bad)
			if code != http.StatusUnauthorized || !strings.Contains(string(body), `"unauthenticated"`) {
				t.Errorf("GET %s with token %q: %d %.200s, want 401 unauthenticated", path, bad, code, body)
			}
			if leaks(body) {
				t.Errorf("GET %s with token %q leaked an entry: %.200s", path, bad, body)
			}
		}
	}
	public := []string{"/checkpoint", "/v1/audit/key", "/v1/audit/checkpoint", "/v1/audit/checkpoints?start=0&limit=10",
		"/v1/audit/hashes?start=0&end=5", "/v1/audit/proof/inclusion?index=3&size=300",
		"/v1/audit/proof/consistency?old=10&new=300", "/tile/0/000", "/tile/0/001.p/44", "/tile/1/000.p/1"}
	for _, path := range public {
		if code, body, _ := get(t, ts.URL+path, ""); code != http.StatusOK || leaks(body) {
			t.Errorf("anonymous GET %s: %d %.200s, want 200 without contents", path, code, body)
		}
	}

	// With a session, the contents.
	code, body, _ := get(t, ts.URL+"/v1/audit/entries?start=0&end=10", tok)
	if code != http.StatusOK || entriesIn(t, body) != 10 {
		t.Errorf("GET /v1/audit/entries with a session: %d %.200s", code, body)
	}
	checkBundle := func(t *testing.T, path, token string, from int64, want int) http.Header {
		t.Helper()
		code, body, h := get(t, ts.URL+path, token)
		if code != http.StatusOK {
			t.Fatalf("GET %s: %d %.200s", path, code, body)
		}
		es := decodeBundle(t, body)
		if len(es) != want {
			t.Fatalf("GET %s: %d entries, want %d", path, len(es), want)
		}
		for k, leaf := range es {
			if !bytes.Equal(leaf, m.leaves[from+int64(k)]) {
				t.Fatalf("GET %s: entry %d is %q, want %q", path, from+int64(k), leaf, m.leaves[from+int64(k)])
			}
		}
		return h
	}
	h := checkBundle(t, "/tile/entries/000", tok, 0, 256)
	if cc := h.Get("Cache-Control"); !strings.Contains(cc, "private") {
		t.Errorf("an entry bundle read with a session has Cache-Control %q, want private", cc)
	}
	checkBundle(t, "/tile/entries/001.p/44", tok, 256, 44)
	checkBundle(t, "/tile/entries/001.p/3", tok, 256, 3) // an older tree's bundle
	for _, path := range []string{"/tile/entries/001", "/tile/entries/001.p/45", "/tile/entries/1.p/44", "/tile/entries/002.p/1"} {
		if code, body, _ := get(t, ts.URL+path, tok); code != http.StatusNotFound {
			t.Errorf("GET %s with a session: %d %.200s, want 404", path, code, body)
		}
	}

	// The client sees the refusal as ErrUnauthenticated, and reads with
	// the token Login would set.
	cl, err := web.NewClient(ts.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.AuditEntries(t.Context(), 0, 5); !errors.Is(err, broker.ErrUnauthenticated) {
		t.Errorf("anonymous client AuditEntries: %v, want ErrUnauthenticated", err)
	}
	if _, err := cl.AuditTile(t.Context(), tlog.Tile{H: 8, L: -1, N: 0, W: 256}); !errors.Is(err, broker.ErrUnauthenticated) {
		t.Errorf("anonymous client entry bundle: %v, want ErrUnauthenticated", err)
	}
	cl.Token = tok
	if es, err := cl.AuditEntries(t.Context(), 0, 5); err != nil || len(es) != 5 || !bytes.Equal(es[4].Leaf, m.leaves[4]) {
		t.Errorf("client AuditEntries with a session: %d entries, %v", len(es), err)
	}

	// audit_public: true serves the contents to anyone.
	pub := newAuditServer(t, e, m, true)
	if code, body, _ := get(t, pub.URL+"/v1/audit/entries?start=0&end=10", ""); code != http.StatusOK || entriesIn(t, body) != 10 {
		t.Errorf("anonymous GET /v1/audit/entries with AuditPublic: %d %.200s", code, body)
	}
	ts = pub
	h = checkBundle(t, "/tile/entries/000", "", 0, 256)
	if cc := h.Get("Cache-Control"); !strings.Contains(cc, "public") {
		t.Errorf("a public entry bundle has Cache-Control %q, want public", cc)
	}
	checkBundle(t, "/tile/entries/001.p/44", "", 256, 44)
}

// TestAuditTiles: the hash tiles the broker serves at /tile/<L>/<N>[.p/<W>]
// are those of c2sp.org/tlog-tiles: tlog's TileHashReader, which checks
// every tile it reads against the signed tree, proves entries' inclusion
// and trees' consistency from them, at the newest checkpoint's size and at
// older ones. A log of 69999 entries has full and partial tiles at levels
// 0 and 1 and a partial tile at level 2; entries past the checkpoint are
// stored but no tile shows them.
func TestAuditTiles(t *testing.T) {
	e := brokertest.New(t, racePolicy(3, 2), "")
	const stored, size = 70000, 69999
	m := newMemLog(t, stored, size)
	ts := newAuditServer(t, e, m, false)
	cl, err := web.NewClient(ts.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()

	// /checkpoint is the signed checkpoint, the bytes /v1/audit/checkpoint serves.
	_, cp, _ := get(t, ts.URL+"/checkpoint", "")
	_, v1, _ := get(t, ts.URL+"/v1/audit/checkpoint", "")
	if !bytes.Equal(cp, m.signed) || !bytes.Equal(v1, cp) {
		t.Fatalf("/checkpoint is %q, /v1/audit/checkpoint %q, want %q", cp, v1, m.signed)
	}
	v, err := note.NewVerifier(m.vkey)
	if err != nil {
		t.Fatal(err)
	}
	c, _, err := audit.Open(cp, v)
	if err != nil {
		t.Fatal(err)
	}

	// Every tile of the tree is tlog's tile of the stored hashes.
	tiles := tlog.NewTiles(web.TileHeight, 0, c.Size)
	levels := map[int]int{}
	for _, tile := range tiles {
		got, err := cl.AuditTile(ctx, tile)
		if err != nil {
			t.Fatalf("tile %s: %v", web.TilePath(tile), err)
		}
		want, err := tlog.ReadTileData(tile, m)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("tile %s differs from tlog.ReadTileData", web.TilePath(tile))
		}
		levels[tile.L]++
	}
	if levels[0] != 274 || levels[1] != 2 || levels[2] != 1 {
		t.Fatalf("tiles by level: %v, want 274 at level 0, 2 at 1, 1 at 2", levels)
	}

	// Proofs from the tiles, checked against the signed root.
	for _, tree := range []tlog.Tree{{N: c.Size, Hash: c.Hash}, {N: 1000, Hash: treeHash(t, m, 1000)}, {N: 65536, Hash: treeHash(t, m, 65536)}} {
		thr := tlog.TileHashReader(tree, web.TileReader{Ctx: ctx, Client: cl})
		for _, i := range []int64{0, 1, 255, 256, 999, 4097, 65535, 65536, 69998} {
			if i >= tree.N {
				continue
			}
			p, err := tlog.ProveRecord(tree.N, i, thr)
			if err != nil {
				t.Fatalf("tree %d: prove entry %d from the tiles: %v", tree.N, i, err)
			}
			if err := tlog.CheckRecord(p, tree.N, tree.Hash, i, tlog.RecordHash(m.leaves[i])); err != nil {
				t.Fatalf("tree %d: entry %d: %v", tree.N, i, err)
			}
		}
		for _, old := range []int64{1, 257, 1000, 65536} {
			if old > tree.N {
				continue
			}
			p, err := tlog.ProveTree(tree.N, old, thr)
			if err != nil {
				t.Fatalf("prove tree %d in %d from the tiles: %v", old, tree.N, err)
			}
			if err := tlog.CheckTree(p, tree.N, tree.Hash, old, treeHash(t, m, old)); err != nil {
				t.Fatalf("tree %d in %d: %v", old, tree.N, err)
			}
		}
	}

	// Paths that are not canonical, and tiles the checkpoint does not
	// cover (the 70000th entry is stored, not signed), are not found.
	for _, path := range []string{"/tile/0/273.p/112", "/tile/0/273", "/tile/0/274.p/1", "/tile/1/001", "/tile/1/001.p/18",
		"/tile/2/000", "/tile/3/000.p/1", "/tile/0/0", "/tile/0/000.p/256", "/tile/0/000.p/0", "/tile/0/x000/000",
		"/tile/data/000", "/tile/-1/000", "/tile/8/0/000", "/tile/0/abc", "/tile/"} {
		if code, body, _ := get(t, ts.URL+path, ""); code != http.StatusNotFound || !strings.Contains(string(body), `"not_found"`) {
			t.Errorf("GET %s: %d %.200s, want 404 not_found", path, code, body)
		}
	}
	code, body, h := get(t, ts.URL+"/tile/0/273.p/111", "")
	if code != http.StatusOK || len(body) != 111*tlog.HashSize || h.Get("Content-Type") != "application/octet-stream" ||
		!strings.Contains(h.Get("Cache-Control"), "immutable") {
		t.Errorf("GET /tile/0/273.p/111: %d, %d bytes, %v", code, len(body), h)
	}
}

func treeHash(t *testing.T, m *memLog, n int64) tlog.Hash {
	t.Helper()
	h, err := tlog.TreeHash(n, m)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestTilePath: the c2sp.org/tlog-tiles paths, without sumdb's height.
func TestTilePath(t *testing.T) {
	for _, tt := range []struct {
		t    tlog.Tile
		want string
	}{
		{tlog.Tile{H: 8, L: 0, N: 0, W: 256}, "tile/0/000"},
		{tlog.Tile{H: 8, L: 0, N: 1234067, W: 256}, "tile/0/x001/x234/067"},
		{tlog.Tile{H: 8, L: 2, N: 1000, W: 7}, "tile/2/x001/000.p/7"},
		{tlog.Tile{H: 8, L: -1, N: 5, W: 200}, "tile/entries/005.p/200"},
		{tlog.Tile{H: 8, L: -1, N: 1234067, W: 256}, "tile/entries/x001/x234/067"},
	} {
		if got := web.TilePath(tt.t); got != tt.want {
			t.Errorf("TilePath(%+v) = %q, want %q", tt.t, got, tt.want)
		}
	}
}
