package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/failsmall/breakglass/audit"
	"github.com/failsmall/breakglass/broker"
	"github.com/failsmall/breakglass/offline"
	"github.com/failsmall/breakglass/policy"
	"github.com/failsmall/breakglass/token"
	"github.com/failsmall/breakglass/web"
)

// evidenceWritten is what `token --evidence` wrote, for its output.
type evidenceWritten struct {
	File         string    `json:"file"`
	Request      string    `json:"request"`
	Approvals    int       `json:"approvals"`
	BundleSerial uint64    `json:"bundle_serial"`
	BundleHash   string    `json:"bundle_hash"`
	Created      time.Time `json:"bundle_created"`
}

func (w *evidenceWritten) String() string {
	return fmt.Sprintf("wrote the evidence of request %s (%d approvals, policy bundle serial %d %s) to %s",
		w.Request, w.Approvals, w.BundleSerial, w.BundleHash, w.File)
}

// writeEvidence fetches request id's evidence and writes it to path
// (mode 0644, atomically) in the encoding offline.ParseEvidence reads. It
// writes nothing the relying party could not parse: the encoding must parse
// back and the bundle must be a signed bundle. Whether the evidence verifies
// is for `verify --evidence` to say, under the admins it trusts.
func writeEvidence(ctx context.Context, cl *web.Client, id, path string) (*evidenceWritten, error) {
	ej, err := cl.Evidence(ctx, id)
	if err != nil {
		return nil, err
	}
	e := &offline.Evidence{Statement: ej.Statement, Bundle: ej.Bundle, Approvals: []offline.Approval{}}
	for _, a := range ej.Approvals {
		e.Approvals = append(e.Approvals, offline.Approval{Statement: a.Statement, Signature: a.Signature})
	}
	data, err := e.Encode()
	if err != nil {
		return nil, fmt.Errorf("the broker's evidence of request %s: %w; %s left as it was", id, err, path)
	}
	if _, err := offline.ParseEvidence(data); err != nil {
		return nil, fmt.Errorf("the broker's evidence of request %s does not parse back: %w; %s left as it was", id, err, path)
	}
	sb, err := policy.ParseSignedBundle([]byte(e.Bundle))
	if err != nil {
		return nil, fmt.Errorf("the broker's evidence of request %s: %w; %s left as it was", id, err, path)
	}
	if err := writeFileAtomic(path, append(data, '\n'), 0o644); err != nil {
		return nil, err
	}
	return &evidenceWritten{File: path, Request: id, Approvals: len(e.Approvals),
		BundleSerial: sb.Bundle.Serial, BundleHash: sb.Hash, Created: sb.Bundle.Created}, nil
}

// strictFlags are verify's flags for checking a grant's evidence.
type strictFlags struct {
	strict          bool
	evidence, trust string
	minSequence     uint64
	receipt, logKey string
	witnesses       multiFlag
	witnessQuorum   int
	// jwksHint says how to fetch the --jwks FILE again; "" when verifying
	// online, against the JWKS just fetched.
	jwksHint string
}

// wanted reports whether verification goes through offline.VerifyCredential
// rather than the token and revocation checks alone.
func (f *strictFlags) wanted() bool {
	return f.strict || f.evidence != "" || f.trust != "" || f.minSequence > 0 || f.receipt != ""
}

// check returns the usage error for flags that cannot work together;
// revFile is --revocations and online whether the broker is asked.
func (f *strictFlags) check(revFile string, online bool) error {
	if f.strict {
		var missing []string
		for _, m := range [][2]string{{f.evidence, "--evidence FILE (breakglass token ID --evidence FILE)"},
			{f.trust, "--trust BUNDLE (the signed policy bundle you pinned)"},
			{revFile, "--revocations FILE (breakglass revocations --out FILE)"},
			{f.receipt, "--receipt FILE (breakglass token ID --receipt FILE: it binds the token to the grant the broker logged)"},
			{f.logKey, "--log-key FILE (the broker's audit-key.pub, pinned)"}} {
			if m[0] == "" {
				missing = append(missing, m[1])
			}
		}
		if len(missing) > 0 {
			return errUsage("--strict needs %s", strings.Join(missing, ", "))
		}
	}
	switch {
	case f.trust != "" && f.evidence == "":
		return errUsage("--trust authenticates the bundle of --evidence: give --evidence FILE too")
	case f.evidence != "" && f.trust == "":
		return errUsage("--evidence needs --trust BUNDLE: the signed policy bundle whose admins you trust to sign the broker's bundles")
	case f.minSequence > 0 && revFile == "" && !online:
		return errUsage("--min-sequence applies to a revocation list: give --revocations FILE too")
	case f.receipt != "" && f.logKey == "":
		return errUsage("--receipt needs --log-key FILE: the broker's audit log key (audit-key.pub in its data folder)")
	case f.receipt == "" && (f.logKey != "" || len(f.witnesses) > 0 || f.witnessQuorum != 0):
		return errUsage("--log-key, --witness and --witness-quorum check an audit receipt: give --receipt FILE too (breakglass token ID --receipt FILE)")
	case f.witnessQuorum < 0 || f.witnessQuorum > len(f.witnesses):
		return errUsage("--witness-quorum %d: give at least that many --witness keys", f.witnessQuorum)
	}
	return nil
}

