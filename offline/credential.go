package offline

import (
	"fmt"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/failsmall/breakglass/policy"
	"github.com/failsmall/breakglass/token"
)

// Material is everything a relying party has cached to verify credentials
// offline.
type Material struct {
	JWKS     token.JWKS // the broker's public keys
	Issuer   string     // the broker name credentials must carry as iss
	Audience string     // this relying party; aud must contain it
	Leeway   time.Duration

	// Revocations is the broker's signed revocation list (compact JWS);
	// empty for none. Required in strict mode.
	Revocations string
	// MinRevocationSequence is the highest list sequence the relying party
	// has seen; a lower one is refused (a replayed old list). 0 for none.
	MinRevocationSequence uint64

	// Evidence is the grant's evidence. Required in strict mode.
	Evidence *Evidence
	// TrustedAdmins is a policy whose admins the relying party trusts to
	// sign policy bundles (typically the policy of a bundle it pinned), and
	// AdminQuorum how many of them must have signed the evidence's bundle.
	// Required in strict mode.
	TrustedAdmins *policy.Policy
	AdminQuorum   int

	// Receipt is the c2sp.org/tlog-proof receipt of the grant's
	// grant.issued audit entry (from `breakglass token ID --receipt`),
	// carrying the entry as its extra; nil for none. Required in strict
	// mode: it binds the token to a grant the broker's log holds, so a
	// token minted with a stolen signing key for a grant never issued,
	// or under a new id for a revoked one, is refused. When given it is
	// checked and LogKey, pinned by the relying party, is required.
	Receipt []byte
	// LogKey is the broker's audit log key (the note verifier key in
	// audit-key.pub of its data folder).
	LogKey note.Verifier
	// Witnesses are the witness keys, and WitnessQuorum how many distinct
	// of them must have cosigned the receipt's checkpoint; 0 for none.
	Witnesses     note.Verifiers
	WitnessQuorum int

	// Strict requires the evidence, the trusted admins, a revocation list
	// and the audit receipt with its log key, and recomputes the quorum. Outside strict mode a revocation
	// list or evidence is checked when given.
	Strict bool
	// Now is the verification time; the zero time means time.Now().
	Now time.Time
}

// Result is what a verified credential proves.
type Result struct {
	Claims *token.Claims
	// Strict is true when the quorum was recomputed from the evidence.
	Strict bool
	// Approvers are the principals whose approvals verified, in evidence
	// order; nil when no evidence was checked.
	Approvers []string
	// Bundle identifies the policy bundle the evidence was judged under;
	// nil when no evidence was checked.
	Bundle *policy.BundleInfo
	// Revocations is the list checked; nil when none was.
	Revocations *RevocationList
	// Receipt is what the audit receipt proved; nil when none was checked.
	Receipt *ReceiptResult
}

// VerifyCredential verifies jwt with m and returns what it proves. It
// checks, stopping at the first failure:
//  1. the token itself with token.Verify (the error wraps token's sentinels);
//  2. in strict mode, that evidence, trusted admins, revocations, the
//     receipt and the log key are given (ErrNoEvidence, ErrNoTrust,
//     ErrNoRevocations, ErrNoReceipt, ErrNoLogKey);
//  3. the revocation list when given: signature, freshness, issuer,
//     sequence, and that the token's jti is not in it (ErrBadRevocations,
//     ErrRevocationsExpired, ErrRevocationsRollback, ErrRevoked);
//  4. the evidence when given: see the errors in errors.go, from
//     ErrBadEvidence to ErrQuorumShort;
//  5. the audit receipt when given: LogKey is given (ErrNoLogKey), it
//     parses and carries its entry (ErrBadReceipt), its checkpoint is
//     signed by LogKey and includes the entry (ErrReceiptUnverified),
//     WitnessQuorum witnesses cosigned it (ErrWitnessQuorum), and the entry
//     is the grant.issued entry of the credential's grant, request, role,
//     requester, incident, approvers, policy, issue time and expiry
//     (ErrReceiptMismatch).
//
// No claims are returned with an error.
func VerifyCredential(jwt string, m Material) (*Result, error) {
	now := m.Now
	if now.IsZero() {
		now = time.Now()
	}
	claims, err := token.Verify(jwt, m.JWKS, token.VerifyOptions{Issuer: m.Issuer, Audience: m.Audience,
		Leeway: m.Leeway, Now: func() time.Time { return now }})
	if err != nil {
		return nil, fmt.Errorf("verify credential: %w", err)
	}
	if m.Strict {
		if err := m.strictInputs(); err != nil {
			return nil, err
		}
	}
	res := &Result{Claims: claims, Strict: m.Strict}
	if m.Revocations != "" {
		if res.Revocations, err = CheckRevocations(m.Revocations, m.JWKS, m.Issuer, m.MinRevocationSequence, claims.ID, now); err != nil {
			return nil, err
		}
	}
	if m.Evidence != nil {
		if m.TrustedAdmins == nil {
			return nil, fmt.Errorf("%w: evidence was given but no admins to authenticate its policy bundle", ErrNoTrust)
		}
		if res.Approvers, res.Bundle, err = checkEvidence(m.Evidence, claims, m.TrustedAdmins, m.AdminQuorum); err != nil {
			return nil, err
		}
	}
	if m.Receipt != nil {
		if res.Receipt, err = m.checkReceipt(claims); err != nil {
			return nil, err
		}
	}
	return res, nil
}

func (m *Material) strictInputs() error {
	switch {
	case m.Evidence == nil:
		return fmt.Errorf("%w: the grant's evidence (statement, approvals, policy bundle) is required", ErrNoEvidence)
	case m.TrustedAdmins == nil || m.AdminQuorum < 1:
		return fmt.Errorf("%w: give the trusted admins' policy and an admin quorum of at least 1", ErrNoTrust)
	case m.Revocations == "":
		return fmt.Errorf("%w: fetch the broker's revocation list while it is reachable and cache it", ErrNoRevocations)
	case m.Receipt == nil:
		return fmt.Errorf("%w: the grant's audit receipt binds the token to a grant the broker's log holds; the requester saves it with the token", ErrNoReceipt)
	case m.LogKey == nil:
		return fmt.Errorf("%w: pin the broker's audit log key (its audit-key.pub) to check the grant's receipt", ErrNoLogKey)
	}
	return nil
}

// errMismatch names the field that differs between evidence and credential.
func errMismatch(field, evidence, credential string) error {
	return fmt.Errorf("%w: %s is %q in the evidence, %q in the credential", ErrEvidenceMismatch, field, evidence, credential)
}
