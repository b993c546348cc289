package offline

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/failsmall/breakglass/broker"
	"github.com/failsmall/breakglass/hwkey"
	"github.com/failsmall/breakglass/policy"
	"github.com/failsmall/breakglass/token"
)

// checkEvidence recomputes the grant's decision from e alone and returns the
// approvers whose signatures verified and the bundle. In order:
//   - the bundle parses and its hash is the credential's policy claim
//     (ErrBadEvidence, ErrEvidenceMismatch);
//   - k admins of trusted signed it (ErrUntrustedBundle), and its policy
//     validates (ErrBadEvidence);
//   - the statement is an approval statement for exactly this credential
//     (ErrBadEvidence, ErrEvidenceMismatch);
//   - every approval is over that statement, verifies with a key the
//     bundle enrolled, and comes from an eligible approver
//     (ErrMissingApprovals, ErrEvidenceMismatch, ErrForgedApproval,
//     ErrNotEligible); evidence is what the broker counted, so one bad
//     approval fails it all;
//   - the approvers meet the role's quorum (ErrQuorumShort) and include
//     every approver the credential names (ErrEvidenceMismatch).
func checkEvidence(e *Evidence, c *token.Claims, trusted *policy.Policy, k int) ([]string, *policy.BundleInfo, error) {
	p, info, err := evidencePolicy(e, c, trusted, k)
	if err != nil {
		return nil, nil, err
	}
	st, err := evidenceStatement(e, c)
	if err != nil {
		return nil, nil, err
	}
	approvers, err := checkApprovals(e, st, p)
	if err != nil {
		return nil, nil, err
	}
	q := policy.Quorum(p, st.Role, st.Requester, approvers)
	if !q.Met {
		return nil, nil, fmt.Errorf("%w for role %s: approvals from [%s], still missing %s", ErrQuorumShort,
			st.Role, strings.Join(approvers, ", "), strings.Join(q.Missing, " and "))
	}
	for _, a := range c.Approvers {
		if !slices.Contains(approvers, a) {
			return nil, nil, fmt.Errorf("%w: the credential names approver %q but the evidence holds no approval from them", ErrEvidenceMismatch, a)
		}
	}
	return approvers, info, nil
}

func evidencePolicy(e *Evidence, c *token.Claims, trusted *policy.Policy, k int) (*policy.Policy, *policy.BundleInfo, error) {
	sb, err := policy.ParseSignedBundle([]byte(e.Bundle))
	if err != nil {
		return nil, nil, fmt.Errorf("%w: bundle: %w", ErrBadEvidence, err)
	}
	if sb.Hash != c.PolicyHash {
		return nil, nil, errMismatch("policy bundle", sb.Hash, c.PolicyHash)
	}
	if k < 1 {
		return nil, nil, fmt.Errorf("%w: admin quorum %d, want at least 1", ErrNoTrust, k)
	}
	if err := policy.CheckBundleSignatures(sb, trusted, k); err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrUntrustedBundle, err)
	}
	p, err := policy.Parse(sb.Bundle.Policy)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: bundle serial %d: policy: %w", ErrBadEvidence, sb.Bundle.Serial, err)
	}
	info := sb.Info()
	return p, &info, nil
}

// evidenceStatement parses the approval statement and checks that it names
// exactly what the credential grants.
func evidenceStatement(e *Evidence, c *token.Claims) (broker.Statement, error) {
	st, err := broker.ParseStatement([]byte(e.Statement))
	if err != nil {
		return st, fmt.Errorf("%w: statement: %w", ErrBadEvidence, err)
	}
	if st.Kind != broker.KindApproval {
		return st, fmt.Errorf("%w: statement is a %s statement, want an approval statement", ErrBadEvidence, st.Kind)
	}
	pairs := [][3]string{
		{"broker", st.Broker, c.Issuer}, {"request", st.Request, c.RequestID}, {"role", st.Role, c.Role},
		{"requester", st.Requester, c.Subject}, {"incident", st.Incident, c.Incident}, {"policy", st.Policy, c.PolicyHash},
	}
	for _, f := range pairs {
		if f[1] != f[2] {
			return st, errMismatch(f[0], f[1], f[2])
		}
	}
	if lives := c.Expiry.Sub(c.IssuedAt); c.IssuedAt.IsZero() || lives > st.Duration {
		return st, fmt.Errorf("%w: the credential lives %s from iat %s, the statement approved %s", ErrEvidenceMismatch,
			lives, c.IssuedAt.Format(time.RFC3339), broker.FormatDuration(st.Duration))
	}
	if c.IssuedAt.After(st.NotAfter) {
		return st, fmt.Errorf("%w: the credential was issued %s, after the statement's not-after %s", ErrEvidenceMismatch,
			c.IssuedAt.Format(time.RFC3339), st.NotAfter.Format(time.RFC3339))
	}
	return st, nil
}

// checkApprovals verifies each approval and returns the distinct approvers
// in evidence order.
func checkApprovals(e *Evidence, st broker.Statement, p *policy.Policy) ([]string, error) {
	if len(e.Approvals) == 0 {
		return nil, fmt.Errorf("%w: the grant of request %s carries no approval signatures", ErrMissingApprovals, st.Request)
	}
	role, ok := p.Role(st.Role)
	if !ok {
		return nil, fmt.Errorf("%w: role %q is not in the policy bundle", ErrNotEligible, st.Role)
	}
	var approvers []string
	for i, a := range e.Approvals {
		id, err := checkApproval(i, a, e.Statement, role, st.Requester, p)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(approvers, id) {
			approvers = append(approvers, id)
		}
	}
	return approvers, nil
}

func checkApproval(i int, a Approval, statement string, role *policy.Role, requester string, p *policy.Policy) (string, error) {
	if a.Statement != statement {
		return "", fmt.Errorf("%w: approval %d is over another statement (digest %s, want %s)", ErrEvidenceMismatch,
			i+1, broker.Digest([]byte(a.Statement)), broker.Digest([]byte(statement)))
	}
	sig, err := hwkey.ParseSignature([]byte(a.Signature))
	if err != nil {
		return "", fmt.Errorf("%w: approval %d: %w", ErrForgedApproval, i+1, err)
	}
	pr, key, ok := p.PrincipalByKey(sig.PublicKey)
	if !ok {
		return "", fmt.Errorf("%w: approval %d is signed by a key no principal of the policy bundle enrolled", ErrForgedApproval, i+1)
	}
	res, err := hwkey.Verify(sig, key.PublicKey, hwkey.Namespace, []byte(statement))
	if err != nil {
		return "", fmt.Errorf("%w: approval %d by %s: %w", ErrForgedApproval, i+1, pr.ID, err)
	}
	if err := policy.CheckApprover(p, role.Name, requester, pr.ID); err != nil {
		return "", fmt.Errorf("%w: approval %d: %w", ErrNotEligible, i+1, err)
	}
	if role.RequireUserVerification && !res.UserVerified {
		return "", fmt.Errorf("%w: approval %d by %s: role %s requires user verification (PIN or biometric), the signature does not prove it",
			ErrNotEligible, i+1, pr.ID, role.Name)
	}
	return pr.ID, nil
}
