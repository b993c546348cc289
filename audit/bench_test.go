package audit

import (
	"sync"
	"testing"

	"golang.org/x/mod/sumdb/tlog"
)

const benchSize = 1 << 20 // about 1M entries

// bench1MCache holds a 1M-entry log built once per test binary (about
// 64 MB of stored hashes plus the entries), shared by the 1M benchmarks.
var bench1MCache struct {
	once sync.Once
	l    *benchLog
}

func bench1M(b *testing.B) *benchLog {
	b.Helper()
	bench1MCache.once.Do(func() {
		s, _ := testKeys(b, testLogSeed)
		m := &memLog{entries: make([][]byte, 0, benchSize), hashes: make([]tlog.Hash, 0, 2*benchSize)}
		m.grow(b, s, 0, benchSize, benchSize/2, benchSize)
		bench1MCache.l = &benchLog{m: m, root: mustTreeHash(b, benchSize, m)}
	})
	if bench1MCache.l == nil {
		b.Fatal("building the 1M-entry log failed")
	}
	return bench1MCache.l
}

type benchLog struct {
	m    *memLog
	root tlog.Hash
}

func BenchmarkStoredHashes(b *testing.B) {
	m := &memLog{}
	leaf := mustMarshal(b, testEntry(1))
	b.SetBytes(int64(len(leaf)))
	b.ReportAllocs()
	for n := int64(0); b.Loop(); n++ {
		hs, err := StoredHashes(n, leaf, m)
		if err != nil {
			b.Fatal(err)
		}
		m.hashes = append(m.hashes, hs...)
	}
}

func BenchmarkProveInclusion(b *testing.B) {
	l := bench1M(b)
	b.ReportAllocs()
	for i := int64(0); b.Loop(); i++ {
		if _, err := ProveInclusion(i*7919%benchSize, benchSize, l.m); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCheckInclusion(b *testing.B) {
	l := bench1M(b)
	const n = 1024
	proofs := make([]tlog.RecordProof, n)
	for i := range proofs {
		p, err := ProveInclusion(int64(i)*7919%benchSize, benchSize, l.m)
		if err != nil {
			b.Fatal(err)
		}
		proofs[i] = p
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		idx := int64(i%n) * 7919 % benchSize
		if err := CheckInclusion(proofs[i%n], benchSize, l.root, idx, l.m.entries[idx]); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyLog1M(b *testing.B) {
	l := bench1M(b)
	_, v := testKeys(b, testLogSeed)
	b.ReportAllocs()
	for b.Loop() {
		rep, err := VerifyLog(l.m, VerifyOptions{Verifier: v})
		if err != nil {
			b.Fatal(err)
		}
		if rep.Size != benchSize || rep.RootHash != l.root {
			b.Fatalf("report %+v", rep)
		}
	}
}
