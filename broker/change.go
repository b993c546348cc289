package broker

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/failsmall/breakglass/audit"
)

// A Change is one write to the store, as data: typed operations, each with
// the compare-and-swap precondition it needs, and the audit leaves that
// record them. The service plans a change from a snapshot (View), doing
// every check and all cryptography there, outside the single writer; the
// store applies it atomically with Commit, or refuses it whole with
// ErrConflict when a precondition no longer holds, and the service plans
// again from a fresh snapshot. Being a value, a change can be queued,
// logged, replicated or replayed; nothing in it reads a clock or draws a
// random number.
type Change struct {
	// Ops apply in order; the first that fails undoes the change.
	Ops []Op
	// Audit leaves are appended, in order, after the operations, in the
	// same transaction.
	Audit []AuditLeaf
	err   error // the first event that could not be encoded
}

// An Op is one operation of a Change. Stores apply the types of this
// package; an operation of a kind a store does not know fails the whole
// change with ErrInvalid (a domain that adds operation types, such as the
// rollout engine, teaches its store about them).
type Op interface {
	// Kind names the operation, "request.insert" for InsertRequest.
	Kind() string
}

// AuditLeaf is one audit entry, already encoded as the leaf the log stores
// and hashes (audit.Entry's canonical encoding), with what the store indexes
// it by.
type AuditLeaf struct {
	Type     string
	Subjects []string
	Leaf     []byte
}

// Add appends operations to c and returns c.
func (c *Change) Add(ops ...Op) *Change {
	c.Ops = append(c.Ops, ops...)
	return c
}

// Record encodes e as an audit leaf and appends it to c. An event that can't
// be encoded (a caller's bug: a malformed type, invalid JSON data) makes the
// change fail before it is committed; Err reports it.
func (c *Change) Record(e Event) *Change {
	leaf, err := e.Leaf()
	if err != nil {
		if c.err == nil {
			c.err = err
		}
		return c
	}
	c.Audit = append(c.Audit, leaf)
	return c
}

// Err is the first error met while building c.
func (c *Change) Err() error { return c.err }

// Empty reports whether c changes nothing.
func (c *Change) Empty() bool { return c == nil || len(c.Ops) == 0 && len(c.Audit) == 0 }

// Leaf encodes e as the audit leaf the log stores.
func (e Event) Leaf() (AuditLeaf, error) {
	entry := audit.Entry{Type: e.Type, Time: e.Time, Actor: e.Actor, Subjects: e.Subjects, Data: e.Data}
	leaf, err := entry.Marshal()
	if err != nil {
		return AuditLeaf{}, fmt.Errorf("%w: audit event %s: %w", ErrInvalid, e.Type, err)
	}
	return AuditLeaf{Type: e.Type, Subjects: e.Subjects, Leaf: leaf}, nil
}

// InsertRequest stores a new request; ErrConflict when its id exists.
type InsertRequest struct{ Request *Request }

// SetRequestState moves a request from state From to state To at At;
// ErrConflict when it is not in From, ErrNotFound when it does not exist.
type SetRequestState struct {
	ID       string
	From, To State
	At       time.Time
}

// RequireRequestState changes nothing: it fails with ErrConflict unless the
// request is in State.
type RequireRequestState struct {
	ID    string
	State State
}

// InsertApproval stores an approval or denial; ErrConflict when the
// approver already signed that request with that kind.
type InsertApproval struct{ Approval *Approval }

// RequireApprovals changes nothing: it fails with ErrConflict unless the
// request has exactly Count approvals and denials, the number its plan
// counted.
type RequireApprovals struct {
	RequestID string
	Count     int
}

// SetKeyCounter stores Counter as the highest FIDO counter seen for a key,
// provided the stored one is still what the plan read: none when Seen is
// false, Last otherwise; ErrConflict when not.
type SetKeyCounter struct {
	Fingerprint string
	Counter     uint32
	Seen        bool
	Last        uint32
	At          time.Time
}

// InsertGrant stores a grant; ErrConflict when the request has one.
type InsertGrant struct{ Grant *Grant }

// SupersedeRequest moves a pending request to StateSuperseded, by the
// bundle hash By; ErrConflict when it is not pending.
type SupersedeRequest struct {
	ID, By string
	At     time.Time
}

// RevokeGrant marks a grant revoked by By at At; ErrConflict when it is
// already revoked, ErrNotFound when it does not exist.
type RevokeGrant struct {
	ID, By string
	At     time.Time
}

// DelistGrant takes a revoked grant off the published revocation list
// (RevocationList), at At; ErrConflict when it is not revoked or already
// delisted, ErrNotFound when it does not exist.
type DelistGrant struct {
	ID string
	At time.Time
}

// RequireGrantUnrevoked changes nothing: it fails with ErrConflict when the
// grant has been revoked.
type RequireGrantUnrevoked struct{ ID string }

// ReserveSerials reserves the SSH certificate serials After+1 to
// After+Count for the planner that read After as the last serial handed
// out (Tx.LastSerial); ErrConflict when another reserved some meanwhile.
type ReserveSerials struct{ After, Count uint64 }

// InsertChallenge stores a single-use challenge; ErrConflict when its nonce
// exists.
type InsertChallenge struct{ Challenge *Challenge }

// ConsumeChallenge marks a challenge used at At; ErrConflict when it
// already is, ErrNotFound when it is unknown.
type ConsumeChallenge struct {
	Nonce string
	At    time.Time
}

// InsertSession stores a session under the SHA-256 of its token.
type InsertSession struct{ Session *Session }

// DeleteExpired drops the challenges and sessions that lapsed before Now.
type DeleteExpired struct{ Now time.Time }

// InsertBundle stores an activated policy bundle; ErrConflict when its hash
// is stored or its serial is not higher than every stored one.
type InsertBundle struct{ Bundle *StoredBundle }

// RequireBundleHead changes nothing: it fails with ErrConflict unless the
// stored bundle with the highest serial has this hash ("" for none stored).
type RequireBundleHead struct{ Hash string }

// SetDirectory stores the restriction (JSON) a live directory source
// applies.
type SetDirectory struct {
	Source      string
	Restriction json.RawMessage
	At          time.Time
}

func (InsertRequest) Kind() string         { return "request.insert" }
func (SetRequestState) Kind() string       { return "request.set_state" }
func (RequireRequestState) Kind() string   { return "request.require_state" }
func (InsertApproval) Kind() string        { return "approval.insert" }
func (RequireApprovals) Kind() string      { return "approval.require_count" }
func (SetKeyCounter) Kind() string         { return "key_counter.set" }
func (InsertGrant) Kind() string           { return "grant.insert" }
func (SupersedeRequest) Kind() string      { return "request.supersede" }
func (RevokeGrant) Kind() string           { return "grant.revoke" }
func (DelistGrant) Kind() string           { return "grant.delist" }
func (RequireGrantUnrevoked) Kind() string { return "grant.require_unrevoked" }
func (ReserveSerials) Kind() string        { return "serials.reserve" }
func (InsertChallenge) Kind() string       { return "challenge.insert" }
func (ConsumeChallenge) Kind() string      { return "challenge.consume" }
func (InsertSession) Kind() string         { return "session.insert" }
func (DeleteExpired) Kind() string         { return "expired.delete" }
func (InsertBundle) Kind() string          { return "bundle.insert" }
func (RequireBundleHead) Kind() string     { return "bundle.require_head" }
func (SetDirectory) Kind() string          { return "directory.set" }
