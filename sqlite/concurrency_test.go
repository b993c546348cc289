package sqlite_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/failsmall/breakglass/audit"
	"github.com/failsmall/breakglass/broker"
	"github.com/failsmall/breakglass/sqlite"
)

// increment reads the counter row and writes it back plus one, appending an
// audit event, in one Update; it returns the value it read. Without the
// write lock held from BEGIN, two callers could read the same value.
func increment(db *sqlite.DB, worker, i int) (uint32, error) {
	var seen uint32
	err := db.Update(context.Background(), func(tx *sqlite.Tx) error {
		c, _, err := tx.KeyCounter("counter")
		if err != nil {
			return err
		}
		seen = c
		if err := tx.SetKeyCounter("counter", c+1, t0); err != nil {
			return err
		}
		e := newEvent(int(c))
		e.Actor = fmt.Sprintf("worker-%d", worker)
		e.Subjects = []string{fmt.Sprintf("step-%d", i)}
		_, err = tx.Append(e)
		return err
	})
	return seen, err
}

// TestConcurrentUpdates runs 50 goroutines that each read-and-increment a
// counter and race a compare-and-swap on one request: every increment is
// kept once, and exactly one CAS and one grant win.
func TestConcurrentUpdates(t *testing.T) {
	db := newDB(t)
	insertRequests(t, db, newRequest("r1", t0))
	const workers = 50
	seen := make([]uint32, workers)
	casErr := make([]error, workers)
	grantErr := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			var err error
			if seen[w], err = increment(db, w, 0); err != nil {
				t.Errorf("worker %d: increment: %v", w, err)
			}
			casErr[w] = db.Update(t.Context(), func(tx *sqlite.Tx) error {
				r, err := tx.Request("r1")
				if err != nil {
					return err
				}
				if r.State != broker.StatePending {
					return fmt.Errorf("%w: state is %s", broker.ErrConflict, r.State)
				}
				return tx.SetRequestState("r1", broker.StatePending, broker.StateApproved, t0)
			})
			grantErr[w] = db.Update(t.Context(), func(tx *sqlite.Tx) error {
				return tx.InsertGrant(newGrant(fmt.Sprintf("g%d", w), "r1", t0))
			})
		})
	}
	wg.Wait()
	slices.Sort(seen)
	for i, v := range seen {
		if v != uint32(i) {
			t.Fatalf("values read by the workers, sorted: got %v, want 0..%d each once", seen, workers-1)
		}
	}
	for what, errs := range map[string][]error{"SetRequestState": casErr, "InsertGrant": grantErr} {
		wins := 0
		for w, err := range errs {
			switch {
			case err == nil:
				wins++
			case !errors.Is(err, broker.ErrConflict):
				t.Errorf("worker %d: %s: got %v, want nil or ErrConflict", w, what, err)
			}
		}
		if wins != 1 {
			t.Errorf("%s: %d winners, want exactly 1", what, wins)
		}
	}
	checkLog(t, db, workers)
}

