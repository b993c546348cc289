-- Audit tiles: the log's full hash tiles, so an inclusion proof is a few
-- point reads instead of one read per tree level.
--
-- audit_tiles holds the complete tiles of height 5 of the tlog tile layout
-- (golang.org/x/mod/sumdb/tlog, research.swtch.com/tlog#tiling_a_log): tile
-- (level, n) is the 32 stored hashes of tree level 5*level, nodes 32n to
-- 32n+31, concatenated (1024 bytes). Tiles are derived data written in the
-- same transaction as the entry that completes them; the verifier never
-- trusts them (it recomputes from audit_entries and checks audit_hashes), and
-- a wrong tile can only make a proof that fails to check. Partial tiles are
-- not stored: proofs read those hashes from audit_hashes. (Not WITHOUT
-- ROWID: a 1 KiB row is too large for an index b-tree page's local payload
-- and would spill every tile into an overflow page.)
CREATE TABLE audit_tiles (
	level INTEGER NOT NULL CHECK (level >= 0),
	n     INTEGER NOT NULL CHECK (n >= 0),
	data  BLOB    NOT NULL CHECK (length(data) = 1024),
	PRIMARY KEY (level, n)
) STRICT;

-- Backfill the tiles of the log as it is. The stored hash of tree level l,
-- node k sits at tlog.StoredHashIndex(l, k) = ((k+1) << (l+1)) - 2 - popcount(k);
-- popcount is the usual bit-slicing sum (k < 2^40, so nothing overflows).
-- A tile missing one of its hashes is left out (proofs then read
-- audit_hashes), so that a damaged log still opens and `audit verify` can
-- say what is wrong with it.
INSERT INTO audit_tiles (level, n, data)
WITH RECURSIVE
	size(s) AS (SELECT coalesce(max(idx) + 1, 0) FROM audit_entries),
	-- lim: the nodes of tree level 5*lvl that full tiles cover
	levels(lvl, lim) AS (
		SELECT 0, (s >> 5) << 5 FROM size
		UNION ALL
		SELECT lvl + 1, ((s >> (5 * (lvl + 1))) >> 5) << 5 FROM levels, size WHERE lvl < 8),
	node(lvl, k, lim) AS (
		SELECT lvl, 0, lim FROM levels WHERE lim > 0
		UNION ALL
		SELECT lvl, k + 1, lim FROM node WHERE k + 1 < lim),
	p1(lvl, k, x) AS (SELECT lvl, k, k - ((k >> 1) & 0x5555555555555555) FROM node),
	p2(lvl, k, x) AS (SELECT lvl, k, (x & 0x3333333333333333) + ((x >> 2) & 0x3333333333333333) FROM p1),
	p3(lvl, k, x) AS (SELECT lvl, k, (x + (x >> 4)) & 0x0F0F0F0F0F0F0F0F FROM p2),
	pop(lvl, k, c) AS (SELECT lvl, k, (x + (x >> 8) + (x >> 16) + (x >> 24) + (x >> 32)) & 0x7F FROM p3)
SELECT p.lvl, p.k >> 5, unhex(group_concat(hex(h.hash), '' ORDER BY p.k))
FROM pop p JOIN audit_hashes h ON h.idx = ((p.k + 1) << (5 * p.lvl + 1)) - 2 - p.c
GROUP BY p.lvl, p.k >> 5
HAVING count(*) = 32
ORDER BY p.lvl, p.k >> 5;

-- Append-only, like the other audit tables: a tile is written once, in
-- order within its level.
CREATE TRIGGER audit_tiles_append_only_insert BEFORE INSERT ON audit_tiles
WHEN NEW.n IS NOT (SELECT coalesce(max(n) + 1, 0) FROM audit_tiles WHERE level = NEW.level)
BEGIN SELECT RAISE(ABORT, 'audit_tiles is append-only: insert only the next tile of a level'); END;
CREATE TRIGGER audit_tiles_append_only_update BEFORE UPDATE ON audit_tiles
BEGIN SELECT RAISE(ABORT, 'audit_tiles is append-only: no update'); END;
CREATE TRIGGER audit_tiles_append_only_delete BEFORE DELETE ON audit_tiles
BEGIN SELECT RAISE(ABORT, 'audit_tiles is append-only: no delete'); END;
