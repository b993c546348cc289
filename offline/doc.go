// Package offline is breakglass's cached, signed state and the checks that
// run on it with no call to anything upstream.
//
// The relying-party verifier (VerifyCredential) checks a credential from
// cached material only, with no call to the broker: the broker's JWKS, a revocation list the
// broker signed, and the evidence the grant was decided on (the approval
// statement, the approvers' signatures and the signed policy bundle).
//
// In strict mode the verifier recomputes the quorum itself from the
// approvers' SSHSIG signatures and the keys enrolled in the policy bundle,
// and authenticates that bundle against policy admins the relying party
// trusts. A token signed with the broker's key alone, for instance a stolen
// key, therefore does not pass strict verification.
//
// The verifier is pure: no I/O, the clock is passed in.
//
// The broker's side of the cache: Source (HTTPSource, PathSource) fetches
// new signed policy bundles from upstreams, SCIMSource reads a SCIM 2.0
// directory, and Restrictions computes the only thing a directory may do,
// take rights away. A Syncer polls them all in the background, each on its
// own schedule and deadline, and keeps each one's last success, last error
// and age; whether a fetched bundle may become active is the broker's
// decision (broker.Service.Activate), never the source's. Nothing here
// blocks issuing: when every upstream is down, the broker keeps running on
// the last-known-good bundle in its store.
package offline
