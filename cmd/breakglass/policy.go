package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/failsmall/breakglass/policy"
	"github.com/failsmall/breakglass/web"
)

// policyUsage lists the `breakglass policy` subcommands.
const policyUsage = `breakglass policy SUBCOMMAND: review, sign and push signed policy bundles
  validate FILE                    check a policy file or a bundle, offline
  sign [--key FILE] [--out FILE] [--serial N --previous HASH] FILE
                                   wrap a policy file in a new bundle, or add your signature to a bundle
  push FILE                        offer a signed bundle to the broker
  show [--json] [--bundle | FILE]  the broker's active bundle (--bundle: the raw file), or FILE offline
  diff [--json] FILE [OLD]         what FILE changes from OLD (default: the broker's active bundle),
                                   and which pending requests and live grants it affects
'breakglass policy SUBCOMMAND -h' for its flags.`

// runPolicy is `breakglass policy SUBCOMMAND`.
func runPolicy(ctx context.Context, c *cli, args []string) error {
	sub := map[string]func(context.Context, *cli, []string) error{
		"validate": runPolicyValidate, "sign": runPolicySign, "push": runPolicyPush,
		"show": runPolicyShow, "diff": runPolicyDiff,
	}
	switch {
	case len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help"):
		fmt.Fprintln(c.stdout, policyUsage)
		return nil
	case len(args) == 0:
		return errUsage("no subcommand\n%s", policyUsage)
	case sub[args[0]] == nil:
		return errUsage("unknown subcommand %q\n%s", args[0], policyUsage)
	}
	return sub[args[0]](ctx, c, args[1:])
}

// policyFlags returns the flag set of `policy NAME` whose -h prints use and
// what it does before the flags.
func (c *cli) policyFlags(name, use, doc string) *flag.FlagSet {
	fs := c.newFlags("policy " + name)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: breakglass policy %s %s\n\n%s\n\nflags:\n", name, use, doc)
		fs.PrintDefaults()
	}
	return fs
}

// policyFile is a policy file or a signed bundle read from disk.
type policyFile struct {
	name   string
	signed *policy.SignedBundle // nil for a policy file
	yaml   []byte               // the policy file: the file, or the bundle's policy
	p      *policy.Policy       // nil when the policy does not validate
	perr   error                // why p is nil
}

// isBundle reports whether data starts as a bundle does (any version).
func isBundle(data []byte) bool { return bytes.HasPrefix(data, []byte("breakglass policy bundle")) }

// readPolicyFile reads name, a bundle when it starts like one and a policy
// file otherwise. A malformed bundle is an error; a policy that does not
// validate is not (see policyFile.perr).
func readPolicyFile(name string) (*policyFile, error) {
	data, err := readLimited(name, web.MaxBundleBody)
	if err != nil {
		return nil, err
	}
	f := &policyFile{name: name, yaml: data}
	if !isBundle(data) {
		f.p, f.perr = policy.Parse(data)
		return f, nil
	}
	if f.signed, err = policy.ParseSignedBundle(data); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	f.yaml = f.signed.Bundle.Policy
	f.p, f.perr = policy.BundlePolicy(f.signed)
	return f, nil
}

