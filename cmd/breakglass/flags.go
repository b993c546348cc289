package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"
	"sync"
)

// The client flags may come before the command, as kubectl and gh accept
// them (`breakglass --broker URL status`, `breakglass --json list`):
// parseGlobals reads them and parse hands them to the command's own flag
// set, where flags after the command name override them.

// globalFlagNames are the flags accepted before the command: the client
// flags of addGlobals, then --version and --help.
var globalFlagNames = []string{"broker", "as", "key", "json"}

// preFlag is a flag given before the command.
type preFlag struct{ name, value string }

// parseGlobals splits args into the flags before the command and the rest
// (the command and its arguments). version and help say that --version or
// -h/--help came before the command.
func parseGlobals(args []string) (pre []preFlag, rest []string, version, help bool, err error) {
	fs := flag.NewFlagSet("breakglass", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	for _, n := range globalFlagNames[:3] {
		fs.String(n, "", "")
	}
	fs.Bool("json", false, "")
	fs.BoolVar(&version, "version", false, "")
	fs.BoolVar(&help, "h", false, "")
	fs.BoolVar(&help, "help", false, "")
	if err := fs.Parse(args); err != nil && !errors.Is(err, flag.ErrHelp) {
		msg := err.Error()
		if bad, ok := strings.CutPrefix(msg, "flag provided but not defined: "); ok {
			msg = "unknown flag " + bad
		}
		return nil, nil, false, false, errUsage("%s before the command: only the client flags --broker URL, --as PRINCIPAL, --key FILE and --json (and --version, --help) go there; a command's own flags go after its name (`breakglass help COMMAND` lists them)", msg)
	}
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "version", "h", "help":
		default:
			pre = append(pre, preFlag{f.Name, f.Value.String()})
		}
	})
	return pre, fs.Args(), version, help, nil
}

// flagInfo is what parse needs to know about a flag set from newFlags.
type flagInfo struct {
	c    *cli
	what string // the positional arguments, for the usage line
}

// flagSets maps each flag set newFlags made to its flagInfo, until parse
// consumes it. Commands run concurrently in tests, hence the lock.
var flagSets sync.Map // *flag.FlagSet -> *flagInfo

// applyGlobals sets the flags given before the command on fs, the command's
// flag set, before fs parses the command's own arguments; a flag the
// command does not take is a usage error.
func applyGlobals(fs *flag.FlagSet, c *cli) error {
	for _, p := range c.pre {
		if fs.Lookup(p.name) == nil {
			return errUsage("--%s was given before the command, but `breakglass %s` takes no --%s", p.name, fs.Name(), p.name)
		}
		if err := fs.Set(p.name, p.value); err != nil {
			return errUsage("--%s %q (before the command): %v", p.name, p.value, err)
		}
	}
	return nil
}

// usageLine prints fs's usage: the command line, then its flags.
func usageLine(fs *flag.FlagSet, what string) {
	w := fs.Output()
	if what == "" {
		what = "[flags]"
	} else {
		what = "[flags] " + what
	}
	fmt.Fprintf(w, "usage: breakglass %s %s\n\nflags:\n", fs.Name(), what)
	printFlags(w, fs)
}

// placeholderRE is what may stand for a flag's value in its usage line
// (`FILE`, `URL`, `KEY.pub`): one word.
var placeholderRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_.|-]*$`)

// fixUsageQuotes keeps a flag's help text from losing words to flag's
// convention that its first back-quoted span names the value: a span that
// is not one word (a command like `breakglass token ID --evidence FILE`) is
// quoted with ' instead, so it is printed whole.
func fixUsageQuotes(fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		i := strings.IndexByte(f.Usage, '`')
		if i < 0 {
			return
		}
		j := strings.IndexByte(f.Usage[i+1:], '`')
		if j >= 0 && placeholderRE.MatchString(f.Usage[i+1:i+1+j]) {
			return
		}
		f.Usage = strings.ReplaceAll(f.Usage, "`", "'")
	})
}

