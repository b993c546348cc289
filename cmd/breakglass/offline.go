package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/failsmall/breakglass/broker"
	"github.com/failsmall/breakglass/hwkey"
)

// offlineFlags are approve's flags for signing without the broker.
type offlineFlags struct {
	offline     bool
	statement   string
	fingerprint string
	out         string
}

func (o *offlineFlags) add(fs *flag.FlagSet) {
	fs.BoolVar(&o.offline, "offline", false, "sign a statement received out of band, without reaching the broker; prints a block to relay with breakglass submit")
	fs.StringVar(&o.statement, "statement", "", "with --offline: the approval statement's file, - or empty for stdin")
	fs.StringVar(&o.fingerprint, "fingerprint", "", "with --offline: the ssh-agent key to sign with (SHA256:...), when the agent holds several")
	fs.StringVar(&o.out, "out", "", "with --offline: write the approval block to FILE instead of stdout")
}

// onlyOffline refuses the offline flags without --offline.
func (o *offlineFlags) onlyOffline() error {
	if o.statement != "" || o.fingerprint != "" || o.out != "" {
		return errUsage("--statement, --fingerprint and --out go with --offline")
	}
	return nil
}

// approveOffline signs an approval statement that reached the approver out
// of band and writes the OfflineApproval block. It opens no connection: the
// key is --key FILE or one ssh-agent key, never looked up at the broker.
//
// The statement must be the canonical text (`breakglass request` and `show`
// print it). Pasting may turn line ends into CRLF and add blank lines or
// space around the text; only those are undone, then the text must parse
// strictly as an approval statement, and that text is what is shown and
// signed.
func (c *cli) approveOffline(o offlineFlags, yes bool) error {
	if c.g.as != "" {
		return errUsage("--as needs the broker to look up principals; offline, pick the key with --key FILE or --fingerprint SHA256:...")
	}
	if c.g.json {
		return errUsage("--json does not go with --offline: the output is the approval block (use --out FILE to keep it apart)")
	}
	if c.g.key != "" && o.fingerprint != "" {
		return errUsage("--key and --fingerprint both pick the key: pass one")
	}
	fromStdin := o.statement == "" || o.statement == "-"
	if fromStdin && !yes {
		return errUsage("the statement comes from stdin, which leaves no way to confirm: pass --statement FILE, or --yes once you have read it")
	}
	name := o.statement
	if fromStdin {
		name = "stdin"
	}
	text, err := readStatement(c, o.statement, name)
	if err != nil {
		return err
	}
	st, err := broker.ParseStatement(text)
	if err != nil {
		return fmt.Errorf("%s does not hold a breakglass approval statement as the broker wrote it: %w", name, err)
	}
	if st.Kind != broker.KindApproval {
		return fmt.Errorf("%s holds a %s statement (\"breakglass %s v1\"); approvers sign only approval statements (\"breakglass approval v1\")", name, st.Kind, st.Kind)
	}
	if now := time.Now(); !st.NotAfter.After(now) {
		return fmt.Errorf("request %s lapsed at %s (not-after); the broker would refuse this approval", st.Request, st.NotAfter.Format(time.RFC3339))
	}
	signer, closeFn, err := c.offlineSigner(o.fingerprint)
	if err != nil {
		return err
	}
	defer closeFn()
	fp := ssh.FingerprintSHA256(signer.PublicKey())
	shown, err := broker.DisplayText(text)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "You (key %s) are approving, offline:\n\n%s\n", fp, shown)
	if !yes && !c.confirm("Sign this approval with your key? [y/N] ") {
		return fmt.Errorf("not approved: you did not confirm")
	}
	sig, err := hwkey.Sign(signer, hwkey.Namespace, text)
	if err != nil {
		return fmt.Errorf("sign with %s: %w (a security key may be waiting for a touch or its PIN)", fp, err)
	}
	blob, err := broker.OfflineApproval{Request: st.Request, Digest: broker.Digest(text), Signature: sig}.Encode()
	if err != nil {
		return err
	}
	if o.out == "" {
		fmt.Fprintf(c.stdout, "%s\nSend this whole block to anyone who can reach the broker; they run: breakglass submit FILE (or paste it into breakglass submit -)\n", blob)
		return nil
	}
	if err := os.WriteFile(o.out, blob, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "wrote the offline approval of request %s to %s; anyone who can reach the broker relays it with: breakglass submit %s\n", st.Request, o.out, o.out)
	return nil
}

