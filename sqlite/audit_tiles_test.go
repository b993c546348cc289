package sqlite_test

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/failsmall/breakglass/audit"
	"github.com/failsmall/breakglass/sqlite"
)

// tileHeight is the height of the tiles sqlite stores (migration 0005).
const tileHeight = 5

// storedTiles returns audit_tiles as tile path -> data.
func storedTiles(t *testing.T, path string) map[string][]byte {
	t.Helper()
	rows, err := rawDB(t, path).Query(`SELECT level, n, data FROM audit_tiles ORDER BY level, n`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string][]byte{}
	for rows.Next() {
		tile := tlog.Tile{H: tileHeight, W: 1 << tileHeight}
		var data []byte
		if err := rows.Scan(&tile.L, &tile.N, &data); err != nil {
			t.Fatal(err)
		}
		out[tile.Path()] = data
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// wantTiles returns every full tile of a log of size leaves, read by tlog
// from the independent in-memory hashes.
func wantTiles(t *testing.T, mem *memLog, size int64) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, tile := range tlog.NewTiles(tileHeight, 0, size) {
		if tile.W != 1<<tileHeight {
			continue
		}
		data, err := tlog.ReadTileData(tile, mem)
		if err != nil {
			t.Fatal(err)
		}
		out[tile.Path()] = data
	}
	return out
}

func checkTiles(t *testing.T, what string, got, want map[string][]byte) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d tiles, want %d", what, len(got), len(want))
	}
	for p, w := range want {
		if !bytes.Equal(got[p], w) {
			t.Errorf("%s: tile %s differs from tlog.ReadTileData's", what, p)
		}
	}
}

// TestAuditTiles: appends store each full tile as it completes, and proofs
// read from the tiles (and, at the right edge, from audit_hashes) equal
// those tlog computes in memory, at sizes on and off tile boundaries.
func TestAuditTiles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bg.db")
	db := mustOpen(t, path)
	var mem memLog
	size := int64(0)
	for _, grow := range []int{1, 30, 1, 1, 992, 1, 40, 1024 + 7} {
		appendEvents(t, db, int(size), int(size)+grow)
		for i := size; i < size+int64(grow); i++ {
			mem.append(t, i, leafOf(t, newEvent(int(i))))
		}
		size += int64(grow)
		checkTiles(t, fmt.Sprintf("at size %d", size), storedTiles(t, path), wantTiles(t, &mem, size))
		root := mustTreeHash(t, db, size)
		if want, _ := tlog.TreeHash(size, &mem); root != want {
			t.Fatalf("TreeHash(%d) from the database = %v, want %v", size, root, want)
		}
		for _, i := range []int64{0, size / 3, size - 1} {
			p, err := audit.ProveInclusion(i, size, db)
			if err != nil {
				t.Fatalf("ProveInclusion(%d, %d): %v", i, size, err)
			}
			if err := audit.CheckInclusion(p, size, root, i, leafOf(t, newEvent(int(i)))); err != nil {
				t.Errorf("proof of %d in %d from tiles: %v", i, size, err)
			}
		}
		if size > 1 {
			p, err := audit.ProveConsistency(size/2, size, db)
			if err != nil {
				t.Fatal(err)
			}
			old, _ := tlog.TreeHash(size/2, &mem)
			if err := audit.CheckConsistency(p, size, root, size/2, old); err != nil {
				t.Errorf("consistency %d to %d from tiles: %v", size/2, size, err)
			}
		}
	}
	raw := rawDB(t, path)
	for _, stmt := range []string{
		`UPDATE audit_tiles SET data = zeroblob(1024)`,
		`DELETE FROM audit_tiles`,
		`INSERT OR REPLACE INTO audit_tiles (level, n, data) VALUES (0, 0, zeroblob(1024))`,
		`INSERT INTO audit_tiles (level, n, data) VALUES (0, 1000, zeroblob(1024))`,
	} {
		if _, err := raw.Exec(stmt); err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: got %v, want an append-only abort", stmt, err)
		}
	}
}

// TestAuditTilesMigration: a log written before migration 0005 (here: its
// tiles and the migration's record removed) gets every full tile backfilled
// on open, byte for byte what tlog reads, and still verifies.
func TestAuditTilesMigration(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bg.db")
	db := mustOpen(t, path)
	const size = 32*32*2 + 32*3 + 5
	var mem memLog
	appendEvents(t, db, 0, size)
	for i := range int64(size) {
		mem.append(t, i, leafOf(t, newEvent(int(i))))
	}
	db.Close()
	// Migrations apply in order, so the later ones are rolled back too.
	rawExecAll(t, path, append(undoDelisted, `DROP TABLE audit_tiles`, `DELETE FROM schema_migrations WHERE version = 5`)...)
	db, err := sqlite.Open(path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	got := storedTiles(t, path)
	checkTiles(t, "after migration", got, wantTiles(t, &mem, size))
	if len(got) != 2*32+3+2 {
		t.Errorf("migration stored %d tiles, want %d", len(got), 2*32+3+2)
	}
	// Appending goes on from the backfilled tiles.
	appendEvents(t, db, size, size+64)
	for i := int64(size); i < size+64; i++ {
		mem.append(t, i, leafOf(t, newEvent(int(i))))
	}
	checkTiles(t, "after appending", storedTiles(t, path), wantTiles(t, &mem, size+64))
}

// rawExecAll runs statements on the file with the append-only triggers of
// audit_tiles dropped, as an operator with the sqlite3 shell could.
func rawExecAll(t *testing.T, path string, stmts ...string) {
	t.Helper()
	raw := rawDB(t, path)
	for _, s := range stmts {
		if _, err := raw.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}
