package offline

import "errors"

// Errors of VerifyCredential, VerifyRevocations and ParseEvidence. Each error
// returned wraps exactly one of them (or one of token's Verify errors for the
// credential itself) with the details; test with errors.Is.
var (
	// ErrNoEvidence: strict verification was asked without evidence.
	ErrNoEvidence = errors.New("no evidence for strict verification")
	// ErrNoRevocations: strict verification was asked without a revocation list.
	ErrNoRevocations = errors.New("no revocation list for strict verification")
	// ErrNoTrust: strict verification was asked without trusted policy admins.
	ErrNoTrust = errors.New("no trusted policy admins for strict verification")
	// ErrBadEvidence: the evidence does not parse (JSON, statement, bundle, policy).
	ErrBadEvidence = errors.New("malformed evidence")
	// ErrEvidenceMismatch: the evidence is for another request, role,
	// requester, incident, broker or policy than the credential.
	ErrEvidenceMismatch = errors.New("evidence is for another request or policy")
	// ErrUntrustedBundle: the evidence's policy bundle lacks the trusted
	// admins' signatures.
	ErrUntrustedBundle = errors.New("evidence policy bundle is not signed by the trusted admins")
	// ErrMissingApprovals: the evidence holds no approvals.
	ErrMissingApprovals = errors.New("evidence holds no approvals")
	// ErrForgedApproval: an approval signature does not verify, or its key
	// is enrolled by no principal of the bundle.
	ErrForgedApproval = errors.New("forged approval signature")
	// ErrNotEligible: an approver may not approve this request under the
	// bundle (not in an approving group, disabled, the requester, or
	// without the user verification the role requires).
	ErrNotEligible = errors.New("approver not eligible under the policy bundle")
	// ErrQuorumShort: the valid approvals do not meet the role's quorum.
	ErrQuorumShort = errors.New("approvals do not meet the quorum")
	// ErrRevoked: the grant is in the revocation list.
	ErrRevoked = errors.New("credential revoked")
	// ErrBadRevocations: the revocation list is malformed or not signed
	// by a key of the JWKS. When the list names a kid the JWKS lacks, the
	// error also wraps token.ErrNotInJWKS: the cached JWKS is older than
	// the broker's signing key, fetch it again.
	ErrBadRevocations = errors.New("invalid revocation list")
	// ErrRevocationsExpired: the revocation list is older than its max age.
	ErrRevocationsExpired = errors.New("revocation list too old")
	// ErrRevocationsRollback: the revocation list's sequence is lower than
	// one the relying party has already seen.
	ErrRevocationsRollback = errors.New("revocation list older than one already seen")
	// ErrNoReceipt: strict mode was asked without the grant's audit
	// receipt.
	ErrNoReceipt = errors.New("no audit receipt")
	// ErrNoLogKey: an audit receipt was given without the log key to
	// verify it.
	ErrNoLogKey = errors.New("no audit log key")
	// ErrBadReceipt: the audit receipt is malformed, carries no entry, or
	// its entry does not parse.
	ErrBadReceipt = errors.New("malformed audit receipt")
	// ErrReceiptUnverified: the receipt's checkpoint is not signed by the
	// log key, or its proof does not include its entry (a tampered leaf).
	ErrReceiptUnverified = errors.New("audit receipt does not verify")
	// ErrWitnessQuorum: fewer witnesses than the quorum cosigned the
	// receipt's checkpoint.
	ErrWitnessQuorum = errors.New("audit checkpoint lacks witness cosignatures")
	// ErrReceiptMismatch: the receipt proves an entry other than the
	// grant.issued entry of this credential's grant.
	ErrReceiptMismatch = errors.New("audit receipt is for another grant")
)
