package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/failsmall/breakglass/audit"
	"github.com/failsmall/breakglass/sqlite"
	"github.com/failsmall/breakglass/web"
)

// size returns the log's size: the database's committed size, or the
// broker's newest checkpoint's.
func (l *openedLog) size(ctx context.Context) (int64, error) {
	if l.db != nil {
		return l.db.AuditSize(ctx)
	}
	signed, err := l.cl.AuditCheckpoint(ctx)
	if err != nil {
		return 0, err
	}
	cp, _, err := audit.Open(signed, l.v)
	return cp.Size, err
}

// entries calls fn for entries from to to-1.
func (l *openedLog) entries(ctx context.Context, from, to int64, fn func(int64, []byte) error) error {
	if l.db != nil {
		return l.db.AuditEntries(ctx, from, to, fn)
	}
	for from < to {
		es, err := l.cl.AuditEntries(ctx, from, to)
		if err != nil {
			return l.entriesError(err)
		}
		if len(es) == 0 {
			return fmt.Errorf("the broker sent no entries from %d", from)
		}
		for _, e := range es {
			if err := fn(e.Index, e.Leaf); err != nil {
				return err
			}
		}
		from += int64(len(es))
	}
	return nil
}

// entryLine is an entry as `audit tail` and `audit show` print it, and
// their --json output (`audit show --json`; `audit tail --json` prints one
// a line).
type entryLine struct {
	Index int64     `json:"index"`
	Type  string    `json:"type"`  // "domain.event", such as grant.issued
	Time  time.Time `json:"time"`  // UTC, with nanoseconds
	Actor string    `json:"actor"` // a principal id, or "broker"
	// Subjects are the ids the entry is about: request, grant, key...
	Subjects []string `json:"subjects"`
	// Data is the entry's data as logged: an object whose keys depend on
	// the type.
	Data json.RawMessage `json:"data"`
}

func parseLine(i int64, leaf []byte) (entryLine, error) {
	e, err := audit.ParseEntry(leaf)
	if err != nil {
		return entryLine{}, fmt.Errorf("entry %d: %w", i, err)
	}
	return entryLine{Index: i, Type: e.Type, Time: e.Time.UTC(), Actor: e.Actor, Subjects: nonNil(e.Subjects), Data: e.Data}, nil
}

func (c *cli) printEntry(e entryLine, asJSON bool) {
	if asJSON {
		b, _ := json.Marshal(e)
		fmt.Fprintf(c.stdout, "%s\n", b)
		return
	}
	fmt.Fprintf(c.stdout, "%d\t%s\t%-20s\t%s\t%s\n", e.Index, e.Time.UTC().Format(time.RFC3339), e.Type, e.Actor, strings.Join(e.Subjects, ","))
}

func runAuditTail(ctx context.Context, c *cli, args []string) error {
	fs := c.newFlags("audit tail")
	f := c.addLogFlags(fs)
	n := fs.Int64("n", 10, "print the last N entries")
	follow := fs.Bool("f", false, "keep printing new entries until interrupted")
	every := fs.Duration("every", time.Second, "with -f, how often to look for new entries")
	if _, err := parse(fs, args, 0, 0, ""); err != nil {
		return err
	}
	l, err := f.open(ctx)
	if err != nil {
		return err
	}
	defer l.close()
	size, err := l.size(ctx)
	if err != nil {
		return err
	}
	next := max(0, size-*n)
	for {
		err := l.entries(ctx, next, size, func(i int64, leaf []byte) error {
			e, err := parseLine(i, leaf)
			if err != nil {
				return err
			}
			c.printEntry(e, f.json)
			next = i + 1
			return nil
		})
		if err != nil || !*follow {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(*every):
		}
		if size, err = l.size(ctx); err != nil {
			return err
		}
	}
}

func runAuditShow(ctx context.Context, c *cli, args []string) error {
	fs := c.newFlags("audit show")
	f := c.addLogFlags(fs)
	raw := fs.Bool("raw", false, "print the entry's canonical bytes (the Merkle leaf) as stored")
	pos, err := parse(fs, args, 1, 1, "INDEX [--db FILE | --broker URL] [--raw] [--json]")
	if err != nil {
		return err
	}
	i, err := parseIndex(pos[0])
	if err != nil {
		return err
	}
	l, err := f.open(ctx)
	if err != nil {
		return err
	}
	defer l.close()
	return l.entries(ctx, i, i+1, func(i int64, leaf []byte) error {
		if *raw {
			_, err := c.stdout.Write(leaf)
			return err
		}
		e, err := parseLine(i, leaf)
		if err != nil {
			return err
		}
		if f.json {
			return c.printJSON(e)
		}
		fmt.Fprintf(c.stdout, "index:    %d\ntype:     %s\ntime:     %s\nactor:    %s\nsubjects: %s\ndata:     %s\n",
			e.Index, e.Type, e.Time.UTC().Format(time.RFC3339Nano), e.Actor, strings.Join(e.Subjects, ", "), e.Data)
		return nil
	})
}

// runAuditProve prints the receipt of an entry in the newest checkpoint,
// checked before it is printed.
func runAuditProve(ctx context.Context, c *cli, args []string) error {
	fs := c.newFlags("audit prove")
	f := c.addLogFlags(fs)
	pos, err := parse(fs, args, 1, 1, "INDEX [--db FILE | --broker URL]")
	if err != nil {
		return err
	}
	i, err := parseIndex(pos[0])
	if err != nil {
		return err
	}
	l, err := f.open(ctx)
	if err != nil {
		return err
	}
	defer l.close()
	r, leaf, err := l.receipt(ctx, i)
	if err != nil {
		return err
	}
	if err := r.Verify(leaf, l.v); err != nil {
		return fmt.Errorf("the receipt of entry %d does not verify: %w", i, err)
	}
	_, err = c.stdout.Write(r.Marshal())
	return err
}

