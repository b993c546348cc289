package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/failsmall/breakglass/offline"
	"github.com/failsmall/breakglass/token"
	"github.com/failsmall/breakglass/web"
)

// runRevocations is `breakglass revocations --out FILE`: fetch the broker's
// signed revocation list, check it, and cache it for `verify --revocations`.
func runRevocations(ctx context.Context, c *cli, args []string) error {
	fs := c.newFlags("revocations")
	c.addGlobals(fs)
	out := fs.String("out", "", "write the signed list (a compact JWS) to this file, atomically (required)")
	if _, err := parse(fs, args, 0, 0, ""); err != nil {
		return err
	}
	if *out == "" {
		return errUsage("--out FILE is required: breakglass revocations --out revocations.jws")
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	jwks, err := brokerJWKS(ctx, cl)
	if err != nil {
		return err
	}
	jws, err := cl.Revocations(ctx)
	if err != nil {
		return err
	}
	// Never cache a list that verify would refuse.
	l, err := offline.VerifyRevocations(jws, jwks, time.Now())
	if err != nil {
		return fmt.Errorf("the broker's revocation list: %w; %s left as it was", err, *out)
	}
	if err := writeFileAtomic(*out, []byte(jws+"\n"), 0o644); err != nil {
		return err
	}
	if c.g.json {
		return c.printJSON(revocationsWrittenJSON{File: *out, Issuer: l.Issuer, Sequence: l.Sequence,
			Issued: l.Issued, Expires: l.Expires(), Revoked: nonNil(l.Revoked)})
	}
	fmt.Fprintf(c.stdout, "wrote revocation list #%d of %s (%d revoked grants, issued %s, valid until %s) to %s\n",
		l.Sequence, l.Issuer, len(l.Revoked), l.Issued.Format(time.RFC3339), l.Expires().Format(time.RFC3339), *out)
	return nil
}

// checkRevocationsMaxAge refuses at start a max age every published list
// would fail to sign with.
func checkRevocationsMaxAge(d time.Duration) error {
	if d <= 0 || d > offline.MaxRevocationAge || d%time.Second != 0 {
		return errUsage("--revocations-max-age (or revocations_max_age:) %s: want whole seconds between 1s and %s", d, offline.MaxRevocationAge)
	}
	return nil
}

// brokerJWKS fetches and parses the broker's JWKS.
func brokerJWKS(ctx context.Context, cl *web.Client) (token.JWKS, error) {
	data, err := cl.JWKS(ctx)
	if err != nil {
		return token.JWKS{}, err
	}
	jwks, err := token.ParseJWKS(data)
	if err != nil {
		return token.JWKS{}, fmt.Errorf("the broker's JWKS: %w", err)
	}
	return jwks, nil
}

// checkRevoked refuses grant id when the revocation list lists it: the list
// cached in file when given, else the broker's when cl is not nil (online
// verification); with neither it checks nothing, as before lists existed.
// The verdict is offline.CheckRevocations': the list must be signed by a
// key of jwks, by issuer iss, and fresh.
func checkRevoked(ctx context.Context, cl *web.Client, file string, jwks token.JWKS, iss, id string) error {
	var jws, from string
	switch {
	case file != "":
		data, err := os.ReadFile(file)
		if err != nil {
			return fmt.Errorf("read --revocations: %w", err)
		}
		jws, from = strings.TrimSpace(string(data)), file
	case cl != nil:
		var err error
		if jws, err = cl.Revocations(ctx); err != nil {
			return fmt.Errorf("cannot check revocations: %w", err)
		}
		from = "the broker's revocation list"
	default:
		return nil
	}
	_, err := offline.CheckRevocations(jws, jwks, iss, 0, id, time.Now())
	var revoked *offline.RevokedError
	switch {
	case errors.As(err, &revoked):
		return &exitError{1, fmt.Errorf("token is NOT valid: grant %s was revoked (revocation list #%d issued %s)",
			revoked.Grant, revoked.Sequence, revoked.Issued.Format(time.RFC3339))}
	case errors.Is(err, offline.ErrRevocationsExpired) && file != "":
		return fmt.Errorf("%s: %w (fetch a fresh one: breakglass revocations --out %s)", from, err, file)
	case err != nil:
		return fmt.Errorf("%s: %w", from, err)
	}
	return nil
}
