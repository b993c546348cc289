package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"golang.org/x/crypto/ssh"

	"github.com/failsmall/breakglass/audit"
	"github.com/failsmall/breakglass/broker"
	"github.com/failsmall/breakglass/hwkey"
	"github.com/failsmall/breakglass/server"
	"github.com/failsmall/breakglass/upstream"
	"github.com/failsmall/breakglass/web"
	"github.com/failsmall/breakglass/witness"
)

// serveFile is the --config file.
type serveFile struct {
	// Name identifies the broker in statements and as the JWT issuer.
	Name string `yaml:"name"`
	Addr string `yaml:"addr"`
	Data string `yaml:"data"`
	// Policy was the unsigned policy file of earlier versions; it is
	// refused with what to do instead.
	Policy string `yaml:"policy"`
	// Sources are upstreams serving signed policy bundles: http(s) URLs
	// and file paths (relative to the config file).
	Sources []string `yaml:"sources"`
	// SCIM is a live directory that may only deactivate people.
	SCIM *scimFile `yaml:"scim"`
	// Poll is how often sources are polled; PollTimeout bounds one fetch.
	Poll        time.Duration `yaml:"poll"`
	PollTimeout time.Duration `yaml:"poll_timeout"`
	// SSHCA is the SSH CA private key file, relative to the config file;
	// SSHCAAgent uses the first key of the ssh-agent at SSH_AUTH_SOCK.
	SSHCA      string `yaml:"ssh_ca"`
	SSHCAAgent bool   `yaml:"ssh_ca_agent"`
	// Witnesses cosign the audit log's checkpoints.
	Witnesses []witnessFile `yaml:"witnesses"`
	// AuditPublic serves the audit entries' contents without a session.
	AuditPublic bool `yaml:"audit_public"`
	// RevocationsMaxAge is how long relying parties may use a revocation
	// list from /v1/revocations.
	RevocationsMaxAge time.Duration `yaml:"revocations_max_age"`
	// RateLimit bounds the costly routes anyone can call, per source
	// address (web.Limits).
	RateLimit rateLimitFile `yaml:"rate_limit"`
	// LogLevel is the lowest level logged: debug, info, warn or error.
	LogLevel string `yaml:"log_level"`
}

// rateLimitFile is web.Limits in the config file: zero means the default,
// negative no limit.
type rateLimitFile struct {
	PerAddress       int `yaml:"per_address"`
	Pushes           int `yaml:"pushes"`
	ConcurrentPushes int `yaml:"concurrent_pushes"`
}

// scimFile configures the SCIM 2.0 directory.
type scimFile struct {
	// URL is the SCIM base URL (the one /Users and /Groups hang off).
	URL string `yaml:"url"`
	// TokenFile holds the bearer token, relative to the config file.
	TokenFile string `yaml:"token_file"`
}

// serveFields lists the config file's fields for error messages.
const serveFields = "name, addr, data, sources, scim, poll, poll_timeout, ssh_ca, ssh_ca_agent, witnesses, audit_public, revocations_max_age, rate_limit and log_level"

