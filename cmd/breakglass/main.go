// Command breakglass is the emergency access broker (`breakglass serve`) and
// its hardware-key CLI. This is the only package that reads flags, the
// environment and configuration files: `serve` builds a server.Config from
// them and package server runs the broker; the client commands call it
// through web.Client and print.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
)

func main() {
	os.Exit(Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv))
}

// cli is one invocation's input and output, so that tests run commands in
// process.
type cli struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
	g              globals
}

// command is one subcommand.
type command struct {
	summary string
	run     func(ctx context.Context, c *cli, args []string) error
}

var commands = map[string]command{
	"serve":   {"run the broker", runServe},
	"init":    {"pin a broker's first signed policy bundle: breakglass init --name N --data DIR BUNDLE", runInit},
	"request": {"ask for a role: breakglass request --role R --reason TEXT [--incident ID] [--duration 30m]", runRequest},
	"list":    {"list requests: breakglass list [--state S] [--json]", runList},
	"show":    {"show one request: breakglass show ID [--json | --statement]", runShow},
	"approve": {"sign a request's approval statement: breakglass approve ID [--yes] | approve --offline --statement FILE [--out FILE]", runApprove},
	"deny":    {"deny a request: breakglass deny ID --reason TEXT", runDeny},
	"cancel":  {"cancel your pending request: breakglass cancel ID", runCancel},
	"token":   {"fetch your granted credentials: breakglass token ID [--out FILE] [--ssh [--pubkey KEY.pub]] [--evidence FILE]", runToken},
	"revoke":  {"revoke a grant: breakglass revoke ID", runRevoke},
	"submit":  {"relay an offline approval block to the broker (needs no key): breakglass submit [FILE|-]", runSubmit},
	"verify":  {"verify a token offline: breakglass verify [--jwks FILE [--revocations FILE] | --broker URL] [--strict --evidence FILE --trust BUNDLE --receipt FILE --log-key FILE] --aud A TOKEN|-", runVerify},
	"keys":    {"list your agent's keys and their principals; `keys rotate` rotates the broker's signing key", runKeys},
	"status":  {"show the broker's status: breakglass status [--json]", runStatus},
	"ssh":     {"what sshd needs: breakglass ssh ca [--json] (CA key, sshd_config lines) | ssh krl --out FILE", runSSH},
	"audit":   {"read and verify the audit log: breakglass audit verify|tail|show|prove|export [--db FILE | --broker URL]", runAudit},
	"witness": {"run a witness that cosigns audit checkpoints: breakglass witness serve --name N --log VKEY", runWitness},
	"bench":   {"load a running broker with full flows: breakglass bench --data DIR [--flows N] [--concurrency C] [--fetch]", runBench},

	"revocations": {"fetch and cache the signed list of revoked grants: breakglass revocations --out FILE", runRevocations},
	"policy":      {"review, sign and push signed policy bundles: breakglass policy validate|sign|push|show|diff", runPolicy},
	"backup":      {"copy a data folder's database consistently, with its checkpoint: breakglass backup --data DIR --out DIR", runBackup},
	"restore":     {"put a backup back as a stopped broker's database, and audit it: breakglass restore --data DIR BACKUP", runRestore},
}

// exitError carries a specific exit code.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }

// Main runs the command line args and returns the exit code.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	c := &cli{stdin: stdin, stdout: stdout, stderr: stderr, getenv: getenv}
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		c.usage(stdout)
		return 0
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "breakglass: unknown command %q\n\n", args[0])
		c.usage(stderr)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := cmd.run(ctx, c, args[1:])
	if err == nil {
		return 0
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	fmt.Fprintf(stderr, "breakglass %s: %v\n", args[0], err)
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return 1
}

func (c *cli) usage(w io.Writer) {
	fmt.Fprintln(w, "breakglass: emergency access broker and hardware-key CLI")
	fmt.Fprintln(w, "\nUsage: breakglass COMMAND [flags]")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-8s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nClient flags (every command but serve): --broker URL (or BREAKGLASS_URL), --as PRINCIPAL,")
	fmt.Fprintln(w, "--key FILE (else the keys in ssh-agent at SSH_AUTH_SOCK), --json. `breakglass COMMAND -h` for more.")
}

// newFlags returns a flag set that reports errors instead of exiting.
func (c *cli) newFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	return fs
}

// parse parses args allowing flags after positional arguments (as in
// `breakglass approve ID --yes`) and checks the positional count.
func parse(fs *flag.FlagSet, args []string, minPos, maxPos int, what string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, &exitError{2, err} // a usage mistake, like a missing argument
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		if args[0] == "--" {
			pos = append(pos, args[1:]...)
			break
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	if len(pos) < minPos || len(pos) > maxPos {
		if what == "" {
			return nil, &exitError{2, fmt.Errorf("takes no arguments, got %q", strings.Join(pos, " "))}
		}
		return nil, &exitError{2, fmt.Errorf("usage: breakglass %s %s", fs.Name(), what)}
	}
	return pos, nil
}