// readLimited reads a file of at most max bytes.
func readLimited(name string, max int64) ([]byte, error) {
	fh, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	data, err := io.ReadAll(io.LimitReader(fh, max+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("%s is larger than the %d bytes a policy bundle may have", name, max)
	}
	return data, nil
}

// invalid returns the error for a file whose policy does not validate: each
// problem on its own line, with line and field. It exits 1.
func (f *policyFile) invalid() error {
	var ve *policy.ValidationError
	if errors.As(f.perr, &ve) {
		return &exitError{1, fmt.Errorf("%s: the policy is invalid, %d problem(s):\n%s", f.name, len(ve.Problems), ve.Error())}
	}
	return &exitError{1, fmt.Errorf("%s: %w", f.name, f.perr)}
}

// fileSummary is what `policy validate` and `policy show FILE` print.
type fileSummary struct {
	File       string    `json:"file"`
	Kind       string    `json:"kind"` // "bundle" or "policy"
	Serial     uint64    `json:"serial,omitempty"`
	Created    time.Time `json:"created,omitzero"`
	Previous   string    `json:"previous,omitempty"`
	Hash       string    `json:"hash,omitempty"`
	Signatures int       `json:"signatures"`
	// Signers are the admins of the bundle's own policy whose signatures
	// verify: informative only, the broker counts the active policy's.
	Signers           []string `json:"signers,omitempty"`
	SignatureProblems []string `json:"signature_problems,omitempty"`
	PolicyHash        string   `json:"policy_file_hash"`
	Valid             bool     `json:"valid"`
	Problems          []string `json:"problems,omitempty"`
	Admins            []string `json:"admins,omitempty"`
	AdminQuorum       int      `json:"admin_quorum,omitempty"`
	Groups            []string `json:"groups,omitempty"`
	Principals        []string `json:"principals,omitempty"`
	Disabled          []string `json:"disabled,omitempty"`
	Roles             []string `json:"roles,omitempty"`
}

func (f *policyFile) summary() *fileSummary {
	s := &fileSummary{File: f.name, Kind: "policy", PolicyHash: hashBytes(f.yaml), Valid: f.p != nil}
	if sb := f.signed; sb != nil {
		s.Kind, s.Serial, s.Created, s.Previous, s.Hash = "bundle", sb.Bundle.Serial, sb.Bundle.Created, sb.Bundle.Previous, sb.Hash
		s.Signatures = len(sb.Signatures)
		if f.p != nil {
			s.Signers, s.SignatureProblems = ownSigners(sb, f.p)
		}
	}
	var ve *policy.ValidationError
	if errors.As(f.perr, &ve) {
		for _, pr := range ve.Problems {
			s.Problems = append(s.Problems, pr.String())
		}
	} else if f.perr != nil {
		s.Problems = []string{f.perr.Error()}
	}
	if p := f.p; p != nil {
		s.Admins, s.AdminQuorum = p.Admins, p.AdminQuorum
		for _, g := range p.Groups {
			s.Groups = append(s.Groups, g.Name)
		}
		for _, pr := range p.Principals {
			s.Principals = append(s.Principals, pr.ID)
			if pr.Disabled {
				s.Disabled = append(s.Disabled, pr.ID)
			}
		}
		for _, r := range p.Roles {
			s.Roles = append(s.Roles, r.Name)
		}
	}
	return s
}

// hashBytes names a policy file as policy.Policy.FileHash does.
func hashBytes(data []byte) string {
	sum := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// ownSigners checks each signature of sb against the admins of p, the
// bundle's own policy: the admins whose signature verifies, and what is
// wrong with the others.
func ownSigners(sb *policy.SignedBundle, p *policy.Policy) (valid, problems []string) {
	checks := policy.CheckEachSignature(sb, p)
	for i, c := range checks {
		switch {
		case !c.Admin:
			problems = append(problems, fmt.Sprintf("signature %d: %s is not an admin of this policy", i+1, c.Signer))
		case c.Err != nil:
			problems = append(problems, fmt.Sprintf("signature %d: %v", i+1, c.Err))
		}
	}
	return policy.SignerIDs(checks), problems
}

// printBundleHeader prints a bundle's metadata and signatures.
func printBundleHeader(w io.Writer, s *fileSummary) {
	if s.Kind != "bundle" {
		return
	}
	prev := s.Previous
	if prev == "" {
		prev = "none (a first bundle)"
	}
	fmt.Fprintf(w, "bundle: serial %d, created %s\nprevious: %s\nhash: %s\n", s.Serial, s.Created.Format(time.RFC3339), prev, s.Hash)
	if s.Valid {
		fmt.Fprintf(w, "signatures: %d, valid by admins of its own policy: [%s]\n", s.Signatures, strings.Join(s.Signers, " "))
	} else {
		fmt.Fprintf(w, "signatures: %d (not checked: the policy is invalid)\n", s.Signatures)
	}
	for _, p := range s.SignatureProblems {
		fmt.Fprintf(w, "  %s\n", p)
	}
}

func runPolicyValidate(ctx context.Context, c *cli, args []string) error {
	fs := c.policyFlags("validate", "[--json] FILE", "Checks FILE, a policy file or a (signed) bundle, offline: prints\n"+
		"\"ok: ...\" or every problem with its line and field (exit 1). For a bundle it also prints its\n"+
		"serial, created, previous and hash, and whose signatures verify against its own policy's admins.")
	fs.BoolVar(&c.g.json, "json", false, "print JSON")
	pos, err := parse(fs, args, 1, 1, "[--json] FILE")
	if err != nil {
		return err
	}
	f, err := readPolicyFile(pos[0])
	if err != nil {
		return err
	}
	s := f.summary()
	if c.g.json {
		if err := c.printJSON(s); err != nil {
			return err
		}
		if f.p == nil {
			return &exitError{1, fmt.Errorf("%s: the policy is invalid", f.name)}
		}
		return nil
	}
	printBundleHeader(c.stdout, s)
	if f.p == nil {
		return f.invalid()
	}
	fmt.Fprintf(c.stdout, "ok: %d roles, %d principals, admins [%s], admin_quorum %d\n",
		len(s.Roles), len(s.Principals), strings.Join(s.Admins, " "), s.AdminQuorum)
	return nil
}

func runPolicyShow(ctx context.Context, c *cli, args []string) error {
	fs := c.policyFlags("show", "[--json] [--bundle | FILE]", "Without FILE: the broker's active policy bundle and its upstream sources;\n"+
		"--bundle prints the active signed bundle file itself (breakglass policy show --bundle > current.bundle).\n"+
		"With FILE (a policy file or bundle): its summary, offline.")
	c.addGlobals(fs)
	raw := fs.Bool("bundle", false, "print the broker's active signed bundle file, byte for byte")
	pos, err := parse(fs, args, 0, 1, "[--json] [--bundle | FILE]")
	if err != nil {
		return err
	}
	switch {
	case *raw && len(pos) > 0:
		return errUsage("--bundle prints the broker's active bundle; it takes no FILE")
	case *raw && c.g.json:
		return errUsage("--bundle prints the bundle file as is; it takes no --json")
	case len(pos) == 1:
		return c.showPolicyFile(pos[0])
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	if *raw {
		b, err := cl.ActiveBundle(ctx)
		if err != nil {
			return err
		}
		_, err = c.stdout.Write(b)
		return err
	}
	st, err := cl.Policy(ctx)
	if err != nil {
		return err
	}
	if c.g.json {
		return c.printJSON(st)
	}
	return printPolicyState(c.stdout, cl.URL(), st, time.Now())
}

func (c *cli) showPolicyFile(name string) error {
	f, err := readPolicyFile(name)
	if err != nil {
		return err
	}
	s := f.summary()
	if c.g.json {
		return c.printJSON(s)
	}
	w := c.stdout
	fmt.Fprintf(w, "file: %s (%s)\n", s.File, s.Kind)
	printBundleHeader(w, s)
	fmt.Fprintf(w, "policy file hash: %s\n", s.PolicyHash)
	if f.p == nil {
		return f.invalid()
	}
	fmt.Fprintf(w, "admins: [%s], admin_quorum %d\n", strings.Join(s.Admins, " "), s.AdminQuorum)
	fmt.Fprintf(w, "groups: %s\nprincipals: %s\n", orNone(s.Groups), orNone(s.Principals))
	if len(s.Disabled) > 0 {
		fmt.Fprintf(w, "disabled: %s\n", strings.Join(s.Disabled, ", "))
	}
	fmt.Fprintf(w, "roles: %s\n", orNone(s.Roles))
	return nil
}

func orNone(l []string) string {
	if len(l) == 0 {
		return "none"
	}
	return strings.Join(l, ", ")
}

// printPolicyState prints GET /v1/policy for people.
func printPolicyState(w io.Writer, url string, st *web.PolicyJSON, now time.Time) error {
	b := st.Bundle
	if b == nil {
		fmt.Fprintf(w, "broker %s has NO active policy bundle: %s\n", url, st.Error)
	} else {
		fmt.Fprintf(w, "active policy bundle of %s\nserial: %d\nhash: %s\n", url, b.Serial, b.Hash)
		fmt.Fprintf(w, "created: %s\nactivated: %s (source %s)\n", b.Created.Format(time.RFC3339), b.Activated.Format(time.RFC3339), b.Source)
		fmt.Fprintf(w, "age: %s (since %s, the later of created and the last time a source served it)\n",
			seconds(b.AgeSeconds), b.Confirmed.Format(time.RFC3339))
		fmt.Fprintf(w, "admins: [%s], admin_quorum %d\n", strings.Join(b.Admins, " "), b.AdminQuorum)
		if b.Previous != nil {
			fmt.Fprintf(w, "previous: serial %d %s\n", b.Previous.Serial, b.Previous.Hash)
		} else {
			fmt.Fprintln(w, "previous: none")
		}
		for _, id := range sortedKeys(b.Deactivated) {
			fmt.Fprintf(w, "deactivated: %s (%s)\n", id, b.Deactivated[id])
		}
		for _, id := range sortedKeys(b.RemovedFrom) {
			fmt.Fprintf(w, "removed from groups: %s: %s\n", id, strings.Join(b.RemovedFrom[id], ", "))
		}
	}
	if len(st.Sources) == 0 {
		fmt.Fprintln(w, "sources: none (bundles arrive by push only)")
	}
	for _, s := range st.Sources {
		line := fmt.Sprintf("source %s (%s): ", s.Name, s.Kind)
		if s.LastSuccess.IsZero() {
			line += "never succeeded"
		} else {
			line += fmt.Sprintf("last success %s (%s ago)", s.LastSuccess.Format(time.RFC3339), seconds(s.AgeSeconds))
		}
		if s.Result != "" {
			line += ": " + s.Result
		}
		if s.LastError != "" {
			line += fmt.Sprintf("; last error %s (%s ago): %s", s.LastErrorAt.Format(time.RFC3339), now.Sub(s.LastErrorAt).Round(time.Second), s.LastError)
		}
		fmt.Fprintln(w, line)
	}
	if b == nil {
		return &exitError{1, errors.New("no active policy bundle")}
	}
	return nil
}

func seconds(s float64) time.Duration {
	return (time.Duration(s * float64(time.Second))).Round(time.Second)
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