func runServe(ctx context.Context, c *cli, args []string) error {
	tuneGC()
	fs := c.newFlags("serve")
	config := fs.String("config", "", "YAML config file with name, addr, data and policy")
	data := fs.String("data", "./breakglass-data", "data folder: SQLite file, signing keys (and dev policy and keys)")
	addr := fs.String("addr", "127.0.0.1:8080", "listen address HOST:PORT")
	name := fs.String("name", "", "broker name, in every statement and as the JWT issuer (default from config, or breakglass-dev with --dev)")
	dev := fs.Bool("dev", false, "development mode: generate a policy and keys for alice, bob and carol in the data folder")
	logJSON := fs.Bool("log-json", false, "log JSON lines instead of text")
	logLevel := fs.String("log-level", "info", "the lowest `LEVEL` logged: debug, info, warn or error")
	sshCA := fs.String("ssh-ca", "", "SSH CA private key file for the certificates of roles with ssh (default: DATA/ssh-ca when it exists)")
	sshCAAgent := fs.Bool("ssh-ca-agent", false, "sign certificates with the first key of the ssh-agent at SSH_AUTH_SOCK (a CA key on a hardware token)")
	revMaxAge := fs.Duration("revocations-max-age", broker.DefaultRevocationsMaxAge, "how long relying parties may use a revocation list from /v1/revocations")
	rateLimit := fs.Int("rate-limit", web.DefaultPerAddress, "challenges, sessions and key lookups one source address may ask for per minute, each route apart (-1: no limit)")
	if _, err := parse(fs, args, 0, 0, ""); err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if set["rate-limit"] && *rateLimit == 0 {
		return errUsage("--rate-limit 0 would refuse every challenge and session: give requests per minute, or -1 for no limit")
	}
	cfg := serveFile{Addr: *addr, Data: *data, Name: *name, SSHCA: *sshCA, SSHCAAgent: *sshCAAgent, RevocationsMaxAge: *revMaxAge,
		RateLimit: rateLimitFile{PerAddress: *rateLimit}, LogLevel: *logLevel}
	if *config != "" {
		if err := readServeFile(*config, &cfg, set); err != nil {
			return err
		}
	}
	level, err := parseLogLevel(cfg.LogLevel)
	if err != nil {
		if set["log-level"] || *config == "" {
			return errUsage("--log-level: %v", err)
		}
		return fmt.Errorf("%s: log_level: %w", *config, err)
	}
	opts := &slog.HandlerOptions{Level: level}
	var handler slog.Handler = slog.NewTextHandler(c.stderr, opts)
	if *logJSON {
		handler = slog.NewJSONHandler(c.stderr, opts)
	}
	log := slog.New(handler)
	d := server.Dir(cfg.Data)
	if *dev && cfg.Name == "" {
		cfg.Name = "breakglass-dev"
	}
	if err := checkRevocationsMaxAge(cfg.RevocationsMaxAge); err != nil {
		return err
	}
	if cfg.Name == "" {
		return errUsage("no broker name: pass --name or set name: in --config (or use --dev)")
	}
	ws, err := witnessConfigs(cfg.Witnesses)
	if err != nil {
		return fmt.Errorf("%s: %w", *config, err)
	}
	sc := server.Config{Name: cfg.Name, Addr: cfg.Addr, Data: d, Logger: log, Witnesses: ws, AuditPublic: cfg.AuditPublic,
		SSHCA:             server.SSHCASource{File: cfg.SSHCA, Agent: cfg.SSHCAAgent, AgentSock: c.getenv("SSH_AUTH_SOCK")},
		RevocationsMaxAge: cfg.RevocationsMaxAge, Sources: cfg.Sources, PollEvery: cfg.Poll, PollTimeout: cfg.PollTimeout,
		Limits: web.Limits{PerAddress: cfg.RateLimit.PerAddress, Pushes: cfg.RateLimit.Pushes, ConcurrentPushes: cfg.RateLimit.ConcurrentPushes}}
	if err := checkLimits(sc.Limits); err != nil {
		return err
	}
	if err := cfg.checkUpstreams(*config, &sc); err != nil {
		return err
	}
	if sc.Addr == "" {
		sc.Addr = ":0" // what net.Listen makes of --addr "": any port; an empty Config.Addr would serve nothing
	}
	// Bind first: a busy address must fail before anything is written in
	// the data folder (the dev keys and policy, the audit log's entries).
	ln, err := server.Listen(sc.Addr)
	if err != nil {
		return err
	}
	if *dev {
		wrote, err := server.EnsureDev(d)
		if wrote {
			fmt.Fprintf(c.stdout, "generated a development policy at %s\n", d.Policy())
		}
		if err != nil {
			ln.Close()
			return err
		}
		admin, err := hwkey.LoadKeyFile(filepath.Join(d.DevKeys(), "carol"))
		if err != nil {
			ln.Close()
			return fmt.Errorf("dev admin key: %w", err)
		}
		sc.Local = &server.LocalPolicy{File: d.Policy(), Admins: []ssh.Signer{admin}}
	}
	s, err := server.OpenListener(ctx, sc, ln)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "breakglass broker %q serving on %s (data in %s)\n", cfg.Name, s.URL(), cfg.Data)
	if *dev {
		printDevWalkthrough(c.stdout, s.URL(), d)
	}
	<-ctx.Done()
	fmt.Fprintln(c.stdout, "shutting down")
	return s.Close(context.WithoutCancel(ctx))
}

// checkLimits refuses a rate limit that would shut a route: 0 requests a
// minute is not "no limit" (that is -1), and concurrent pushes must be one
// or more (0 is the default).
func checkLimits(l web.Limits) error {
	if l.ConcurrentPushes < 0 {
		return errUsage("rate_limit.concurrent_pushes %d: want 1 or more (0 or unset for the default %d)", l.ConcurrentPushes, web.DefaultConcurrentPushes)
	}
	return nil
}

