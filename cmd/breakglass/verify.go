package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/failsmall/breakglass/offline"
	"github.com/failsmall/breakglass/token"
	"github.com/failsmall/breakglass/web"
)

func runVerify(ctx context.Context, c *cli, args []string) error {
	fs := c.newFlags("verify")
	c.addGlobals(fs)
	jwksFile := fs.String("jwks", "", "verify offline against this JWKS `FILE` (from /.well-known/jwks.json)")
	aud := fs.String("aud", "", "the `AUDIENCE` you accept (required)")
	iss := fs.String("iss", "", "the `ISSUER` you accept (default: the broker's name from --broker; required with --jwks)")
	skew := fs.Duration("skew", 30*time.Second, "clock skew allowed")
	revFile := fs.String("revocations", "", "refuse grants revoked in this cached revocation list `FILE` (from 'breakglass revocations --out FILE'; default with --broker: fetch the broker's)")
	var sf strictFlags
	fs.BoolVar(&sf.strict, "strict", false, "recompute the grant's quorum offline and bind the token to its logged grant: requires --evidence, --trust, --revocations, --receipt and --log-key")
	fs.StringVar(&sf.evidence, "evidence", "", "check the grant's evidence `FILE` (from 'breakglass token ID --evidence FILE') under the admins of --trust")
	fs.StringVar(&sf.trust, "trust", "", "the signed policy `BUNDLE` you pinned: its admins, admin_quorum of them, must have signed the evidence's bundle")
	fs.Uint64Var(&sf.minSequence, "min-sequence", 0, "refuse a revocation list numbered below this `SEQUENCE` (the highest you have seen)")
	fs.StringVar(&sf.receipt, "receipt", "", "check the grant's audit receipt `FILE` (from 'breakglass token ID --receipt FILE'): its grant.issued entry is in the broker's log; requires --log-key")
	fs.StringVar(&sf.logKey, "log-key", "", "the broker's audit log `KEY`: the file audit-key.pub of its data folder, or the key itself")
	fs.Var(&sf.witnesses, "witness", "a witness's cosignature `KEY` (its witness-key.pub), or a file holding it; --witness-quorum of them must have cosigned the receipt's checkpoint (repeatable)")
	fs.IntVar(&sf.witnessQuorum, "witness-quorum", 0, "how many (`N`) of the --witness keys must have cosigned the receipt's checkpoint (default: all of them)")
	pos, err := parse(fs, args, 1, 1, "[--jwks FILE|--broker URL] [--revocations FILE] [--strict] [--evidence FILE --trust BUNDLE] [--receipt FILE --log-key FILE [--witness KEY... [--witness-quorum N]]] --aud AUDIENCE TOKEN|-")
	if err != nil {
		return err
	}
	if *aud == "" {
		return errUsage("--aud is required: name the audience your service accepts (the role's jwt audience)")
	}
	if err := sf.check(*revFile, *jwksFile == ""); err != nil {
		return err
	}
	raw, err := readToken(c, pos[0])
	if err != nil {
		return err
	}
	var jwks token.JWKS
	var cl *web.Client // set when verifying online
	if *jwksFile != "" {
		data, err := os.ReadFile(*jwksFile)
		if err != nil {
			return fmt.Errorf("read --jwks: %w", err)
		}
		if jwks, err = token.ParseJWKS(data); err != nil {
			return fmt.Errorf("%s: %w", *jwksFile, err)
		}
		if *iss == "" {
			return errUsage("--iss is required with --jwks: name the broker you trust (its name, shown by `breakglass status`)")
		}
		sf.jwksHint = c.jwksHint(*jwksFile)
	} else {
		if cl, err = c.client(); err != nil {
			return err
		}
		if jwks, err = brokerJWKS(ctx, cl); err != nil {
			return err
		}
		if *iss == "" {
			st, err := cl.Status(ctx)
			if err != nil {
				return err
			}
			*iss = st.Broker
		}
	}
	opts := token.VerifyOptions{Issuer: *iss, Audience: *aud, Leeway: *skew}
	claims, err := token.Verify(raw, jwks, opts)
	if err != nil {
		if errors.Is(err, token.ErrNotInJWKS) && sf.jwksHint != "" {
			return &exitError{1, fmt.Errorf("token is NOT valid: %w (%s)", err, sf.jwksHint)}
		}
		return &exitError{1, fmt.Errorf("token is NOT valid: %w", err)}
	}
	if !sf.wanted() {
		if err := checkRevoked(ctx, cl, *revFile, jwks, *iss, claims.ID); err != nil {
			if errors.Is(err, token.ErrNotInJWKS) && sf.jwksHint != "" {
				return fmt.Errorf("%w (%s)", err, sf.jwksHint)
			}
			return err
		}
		if c.g.json {
			return c.printJSON(newVerifyJSON(&offline.Result{Claims: claims}))
		}
		printClaims(c, claims)
		return nil
	}
	res, approvals, err := verifyStrict(ctx, cl, &sf, *revFile, raw, opts, jwks)
	if err != nil {
		return err
	}
	if c.g.json {
		return c.printJSON(newVerifyJSON(res))
	}
	printClaims(c, res.Claims)
	for _, l := range strictLines(res, approvals) {
		fmt.Fprintln(c.stdout, l)
	}
	return nil
}

