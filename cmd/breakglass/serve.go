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

	"github.com/failsmall/breakglass/broker"
)

// serveFile is the --config file.
type serveFile struct {
	// Name identifies the broker in statements and as the JWT issuer.
	Name string `yaml:"name"`
	Addr string `yaml:"addr"`
	Data string `yaml:"data"`
	// Policy is the policy file's path, relative to the config file.
	Policy string `yaml:"policy"`
	// SSHCA is the SSH CA private key file, relative to the config file;
	// SSHCAAgent uses the first key of the ssh-agent at SSH_AUTH_SOCK.
	SSHCA      string `yaml:"ssh_ca"`
	SSHCAAgent bool   `yaml:"ssh_ca_agent"`
	// Witnesses cosign the audit log's checkpoints.
	Witnesses []witnessFile `yaml:"witnesses"`
	// RevocationsMaxAge is how long relying parties may use a revocation
	// list from /v1/revocations.
	RevocationsMaxAge time.Duration `yaml:"revocations_max_age"`
}

func runServe(ctx context.Context, c *cli, args []string) error {
	fs := c.newFlags("serve")
	config := fs.String("config", "", "YAML config file with name, addr, data and policy")
	data := fs.String("data", "./breakglass-data", "data folder: SQLite file, signing keys (and dev policy and keys)")
	addr := fs.String("addr", "127.0.0.1:8080", "listen address HOST:PORT")
	name := fs.String("name", "", "broker name, in every statement and as the JWT issuer (default from config, or breakglass-dev with --dev)")
	dev := fs.Bool("dev", false, "development mode: generate a policy and keys for alice, bob and carol in the data folder")
	logJSON := fs.Bool("log-json", false, "log JSON lines instead of text")
	sshCA := fs.String("ssh-ca", "", "SSH CA private key file for the certificates of roles with ssh (default: DATA/ssh-ca when it exists)")
	sshCAAgent := fs.Bool("ssh-ca-agent", false, "sign certificates with the first key of the ssh-agent at SSH_AUTH_SOCK (a CA key on a hardware token)")
	revMaxAge := fs.Duration("revocations-max-age", broker.DefaultRevocationsMaxAge, "how long relying parties may use a revocation list from /v1/revocations")
	if _, err := parse(fs, args, 0, 0, ""); err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	cfg := serveFile{Addr: *addr, Data: *data, Name: *name, SSHCA: *sshCA, SSHCAAgent: *sshCAAgent, RevocationsMaxAge: *revMaxAge}
	if *config != "" {
		if err := readServeFile(*config, &cfg, set); err != nil {
			return err
		}
	}
	var handler slog.Handler = slog.NewTextHandler(c.stderr, nil)
	if *logJSON {
		handler = slog.NewJSONHandler(c.stderr, nil)
	}
	log := slog.New(handler)
	d := dataDir(cfg.Data)
	if *dev {
		if cfg.Name == "" {
			cfg.Name = "breakglass-dev"
		}
		if err := ensureDev(d, c.stdout); err != nil {
			return err
		}
		if cfg.Policy == "" {
			cfg.Policy = d.policy()
		}
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
	a, err := openApp(ctx, appConfig{Name: cfg.Name, Data: d, PolicyFile: cfg.Policy, Logger: log, Witnesses: ws,
		SSHCA: sshCASource{File: cfg.SSHCA, Agent: cfg.SSHCAAgent, AgentSock: c.getenv("SSH_AUTH_SOCK")}, RevocationsMaxAge: cfg.RevocationsMaxAge})
	if err != nil {
		return err
	}
	if err := a.listen(cfg.Addr); err != nil {
		a.Close()
		return err
	}
	fmt.Fprintf(c.stdout, "breakglass broker %q serving on %s (data in %s)\n", cfg.Name, a.URL(), cfg.Data)
	if *dev {
		printDevWalkthrough(c.stdout, a.URL(), d)
	}
	<-ctx.Done()
	fmt.Fprintln(c.stdout, "shutting down")
	return a.Close()
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
		return fmt.Errorf("%s: %s (the fields are name, addr, data, policy, ssh_ca, ssh_ca_agent, witnesses and revocations_max_age)", path, msg)
	}
	if f.Policy != "" && !filepath.IsAbs(f.Policy) {
		f.Policy = filepath.Join(filepath.Dir(path), f.Policy)
	}
	if f.Data != "" && !filepath.IsAbs(f.Data) {
		f.Data = filepath.Join(filepath.Dir(path), f.Data)
	}
	if f.SSHCA != "" && !filepath.IsAbs(f.SSHCA) {
		f.SSHCA = filepath.Join(filepath.Dir(path), f.SSHCA)
	}
	cfg.Policy, cfg.Witnesses = f.Policy, f.Witnesses
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
	}{{"name", &cfg.Name, f.Name}, {"addr", &cfg.Addr, f.Addr}, {"data", &cfg.Data, f.Data}} {
		if !set[kv.flag] && kv.val != "" {
			*kv.dst = kv.val
		}
	}
	return nil
}
