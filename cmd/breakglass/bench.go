package main

import (
	"context"
	"fmt"

	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/failsmall/breakglass/hwkey"
	"github.com/failsmall/breakglass/web"
)

// runBench drives full flows (request, two approvals, grant) against a
// running broker over HTTP with the development keys, and reports latency
// percentiles and throughput. Every flow's commits are durable, as in
// production.
func runBench(ctx context.Context, c *cli, args []string) error {
	fs := c.newFlags("bench")
	c.addGlobals(fs)
	data := fs.String("data", "./breakglass-data", "data folder of a `serve --dev` broker (for dev-keys)")
	flows := fs.Int("flows", 2000, "complete flows to run")
	conc := fs.Int("concurrency", 8, "flows in flight at once")
	role := fs.String("role", "dev-admin", "role to request")
	if _, err := parse(fs, args, 0, 0, ""); err != nil {
		return err
	}
	if *flows < 1 || *conc < 1 || *conc > 1024 {
		return errUsage("--flows must be at least 1 and --concurrency 1 to 1024")
	}
	keys := map[string]*identity{}
	for _, who := range devPeople {
		s, err := hwkey.LoadKeyFile(filepath.Join(*data, "dev-keys", who))
		if err != nil {
			return fmt.Errorf("bench needs the dev keys of a `serve --dev` broker: %w", err)
		}
		keys[who] = &identity{principal: who, signer: s}
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	if err := benchFlow(ctx, cl, keys, *role); err != nil { // warm up, and fail fast
		return fmt.Errorf("first flow failed: %w", err)
	}
	lat := make([]time.Duration, *flows)
	var next, failed atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	start := time.Now()
	for range *conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1) - 1; i < int64(*flows) && ctx.Err() == nil; i = next.Add(1) - 1 {
				t0 := time.Now()
				if err := benchFlow(ctx, cl, keys, *role); err != nil {
					failed.Add(1)
					once.Do(func() { firstErr = err })
				}
				lat[i] = time.Since(t0)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if firstErr != nil {
		return fmt.Errorf("%d of %d flows failed; first: %w", failed.Load(), *flows, firstErr)
	}
	slices.Sort(lat)
	pct := func(p float64) time.Duration { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
	fmt.Fprintf(c.stdout, "flows: %d at concurrency %d in %s against %s\n", *flows, *conc, elapsed.Round(time.Millisecond), cl.URL())
	fmt.Fprintf(c.stdout, "flow latency (request, 2 approvals, grant): median %s  p90 %s  p99 %s  max %s\n",
		pct(0.5).Round(time.Microsecond), pct(0.9).Round(time.Microsecond), pct(0.99).Round(time.Microsecond), lat[len(lat)-1].Round(time.Microsecond))
	fmt.Fprintf(c.stdout, "throughput: %.0f flows/s (%.0f HTTP calls/s)\n", float64(*flows)/elapsed.Seconds(), 4*float64(*flows)/elapsed.Seconds())
	fmt.Fprintf(c.stdout, "targets (DESIGN.md): p99 under 10ms, at least 1000 flows/s\n")
	return nil
}

// benchFlow runs one full flow: alice requests, bob and carol approve, and
// the last approval must mint the grant.
func benchFlow(ctx context.Context, cl *web.Client, keys map[string]*identity, role string) error {
	stmt, err := cl.Prepare(ctx, web.PrepareJSON{Role: role, Requester: "alice", Reason: "benchmark flow run", Duration: "5m",
		SSHKey: authorizedKey(keys["alice"].signer.PublicKey())})
	if err != nil {
		return err
	}
	sig, err := keys["alice"].sign(stmt)
	if err != nil {
		return err
	}
	req, err := cl.Create(ctx, stmt, sig)
	if err != nil {
		return err
	}
	var res *web.ApproveResultJSON
	for _, who := range []string{"bob", "carol"} {
		sig, err := keys[who].sign([]byte(req.Statement))
		if err != nil {
			return err
		}
		if res, err = cl.Approve(ctx, req.ID, sig); err != nil {
			return err
		}
	}
	if !res.Granted {
		return fmt.Errorf("request %s: quorum not met after two approvals: %v", req.ID, res.Missing)
	}
	return nil
}
