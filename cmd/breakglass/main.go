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
	"slices"
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
	// pre are the client flags given before the command; parse applies
	// them to the command's flag set.
	pre []preFlag
	// onFlags, when set, sees every flag set newFlags makes (the shell
	// completions read the commands' flags this way).
	onFlags func(*flag.FlagSet)
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
	"roles":       {"list the roles you may request, with their quorum: breakglass roles [--json]", runRoles},
	"version":     {"print the version of this binary: breakglass version [--json] (or --version)", runVersion},
	"backup":      {"copy a data folder's database consistently, with its checkpoint: breakglass backup --data DIR --out DIR", runBackup},
	"restore":     {"put a backup back as a stopped broker's database, and audit it: breakglass restore --data DIR BACKUP", runRestore},
}

// subcommands are the subcommands of the commands that have some, for
// help, -h and the shell completions (a test checks this list against the
// flag sets the commands make).
var subcommands = map[string][]string{
	"audit":   {"verify", "tail", "show", "prove", "export"},
	"keys":    {"rotate"},
	"policy":  {"validate", "sign", "push", "show", "diff"},
	"ssh":     {"ca", "krl"},
	"witness": {"serve"},
}

// runsBare are the commands with subcommands that also run without one
// (`breakglass keys`), or print their own help (`breakglass policy -h`).
var runsBare = map[string]bool{"keys": true, "policy": true}

// help and completion read the commands map, so they join it in init.
func init() {
	commands["help"] = command{"show a command's usage: breakglass help COMMAND [SUBCOMMAND]", runHelp}
	commands["completion"] = command{"print a shell completion script: breakglass completion bash|zsh|fish", runCompletion}
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
	pre, rest, version, help, err := parseGlobals(args)
	if err != nil {
		fmt.Fprintf(stderr, "breakglass: %v\n", err)
		return 2
	}
	c.pre = pre
	switch {
	case version:
		rest = append([]string{"version"}, rest...)
	case help && len(rest) > 0:
		rest = append([]string{"help"}, rest...)
	case help || len(rest) == 0:
		c.usage(stdout)
		return 0
	}
	name := rest[0]
	cmd, ok := commands[name]
	if !ok {
		fmt.Fprintf(stderr, "breakglass: unknown command %q%s\n\n", name, didYouMean(name, commandNames()))
		c.usage(stderr)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if len(rest) > 1 && isHelpArg(rest[1]) && len(subcommands[name]) > 0 && !runsBare[name] {
		c.subUsage(stdout, name)
		return 0
	}
	err = cmd.run(ctx, c, rest[1:])
	if err == nil {
		return 0
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	fmt.Fprintf(stderr, "breakglass %s: %v\n", name, err)
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return 1
}

func isHelpArg(a string) bool { return a == "-h" || a == "--help" || a == "-help" || a == "help" }

// commandNames returns the commands' names, sorted.
func commandNames() []string {
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// subUsage prints the usage of a command that needs a subcommand.
func (c *cli) subUsage(w io.Writer, name string) {
	fmt.Fprintf(w, "usage: breakglass %s SUBCOMMAND [flags]\n\n%s\n\nsubcommands: %s\n`breakglass %s SUBCOMMAND -h` for its flags.\n",
		name, commands[name].summary, strings.Join(subcommands[name], ", "), name)
}

// runHelp is `breakglass help [COMMAND [SUBCOMMAND]]`: the usage of the
// command, on stdout.
func runHelp(ctx context.Context, c *cli, args []string) error {
	c.pre = nil // `breakglass --json help list` is the help of list
	fs := c.newFlags("help")
	pos, err := parse(fs, args, 0, 2, "[COMMAND [SUBCOMMAND]]")
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		c.usage(c.stdout)
		return nil
	}
	name := pos[0]
	cmd, ok := commands[name]
	if !ok {
		return errUsage("unknown command %q%s; `breakglass help` lists them", name, didYouMean(name, commandNames()))
	}
	subs := subcommands[name]
	if len(pos) == 2 && !slices.Contains(subs, pos[1]) {
		if len(subs) == 0 {
			return errUsage("%s has no subcommands", name)
		}
		return errUsage("%s has no subcommand %q%s; it has %s", name, pos[1], didYouMean(pos[1], subs), strings.Join(subs, ", "))
	}
	if len(pos) == 1 && len(subs) > 0 && !runsBare[name] {
		c.subUsage(c.stdout, name)
		return nil
	}
	// The command's -h, with the usage it prints on stderr sent to stdout.
	h := *c
	h.stderr = c.stdout
	h.pre = nil
	err = cmd.run(ctx, &h, append(pos[1:], "-h"))
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return nil
	}
	return err
}

func (c *cli) usage(w io.Writer) {
	fmt.Fprintln(w, "breakglass: emergency access broker and hardware-key CLI")
	fmt.Fprintln(w, "\nUsage: breakglass COMMAND [flags]")
	for _, n := range commandNames() {
		fmt.Fprintf(w, "  %-8s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nClient flags (every command but serve), before or after the command: --broker URL (or BREAKGLASS_URL),")
	fmt.Fprintln(w, "--as PRINCIPAL, --key FILE (else the keys in ssh-agent at SSH_AUTH_SOCK), --json.")
	fmt.Fprintln(w, "`breakglass help COMMAND` (or `breakglass COMMAND -h`) for more; `breakglass --version` for the version.")
}

// newFlags returns a flag set that reports errors instead of exiting.
// Its -h prints the command line parse is given, then the flags.
func (c *cli) newFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	info := &flagInfo{c: c}
	flagSets.Store(fs, info)
	fs.Usage = func() { usageLine(fs, info.what) }
	if c.onFlags != nil {
		c.onFlags(fs)
	}
	return fs
}

// parse parses args allowing flags after positional arguments (as in
// `breakglass approve ID --yes`) and checks the positional count.
//
// The client flags given before the command (`breakglass --json list`) are
// set first, so the command's own arguments override them.
func parse(fs *flag.FlagSet, args []string, minPos, maxPos int, what string) ([]string, error) {
	if v, ok := flagSets.LoadAndDelete(fs); ok {
		info := v.(*flagInfo)
		info.what = what
		if err := applyGlobals(fs, info.c); err != nil {
			return nil, err
		}
	}
	fixUsageQuotes(fs)
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
