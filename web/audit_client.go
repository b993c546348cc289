package web

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"golang.org/x/mod/sumdb/tlog"
)

// The audit log's read API, for `breakglass audit` and remote verifiers.

// CredentialsWithReceipt fetches the credentials of request id with the
// audit receipt of their grant.
func (c *Client) CredentialsWithReceipt(ctx context.Context, id string) (*CredentialsJSON, error) {
	var out CredentialsJSON
	return &out, c.do(ctx, "GET", "/v1/requests/"+url.PathEscape(id)+"/credentials", nil, &out)
}

// AuditKey returns the log's note verifier key as the broker states it.
func (c *Client) AuditKey(ctx context.Context) (string, error) {
	var b []byte
	err := c.do(ctx, "GET", "/v1/audit/key", nil, &b)
	return strings.TrimSpace(string(b)), err
}

// AuditCheckpoint returns the newest signed (and cosigned) checkpoint.
func (c *Client) AuditCheckpoint(ctx context.Context) ([]byte, error) {
	var b []byte
	return b, c.do(ctx, "GET", "/v1/audit/checkpoint", nil, &b)
}

// AuditCheckpoints returns up to limit recorded checkpoints from start.
func (c *Client) AuditCheckpoints(ctx context.Context, start, limit int) ([][]byte, error) {
	var out AuditCheckpointsJSON
	if err := c.do(ctx, "GET", fmt.Sprintf("/v1/audit/checkpoints?start=%d&limit=%d", start, limit), nil, &out); err != nil {
		return nil, err
	}
	cps := make([][]byte, len(out.Checkpoints))
	for i, s := range out.Checkpoints {
		cps[i] = []byte(s)
	}
	return cps, nil
}

// AuditEntries returns entries from start, at most MaxAuditEntries, below end.
func (c *Client) AuditEntries(ctx context.Context, start, end int64) ([]AuditEntryJSON, error) {
	var out AuditEntriesJSON
	return out.Entries, c.do(ctx, "GET", fmt.Sprintf("/v1/audit/entries?start=%d&end=%d", start, end), nil, &out)
}

// AuditHashes returns stored hashes from storage index start, below end.
func (c *Client) AuditHashes(ctx context.Context, start, end int64) ([][]byte, error) {
	var out AuditHashesJSON
	return out.Hashes, c.do(ctx, "GET", fmt.Sprintf("/v1/audit/hashes?start=%d&end=%d", start, end), nil, &out)
}

// AuditInclusion returns the inclusion proof of entry index in the tree of size.
func (c *Client) AuditInclusion(ctx context.Context, index, size int64) (*AuditProofJSON, error) {
	var out AuditProofJSON
	return &out, c.do(ctx, "GET", fmt.Sprintf("/v1/audit/proof/inclusion?index=%d&size=%d", index, size), nil, &out)
}

// AuditConsistency returns the consistency proof from old to size.
func (c *Client) AuditConsistency(ctx context.Context, old, size int64) (*AuditProofJSON, error) {
	var out AuditProofJSON
	return &out, c.do(ctx, "GET", fmt.Sprintf("/v1/audit/proof/consistency?old=%d&new=%d", old, size), nil, &out)
}

// AuditTile fetches tile t (height TileHeight) from the broker's
// c2sp.org/tlog-tiles layout: a hash tile, or (t.L == -1) an entry bundle,
// which needs a session unless the broker's entries are public.
func (c *Client) AuditTile(ctx context.Context, t tlog.Tile) ([]byte, error) {
	var b []byte
	return b, c.do(ctx, "GET", "/"+TilePath(t), nil, &b)
}

// TileReader is a tlog.TileReader over a broker's hash tiles, for
// tlog.TileHashReader: proofs computed from it are checked against the
// tree it is given, so the broker need not be trusted for them.
type TileReader struct {
	Ctx    context.Context
	Client *Client
}

var _ tlog.TileReader = TileReader{}

func (TileReader) Height() int { return TileHeight }

func (r TileReader) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		b, err := r.Client.AuditTile(r.Ctx, t)
		if err != nil {
			return nil, fmt.Errorf("tile %s: %w", TilePath(t), err)
		}
		out[i] = b
	}
	return out, nil
}

func (TileReader) SaveTiles([]tlog.Tile, [][]byte) {}
