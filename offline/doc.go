// Package offline is breakglass's relying-party verifier: the checks that
// run on cached, signed material with no call to anything upstream.
//
// VerifyCredential checks a credential from cached material only, with no
// call to the broker: the broker's JWKS, a revocation list the broker
// signed, and the evidence the grant was decided on (the approval
// statement, the approvers' signatures and the signed policy bundle).
//
// In strict mode the verifier recomputes the quorum itself from the
// approvers' SSHSIG signatures and the keys enrolled in the policy bundle,
// and authenticates that bundle against policy admins the relying party
// trusts. A token signed with the broker's key alone, for instance a stolen
// key, therefore does not pass strict verification.
//
// The verifier is pure: no I/O, the clock is passed in. It imports no HTTP
// client or server, so a service can embed it without a poller; the
// broker's pollers of upstream bundles and directories are package
// upstream.
package offline
