package broker

import (
	"context"
	"encoding/json"
	"time"
)

// Store keeps the broker's state. Reads run in snapshots (View); every write
// is one Change given to Commit, applied atomically by a single writer
// across every process sharing the store (SQLite: BEGIN IMMEDIATE), with
// the change's preconditions checked inside that writer. Nothing runs inside
// the writer but the change's own operations: the service verifies
// signatures, draws ids and mints credentials before it commits.
type Store interface {
	// View runs fn in a read-only snapshot.
	View(ctx context.Context, fn func(Tx) error) error
	// Commit applies every operation of ch, then appends its audit
	// leaves, in one durable transaction, or nothing. It returns an error
	// wrapping ErrConflict when a precondition failed (the caller reads
	// again and plans a new change), ErrInvalid for an operation it does
	// not know, and wraps a commit failure (disk full, I/O error) in
	// ErrAuditUnavailable, since the audit entries could not be made
	// durable either.
	Commit(ctx context.Context, ch *Change) error
}

// Tx is a read-only snapshot of the store. Methods return ErrNotFound for a
// missing row.
type Tx interface {
	Request(id string) (*Request, error)
	// Requests lists requests, newest first.
	Requests(f RequestFilter) ([]*Request, error)
	// DueRequests lists pending requests whose Expires is at or before now.
	DueRequests(now time.Time, limit int) ([]*Request, error)
	CountByState() (map[State]int, error)

	// Approvals lists a request's approvals and denials, oldest first.
	Approvals(requestID string) ([]*Approval, error)

	// Grant returns the grant of a request.
	Grant(requestID string) (*Grant, error)
	// LastSerial is the highest SSH certificate serial reserved so far
	// (see ReserveSerials); zero when none was.
	LastSerial() (uint64, error)
	// RevokedSSHSerials lists the serials of the certificates of revoked
	// grants, ascending.
	RevokedSSHSerials() ([]uint64, error)
	// RevokedGrants lists the ids of revoked grants not delisted (see
	// DelistGrant), ascending.
	RevokedGrants() ([]string, error)
	// RevocationSequence is the number of grants ever revoked plus the
	// number ever delisted (see RevocationList).
	RevocationSequence() (uint64, error)
	// DelistableGrants lists revoked grants not delisted whose Expires is
	// at or before before, soonest first.
	DelistableGrants(before time.Time, limit int) ([]*Grant, error)
	// AuditEntries returns the audit entries about subject (a grant id,
	// say), oldest first, with their indexes in the log.
	AuditEntries(subject string) (idx []int64, leaves [][]byte, err error)
	// DueGrants lists unrevoked grants of issued requests whose Expires is
	// at or before now.
	DueGrants(now time.Time, limit int) ([]*Grant, error)

	// KeyCounter returns the highest FIDO counter seen for a key
	// fingerprint; ok is false when none was seen.
	KeyCounter(fingerprint string) (counter uint32, ok bool, err error)

	// Challenge returns the challenge with this nonce and whether it was
	// used; ErrNotFound when unknown.
	Challenge(nonce string) (c *Challenge, used bool, err error)
	// Session returns the session with this token hash; ErrNotFound when
	// unknown.
	Session(tokenHash string) (*Session, error)

	// Bundle returns the bundle with this hash; ErrNotFound when unknown.
	Bundle(hash string) (*StoredBundle, error)
	// LatestBundles returns up to n bundles, highest serial first: the
	// active bundle, then the previous one... Their Raw is not read (the
	// broker checks for a new bundle every few seconds): Bundle reads it.
	LatestBundles(n int) ([]*StoredBundle, error)
	// Directories returns the restriction (JSON) each live directory
	// source applies, by source.
	Directories() (map[string]json.RawMessage, error)
}

// Event is an audit record of one state change, as the domain describes it;
// Change.Record encodes it as the leaf the store appends to the Merkle log
// in the same transaction as the change.
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
