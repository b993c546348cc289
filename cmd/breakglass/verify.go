package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/failsmall/breakglass/token"
	"github.com/failsmall/breakglass/web"
)

func runVerify(ctx context.Context, c *cli, args []string) error {
	fs := c.newFlags("verify")
	c.addGlobals(fs)
	jwksFile := fs.String("jwks", "", "verify offline against this JWKS file (from /.well-known/jwks.json)")
	aud := fs.String("aud", "", "the audience you accept (required)")
	iss := fs.String("iss", "", "the issuer you accept (default: the broker's name from --broker; required with --jwks)")
	skew := fs.Duration("skew", 30*time.Second, "clock skew allowed")
	revFile := fs.String("revocations", "", "refuse grants revoked in this cached revocation list (from `breakglass revocations --out`; default with --broker: fetch the broker's)")
	var sf strictFlags
	fs.BoolVar(&sf.strict, "strict", false, "recompute the grant's quorum offline and bind the token to its logged grant: requires --evidence, --trust, --revocations, --receipt and --log-key")
	fs.StringVar(&sf.evidence, "evidence", "", "check the grant's evidence (from `breakglass token ID --evidence FILE`) under the admins of --trust")
	fs.StringVar(&sf.trust, "trust", "", "the signed policy bundle you pinned: its admins, admin_quorum of them, must have signed the evidence's bundle")
	fs.Uint64Var(&sf.minSequence, "min-sequence", 0, "refuse a revocation list numbered below this one (the highest you have seen)")
	fs.StringVar(&sf.receipt, "receipt", "", "check the grant's audit receipt (from `breakglass token ID --receipt FILE`): its grant.issued entry is in the broker's log; requires --log-key")
	fs.StringVar(&sf.logKey, "log-key", "", "the broker's audit log key: the file audit-key.pub of its data folder, or the key itself")
	fs.Var(&sf.witnesses, "witness", "a witness's cosignature key (its witness-key.pub), or a file holding it; --witness-quorum of them must have cosigned the receipt's checkpoint (repeatable)")
	fs.IntVar(&sf.witnessQuorum, "witness-quorum", 0, "how many of the --witness keys must have cosigned the receipt's checkpoint (default: all of them)")
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
		return &exitError{1, fmt.Errorf("token is NOT valid: %w", err)}
	}
	if !sf.wanted() {
		if err := checkRevoked(ctx, cl, *revFile, jwks, *iss, claims.ID); err != nil {
			return err
		}
		if c.g.json {
			return c.printJSON(claims)
		}
		printClaims(c, claims)
		return nil
	}
	res, approvals, err := verifyStrict(ctx, cl, &sf, *revFile, raw, opts, jwks)
	if err != nil {
		return err
	}
	if c.g.json {
		return c.printJSON(newStrictJSON(res))
	}
	printClaims(c, res.Claims)
	for _, l := range strictLines(res, approvals) {
		fmt.Fprintln(c.stdout, l)
	}
	return nil
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