// checkLog checks the counter and the audit log after n increments: the
// counter is n, the log has n leaves, and its tree hash matches the one
// recomputed from the leaves themselves.
func checkLog(t *testing.T, db *sqlite.DB, n int) {
	t.Helper()
	mustView(t, db, func(tx *sqlite.Tx) error {
		c, _, err := tx.KeyCounter("counter")
		if c != uint32(n) {
			t.Errorf("counter: got %d, want %d", c, n)
		}
		return err
	})
	size, err := db.AuditSize(t.Context())
	if err != nil || size != int64(n) {
		t.Fatalf("AuditSize: got %d, %v; want %d", size, err, n)
	}
	var mem memLog
	err = db.AuditEntries(t.Context(), 0, size, func(i int64, leaf []byte) error {
		mem.append(t, i, leaf)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := tlog.TreeHash(size, db)
	want, _ := tlog.TreeHash(size, &mem)
	if err != nil || got != want {
		t.Errorf("TreeHash(%d): got %v, %v; want %v", size, got, err, want)
	}
}

const helperEnv = "BREAKGLASS_SQLITE_HELPER"

// TestTwoProcesses starts two copies of this test binary that open the same
// new database file at once (racing the migrations) and then race
// read-and-increment Updates: no update is lost and the log is whole.
func TestTwoProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two processes")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "bg.db")
	const each = 100
	var cmds []*exec.Cmd
	for w := range 2 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.v")
		cmd.Env = append(os.Environ(), helperEnv+"="+path, fmt.Sprintf("%s_WORKER=%d", helperEnv, w),
			fmt.Sprintf("%s_COUNT=%d", helperEnv, each), helperEnv+"_GO="+filepath.Join(dir, "go"))
		out := &bytes.Buffer{} // one writer for both: exec serialises its writes
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("helper %d output:\n%s", w, out.String())
			}
		})
		cmds = append(cmds, cmd)
	}
	// Both helpers say they are ready, then wait for "go", so that they open
	// the database together.
	for w := range cmds {
		waitFile(t, filepath.Join(dir, fmt.Sprintf("ready-%d", w)))
	}
	if err := os.WriteFile(filepath.Join(dir, "go"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for w, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Errorf("helper %d: %v", w, err)
		}
	}
	db := mustOpen(t, path)
	checkLog(t, db, 2*each)
	// Each helper's steps appear in its own order.
	last := map[string]int{}
	switches, prevActor := 0, "" // leaves whose writer differs from the previous leaf's
	err := db.AuditEntries(t.Context(), 0, 2*each, func(i int64, leaf []byte) error {
		e, err := audit.ParseEntry(leaf)
		if err != nil || len(e.Subjects) != 1 {
			return fmt.Errorf("leaf %d: %v, subjects %v", i, err, e.Subjects)
		}
		actor := e.Actor
		step, err := strconv.Atoi(strings.TrimPrefix(e.Subjects[0], "step-"))
		if err != nil {
			return fmt.Errorf("leaf %d: %w", i, err)
		}
		if prev, ok := last[actor]; ok && step != prev+1 {
			t.Errorf("leaf %d: %s step %d after step %d", i, actor, step, prev)
		}
		if actor != prevActor && i > 0 {
			switches++
		}
		last[actor], prevActor = step, actor
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d leaves, the writer changed %d times", 2*each, switches)
	if len(last) != 2 || switches < 2 {
		t.Errorf("writers in the log: got %v, changing %d times; want two, interleaved", last, switches)
	}
}

// TestHelperProcess is a child of TestTwoProcesses; it does nothing unless
// run by it.
func TestHelperProcess(t *testing.T) {
	path := os.Getenv(helperEnv)
	if path == "" {
		t.Skip("helper process for TestTwoProcesses")
	}
	worker, _ := strconv.Atoi(os.Getenv(helperEnv + "_WORKER"))
	count, _ := strconv.Atoi(os.Getenv(helperEnv + "_COUNT"))
	goFile := os.Getenv(helperEnv + "_GO")
	ready := filepath.Join(filepath.Dir(goFile), fmt.Sprintf("ready-%d", worker))
	if err := os.WriteFile(ready, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	waitFile(t, goFile)
	db, err := sqlite.Open(path, sqlite.Options{BusyTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// Wait until both have opened, so the increments start together too.
	dir := filepath.Dir(goFile)
	if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("opened-%d", worker)), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	waitFile(t, filepath.Join(dir, "opened-0"))
	waitFile(t, filepath.Join(dir, "opened-1"))
	for i := range count {
		if i == count/2 {
			// Halfway, wait for the other process to get halfway too, so
			// that the two runs are bound to interleave.
			waitSize(t, db, int64(count/2*2))
		}
		if _, err := increment(db, worker, i); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		// A pause between transactions, as a real process has, lets the
		// other process's busy handler find the lock free; without it one
		// process tends to run all its steps before the other starts.
		time.Sleep(time.Millisecond)
	}
}

// waitFile waits up to 20s for path to exist.
func waitFile(t *testing.T, path string) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(time.Millisecond) {
		if _, err := os.Stat(path); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not appear", path)
		}
	}
}

// waitSize waits up to 20s for the audit log to reach n leaves.
func waitSize(t *testing.T, db *sqlite.DB, n int64) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(time.Millisecond) {
		size, err := db.AuditSize(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if size >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("audit log stuck at %d leaves, want %d", size, n)
		}
	}
}
