package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/failsmall/breakglass/hwkey"
	"github.com/failsmall/breakglass/web"
)

// HTTP calls of one flow: prepare, create and two approvals; a fetch adds
// a challenge, a session and the credentials.
const benchCalls, benchFetchCalls = 4, 3

// runBench drives full flows (request, two approvals, grant) against a
// running broker over HTTP with the development keys, and reports latency
// percentiles and throughput. Every flow's commits are durable, as in
// production. With --fetch each flow also fetches the requester's
// credentials as `breakglass token` does, timed on its own and with the
// rest of the flow.
func runBench(ctx context.Context, c *cli, args []string) error {
	tuneGC()
	fs := c.newFlags("bench")
	c.addGlobals(fs)
	data := fs.String("data", "./breakglass-data", "data folder of a `serve --dev` broker (for dev-keys)")
	flows := fs.Int("flows", 2000, "complete flows to run")
	conc := fs.Int("concurrency", 8, "flows in flight at once")
	role := fs.String("role", "dev-admin", "role to request")
	fetch := fs.Bool("fetch", false, "after the grant, fetch the credentials as `breakglass token` does (alice logs in, then reads the JWT and SSH certificate with their audit receipt); reports the fetch's latency and the whole flow's beside the grant's; each fetch opens a session, so serve the broker with --rate-limit -1")
	if _, err := parse(fs, args, 0, 0, ""); err != nil {
		return err
	}
	if *flows < 1 || *conc < 1 || *conc > 1024 {
		return errUsage("--flows must be at least 1 and --concurrency 1 to 1024")
	}
	keys, err := loadBenchKeys(*data)
	if err != nil {
		return err
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	b := &bencher{cl: cl, keys: keys, role: *role, fetch: *fetch}
	if _, err := b.flow(ctx); err != nil { // warm up, and fail fast
		return fmt.Errorf("first flow failed: %w", err)
	}
	times, elapsed, err := b.run(ctx, *flows, *conc)
	if err != nil {
		return err
	}
	b.report(c.stdout, times, *conc, elapsed)
	return nil
}

// loadBenchKeys reads the dev keys of a `serve --dev` data folder.
func loadBenchKeys(data string) (map[string]*identity, error) {
	keys := map[string]*identity{}
	for _, who := range devPeople {
		s, err := hwkey.LoadKeyFile(filepath.Join(data, "dev-keys", who))
		if err != nil {
			return nil, fmt.Errorf("bench needs the dev keys of a `serve --dev` broker: %w", err)
		}
		keys[who] = &identity{principal: who, signer: s}
	}
	return keys, nil
}

// bencher runs benchmark flows against one broker.
type bencher struct {
	cl    *web.Client
	keys  map[string]*identity
	role  string
	fetch bool // also fetch the credentials in each flow
}

// flowTimes is how long one flow's parts took: up to the grant, and the
// credentials fetch after it (zero without --fetch).
type flowTimes struct{ grant, fetch time.Duration }

// flow runs one flow: the grant, then the fetch when asked.
func (b *bencher) flow(ctx context.Context) (flowTimes, error) {
	var t flowTimes
	t0 := time.Now()
	id, err := benchGrant(ctx, b.cl, b.keys, b.role)
	t.grant = time.Since(t0)
	if err != nil || !b.fetch {
		return t, err
	}
	t1 := time.Now()
	err = benchFetch(ctx, b.cl, b.keys["alice"], id)
	t.fetch = time.Since(t1)
	return t, err
}

// run runs flows flows, conc at a time, and returns each one's times and
// the time they all took; it fails if any flow failed.
func (b *bencher) run(ctx context.Context, flows, conc int) ([]flowTimes, time.Duration, error) {
	times := make([]flowTimes, flows)
	var next, failed atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	start := time.Now()
	for range conc {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < int64(flows) && ctx.Err() == nil; i = next.Add(1) - 1 {
				t, err := b.flow(ctx)
				if err != nil {
					failed.Add(1)
					once.Do(func() { firstErr = err })
				}
				times[i] = t
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if firstErr != nil {
		return nil, 0, fmt.Errorf("%d of %d flows failed; first: %w", failed.Load(), flows, firstErr)
	}
	return times, elapsed, nil
}

// report prints the latency percentiles and the throughput. Without
// --fetch its lines are those scripts and BENCHMARKS.md already read.
func (b *bencher) report(w io.Writer, times []flowTimes, conc int, elapsed time.Duration) {
	n := len(times)
	calls, fetching := benchCalls, ""
	if b.fetch {
		calls, fetching = benchCalls+benchFetchCalls, ", each fetching its credentials"
	}
	fmt.Fprintf(w, "flows: %d at concurrency %d in %s against %s%s\n", n, conc, elapsed.Round(time.Millisecond), b.cl.URL(), fetching)
	printLatency(w, "flow latency (request, 2 approvals, grant)", times, func(t flowTimes) time.Duration { return t.grant })
	if b.fetch {
		printLatency(w, "fetch latency (login, credentials with receipt)", times, func(t flowTimes) time.Duration { return t.fetch })
		printLatency(w, "whole flow latency (grant and fetch)", times, func(t flowTimes) time.Duration { return t.grant + t.fetch })
	}
	fmt.Fprintf(w, "throughput: %.0f flows/s (%.0f HTTP calls/s)\n", float64(n)/elapsed.Seconds(), float64(calls*n)/elapsed.Seconds())
	fmt.Fprintf(w, "targets (DESIGN.md): p99 under 10ms, at least 1000 flows/s\n")
}

// printLatency prints the median, p90, p99 and max of part of each flow.
func printLatency(w io.Writer, label string, times []flowTimes, part func(flowTimes) time.Duration) {
	lat := make([]time.Duration, len(times))
	for i, t := range times {
		lat[i] = part(t)
	}
	slices.Sort(lat)
	pct := func(p float64) time.Duration {
		return lat[min(len(lat)-1, int(p*float64(len(lat))))].Round(time.Microsecond)
	}
	fmt.Fprintf(w, "%s: median %s  p90 %s  p99 %s  max %s\n", label, pct(0.5), pct(0.9), pct(0.99), lat[len(lat)-1].Round(time.Microsecond))
}

// benchGrant runs one flow up to the grant: alice requests, bob and carol
// approve, and the last approval must mint the grant. It returns the
// request's id.
func benchGrant(ctx context.Context, cl *web.Client, keys map[string]*identity, role string) (string, error) {
	stmt, err := cl.Prepare(ctx, web.PrepareJSON{Role: role, Requester: "alice", Reason: "benchmark flow run", Duration: "5m",
		SSHKey: authorizedKey(keys["alice"].signer.PublicKey())})
	if err != nil {
		return "", err
	}
	sig, err := keys["alice"].sign(stmt)
	if err != nil {
		return "", err
	}
	req, err := cl.Create(ctx, stmt, sig)
	if err != nil {
		return "", err
	}
	var res *web.ApproveResultJSON
	for _, who := range []string{"bob", "carol"} {
		sig, err := keys[who].sign([]byte(req.Statement))
		if err != nil {
			return "", err
		}
		if res, err = cl.Approve(ctx, req.ID, sig); err != nil {
			return "", err
		}
	}
	if !res.Granted {
		return "", fmt.Errorf("request %s: quorum not met after two approvals: %v", req.ID, res.Missing)
	}
	return req.ID, nil
}

// benchFetch fetches the credentials of request id as `breakglass token`
// does: the requester opens a session of its own (a signed challenge) and
// reads the credentials with their audit receipt, which must carry a JWT
// and a receipt.
func benchFetch(ctx context.Context, cl *web.Client, requester *identity, id string) error {
	s := *cl // the session token is the requester's alone
	if err := s.Login(ctx, requester.principal, requester.sign); err != nil {
		return fmt.Errorf("log in to fetch the credentials of request %s: %w", id, err)
	}
	cr, err := s.CredentialsWithReceipt(ctx, id)
	if err != nil {
		return fmt.Errorf("fetch the credentials of request %s: %w", id, err)
	}
	if cr.Token == "" || cr.Receipt == "" {
		return fmt.Errorf("the credentials of request %s came without a JWT or an audit receipt", id)
	}
	return nil
}