// readServeFile reads the config file strictly; flags given on the command
// line win over it.
func readServeFile(path string, cfg *serveFile, set map[string]bool) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read --config: %w", err)
	}
	var f serveFile
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		msg := strings.Replace(err.Error(), " in type main.serveFile", "", 1)
		return fmt.Errorf("%s: %s (the fields are %s)", path, msg, serveFields)
	}
	if f.Policy != "" {
		return fmt.Errorf("%s: policy: is no longer read: the broker runs from signed policy bundles. Sign the policy with `breakglass policy sign`, pin it once with `breakglass init`, and list where new bundles appear under sources: (see the README)", path)
	}
	for i, src := range f.Sources {
		if src != "" && !strings.Contains(src, "://") && !filepath.IsAbs(src) {
			f.Sources[i] = filepath.Join(filepath.Dir(path), src)
		}
	}
	if f.SCIM != nil && f.SCIM.TokenFile != "" && !filepath.IsAbs(f.SCIM.TokenFile) {
		f.SCIM.TokenFile = filepath.Join(filepath.Dir(path), f.SCIM.TokenFile)
	}
	if f.Data != "" && !filepath.IsAbs(f.Data) {
		f.Data = filepath.Join(filepath.Dir(path), f.Data)
	}
	if f.SSHCA != "" && !filepath.IsAbs(f.SSHCA) {
		f.SSHCA = filepath.Join(filepath.Dir(path), f.SSHCA)
	}
	cfg.Witnesses, cfg.Sources, cfg.SCIM, cfg.Poll, cfg.PollTimeout = f.Witnesses, f.Sources, f.SCIM, f.Poll, f.PollTimeout
	cfg.AuditPublic = f.AuditPublic
	perAddress := cfg.RateLimit.PerAddress
	cfg.RateLimit = f.RateLimit
	if set["rate-limit"] || f.RateLimit.PerAddress == 0 {
		cfg.RateLimit.PerAddress = perAddress
	}
	if !set["revocations-max-age"] && f.RevocationsMaxAge != 0 {
		cfg.RevocationsMaxAge = f.RevocationsMaxAge
	}
	if !set["ssh-ca"] && !set["ssh-ca-agent"] {
		cfg.SSHCA, cfg.SSHCAAgent = f.SSHCA, f.SSHCAAgent
	}
	for _, kv := range []struct {
		flag string
		dst  *string
		val  string
	}{{"name", &cfg.Name, f.Name}, {"addr", &cfg.Addr, f.Addr}, {"data", &cfg.Data, f.Data}, {"log-level", &cfg.LogLevel, f.LogLevel}} {
		if !set[kv.flag] && kv.val != "" {
			*kv.dst = kv.val
		}
	}
	return nil
}

// checkUpstreams validates sources, scim and the poll settings into sc.
func (f *serveFile) checkUpstreams(config string, sc *server.Config) error {
	for i, src := range f.Sources {
		if _, err := upstream.NewSource(src); err != nil {
			return fmt.Errorf("%s: sources[%d]: %w", config, i, err)
		}
	}
	if f.Poll != 0 && (f.Poll < time.Second || f.Poll > 24*time.Hour) {
		return fmt.Errorf("%s: poll: %v is outside 1s to 24h", config, f.Poll)
	}
	if f.PollTimeout != 0 && (f.PollTimeout < 100*time.Millisecond || f.PollTimeout > 5*time.Minute) {
		return fmt.Errorf("%s: poll_timeout: %v is outside 100ms to 5m", config, f.PollTimeout)
	}
	if f.SCIM == nil {
		return nil
	}
	if !strings.HasPrefix(f.SCIM.URL, "http://") && !strings.HasPrefix(f.SCIM.URL, "https://") {
		return fmt.Errorf("%s: scim: url %q must be an http:// or https:// URL (the SCIM base, with /Users and /Groups under it)", config, f.SCIM.URL)
	}
	sc.SCIM = &upstream.SCIMSource{URL: f.SCIM.URL}
	if f.SCIM.TokenFile != "" {
		tok, err := os.ReadFile(f.SCIM.TokenFile)
		if err != nil {
			return fmt.Errorf("%s: scim: token_file: %w", config, err)
		}
		sc.SCIM.Token = strings.TrimSpace(string(tok))
		if sc.SCIM.Token == "" || strings.ContainsAny(sc.SCIM.Token, "\r\n") {
			return fmt.Errorf("%s: scim: token_file %s must hold one line: the bearer token", config, f.SCIM.TokenFile)
		}
	}
	return nil
}

// witnessFile is one entry of `witnesses:` in the serve config: the
// witness's submission URL and its cosignature/v1 verifier key (what
// `breakglass witness serve` prints).
type witnessFile struct {
	URL string `yaml:"url"`
	Key string `yaml:"key"`
}

func witnessConfigs(ws []witnessFile) ([]audit.WitnessConfig, error) {
	var out []audit.WitnessConfig
	for i, w := range ws {
		if w.URL == "" {
			return nil, fmt.Errorf("witnesses[%d]: no url", i)
		}
		v, err := audit.NewCosignatureVerifier(w.Key)
		if err != nil {
			return nil, fmt.Errorf("witnesses[%d] (%s): key: %w (want the key `breakglass witness serve` prints)", i, w.URL, err)
		}
		out = append(out, audit.WitnessConfig{URL: w.URL, Verifier: v, Client: &witness.Client{URL: w.URL}})
	}
	return out, nil
}

// parseLogLevel reads a log level by its name; "" is info.
func parseLogLevel(name string) (slog.Level, error) {
	switch strings.ToLower(name) {
	case "debug":
		return slog.LevelDebug, nil
	case "", "info":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("unknown level %q: want debug, info, warn or error", name)
}
