package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/mod/sumdb/note"

	"github.com/failsmall/breakglass/audit"
	"github.com/failsmall/breakglass/broker"
	"github.com/failsmall/breakglass/server"
	"github.com/failsmall/breakglass/sqlite"
	"github.com/failsmall/breakglass/web"
)

const auditUsage = "audit verify|tail|show|prove|export [--db FILE | --broker URL] ..."

func runAudit(ctx context.Context, c *cli, args []string) error {
	sub := map[string]func(context.Context, *cli, []string) error{
		"verify": runAuditVerify, "tail": runAuditTail, "show": runAuditShow,
		"prove": runAuditProve, "export": runAuditExport,
	}
	if len(args) == 0 || sub[args[0]] == nil {
		return &exitError{2, fmt.Errorf("usage: breakglass %s", auditUsage)}
	}
	return sub[args[0]](ctx, c, args[1:])
}

// logFlags are the flags that choose which log an audit command reads.
type logFlags struct {
	c               *cli
	db, broker, key string
	json            bool
}

// addLogFlags adds the flags of the log to read: --db or --broker, and with
// --broker the client flags --key and --as, which open the session the
// broker's entries need (unless it serves them with audit_public: true).
func (c *cli) addLogFlags(fs *flag.FlagSet) *logFlags {
	f := &logFlags{c: c}
	fs.StringVar(&f.db, "db", "", "read the log from this database file (the broker may be running)")
	fs.StringVar(&f.broker, "broker", c.getenv("BREAKGLASS_URL"), "read the log from this broker (env BREAKGLASS_URL)")
	fs.StringVar(&f.key, "log-key", "", "the log's verifier key, or a file holding it (default: audit-key.pub beside --db; with --broker, the key the broker states)")
	fs.StringVar(&c.g.key, "key", c.g.key, "with --broker: open a session with this private key `FILE` to read the entries (the broker's entries need one unless it sets audit_public: true)")
	fs.StringVar(&c.g.as, "as", c.g.as, "with --broker: open the session as this `PRINCIPAL` (picks among the ssh-agent's keys without --key)")
	fs.BoolVar(&f.json, "json", false, "print JSON")
	return f
}

// openedLog is a log opened for reading: a database or a broker.
type openedLog struct {
	db      *sqlite.DB
	cl      *web.Client
	session string // the principal whose session reads the broker's entries; "" for none
	v       note.Verifier
	keyMsg  string // where the key came from, when not pinned
}

func (l *openedLog) close() {
	if l.db != nil {
		l.db.Close()
	}
}

// open opens the log named by the flags.
func (f *logFlags) open(ctx context.Context) (*openedLog, error) {
	l := &openedLog{}
	switch {
	case f.db != "":
		if _, err := os.Stat(f.db); err != nil {
			return nil, fmt.Errorf("--db: %w", err)
		}
		// Read-only: the file checked is never changed, and a copy in a
		// folder this user cannot write (evidence, a backup) opens.
		db, err := sqlite.OpenReadOnly(f.db, sqlite.Options{})
		if err != nil {
			return nil, fmt.Errorf("--db: %w", err)
		}
		l.db = db
		if f.key == "" {
			f.key = filepath.Join(filepath.Dir(f.db), "audit-key.pub")
		}
	case f.broker != "":
		cl, err := web.NewClient(f.broker, nil)
		if err != nil {
			return nil, err
		}
		l.cl = cl
		if f.c.g.key != "" || f.c.g.as != "" {
			if l.session, err = f.c.auditSession(ctx, cl); err != nil {
				return nil, err
			}
		}
		if f.key == "" {
			if f.key, err = cl.AuditKey(ctx); err != nil {
				return nil, err
			}
			l.keyMsg = "using the log key the broker states (" + f.key + "); pin it with --log-key"
		}
	default:
		return nil, errUsage("name the log: --db FILE or --broker URL")
	}
	v, err := parseVerifier(f.key)
	if err != nil {
		l.close()
		return nil, err
	}
	l.v = v
	return l, nil
}

