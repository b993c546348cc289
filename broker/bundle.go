package broker

import (
	"time"
)

// StoredBundle is a signed policy bundle the broker activated.
type StoredBundle struct {
	Hash    string // the bundle's hash: what statements and credentials name
	Serial  uint64
	Created time.Time // the bundle's created time, as signed
	// Raw is the signed bundle file exactly (policy.ParseSignedBundle).
	Raw       []byte
	Activated time.Time
	// Source says where it came from: "init", "push", a source URL or path.
	Source string
}

// Activation is the outcome of offering a bundle to the broker.
type Activation struct {
	// Outcome is OutcomeActivated, OutcomeCurrent or OutcomeOlder.
	Outcome string
	// Bundle is the offered bundle when activated or current; the active
	// bundle when the offered one is older.
	Bundle *StoredBundle
	// Signers are the admins whose signatures met the quorum (activated
	// only).
	Signers []string
}

// Outcomes of Service.Activate.
const (
	OutcomeActivated = "activated"
	OutcomeCurrent   = "current" // the offered bundle is the active one
	OutcomeOlder     = "older"   // the offered bundle is older than the active one: kept as it is
)

// BundleState describes the active policy bundle for status.
type BundleState struct {
	Serial    uint64    `json:"serial"`
	Hash      string    `json:"hash"`
	Created   time.Time `json:"created"`
	Activated time.Time `json:"activated"`
	Source    string    `json:"source"`
	// Confirmed is the last time an upstream source served this bundle (or
	// Created when none has); the bundle's age counts from the later of the
	// two.
	Confirmed  time.Time     `json:"confirmed"`
	Age        time.Duration `json:"-"`
	AgeSeconds float64       `json:"age_seconds"`
	// AdminQuorum is how many of Admins must sign the next bundle.
	Admins      []string `json:"admins"`
	AdminQuorum int      `json:"admin_quorum"`
	// Previous is the bundle this one replaced, when there was one.
	Previous *BundleRef `json:"previous,omitempty"`
	// Deactivated lists the people a live directory deactivated, with the
	// reason; RemovedFrom the group memberships it took away.
	Deactivated map[string]string   `json:"deactivated,omitempty"`
	RemovedFrom map[string][]string `json:"removed_from,omitempty"`
}

// BundleRef names a bundle.
type BundleRef struct {
	Serial uint64 `json:"serial"`
	Hash   string `json:"hash"`
}