// placeholder is implemented by flag values that name their value in the
// usage line (flag.Var flags otherwise print the uninformative "value").
type placeholder interface{ placeholder() string }

func (*multiFlag) placeholder() string { return "KEY" }

// printFlags is flag.PrintDefaults with a better name than "value" for the
// values of flag.Var flags, and without deprecated aliases.
func printFlags(w io.Writer, fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		if _, ok := f.Value.(*aliasFlag); ok {
			return
		}
		name, usage := flag.UnquoteUsage(f)
		if name == "value" {
			name = "VALUE"
			if p, ok := f.Value.(placeholder); ok {
				name = p.placeholder()
			}
		}
		var b strings.Builder
		fmt.Fprintf(&b, "  -%s", f.Name)
		if name != "" {
			b.WriteString(" " + name)
		}
		if b.Len() <= 4 && name == "" { // one-letter bool flags share the line
			b.WriteString("\t")
		} else {
			b.WriteString("\n    \t")
		}
		b.WriteString(strings.ReplaceAll(usage, "\n", "\n    \t"))
		if !isZeroDefault(f) {
			if fmt.Sprintf("%T", f.Value) == "*flag.stringValue" {
				fmt.Fprintf(&b, " (default %q)", f.DefValue)
			} else {
				fmt.Fprintf(&b, " (default %v)", f.DefValue)
			}
		}
		fmt.Fprintln(w, b.String())
	})
}

// isZeroDefault says whether f's default is its type's zero value, which
// the usage does not mention.
func isZeroDefault(f *flag.Flag) bool {
	switch f.DefValue {
	case "", "0", "false", "0s", "[]":
		return true
	}
	return false
}

// aliasFlag is a deprecated spelling of another flag: setting it sets the
// other and says so on stderr.
type aliasFlag struct {
	c        *cli
	old, new string
	target   flag.Value
}

func (a *aliasFlag) String() string {
	if a == nil || a.target == nil {
		return ""
	}
	return a.target.String()
}

func (a *aliasFlag) Set(s string) error {
	fmt.Fprintf(a.c.stderr, "breakglass: --%s is deprecated; use --%s\n", a.old, a.new)
	return a.target.Set(s)
}

func (a *aliasFlag) IsBoolFlag() bool {
	b, ok := a.target.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// aliasFlag registers old as a deprecated spelling of the flag new, which
// fs must define already: `--old X` works as `--new X` and warns on stderr.
// The usage and the shell completions show only new.
func (c *cli) aliasFlag(fs *flag.FlagSet, old, new string) {
	f := fs.Lookup(new)
	if f == nil {
		panic("aliasFlag: no flag --" + new)
	}
	fs.Var(&aliasFlag{c: c, old: old, new: new, target: f.Value}, old, "deprecated: use --"+new)
}

// closeMatches returns the names in known within a small edit distance of
// name (typos), or having it as a prefix, closest first.
func closeMatches(name string, known []string) []string {
	type m struct {
		s string
		d int
	}
	var out []m
	for _, k := range known {
		d := editDistance(strings.ToLower(name), strings.ToLower(k))
		switch {
		case d <= max(1, min(3, len(name)/3)):
			out = append(out, m{k, d})
		case len(name) >= 2 && (strings.HasPrefix(k, name) || strings.Contains(k, name)):
			out = append(out, m{k, len(k)})
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].d != out[j].d {
			return out[i].d < out[j].d
		}
		return out[i].s < out[j].s
	})
	names := make([]string, len(out))
	for i, x := range out {
		names[i] = x.s
	}
	return names
}

// didYouMean is " (did you mean a or b?)" for the close matches, or "".
func didYouMean(name string, known []string) string {
	m := closeMatches(name, known)
	switch len(m) {
	case 0:
		return ""
	case 1:
		return fmt.Sprintf(" (did you mean %s?)", m[0])
	}
	if len(m) > 4 {
		m = m[:4]
	}
	return fmt.Sprintf(" (did you mean %s or %s?)", strings.Join(m[:len(m)-1], ", "), m[len(m)-1])
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
