package sqlite_test

import (
	"context"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/failsmall/breakglass/audit"
	"github.com/failsmall/breakglass/broker"
	"github.com/failsmall/breakglass/sqlite"
)

// checkpointedDB opens a database whose commits wake a Checkpointer.
func checkpointedDB(b *testing.B, path string) (*sqlite.DB, *audit.Checkpointer) {
	b.Helper()
	s, v := testLogKeys(b)
	var cp atomic.Pointer[audit.Checkpointer]
	db, err := sqlite.Open(path, sqlite.Options{AfterCommit: func() {
		if c := cp.Load(); c != nil {
			c.Notify()
		}
	}, SignCheckpoint: audit.CommitSigner(s)})
	if err != nil {
		b.Fatal(err)
	}
	c, err := audit.NewCheckpointer(context.Background(), audit.CheckpointerConfig{Store: db.CheckpointStore(),
		Signer: s, Verifier: v, File: filepath.Join(filepath.Dir(path), "checkpoint")})
	if err != nil {
		b.Fatal(err)
	}
	cp.Store(c)
	b.Cleanup(func() { c.Close(); db.Close() })
	return db, c
}

// BenchmarkAppendCheckpointed measures one durable append followed by its
// signed checkpoint (recorded durably, written to the checkpoint file), one
// at a time: the latency a lone write sees. It reports the median and p99.
func BenchmarkAppendCheckpointed(b *testing.B) {
	db, c := checkpointedDB(b, filepath.Join(b.TempDir(), "bg.db"))
	ctx := context.Background()
	var lat []time.Duration
	i := 0
	for b.Loop() {
		start := time.Now()
		mustUpdate(b, db, func(tx *sqlite.Tx) error {
			_, err := tx.Append(newEvent(i))
			return err
		})
		if _, cp, err := c.Sync(ctx); err != nil || cp.Size != int64(i+1) {
			b.Fatalf("checkpoint after entry %d: size %d, %v", i, cp.Size, err)
		}
		lat = append(lat, time.Since(start))
		i++
	}
	reportLatency(b, lat)
}

func reportLatency(b *testing.B, lat []time.Duration) {
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
	var sum time.Duration
	for _, d := range lat {
		sum += d
	}
	b.ReportMetric(float64(len(lat))/sum.Seconds(), "entries/s")
}

// BenchmarkAppendGrouped measures appends from many goroutines at once, each
// a Commit of a change that records one event, as the broker commits them:
// group commit shares one fsync and one signed checkpoint per group. It ends
// with every entry under a signed checkpoint.
func BenchmarkAppendGrouped(b *testing.B) {
	db, c := checkpointedDB(b, filepath.Join(b.TempDir(), "bg.db"))
	var n atomic.Int64
	b.SetParallelism(64)
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := int(n.Add(1))
			if err := db.Commit(context.Background(), new(broker.Change).Record(newEvent(i))); err != nil {
				b.Error(err)
				return
			}
		}
	})
	if _, cp, err := c.Sync(context.Background()); err != nil || cp.Size != n.Load() {
		b.Fatalf("final checkpoint: size %d of %d, %v", cp.Size, n.Load(), err)
	}
	b.ReportMetric(float64(n.Load())/time.Since(start).Seconds(), "entries/s")
}

// BenchmarkLog1M builds a 1,048,576-entry log in SQLite (a checkpoint every
// 16,384 entries) and measures an inclusion proof read from it, its check,
// and a full VerifyLog over the database.
func BenchmarkLog1M(b *testing.B) {
	const size, every = 1 << 20, 1 << 14
	ctx := context.Background()
	db, c := checkpointedDB(b, filepath.Join(b.TempDir(), "bg.db"))
	for done := 0; done < size; done += every {
		mustUpdate(b, db, func(tx *sqlite.Tx) error {
			for j := done; j < done+every; j++ {
				if _, err := tx.Append(newEvent(j)); err != nil {
					return err
				}
			}
			return nil
		})
		if _, _, err := c.Sync(ctx); err != nil {
			b.Fatal(err)
		}
	}
	_, v := testLogKeys(b)
	signed, head, err := c.Sync(ctx)
	if err != nil || head.Size != size {
		b.Fatalf("head %d, %v", head.Size, err)
	}
	b.Run("ProveInclusion", func(b *testing.B) {
		// One proof first, unmeasured: a reader connection's first query
		// parses the schema and prepares the statement (about 0.5 ms), which
		// is the connection's cost, not the proof's. The proofs measured
		// then read tiles at random places, mostly outside the page cache.
		if _, err := audit.ProveInclusion(size-1, size, db); err != nil {
			b.Fatal(err)
		}
		for i := int64(0); b.Loop(); i++ {
			if _, err := audit.ProveInclusion((i*7919)%size, size, db); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("CheckInclusion", func(b *testing.B) {
		const idx = 123456
		p, err := audit.ProveInclusion(idx, size, db)
		if err != nil {
			b.Fatal(err)
		}
		leaf, err := db.AuditEntry(ctx, idx)
		if err != nil {
			b.Fatal(err)
		}
		r := audit.Receipt{Index: idx, Proof: p, Checkpoint: signed}
		for b.Loop() {
			if err := audit.CheckInclusion(p, size, head.Hash, idx, leaf); err != nil {
				b.Fatal(err)
			}
		}
		if err := r.Verify(leaf, v); err != nil {
			b.Fatal(err)
		}
	})
	b.Run("VerifyLog", func(b *testing.B) {
		for b.Loop() {
			err := db.ReadAudit(ctx, func(src audit.Source) error {
				rep, err := audit.VerifyLog(src, audit.VerifyOptions{Verifier: v})
				if err == nil && rep.Size != size {
					b.Fatalf("verified %d entries", rep.Size)
				}
				return err
			})
			if err != nil {
				b.Fatal(err)
			}
		}
	})
}
