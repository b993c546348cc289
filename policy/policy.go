package policy

import (
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"slices"
	"time"

	"golang.org/x/crypto/ssh"
)

// Limits enforced by Parse.
const (
	// MaxSize is the largest policy file Parse accepts, in bytes.
	MaxSize = 8 << 20
	// MaxRoleDuration is the longest duration.max a role may set.
	MaxRoleDuration = 24 * time.Hour
	// MaxPendingTTL is the longest pending_ttl a role may set.
	MaxPendingTTL = 7 * 24 * time.Hour
	// DefaultPendingTTL applies when a role sets no pending_ttl.
	DefaultPendingTTL = time.Hour
	// MinStaleAfter and MaxStaleAfter bound a role's stale_after.
	MinStaleAfter = time.Minute
	MaxStaleAfter = 365 * 24 * time.Hour
	// MinRSABits is the smallest RSA modulus accepted for an enrolled key.
	MinRSABits = 2048
)

// Policy is a parsed and validated policy file. Build it with Parse only:
// the lookup methods of a Policy built by hand find nothing.
type Policy struct {
	Version int
	Admins  []string
	// AdminQuorum is k in "k of the Admins must sign the next policy
	// bundle": from 1 to len(Admins), 1 when the file does not set it.
	AdminQuorum int
	Groups      []Group
	Principals  []Principal
	Roles       []Role

	raw        []byte
	hash       string
	bundleHash string            // set when the policy came from a signed bundle
	principals map[string]int    // id -> index in Principals
	roles      map[string]int    // name -> index in Roles
	keys       map[string][2]int // ssh wire bytes -> principal index, key index
	members    map[string]map[string]bool
	admins     map[string]bool
	restricted Restriction // what Restrict took away; see Restricted
}

// Group is a named set of principals; membership is declared on principals.
type Group struct{ Name, Description string }

// Principal is a person (or automation) that may request or approve.
// A principal with no keys is valid: it cannot sign anything yet.
type Principal struct {
	ID, Name string
	Groups   []string
	Keys     []Key
	Disabled bool
}

// Key is one enrolled SSH public key.
type Key struct {
	Line        string        // the authorized_keys line as written in the file
	PublicKey   ssh.PublicKey // parsed from Line
	Fingerprint string        // ssh.FingerprintSHA256 of PublicKey
}

// Role is something that may be requested, with the rules for granting it.
type Role struct {
	Name, Description string
	// Requesters are the groups whose members may request the role.
	Requesters []string
	// Approval clauses must ALL hold; see Quorum.
	Approval                     []Clause
	DefaultDuration, MaxDuration time.Duration
	IncidentRequired             bool
	// IncidentPattern is the pattern as written (nil when none). An incident
	// reference must match it as a whole, as if written ^(?:pattern)$.
	IncidentPattern *regexp.Regexp
	// MinReason is the minimum reason length in characters, surrounding
	// white space not counted.
	MinReason               int
	PendingTTL              time.Duration
	RequireUserVerification bool
	Audience                []string
	Scopes                  []string
	// SSH is the OpenSSH user certificate the role yields; nil for none.
	SSH    *SSH
	Drills bool
	// StaleAfter, when not 0, is the age of the active policy bundle past
	// which the role needs one more distinct approver than its clauses
	// ask for (see QuorumWith); 0 means never.
	StaleAfter time.Duration

	incidentFull *regexp.Regexp // IncidentPattern anchored at both ends
}

// Clause requires Count distinct approvers who are members of any of Groups.
type Clause struct {
	Count  int
	Groups []string
}

// Hash names the policy in statements, credentials and the audit log. For a
// policy that came from a bundle (VerifyBundle, PinBundle, BundlePolicy) it
// is the bundle's hash, the one its admins signed; for a bare Parse it is
// FileHash.
func (p *Policy) Hash() string {
	if p.bundleHash != "" {
		return p.bundleHash
	}
	return p.hash
}

// FileHash returns "sha256:" followed by the lower-case hex SHA-256 of the
// exact bytes Parse was given.
func (p *Policy) FileHash() string { return p.hash }

// Bytes returns a copy of the exact bytes Parse was given.
func (p *Policy) Bytes() []byte { return slices.Clone(p.raw) }

// Principal returns the principal with the given id.
func (p *Policy) Principal(id string) (*Principal, bool) {
	i, ok := p.principals[id]
	if !ok {
		return nil, false
	}
	return &p.Principals[i], true
}

// PrincipalByKey returns the principal that enrolled pub and the matching
// key, comparing the keys' wire encoding (pub.Marshal()). Disabled
// principals are returned too: callers check Disabled.
func (p *Policy) PrincipalByKey(pub ssh.PublicKey) (*Principal, *Key, bool) {
	if pub == nil {
		return nil, nil, false
	}
	at, ok := p.keys[string(pub.Marshal())]
	if !ok {
		return nil, nil, false
	}
	pr := &p.Principals[at[0]]
	return pr, &pr.Keys[at[1]], true
}

// Role returns the role with the given name.
func (p *Policy) Role(name string) (*Role, bool) {
	i, ok := p.roles[name]
	if !ok {
		return nil, false
	}
	return &p.Roles[i], true
}

// InGroup reports whether the principal is declared a member of group. It
// ignores Disabled: evaluation functions check that separately.
func (p *Policy) InGroup(principalID, group string) bool {
	return p.members[principalID][group]
}

// IsAdmin reports whether the principal is listed in admins.
func (p *Policy) IsAdmin(principalID string) bool { return p.admins[principalID] }

// MaxDuration returns the longest MaxDuration of any role, or 0 when the
// policy has no roles. Nothing granted under this policy lives longer.
func (p *Policy) MaxDuration() time.Duration {
	var longest time.Duration
	for i := range p.Roles {
		longest = max(longest, p.Roles[i].MaxDuration)
	}
	return longest
}

// index builds the lookup maps and the hash once the policy is valid.
func (p *Policy) index(raw []byte) {
	p.raw = slices.Clone(raw)
	sum := sha256.Sum256(raw)
	p.hash = "sha256:" + hex.EncodeToString(sum[:])
	p.lookups()
}

// lookups builds the lookup maps from the exported fields.
func (p *Policy) lookups() {
	p.principals = make(map[string]int, len(p.Principals))
	p.members = make(map[string]map[string]bool, len(p.Principals))
	p.keys = make(map[string][2]int)
	for i, pr := range p.Principals {
		p.principals[pr.ID] = i
		p.members[pr.ID] = make(map[string]bool, len(pr.Groups))
		for _, g := range pr.Groups {
			p.members[pr.ID][g] = true
		}
		for j, k := range pr.Keys {
			p.keys[string(k.PublicKey.Marshal())] = [2]int{i, j}
		}
	}
	p.roles = make(map[string]int, len(p.Roles))
	for i, r := range p.Roles {
		p.roles[r.Name] = i
	}
	p.admins = make(map[string]bool, len(p.Admins))
	for _, a := range p.Admins {
		p.admins[a] = true
	}
}