func (l *openedLog) receipt(ctx context.Context, i int64) (*audit.Receipt, []byte, error) {
	var signed, leaf []byte
	var err error
	if l.db != nil {
		signed, err = newestCheckpoint(ctx, l.db)
	} else {
		signed, err = l.cl.AuditCheckpoint(ctx)
	}
	if err != nil {
		return nil, nil, err
	}
	cp, _, err := audit.Open(signed, l.v)
	if err != nil {
		return nil, nil, err
	}
	if i >= cp.Size {
		return nil, nil, fmt.Errorf("entry %d is not in the newest checkpoint (size %d) yet", i, cp.Size)
	}
	if err := l.entries(ctx, i, i+1, func(_ int64, b []byte) error { leaf = b; return nil }); err != nil {
		return nil, nil, err
	}
	var proof tlog.RecordProof
	if l.db != nil {
		proof, err = audit.ProveInclusion(i, cp.Size, l.db)
	} else {
		var p *web.AuditProofJSON
		if p, err = l.cl.AuditInclusion(ctx, i, cp.Size); err == nil {
			for _, h := range p.Proof {
				proof = append(proof, tlog.Hash(h))
			}
		}
	}
	if err != nil {
		return nil, nil, err
	}
	return &audit.Receipt{Index: i, Proof: proof, Checkpoint: signed, Extra: leaf}, leaf, nil
}

// newestCheckpoint returns the database's newest checkpoint with the
// witness cosignatures the broker keeps for it appended, as the broker's
// audit API serves its checkpoints (sqlite's RecordedCheckpoints, which
// /v1/audit/checkpoints serves, with the cosignatures in witness name
// order), so that a receipt or an export made from the database carries
// the same cosignatures as one made through the API.
func newestCheckpoint(ctx context.Context, db *sqlite.DB) ([]byte, error) {
	signed, err := db.LatestCheckpoint(ctx)
	if err != nil {
		return nil, err
	}
	// The recorded checkpoints in the order they were recorded: the newest
	// is normally the last, but the match is by content, not position.
	for start := 0; ; start += web.MaxAuditCheckpoints {
		page, err := db.RecordedCheckpoints(ctx, start, web.MaxAuditCheckpoints)
		if err != nil {
			return nil, err
		}
		for _, c := range page {
			if bytes.HasPrefix(c, signed) {
				return c, nil
			}
		}
		if len(page) < web.MaxAuditCheckpoints {
			return signed, nil
		}
	}
}

// runAuditExport writes the log in the c2sp.org/tlog-tiles layout: the
// checkpoint, the hash tiles (tile/<L>/<N>[.p/<W>]) and the entry bundles
// (tile/entries/<N>[.p/<W>]), as of the newest checkpoint.
func runAuditExport(ctx context.Context, c *cli, args []string) error {
	fs := c.newFlags("audit export")
	f := c.addLogFlags(fs)
	pos, err := parse(fs, args, 1, 1, "DIR --db FILE")
	if err != nil {
		return err
	}
	if f.db == "" {
		return errUsage("audit export reads a database: pass --db FILE")
	}
	l, err := f.open(ctx)
	if err != nil {
		return err
	}
	defer l.close()
	signed, err := newestCheckpoint(ctx, l.db)
	if err != nil {
		return err
	}
	cp, _, err := audit.Open(signed, l.v)
	if err != nil {
		return err
	}
	dir := pos[0]
	if err := writeExport(filepath.Join(dir, "checkpoint"), signed); err != nil {
		return err
	}
	tiles := tlog.NewTiles(web.TileHeight, 0, cp.Size)
	for _, t := range tiles {
		data, err := tlog.ReadTileData(t, l.db)
		if err != nil {
			return fmt.Errorf("tile %s: %w", t.Path(), err)
		}
		if err := writeExport(filepath.Join(dir, web.TilePath(t)), data); err != nil {
			return err
		}
		if t.L == 0 {
			if err := l.exportBundle(ctx, dir, t); err != nil {
				return err
			}
		}
	}
	fmt.Fprintf(c.stdout, "exported %d entries (checkpoint, %d hash tiles and their entry bundles) to %s\n", cp.Size, len(tiles), dir)
	return nil
}

// exportBundle writes the entry bundle beside level-0 tile t: each entry
// as a big-endian uint16 length and its bytes.
func (l *openedLog) exportBundle(ctx context.Context, dir string, t tlog.Tile) error {
	var b []byte
	from := t.N << t.H
	err := l.db.AuditEntries(ctx, from, from+int64(t.W), func(i int64, leaf []byte) error {
		if len(leaf) > 0xffff {
			return fmt.Errorf("entry %d is %d bytes, over the 64 KiB an entry bundle holds", i, len(leaf))
		}
		b = binary.BigEndian.AppendUint16(b, uint16(len(leaf)))
		b = append(b, leaf...)
		return nil
	})
	if err != nil {
		return err
	}
	data := tlog.Tile{H: t.H, L: -1, N: t.N, W: t.W}
	return writeExport(filepath.Join(dir, web.TilePath(data)), b)
}

func writeExport(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o644)
}

// parseIndex reads an INDEX argument: an entry number.
func parseIndex(arg string) (int64, error) {
	i, err := strconv.ParseInt(arg, 10, 64)
	if err != nil || i < 0 {
		return 0, errUsage("INDEX must be an entry number, got %q", arg)
	}
	return i, nil
}