// auditSession opens a read session on cl for the CLI's identity (--key
// FILE, or the ssh-agent's key for --as) and returns its principal.
func (c *cli) auditSession(ctx context.Context, cl *web.Client) (string, error) {
	id, err := c.identity(ctx, cl)
	if err != nil {
		return "", err
	}
	defer id.close()
	if err := cl.Login(ctx, id.principal, id.sign); err != nil {
		return "", fmt.Errorf("open a session as %s to read the audit entries: %w", id.principal, err)
	}
	return id.principal, nil
}

// errEntriesNeedSession is what reading a broker's entries without a
// session gives.
var errEntriesNeedSession = errors.New("the broker's audit entries need a session: pass --key, or set audit_public: true on the broker")

// entriesError explains a broker's refusal of the entries: no session, or
// one the broker no longer accepts.
func (l *openedLog) entriesError(err error) error {
	if !errors.Is(err, broker.ErrUnauthenticated) {
		return err
	}
	if l.session == "" {
		return errEntriesNeedSession
	}
	return fmt.Errorf("the broker refused the session of %s for the audit entries: %w", l.session, err)
}

// parseVerifier reads a note verifier key given inline or as a file.
func parseVerifier(s string) (note.Verifier, error) {
	if v, err := note.NewVerifier(strings.TrimSpace(s)); err == nil {
		return v, nil
	}
	return server.ReadVerifierKey(s)
}

func runAuditVerify(ctx context.Context, c *cli, args []string) error {
	fs := c.newFlags("audit verify")
	f := c.addLogFlags(fs)
	trusted := fs.String("trusted", "", "a signed checkpoint FILE trusted from earlier (default with --db: the broker's checkpoint file beside it)")
	var witnessKeys multiFlag
	fs.Var(&witnessKeys, "witness", "a witness's cosignature `KEY` (its witness-key.pub); its cosignatures are checked (repeatable)")
	c.aliasFlag(fs, "witness-key", "witness")
	if _, err := parse(fs, args, 0, 0, ""); err != nil {
		return err
	}
	l, err := f.open(ctx)
	if err != nil {
		return err
	}
	defer l.close()
	opts := audit.VerifyOptions{Verifier: l.v}
	if opts.Trusted, err = trustedCheckpoint(*trusted, f.db); err != nil {
		return err
	}
	var ws []note.Verifier
	for _, k := range witnessKeys {
		wv, err := audit.NewCosignatureVerifier(k)
		if err != nil {
			return fmt.Errorf("--witness %q: %w", k, err)
		}
		ws = append(ws, wv)
	}
	if len(ws) > 0 {
		opts.Witnesses = note.VerifierList(ws...)
	}
	if l.keyMsg != "" {
		fmt.Fprintln(c.stderr, l.keyMsg)
	}
	rep, grants, err := l.verify(ctx, opts)
	if errors.Is(err, errEntriesNeedSession) || errors.Is(err, broker.ErrUnauthenticated) {
		return err // not a verification failure: there is no evidence to show
	}
	if err != nil {
		printEvidence(c.stderr, err)
		return err
	}
	if f.json {
		return c.printJSON(newAuditVerifyJSON(rep, grants, opts.Trusted != nil))
	}
	fmt.Fprintf(c.stdout, "audit log verified: %d entries, root %s\n", rep.Size, rep.RootHash)
	fmt.Fprintf(c.stdout, "%d signed checkpoints checked (%d cosigned by a known witness)", rep.Checkpoints, rep.Cosigned)
	if opts.Trusted != nil {
		fmt.Fprint(c.stdout, ", consistent with the trusted checkpoint")
	}
	fmt.Fprintln(c.stdout)
	if grants >= 0 {
		fmt.Fprintf(c.stdout, "%d grants, each with its grant.issued entry\n", grants)
	}
	return nil
}

