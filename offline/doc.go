// Package offline verifies a breakglass credential from cached material
// only, with no call to the broker: the broker's JWKS, a revocation list the
// broker signed, and the evidence the grant was decided on (the approval
// statement, the approvers' signatures and the signed policy bundle).
//
// In strict mode the verifier recomputes the quorum itself from the
// approvers' SSHSIG signatures and the keys enrolled in the policy bundle,
// and authenticates that bundle against policy admins the relying party
// trusts. A token signed with the broker's key alone, for instance a stolen
// key, therefore does not pass strict verification.
//
// Everything here is pure: no I/O, the clock is passed in.
package offline
