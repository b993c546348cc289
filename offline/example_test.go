package offline_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/failsmall/breakglass/offline"
	"github.com/failsmall/breakglass/policy"
)

// A relying party verifies a credential strictly from material it cached:
// the broker's JWKS, its signed revocation list, the policy bundle it pinned
// (whose admins it trusts), the broker's audit log key, and the grant's
// evidence and audit receipt.
func ExampleVerifyCredential() {
	dir, err := os.MkdirTemp("", "offline-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	// The broker's side, built by the test fixture: a keyring, a policy
	// bundle signed by admins carol and erin, and approvals by bob, dave
	// and erin over alice's request.
	f, err := buildFixture(filepath.Join(dir, "keys"))
	if err != nil {
		fmt.Println(err)
		return
	}
	credential, _ := f.keys.Mint(f.claims)
	ev, _ := f.evidence("bob", "dave", "erin")
	evidenceFile, _ := ev.Encode()
	revocations, _ := f.revocations(start, time.Hour, 7, "grant-0")

	// The relying party's side: no network.
	_, trusted, err := policy.PinBundle(f.bundle, 2) // the bundle it pinned
	if err != nil {
		fmt.Println(err)
		return
	}
	evidence, err := offline.ParseEvidence(evidenceFile)
	if err != nil {
		fmt.Println(err)
		return
	}
	m := offline.Material{JWKS: f.keys.JWKS(), Issuer: "bg.test", Audience: "ops-api", Revocations: revocations,
		Evidence: evidence, TrustedAdmins: trusted, AdminQuorum: 2, Receipt: f.receipt, LogKey: f.log.key,
		Strict: true, Now: start.Add(10 * time.Minute)}
	res, err := offline.VerifyCredential(credential, m)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(res.Claims.Subject, res.Claims.Role, res.Approvers, "bundle serial", res.Bundle.Serial)

	// The same credential with its approvals stripped, as someone holding
	// only the broker's signing key could produce, fails.
	m.Evidence = &offline.Evidence{Statement: evidence.Statement, Bundle: evidence.Bundle}
	_, err = offline.VerifyCredential(credential, m)
	fmt.Println(errors.Is(err, offline.ErrMissingApprovals))
	// Output:
	// alice prod-ssh-root [bob dave erin] bundle serial 1
	// true
}
