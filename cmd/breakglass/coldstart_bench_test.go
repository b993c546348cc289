package main

import (
	"context"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/failsmall/breakglass/internal/systest"
	"github.com/failsmall/breakglass/server"
	"github.com/failsmall/breakglass/web"
)

// coldStartHistory is how many granted requests the benchmark's data
// folder holds, so the store and the audit log are not empty.
const coldStartHistory = 200

// BenchmarkColdStart measures DESIGN.md's "cold start from cache with every
// upstream unreachable": from exec of `breakglass serve` (a binary built
// once) until GET /readyz answers 200, on a data folder with a pinned
// bundle and coldStartHistory grants, whose config lists a bundle source
// on a closed port, one that accepts and never answers, and a SCIM
// directory on a closed port. Each iteration stops the broker with SIGTERM
// and waits for it. It reports the mean as ms/op, and p50-ms and max-ms.
func BenchmarkColdStart(b *testing.B) {
	dir := b.TempDir()
	bin := filepath.Join(dir, "breakglass")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	hang := startSilentListener(b)
	config := writeAuditBroker(b, dir, fmt.Sprintf(`sources:
  - http://127.0.0.1:%d/policy.bundle
  - http://%s/policy.bundle
scim: {url: "http://127.0.0.1:%d/scim/v2"}
poll: 1s
poll_timeout: 1s
`, systest.FreePort(b), hang.addr, systest.FreePort(b)))
	writeHistory(b, dir, coldStartHistory)

	var took []time.Duration
	for b.Loop() {
		took = append(took, coldStart(b, bin, config))
	}
	slices.Sort(took)
	var sum time.Duration
	for _, d := range took {
		sum += d
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(0, "ns/op") // stopping is not part of the cold start
	b.ReportMetric(ms(sum)/float64(len(took)), "ms/op")
	b.ReportMetric(ms(took[len(took)/2]), "p50-ms")
	b.ReportMetric(ms(took[len(took)-1]), "max-ms")
	if hang.accepted.Load() == 0 {
		b.Errorf("the never-answering source saw no connection: the brokers did not poll while starting")
	}
}

// writeHistory runs n granted flows through a broker on dir's data folder.
func writeHistory(b *testing.B, dir string, n int) {
	b.Helper()
	ctx := context.Background()
	a, err := server.Open(ctx, server.Config{Name: "bg.audit.test", Addr: "127.0.0.1:0", Data: server.Dir(filepath.Join(dir, "data"))})
	if err != nil {
		b.Fatal(err)
	}
	cl, err := web.NewClient(a.URL(), nil)
	if err != nil {
		a.Close(ctx)
		b.Fatal(err)
	}
	for i := range n {
		if res, err := runFlow(ctx, cl); err != nil || res.grant == "" {
			a.Close(ctx)
			b.Fatalf("flow %d: grant %q, %v", i, res.grant, err)
		}
	}
	if err := a.Close(ctx); err != nil {
		b.Fatal(err)
	}
}

// coldStart starts `bin serve --config config` and returns how long it took
// to answer /readyz with 200; then it stops it.
func coldStart(b *testing.B, bin, config string) time.Duration {
	b.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", systest.FreePort(b))
	cmd := exec.Command(bin, "serve", "--config", config, "--addr", addr)
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	hc := &http.Client{Timeout: time.Second}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	var took time.Duration
	for {
		resp, err := hc.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				took = time.Since(start)
				break
			}
		}
		if time.Since(start) > 30*time.Second {
			cmd.Process.Kill()
			cmd.Wait()
			b.Fatalf("not ready within 30s (last: %v)\n%s", err, out.String())
		}
		time.Sleep(time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		b.Fatalf("broker exited with %v after SIGTERM\n%s", err, out.String())
	}
	return took
}
