package sqlite

import (
	"context"
	"fmt"
	"strconv"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/failsmall/breakglass/broker"
)

// Audit tiles (migration 0005): besides every stored hash in audit_hashes,
// the log keeps its complete tiles of height tileHeight in audit_tiles, in
// the tlog tile layout, so that an inclusion or consistency proof reads a
// handful of rows (one per tile level, four at a million entries) instead of
// one per tree level scattered over the hash table. audit_hashes stays the
// record the verifier checks; tiles are derived from it in the same
// transaction.

// tileHeight is the height of a stored tile: 2^5 = 32 hashes, 1 KiB, one
// database page. Migration 0005 backfills tiles of this height.
const tileHeight = 5

// fullTile reports whether t covers all 2^tileHeight hashes of its span.
func fullTile(t tlog.Tile) bool { return t.W == 1<<tileHeight }

// storeTiles writes the full tiles completed by growing the log from
// oldSize to newSize leaves, reading their hashes inside this transaction.
func (t *Tx) storeTiles(oldSize, newSize int64) error {
	for _, tile := range tlog.NewTiles(tileHeight, oldSize, newSize) {
		if !fullTile(tile) {
			continue
		}
		data, err := tlog.ReadTileData(tile, hashReader{t.ctx, t.tx})
		if err != nil {
			return fmt.Errorf("tile %s: %w", tile.Path(), err)
		}
		if _, err := t.exec(`INSERT INTO audit_tiles (level, n, data) VALUES (?, ?, ?)`, tile.L, tile.N, data); err != nil {
			return fmt.Errorf("tile %s: %w", tile.Path(), err)
		}
	}
	return nil
}

// tileReader reads stored hashes from the full tiles that hold them, and
// those of the log's right edge, which no full tile holds yet, from
// audit_hashes. Both tables are append-only, so a hash read in one
// statement is the hash of any later snapshot too.
type tileReader struct {
	ctx context.Context
	q   querier
}

// ReadHashes implements tlog.HashReader: the hashes at indexes, in order,
// or an error naming the first missing one.
func (r tileReader) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	tiles, err := r.readTiles(indexes)
	if err != nil {
		return nil, err
	}
	out := make([]tlog.Hash, len(indexes))
	var rest []int64 // positions in indexes that no stored tile holds
	for i, x := range indexes {
		t := tlog.TileForIndex(tileHeight, x)
		t.W = 1 << tileHeight
		data, ok := tiles[t]
		if !ok {
			rest = append(rest, int64(i))
			continue
		}
		if out[i], err = tlog.HashFromTile(t, data, x); err != nil {
			return nil, fmt.Errorf("sqlite: audit stored hash %d: %w", x, err)
		}
	}
	if len(rest) == 0 {
		return out, nil
	}
	edge := make([]int64, len(rest))
	for k, i := range rest {
		edge[k] = indexes[i]
	}
	hs, err := hashReader(r).ReadHashes(edge)
	if err != nil {
		return nil, err
	}
	for k, i := range rest {
		out[i] = hs[k]
	}
	return out, nil
}

// readTiles returns the stored full tiles holding any of indexes, by tile.
func (r tileReader) readTiles(indexes []int64) (map[tlog.Tile][]byte, error) {
	list := make([]byte, 0, 1+16*len(indexes))
	list = append(list, '[')
	seen := make(map[tlog.Tile]bool, len(indexes))
	for _, x := range indexes {
		t := tlog.TileForIndex(tileHeight, x)
		t.W = 1 << tileHeight
		if seen[t] {
			continue
		}
		seen[t] = true
		if len(list) > 1 {
			list = append(list, ',')
		}
		list = append(list, '[')
		list = strconv.AppendInt(list, int64(t.L), 10)
		list = append(list, ',')
		list = strconv.AppendInt(list, t.N, 10)
		list = append(list, ']')
	}
	list = append(list, ']')
	const q = `SELECT level, n, data FROM audit_tiles WHERE (level, n) IN (SELECT value->>0, value->>1 FROM json_each(?))`
	rows, err := r.q.QueryContext(r.ctx, q, string(list))
	if err != nil {
		return nil, fmt.Errorf("sqlite: read audit tiles: %w", err)
	}
	defer rows.Close()
	tiles := make(map[tlog.Tile][]byte, len(seen))
	for rows.Next() {
		t := tlog.Tile{H: tileHeight, W: 1 << tileHeight}
		var data []byte
		if err := rows.Scan(&t.L, &t.N, &data); err != nil {
			return nil, fmt.Errorf("sqlite: read audit tiles: %w", err)
		}
		if len(data) != t.W*tlog.HashSize {
			return nil, fmt.Errorf("%w: sqlite: audit tile %s is %d bytes, want %d", broker.ErrInvalid, t.Path(), len(data), t.W*tlog.HashSize)
		}
		tiles[t] = data
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: read audit tiles: %w", err)
	}
	return tiles, nil
}