// auditVerifyJSON is `audit verify --json`: what was verified. A log that
// fails verification prints nothing on stdout (the evidence goes to
// stderr) and exits 1.
type auditVerifyJSON struct {
	Size        int64  `json:"size"`        // entries
	Root        string `json:"root"`        // the recomputed root hash, base64
	Checkpoints int    `json:"checkpoints"` // recorded checkpoints checked
	Cosigned    int    `json:"cosigned"`    // of those, cosigned by a --witness
	// Entries counts the entries by type ("request.created": 3).
	Entries map[string]int64 `json:"entries"`
	// Grants is the number of grants checked against their entries; null
	// when the log was read from a broker, which does not serve the rows.
	Grants *int `json:"grants"`
	// Trusted says whether the log was checked against a trusted
	// checkpoint (--trusted, or the checkpoint file beside --db).
	Trusted bool `json:"trusted"`
}

func newAuditVerifyJSON(rep *audit.Report, grants int, trusted bool) auditVerifyJSON {
	out := auditVerifyJSON{Size: rep.Size, Root: rep.RootHash.String(), Checkpoints: rep.Checkpoints,
		Cosigned: rep.Cosigned, Entries: rep.Entries, Trusted: trusted}
	if out.Entries == nil {
		out.Entries = map[string]int64{}
	}
	if grants >= 0 {
		out.Grants = &grants
	}
	return out
}

// trustedCheckpoint reads --trusted, or the checkpoint file beside --db.
func trustedCheckpoint(file, db string) ([]byte, error) {
	if file == "" && db != "" {
		b, err := os.ReadFile(filepath.Join(filepath.Dir(db), "checkpoint"))
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return b, err
	}
	if file == "" {
		return nil, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("--trusted: %w", err)
	}
	return b, nil
}

// verify runs audit.VerifyLog over the log and, for a database, the
// broker's invariant that every grant has its grant.issued entry and every
// such entry its grant (broker.VerifyAudit). It returns the number of
// grants checked, -1 when it could not check them (a log read from a broker).
func (l *openedLog) verify(ctx context.Context, opts audit.VerifyOptions) (*audit.Report, int, error) {
	if l.cl != nil {
		src, err := newRemoteSource(ctx, l, l.v)
		if err != nil {
			return nil, -1, err
		}
		if src.size > 0 { // the first page of entries, to report a refusal as such
			if _, err := src.Entry(0); err != nil && !errors.Is(err, audit.ErrMissing) {
				return nil, -1, err
			}
		}
		rep, err := audit.VerifyLog(src, opts)
		return rep, -1, err
	}
	return broker.VerifyAudit(ctx, l.db, opts)
}

// printEvidence prints what a verification failure shows: the signed
// checkpoints involved, so they can be shown to someone else.
func printEvidence(w io.Writer, err error) {
	show := func(what string, b []byte) {
		if b != nil {
			fmt.Fprintf(w, "--- %s ---\n%s", what, b)
		}
	}
	var (
		fork     *audit.ForkError
		trunc    *audit.TruncatedError
		mismatch *audit.RootMismatchError
		rollback *audit.RollbackError
		hash     *audit.EntryHashError
	)
	fmt.Fprintf(w, "AUDIT LOG VERIFICATION FAILED\n%v\n", err)
	switch {
	case errors.As(err, &fork):
		fmt.Fprintf(w, "size: %d\n", fork.Size)
		show("checkpoint A", fork.A)
		show("checkpoint B", fork.B)
	case errors.As(err, &trunc):
		fmt.Fprintf(w, "entries: %d\nsigned size: %d\n", trunc.Size, trunc.Want)
		show("checkpoint", trunc.Trusted)
	case errors.As(err, &mismatch):
		fmt.Fprintf(w, "size: %d\nrecomputed root: %s\n", mismatch.Size, mismatch.Computed)
		show("checkpoint", mismatch.Checkpoint)
	case errors.As(err, &rollback):
		show(fmt.Sprintf("checkpoint %d", rollback.Index-1), rollback.Prev)
		show(fmt.Sprintf("checkpoint %d", rollback.Index), rollback.Next)
	case errors.As(err, &hash):
		fmt.Fprintf(w, "index: %d\nlevel: %d\nstored: %s\nrecomputed: %s\n", hash.Index, hash.Level, hash.Stored, hash.Computed)
	}
}

// multiFlag is a repeatable string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(s string) error { *m = append(*m, s); return nil }
