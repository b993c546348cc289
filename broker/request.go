package broker

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"regexp"
	"slices"
	"time"
)

// State is where a request is in its lifecycle.
type State string

const (
	StatePending   State = "pending"
	StateApproved  State = "approved"
	StateIssued    State = "issued"
	StateDenied    State = "denied"
	StateCancelled State = "cancelled"
	StateExpired   State = "expired"
	StateRevoked   State = "revoked"
	// StateSuperseded: a pending request a new policy bundle invalidated
	// (its statement names another policy); Request.SupersededBy is the
	// bundle. The requester asks again under the new one.
	StateSuperseded State = "superseded"
)

// States lists every state, in lifecycle order.
var States = []State{StatePending, StateApproved, StateIssued, StateDenied, StateCancelled, StateExpired, StateRevoked, StateSuperseded}

// ParseState checks s names a state.
func ParseState(s string) (State, error) {
	for _, st := range States {
		if string(st) == s {
			return st, nil
		}
	}
	return "", fmt.Errorf("%w: unknown state %q (want one of %v)", ErrInvalid, s, States)
}

// Request is a requester's signed ask for a role.
type Request struct {
	ID        string
	Role      string
	Requester string
	Reason    string
	Incident  string
	Duration  time.Duration
	Created   time.Time
	// Expires is when a pending request lapses (the statement's not-after).
	Expires time.Time
	State   State
	Updated time.Time
	// PolicyHash is the policy the request was evaluated under.
	PolicyHash string
	// Statement is the canonical approval statement approvers sign, and
	// StatementDigest its SHA-256.
	Statement       []byte
	StatementDigest string
	// RequestStatement and RequestSignature are the requester's own signed ask.
	RequestStatement []byte
	RequestSignature []byte
	Drill            bool
	// SupersededBy is the hash of the bundle that superseded the request
	// (StateSuperseded); empty otherwise.
	SupersededBy string
}

// RequestFilter selects requests; zero fields match everything.
type RequestFilter struct {
	State     State
	Requester string
	Limit     int
	// VisibleTo, when set, keeps only the requests it sees.
	VisibleTo *Visibility
}

// Visibility is what a principal who is not a policy admin may read: the
// requests they made, and those of the roles they may approve.
type Visibility struct {
	Requester string
	Roles     []string
}

// Sees reports whether r is visible.
func (v *Visibility) Sees(r *Request) bool {
	return v == nil || r.Requester == v.Requester || slices.Contains(v.Roles, r.Role)
}

// idPattern matches NewID's output: 26 characters of Crockford base32.
var idPattern = regexp.MustCompile(`^[0-9A-HJKMNP-TV-Z]{26}$`)

const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// NewID returns a ULID-shaped id: 48 bits of milliseconds then 80 random
// bits, so ids sort by creation time.
func NewID(now time.Time) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(now.UnixMilli())<<16)
	if _, err := rand.Read(b[6:]); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	hi := binary.BigEndian.Uint64(b[:8])
	lo := binary.BigEndian.Uint64(b[8:])
	out := make([]byte, 26)
	for i := 25; i >= 0; i-- {
		out[i] = crockford[lo&31]
		lo = lo>>5 | hi<<59
		hi >>= 5
	}
	return string(out)
}

// ValidID reports whether id has NewID's shape.
func ValidID(id string) bool { return idPattern.MatchString(id) }
