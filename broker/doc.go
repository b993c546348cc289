// Package broker is the domain of breakglass: requests, approvals, grants and
// the statements approvers sign. Service runs the lifecycle
//
//	request -> approvals -> quorum -> grant -> revoke/expire
//
// and owns every business rule: policy checks, persistence, audit and minting
// happen in one Service method per operation, inside one store transaction, so
// that no grant exists without its audit entry and no entry records a change
// that rolled back. The package imports no driver: storage, minting and the
// clock come in through the small interfaces in store.go.
package broker
