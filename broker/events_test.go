package broker_test

import (
	"testing"

	"github.com/failsmall/breakglass/audit"
	"github.com/failsmall/breakglass/broker"
)

// TestEventTypesAreWellShaped: every event type of the broker's vocabulary
// is one the log accepts, and no two are the same.
func TestEventTypesAreWellShaped(t *testing.T) {
	types := []string{broker.EventRequestCreated, broker.EventApprovalRecorded, broker.EventDenialRecorded,
		broker.EventRequestCancelled, broker.EventRequestExpired, broker.EventGrantIssued,
		broker.EventCredentialsFetched, broker.EventGrantRevoked, broker.EventGrantExpired,
		broker.EventPolicyLoaded, broker.EventPolicyRejected, broker.EventPolicyActivated,
		broker.EventDirectoryChanged, broker.EventKeyRotated, broker.EventBrokerStarted, broker.EventBrokerStopped}
	seen := map[string]bool{}
	for _, typ := range types {
		if err := audit.CheckType(typ); err != nil {
			t.Errorf("%s: %v", typ, err)
		}
		if seen[typ] {
			t.Errorf("%s: defined twice", typ)
		}
		seen[typ] = true
	}
}
