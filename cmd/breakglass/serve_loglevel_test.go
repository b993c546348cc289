package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/failsmall/breakglass/internal/systest"
)

// TestServeLogLevel (issue 10, point 17): --log-level and the config's
// log_level set the lowest level logged. At debug the broker logs where it
// serves and what it opened; at the default, info, it does not, and logs
// its start; at warn it logs neither; the flag wins over the file.
func TestServeLogLevel(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "warn.yaml")
	if err := os.WriteFile(cfg, []byte("log_level: warn\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		args  []string
		debug bool // "serving" at DEBUG
		info  bool // any INFO line
	}{
		{"default", nil, false, true},
		{"flag debug", []string{"--log-level", "debug"}, true, true},
		{"config warn", []string{"--config", cfg}, false, false},
		{"flag over config", []string{"--config", cfg, "--log-level", "DEBUG"}, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			port := systest.FreePort(t)
			args := append([]string{"serve", "--dev", "--data", filepath.Join(t.TempDir(), "data"), "--addr", fmt.Sprintf("127.0.0.1:%d", port)}, tc.args...)
			c := startChild(t, args...)
			waitHTTP(t, fmt.Sprintf("http://127.0.0.1:%d/healthz", port), c)
			c.cmd.Process.Signal(os.Interrupt)
			select {
			case <-c.done:
			case <-time.After(10 * time.Second):
				t.Fatal("serve did not stop on SIGINT")
			}
			out := c.output()
			if got := strings.Contains(out, "level=DEBUG msg=serving addr=127.0.0.1:"); got != tc.debug {
				t.Errorf("serve %v logged the DEBUG serving line: %v, want %v\n%s", tc.args, got, tc.debug, out)
			}
			if got := strings.Contains(out, "level=INFO "); got != tc.info {
				t.Errorf("serve %v logged INFO lines: %v, want %v\n%s", tc.args, got, tc.info, out)
			}
		})
	}
}
