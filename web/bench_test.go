package web_test

import (
	"context"
	"testing"

	"github.com/failsmall/breakglass/internal/brokertest"
	"github.com/failsmall/breakglass/web"
)

// BenchmarkFullFlowHTTP: request, two approvals and the grant, over loopback
// HTTP against a real SQLite file, with durable commits. Signing by the
// clients is part of the cost, as it is for real clients.
func BenchmarkFullFlowHTTP(b *testing.B) {
	e := brokertest.New(b, racePolicy(2, 2), "")
	s := web.NewServer(web.Config{Service: e.Svc})
	cl := startBench(b, s)
	ctx := context.Background()
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			stmt, err := cl.Prepare(ctx, web.PrepareJSON{Role: "prod", Requester: "alice", Reason: "benchmark"})
			if err != nil {
				b.Fatal(err)
			}
			r, err := cl.Create(ctx, stmt, brokertest.Sign(b, "alice", stmt))
			if err != nil {
				b.Fatal(err)
			}
			for _, who := range []string{"sre00", "sre01"} {
				res, err := cl.Approve(ctx, r.ID, brokertest.Sign(b, who, []byte(r.Statement)))
				if err != nil {
					b.Fatal(err)
				}
				if who == "sre01" && !res.Granted {
					b.Fatal("no grant")
				}
			}
		}
	})
}