// receiptMaterial reads the audit receipt, the log key and the witness
// keys of f into m.
func (f *strictFlags) receiptMaterial(m *offline.Material) error {
	var err error
	if m.Receipt, err = os.ReadFile(f.receipt); err != nil {
		return fmt.Errorf("read --receipt: %w", err)
	}
	if m.LogKey, err = parseVerifier(f.logKey); err != nil {
		return fmt.Errorf("--log-key: %w (want the broker's audit-key.pub)", err)
	}
	var ws []note.Verifier
	for _, k := range f.witnesses {
		v, err := parseCosignatureVerifier(k)
		if err != nil {
			return fmt.Errorf("--witness %s: %w (want a witness's cosignature key, as `breakglass witness serve` prints)", k, err)
		}
		ws = append(ws, v)
	}
	if len(ws) > 0 {
		m.Witnesses, m.WitnessQuorum = note.VerifierList(ws...), f.witnessQuorum
		if m.WitnessQuorum == 0 {
			m.WitnessQuorum = len(ws)
		}
	}
	return nil
}

// parseCosignatureVerifier reads a cosignature/v1 verifier key given
// inline or as a file.
func parseCosignatureVerifier(s string) (*audit.CosignatureVerifier, error) {
	if v, err := audit.NewCosignatureVerifier(strings.TrimSpace(s)); err == nil {
		return v, nil
	}
	b, err := os.ReadFile(s)
	if err != nil {
		return nil, err
	}
	return audit.NewCosignatureVerifier(strings.TrimSpace(string(b)))
}

// trustedAdmins reads the signed bundle the relying party pinned: its
// policy's admins, admin_quorum of them, are who must have signed the
// evidence's bundle. Trust comes from the operator choosing the file, so
// its own signatures are not checked here.
func trustedAdmins(file string) (*policy.Policy, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read --trust: %w", err)
	}
	sb, err := policy.ParseSignedBundle(data)
	if err != nil {
		return nil, fmt.Errorf("--trust %s: %w (want a signed policy bundle, such as DATA/bundles/active.bundle)", file, err)
	}
	p, err := policy.BundlePolicy(sb)
	if err != nil {
		return nil, fmt.Errorf("--trust %s: %w", file, err)
	}
	if len(p.Admins) == 0 || p.AdminQuorum < 1 {
		return nil, fmt.Errorf("--trust %s: its policy names no admins to trust", file)
	}
	return p, nil
}

// readEvidence reads and parses an evidence file.
func readEvidence(file string) (*offline.Evidence, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read --evidence: %w", err)
	}
	e, err := offline.ParseEvidence(data)
	if err != nil {
		return nil, &exitError{1, fmt.Errorf("token is NOT accepted: --evidence %s: %w (fetch it again: breakglass token ID --evidence %s)", file, err, file)}
	}
	return e, nil
}

// verifyStrict checks the credential raw with offline.VerifyCredential: its
// evidence under the trusted admins, and the revocation list (the jws
// read from revFile, or fetched from the broker when cl is not nil). It
// returns the result and how many approvals the evidence holds.
func verifyStrict(ctx context.Context, cl *web.Client, f *strictFlags, revFile, raw string, opts token.VerifyOptions, jwks token.JWKS) (*offline.Result, int, error) {
	m := offline.Material{JWKS: jwks, Issuer: opts.Issuer, Audience: opts.Audience, Leeway: opts.Leeway,
		MinRevocationSequence: f.minSequence, Strict: f.strict}
	var err error
	if f.evidence != "" {
		if m.Evidence, err = readEvidence(f.evidence); err != nil {
			return nil, 0, err
		}
		if m.TrustedAdmins, err = trustedAdmins(f.trust); err != nil {
			return nil, 0, err
		}
		m.AdminQuorum = m.TrustedAdmins.AdminQuorum
	}
	if f.receipt != "" {
		if err := f.receiptMaterial(&m); err != nil {
			return nil, 0, err
		}
	}
	switch {
	case revFile != "":
		data, err := os.ReadFile(revFile)
		if err != nil {
			return nil, 0, fmt.Errorf("read --revocations: %w", err)
		}
		m.Revocations = strings.TrimSpace(string(data))
	case cl != nil:
		if m.Revocations, err = cl.Revocations(ctx); err != nil {
			return nil, 0, fmt.Errorf("cannot check revocations: %w", err)
		}
		revFile = "FILE"
	}
	res, err := offline.VerifyCredential(raw, m)
	if err != nil {
		return nil, 0, &exitError{1, strictError(err, f, revFile)}
	}
	if m.Evidence == nil {
		return res, 0, nil
	}
	return res, len(m.Evidence.Approvals), nil
}