// readStatement reads path (stdin for "" or "-"), undoing only what pasting
// does: CRLF line ends, and blank lines or space around the text.
func readStatement(c *cli, path, name string) ([]byte, error) {
	raw, err := readBounded(c, path, broker.MaxStatementSize*2)
	if err != nil {
		return nil, fmt.Errorf("read the statement from %s: %w", name, err)
	}
	s := strings.ReplaceAll(string(raw), "\r\n", "\n")
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, fmt.Errorf("%s is empty: pass the approval statement (breakglass show ID prints it)", name)
	}
	return []byte(s + "\n"), nil
}

// readBounded reads path, or stdin for "" and "-", failing beyond limit bytes.
func readBounded(c *cli, path string, limit int64) ([]byte, error) {
	r := c.stdin
	if path != "" && path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("more than %d bytes", limit)
	}
	return b, nil
}

// offlineSigner picks the signing key without the broker: --key FILE, else
// the ssh-agent's key with --fingerprint, else its only key.
func (c *cli) offlineSigner(fingerprint string) (ssh.Signer, func(), error) {
	signers, closeFn, err := c.signers()
	if err != nil {
		return nil, nil, err
	}
	if c.g.key != "" {
		return signers[0], closeFn, nil
	}
	var pick ssh.Signer
	fps := make([]string, len(signers))
	for i, s := range signers {
		fps[i] = ssh.FingerprintSHA256(s.PublicKey())
		if fingerprint != "" && fps[i] == fingerprint {
			pick = s
		}
	}
	if fingerprint == "" && len(signers) == 1 {
		pick = signers[0]
	}
	switch {
	case pick != nil:
		return pick, closeFn, nil
	case fingerprint != "":
		err = fmt.Errorf("ssh-agent holds no key %s (it holds: %s)", fingerprint, strings.Join(fps, ", "))
	case len(signers) == 0:
		err = errors.New("ssh-agent holds no keys: add your enrolled key, or pass --key FILE")
	default:
		err = fmt.Errorf("ssh-agent holds %d keys and, offline, nothing says which one is enrolled: pass --fingerprint with one of %s, or --key FILE", len(signers), strings.Join(fps, ", "))
	}
	closeFn()
	return nil, nil, err
}

// runSubmit relays an offline approval block to the broker. It needs no key
// and no session: the broker judges the signature against its own copy of
// the request's statement exactly like an online approval, so a block signed
// over another text is refused (statement_mismatch) and a second copy
// counts once. It does not compare the block's statement digest with the
// request's, since reading the request needs a session a relay may lack.
func runSubmit(ctx context.Context, c *cli, args []string) error {
	fs := c.newFlags("submit")
	c.addGlobals(fs)
	pos, err := parse(fs, args, 0, 1, "[FILE|-]")
	if err != nil {
		return err
	}
	path, name := "-", "stdin"
	if len(pos) == 1 && pos[0] != "-" {
		path, name = pos[0], pos[0]
	}
	raw, err := readBounded(c, path, broker.MaxOfflineApprovalSize)
	if err != nil {
		return fmt.Errorf("read the offline approval from %s: %w", name, err)
	}
	o, err := broker.ParseOfflineApproval(raw)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	if !c.g.json {
		fmt.Fprintf(c.stdout, "relaying the approval of request %s by key %s over statement %s\n", o.Request, ssh.FingerprintSHA256(o.Signature.PublicKey), o.Digest)
	}
	res, err := cl.Approve(ctx, o.Request, o.Signature.Armor())
	if err != nil {
		return err
	}
	return c.printApproval(o.Request, res)
}