// jwksHint says what to do when a token or revocation list names a key the
// cached JWKS in file lacks: fetch the JWKS again, as relying parties cache
// it, since the broker may have rotated its signing key after it was
// fetched.
func (c *cli) jwksHint(file string) string {
	url := strings.TrimRight(c.g.broker, "/")
	if url == "" || url == defaultBroker && c.getenv("BREAKGLASS_URL") == "" {
		url = "BROKER"
	}
	return fmt.Sprintf("if the broker rotated its signing key after %s was fetched, fetch the JWKS again: curl -s %s/.well-known/jwks.json > %s", file, url, file)
}

// printClaims prints what a relying party needs of a valid token.
func printClaims(c *cli, claims *token.Claims) {
	fmt.Fprintf(c.stdout, "token is valid: grant %s, role %s for %s\n", claims.ID, claims.Role, claims.Subject)
	fmt.Fprintf(c.stdout, "issuer: %s\naudience: %s\nscopes: %s\nincident: %s\nrequest: %s\napprovers: %s\npolicy: %s\nissued: %s\nexpires: %s\n",
		claims.Issuer, strings.Join(claims.Audience, ", "), strings.Join(claims.Scopes, " "), dash(claims.Incident),
		claims.RequestID, strings.Join(claims.Approvers, ", "), claims.PolicyHash,
		claims.IssuedAt.UTC().Format(time.RFC3339), claims.Expiry.UTC().Format(time.RFC3339))
}

// readToken reads a token from a file, from stdin ("-"), or takes it as given.
func readToken(c *cli, arg string) (string, error) {
	var data []byte
	switch {
	case arg == "-":
		b, err := io.ReadAll(io.LimitReader(c.stdin, 64<<10))
		if err != nil {
			return "", err
		}
		data = b
	case strings.Count(arg, ".") == 2 && !strings.ContainsAny(arg, "/\\"):
		data = []byte(arg)
	default:
		b, err := os.ReadFile(arg)
		if err != nil {
			return "", fmt.Errorf("read token: %w (pass a file, the token itself, or - for stdin)", err)
		}
		data = b
	}
	return strings.TrimSpace(string(data)), nil
}

// verifyJSON is `verify --json`: always the same keys, null for what was
// not checked.
type verifyJSON struct {
	// Valid is always true: an invalid token exits 1 with the reason on
	// stderr.
	Valid  bool      `json:"valid"`
	Strict bool      `json:"strict"`
	Token  tokenJSON `json:"token"`
	// Evidence is the quorum recomputed from --evidence; null without.
	Evidence    *evidenceCheckJSON  `json:"evidence"`
	Revocations *revocationListJSON `json:"revocations"`
	Receipt     *receiptJSON        `json:"audit_receipt"`
}

// tokenJSON is a verified token's claims.
type tokenJSON struct {
	Grant     string    `json:"grant"` // jti
	Issuer    string    `json:"issuer"`
	Subject   string    `json:"subject"`
	Audience  []string  `json:"audience"`
	Role      string    `json:"role"`
	Scopes    []string  `json:"scopes"`
	Incident  string    `json:"incident"`
	Request   string    `json:"request"`
	Approvers []string  `json:"approvers"`
	Policy    string    `json:"policy"`
	Drill     bool      `json:"drill"`
	IssuedAt  time.Time `json:"issued_at"`
	NotBefore time.Time `json:"not_before"`
	Expires   time.Time `json:"expires"`
}

// evidenceCheckJSON is what the evidence proved: who approved, under which
// bundle.
type evidenceCheckJSON struct {
	Approvers []string       `json:"approvers"`
	Bundle    bundleInfoJSON `json:"bundle"`
}

type bundleInfoJSON struct {
	Serial  uint64    `json:"serial"`
	Hash    string    `json:"hash"`
	Created time.Time `json:"created"`
}

type receiptJSON struct {
	Index     int64    `json:"index"`
	Size      int64    `json:"checkpoint_size"`
	Log       string   `json:"log"`
	Witnesses []string `json:"witnesses"`
}

type revocationListJSON struct {
	Issuer   string    `json:"issuer"`
	Sequence uint64    `json:"sequence"`
	Issued   time.Time `json:"issued"`
	Expires  time.Time `json:"expires"`
}

func newVerifyJSON(res *offline.Result) verifyJSON {
	cl := res.Claims
	out := verifyJSON{Valid: true, Strict: res.Strict, Token: tokenJSON{Grant: cl.ID, Issuer: cl.Issuer, Subject: cl.Subject,
		Audience: nonNil(cl.Audience), Role: cl.Role, Scopes: nonNil(cl.Scopes), Incident: cl.Incident, Request: cl.RequestID,
		Approvers: nonNil(cl.Approvers), Policy: cl.PolicyHash, Drill: cl.Drill, IssuedAt: cl.IssuedAt.UTC(),
		NotBefore: cl.NotBefore.UTC(), Expires: cl.Expiry.UTC()}}
	if b := res.Bundle; b != nil {
		out.Evidence = &evidenceCheckJSON{Approvers: nonNil(res.Approvers),
			Bundle: bundleInfoJSON{Serial: b.Serial, Hash: b.Hash, Created: b.Created.UTC()}}
	}
	if l := res.Revocations; l != nil {
		out.Revocations = &revocationListJSON{Issuer: l.Issuer, Sequence: l.Sequence, Issued: l.Issued.UTC(), Expires: l.Expires().UTC()}
	}
	if r := res.Receipt; r != nil {
		out.Receipt = &receiptJSON{Index: r.Index, Size: r.Size, Log: r.Origin, Witnesses: nonNil(r.Witnesses)}
	}
	return out
}

// nonNil is s, or an empty slice for nil: JSON lists print as [], not null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
