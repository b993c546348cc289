package main

import (
	"context"
	"errors"
	"fmt"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/failsmall/breakglass/audit"
	"github.com/failsmall/breakglass/broker"
	"github.com/failsmall/breakglass/web"
)

// remoteSource is an audit.Source over a broker's audit API, frozen at the
// newest checkpoint when it was made: entries and hashes below that size
// never change, and later checkpoints are left out.
type remoteSource struct {
	ctx  context.Context
	l    *openedLog
	cl   *web.Client
	v    note.Verifier
	size int64

	leafLo int64
	leaves [][]byte
	hashLo int64
	hashes [][]byte
}

func newRemoteSource(ctx context.Context, l *openedLog, v note.Verifier) (*remoteSource, error) {
	cl := l.cl
	signed, err := cl.AuditCheckpoint(ctx)
	if err != nil {
		return nil, err
	}
	cp, _, err := audit.Open(signed, v)
	if err != nil {
		return nil, fmt.Errorf("the broker's newest checkpoint: %w", err)
	}
	return &remoteSource{ctx: ctx, l: l, cl: cl, v: v, size: cp.Size}, nil
}

func (s *remoteSource) Size() (int64, error) { return s.size, nil }

func (s *remoteSource) Entry(i int64) ([]byte, error) {
	if i < s.leafLo || i >= s.leafLo+int64(len(s.leaves)) {
		es, err := s.cl.AuditEntries(s.ctx, i, min(s.size, i+web.MaxAuditEntries))
		if errors.Is(err, broker.ErrNotFound) {
			return nil, fmt.Errorf("%w: entry %d: %w", audit.ErrMissing, i, err)
		}
		if err != nil {
			return nil, s.l.entriesError(err)
		}
		s.leafLo, s.leaves = i, make([][]byte, len(es))
		for k, e := range es {
			if e.Index != i+int64(k) {
				return nil, fmt.Errorf("broker sent entry %d in place of %d", e.Index, i+int64(k))
			}
			s.leaves[k] = e.Leaf
		}
		if len(es) == 0 {
			return nil, fmt.Errorf("%w: entry %d", audit.ErrMissing, i)
		}
	}
	return s.leaves[i-s.leafLo], nil
}

func (s *remoteSource) StoredHash(i int64) (tlog.Hash, error) {
	if i < s.hashLo || i >= s.hashLo+int64(len(s.hashes)) {
		end := min(tlog.StoredHashCount(s.size), i+web.MaxAuditHashes)
		hs, err := s.cl.AuditHashes(s.ctx, i, max(end, i+1))
		if errors.Is(err, broker.ErrNotFound) {
			return tlog.Hash{}, fmt.Errorf("%w: stored hash %d: %w", audit.ErrMissing, i, err)
		}
		if err != nil {
			return tlog.Hash{}, err
		}
		if len(hs) == 0 {
			return tlog.Hash{}, fmt.Errorf("%w: stored hash %d", audit.ErrMissing, i)
		}
		s.hashLo, s.hashes = i, hs
	}
	b := s.hashes[i-s.hashLo]
	if len(b) != tlog.HashSize {
		return tlog.Hash{}, fmt.Errorf("broker sent a %d-byte stored hash %d", len(b), i)
	}
	return tlog.Hash(b), nil
}

// Checkpoints returns the recorded checkpoints up to the source's size; a
// checkpoint that does not open is kept, for VerifyLog to report.
func (s *remoteSource) Checkpoints() ([][]byte, error) {
	var out [][]byte
	for start := 0; ; {
		page, err := s.cl.AuditCheckpoints(s.ctx, start, web.MaxAuditCheckpoints)
		if err != nil {
			return nil, err
		}
		for _, signed := range page {
			if c, _, err := audit.Open(signed, s.v); err == nil && c.Size > s.size {
				continue
			}
			out = append(out, signed)
		}
		if len(page) < web.MaxAuditCheckpoints {
			return out, nil
		}
		start += len(page)
	}
}