// strictError says what a VerifyCredential error means to the relying
// party: a verdict on the grant ("NOT valid") or a problem with what it
// cached ("NOT accepted"), and what to do.
func strictError(err error, f *strictFlags, revFile string) error {
	if errors.Is(err, offline.ErrBadRevocations) && errors.Is(err, token.ErrNotInJWKS) && f.jwksHint != "" {
		// The list is fine: the cached JWKS predates the key that signed it.
		return fmt.Errorf("token is NOT accepted: %w (%s)", err, f.jwksHint)
	}
	for _, h := range []struct {
		sentinel error
		verdict  string
		hint     string
	}{
		{offline.ErrRevoked, "valid", ""},
		{offline.ErrEvidenceMismatch, "valid", "is " + f.evidence + " the evidence of this token's request? breakglass token ID --evidence FILE"},
		{offline.ErrUntrustedBundle, "valid", "the grant was judged under a bundle the admins of " + f.trust + " did not sign; if they rotated, pin their newer bundle"},
		{offline.ErrMissingApprovals, "valid", "the broker granted it without approvals"},
		{offline.ErrForgedApproval, "valid", "an approval in " + f.evidence + " is not a valid signature by a key the bundle enrolled"},
		{offline.ErrNotEligible, "valid", "an approval in " + f.evidence + " comes from someone the bundle does not let approve this request"},
		{offline.ErrQuorumShort, "valid", "the approvals in " + f.evidence + " do not add up to the role's quorum"},
		{offline.ErrBadEvidence, "accepted", "fetch it again: breakglass token ID --evidence " + f.evidence},
		{offline.ErrRevocationsExpired, "accepted", "fetch a fresh one: breakglass revocations --out " + revFile},
		{offline.ErrRevocationsRollback, "accepted", "an older list than one already seen: fetch a fresh one: breakglass revocations --out " + revFile},
		{offline.ErrBadRevocations, "accepted", "fetch it again: breakglass revocations --out " + revFile},
		{offline.ErrNoEvidence, "accepted", "give --evidence FILE"},
		{offline.ErrNoTrust, "accepted", "give --trust BUNDLE"},
		{offline.ErrNoRevocations, "accepted", "give --revocations FILE"},
		{offline.ErrReceiptMismatch, "valid", "is " + f.receipt + " the receipt of this token's grant? breakglass token ID --receipt FILE"},
		{offline.ErrReceiptUnverified, "valid", "is " + f.logKey + " this broker's audit-key.pub? if so, the receipt was tampered with: fetch it again: breakglass token ID --receipt FILE"},
		{offline.ErrWitnessQuorum, "accepted", "the receipt's checkpoint is not cosigned by enough of your witnesses yet: fetch it again later: breakglass token ID --receipt FILE"},
		{offline.ErrBadReceipt, "accepted", "fetch it again: breakglass token ID --receipt " + f.receipt},
		{offline.ErrNoLogKey, "accepted", "give --log-key FILE"},
		{offline.ErrNoReceipt, "accepted", "give --receipt FILE"},
	} {
		if !errors.Is(err, h.sentinel) {
			continue
		}
		if h.hint == "" {
			return fmt.Errorf("token is NOT %s: %w", h.verdict, err)
		}
		return fmt.Errorf("token is NOT %s: %w (%s)", h.verdict, err, h.hint)
	}
	return fmt.Errorf("token is NOT valid: %w", err)
}

// strictLines describes what VerifyCredential checked beyond the token.
func strictLines(res *offline.Result, e int) []string {
	var lines []string
	if res.Revocations != nil {
		l := res.Revocations
		lines = append(lines, fmt.Sprintf("revocations: not in list #%d of %s (issued %s, valid until %s)",
			l.Sequence, l.Issuer, l.Issued.Format(time.RFC3339), l.Expires().UTC().Format(time.RFC3339)))
	}
	if res.Bundle != nil {
		what := "evidence"
		if res.Strict {
			what = "strict"
		}
		lines = append(lines, fmt.Sprintf("%s: quorum recomputed from %d approvals by [%s] under bundle serial %d (%s)",
			what, e, strings.Join(res.Approvers, " "), res.Bundle.Serial, res.Bundle.Hash))
	}
	if r := res.Receipt; r != nil {
		l := fmt.Sprintf("audit: %s entry %d included in checkpoint of size %d signed by %s", broker.EventGrantIssued, r.Index, r.Size, r.Origin)
		if len(r.Witnesses) > 0 {
			l += fmt.Sprintf(", cosigned by %d witnesses [%s]", len(r.Witnesses), strings.Join(r.Witnesses, " "))
		}
		lines = append(lines, l)
	}
	return lines
}
