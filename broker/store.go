package broker

import (
	"context"
	"encoding/json"
	"time"
)

// Store keeps the broker's state. Implementations MUST run Update's function
// in one write transaction that excludes every other writer for its whole
// length, across processes sharing the store (SQLite: BEGIN IMMEDIATE), so
// that reading a state and changing it cannot interleave with another
// writer. When fn returns an error, nothing it did is kept.
type Store interface {
	// Update runs fn in one write transaction and commits it durably when
	// fn returns nil. A commit failure (disk full, I/O error) is returned
	// wrapped in ErrAuditUnavailable, since the audit entries could not
	// be made durable either.
	Update(ctx context.Context, fn func(Tx) error) error
	// View runs fn in a read-only snapshot.
	View(ctx context.Context, fn func(Tx) error) error
}

// Tx is a transaction's view of the store. Methods return ErrNotFound for a
// missing row and ErrConflict when a compare-and-swap finds another value;
// write methods fail in a View.
type Tx interface {
	// InsertRequest stores a new request; ErrConflict when its id exists.
	InsertRequest(r *Request) error
	Request(id string) (*Request, error)
	// Requests lists requests, newest first.
	Requests(f RequestFilter) ([]*Request, error)
	// SetRequestState moves request id from state from to state to;
	// ErrConflict when its state is not from.
	SetRequestState(id string, from, to State, at time.Time) error
	// DueRequests lists pending requests whose Expires is at or before now.
	DueRequests(now time.Time, limit int) ([]*Request, error)
	CountByState() (map[State]int, error)

	// InsertApproval stores an approval or denial; ErrDuplicate when the
	// approver already signed that request with that kind.
	InsertApproval(a *Approval) error
	// Approvals lists a request's approvals and denials, oldest first.
	Approvals(requestID string) ([]*Approval, error)

	// InsertGrant stores a grant; ErrConflict when the request has one.
	InsertGrant(g *Grant) error
	// Grant returns the grant of a request.
	Grant(requestID string) (*Grant, error)
	// RevokeGrant marks grant id revoked; ErrConflict when it already is.
	RevokeGrant(id, by string, at time.Time) error
	// NextSerial returns a new SSH certificate serial, never zero and never
	// handed out before by this store; it is used up only if the
	// transaction commits.
	NextSerial() (uint64, error)
	// RevokedSSHSerials lists the serials of the certificates of revoked
	// grants, ascending.
	RevokedSSHSerials() ([]uint64, error)
	// RevokedGrants lists the ids of revoked grants that expire after now,
	// ascending.
	RevokedGrants(now time.Time) ([]string, error)
	// RevocationSequence is the number of grants ever revoked plus the
	// number of those whose Expires is at or before now (see
	// RevocationList).
	RevocationSequence(now time.Time) (uint64, error)
	// DueGrants lists unrevoked grants of issued requests whose Expires is
	// at or before now.
	DueGrants(now time.Time, limit int) ([]*Grant, error)

	// KeyCounter returns the highest FIDO counter seen for a key
	// fingerprint; ok is false when none was seen.
	KeyCounter(fingerprint string) (counter uint32, ok bool, err error)
	SetKeyCounter(fingerprint string, counter uint32, at time.Time) error

	// InsertChallenge stores a single-use challenge.
	InsertChallenge(c *Challenge) error
	// ConsumeChallenge marks the challenge with this nonce used and returns
	// it; ErrNotFound when unknown, ErrConflict when already used.
	ConsumeChallenge(nonce string, at time.Time) (*Challenge, error)
	// InsertSession stores a session under the SHA-256 of its token.
	InsertSession(s *Session) error
	// Session returns the session with this token hash; ErrNotFound when
	// unknown.
	Session(tokenHash string) (*Session, error)
	// DeleteExpired drops challenges and sessions that lapsed before now.
	DeleteExpired(now time.Time) error

	// InsertBundle stores an activated policy bundle; ErrConflict when its
	// hash is stored or its serial is not higher than every stored one.
	InsertBundle(b *StoredBundle) error
	// Bundle returns the bundle with this hash; ErrNotFound when unknown.
	Bundle(hash string) (*StoredBundle, error)
	// LatestBundles returns up to n bundles, highest serial first: the
	// active bundle, then the previous one... Their Raw is not read (the
	// broker checks for a new bundle every few seconds): Bundle reads it.
	LatestBundles(n int) ([]*StoredBundle, error)
	// SetDirectory stores the restriction (JSON) a live directory source
	// applies; Directories returns them all by source.
	SetDirectory(source string, restriction json.RawMessage, at time.Time) error
	Directories() (map[string]json.RawMessage, error)

	// Append adds an audit event to the log in this transaction and
	// returns its index in the log.
	Append(e Event) (int64, error)
}

// Event is an audit record of one state change. The Store appends it to the
// Merkle log in the same transaction as the change.
type Event struct {
	Type     string
	Time     time.Time
	Actor    string
	Subjects []string
	Data     json.RawMessage
}

// Clock tells the time; tests pass a fake.
type Clock interface{ Now() time.Time }

// SystemClock is the wall clock.
type SystemClock struct{}

func (SystemClock) Now() time.Time { return time.Now() }
