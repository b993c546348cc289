package broker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/failsmall/breakglass/policy"
)

// Minter mints the credentials of a grant. Implementations MUST NOT do I/O
// that can block: Mint runs inside the store transaction that records the
// grant, so that exactly one set of credentials exists per grant.
type Minter interface {
	// MintJWT signs claims and returns the token and the key id used.
	MintJWT(c JWTClaims) (token, kid string, err error)
}

// JWTClaims is what a grant's JWT asserts. Issuer is the broker's name.
type JWTClaims struct {
	Issuer, Subject  string
	Audience, Scopes []string
	IssuedAt, Expiry time.Time
	GrantID          string
	Role             string
	Incident         string
	RequestID        string
	Approvers        []string
	PolicyHash       string
	Drill            bool
}

// Config wires a Service. Name, Store and Minter are required.
type Config struct {
	// Name identifies this broker in every statement and as the JWT issuer.
	Name   string
	Store  Store
	Minter Minter
	// SSHCA issues the certificates of roles with ssh; nil when the
	// broker issues none (requests for such roles are then refused).
	SSHCA  SSHCA
	Clock  Clock
	Logger *slog.Logger
	// SessionTTL bounds read sessions (default 15m); ChallengeTTL bounds how
	// long a challenge may wait for its signature (default 2m).
	SessionTTL, ChallengeTTL time.Duration
	// RevocationSigner signs the published revocation list; nil publishes
	// none. RevocationsMaxAge is the list's max age (default
	// DefaultRevocationsMaxAge).
	RevocationSigner  RevocationSigner
	RevocationsMaxAge time.Duration
	// Receipts proves each grant's issuance in the audit log, for the
	// receipt Credentials returns with it; nil returns none.
	Receipts Receipts
	// BundleActivated, when set, is called after a policy bundle becomes
	// active (prev is the one it replaced, nil for the first), outside any
	// transaction: the broker writes them to disk.
	BundleActivated func(active, prev *StoredBundle)
}

// Service runs the request lifecycle. It is safe for concurrent use; the
// store serialises writers.
type Service struct {
	cfg    Config
	policy atomic.Pointer[policyState]

	mu          sync.Mutex                    // serialises changes of policy
	rejected    map[string]bool               // bundles whose rejection was audited
	rejectCount map[string]int                // rejections audited per source and minute
	directories map[string]policy.Restriction // what each directory source takes away
}

type policyState struct {
	p    *policy.Policy // the effective policy: base with the directory restrictions
	base *policy.Policy // the policy as signed
	// bundle is the active bundle, previous the one it replaced; nil for a
	// policy set with SetPolicy.
	bundle, previous *StoredBundle
	err              error
	loaded           time.Time
	// confirmed is the last time an upstream served the active bundle.
	confirmed time.Time
}

// New returns a Service with no policy: it refuses requests with ErrNoPolicy
// until SetPolicy is called, but answers status.
func New(cfg Config) (*Service, error) {
	if cfg.Name == "" || cfg.Store == nil || cfg.Minter == nil {
		return nil, errors.New("broker: Config needs Name, Store and Minter")
	}
	if err := CheckLine(cfg.Name); err != nil {
		return nil, fmt.Errorf("broker: name: %v", err)
	}
	if cfg.Clock == nil {
		cfg.Clock = SystemClock{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = 15 * time.Minute
	}
	if cfg.ChallengeTTL <= 0 {
		cfg.ChallengeTTL = 2 * time.Minute
	}
	if cfg.RevocationsMaxAge <= 0 {
		cfg.RevocationsMaxAge = DefaultRevocationsMaxAge
	}
	s := &Service{cfg: cfg, rejected: map[string]bool{}, rejectCount: map[string]int{}, directories: map[string]policy.Restriction{}}
	s.policy.Store(&policyState{err: ErrNoPolicy})
	return s, nil
}

// Name is the broker's name.
func (s *Service) Name() string { return s.cfg.Name }

// SetPolicy makes p the active policy and audits it. A policy set this way
// is not a bundle: grants made under it have no evidence for strict
// verification. The broker itself runs from bundles (Pin, Activate,
// LoadActive); SetPolicy serves embedders and tests.
func (s *Service) SetPolicy(ctx context.Context, p *policy.Policy) error {
	now := s.cfg.Clock.Now()
	err := s.cfg.Store.Update(ctx, func(tx Tx) error {
		_, err := tx.Append(Event{Type: EventPolicyLoaded, Time: now, Actor: "broker",
			Subjects: []string{p.Hash()}, Data: mustJSON(map[string]any{"policy": p.Hash(), "roles": len(p.Roles), "principals": len(p.Principals)})})
		return err
	})
	if err != nil {
		return err
	}
	s.policy.Store(&policyState{p: p, base: p, loaded: now})
	return nil
}

// RejectPolicy records that a policy failed to load. When no policy is
// active yet, the broker keeps running and refuses requests with reason.
func (s *Service) RejectPolicy(ctx context.Context, reason error) {
	now := s.cfg.Clock.Now()
	err := s.cfg.Store.Update(ctx, func(tx Tx) error {
		_, err := tx.Append(Event{Type: EventPolicyRejected, Time: now, Actor: "broker",
			Data: mustJSON(map[string]string{"error": reason.Error()})})
		return err
	})
	if err != nil {
		s.cfg.Logger.Error("could not audit the policy rejection", "err", err)
	}
	if cur := s.policy.Load(); cur.p == nil {
		if !errors.Is(reason, ErrNoPolicy) {
			reason = fmt.Errorf("%w: %w", ErrNoPolicy, reason)
		}
		s.policy.Store(&policyState{err: reason, loaded: now})
	}
}

// Policy returns the active policy, or why there is none.
func (s *Service) Policy() (*policy.Policy, error) {
	st := s.policy.Load()
	return st.p, st.err
}

// Record appends an event that changes no other state (broker started or
// stopped, key rotated).
func (s *Service) Record(ctx context.Context, typ string, subjects []string, data any) error {
	now := s.cfg.Clock.Now()
	return s.cfg.Store.Update(ctx, func(tx Tx) error {
		_, err := tx.Append(Event{Type: typ, Time: now, Actor: "broker", Subjects: subjects, Data: mustJSON(data)})
		return err
	})
}

// update runs fn in a write transaction; when fn returns a *deferredError the
// transaction commits (recording, say, an expiry) and the wrapped error is
// returned to the caller afterwards.
func (s *Service) update(ctx context.Context, fn func(tx Tx, now time.Time) error) error {
	now := s.cfg.Clock.Now()
	var deferred error
	err := s.cfg.Store.Update(ctx, func(tx Tx) error {
		err := fn(tx, now)
		var d *deferredError
		if errors.As(err, &d) {
			deferred = d.err
			return nil
		}
		return err
	})
	if err != nil {
		return err
	}
	return deferred
}

// deferredError is returned by an update function whose changes must be
// committed even though the operation as a whole fails.
type deferredError struct{ err error }

func (d *deferredError) Error() string { return d.err.Error() }

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("broker: marshal audit data: %v", err)) // only plain values are passed
	}
	return b
}
