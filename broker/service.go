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

// Minter mints the credentials of a grant. It runs while the grant is
// planned, outside the store's writer; credentials minted for a plan that
// then conflicts are dropped unseen, so exactly one set of credentials is
// ever stored or handed out per grant.
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
	// MaxVerifySkew is the most clock skew relying parties allow on a
	// credential's expiry (default DefaultMaxVerifySkew): a grant may be
	// revoked, and stays on the revocation list, until its expiry plus
	// MaxVerifySkew, since until then some relying party may accept it.
	MaxVerifySkew time.Duration
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

	serials serials // the SSH certificate serials reserved for this broker
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
	if cfg.MaxVerifySkew <= 0 {
		cfg.MaxVerifySkew = DefaultMaxVerifySkew
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
// LoadActive); SetPolicy serves embedders and tests. It fails with
// ErrAuditUnavailable when the load could not be audited.
func (s *Service) SetPolicy(ctx context.Context, p *policy.Policy) error {
	err := s.recordOnly(ctx, Event{Type: EventPolicyLoaded, Actor: "broker", Subjects: []string{p.Hash()},
		Data: mustJSON(map[string]any{"policy": p.Hash(), "roles": len(p.Roles), "principals": len(p.Principals)})})
	if err != nil {
		return err
	}
	s.policy.Store(&policyState{p: p, base: p, loaded: s.cfg.Clock.Now()})
	return nil
}

// RejectPolicy records that a policy failed to load. When no policy is
// active yet, the broker keeps running and refuses requests with reason.
func (s *Service) RejectPolicy(ctx context.Context, reason error) {
	now := s.cfg.Clock.Now()
	err := s.recordOnly(ctx, Event{Type: EventPolicyRejected, Actor: "broker",
		Data: mustJSON(map[string]string{"error": reason.Error()})})
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
// stopped, key rotated). Errors: ErrInvalid for an event type the log
// refuses; ErrAuditUnavailable.
func (s *Service) Record(ctx context.Context, typ string, subjects []string, data any) error {
	return s.recordOnly(ctx, Event{Type: typ, Actor: "broker", Subjects: subjects, Data: mustJSON(data)})
}

// maxPlans bounds how often a write is planned again after a conflict.
// Conflicts come only from writers racing on the same rows (two approvals
// of one request), so a few rounds settle them.
const maxPlans = 50

// write plans a change with plan and commits it, planning again from a
// fresh snapshot when the commit finds a precondition broken. plan returns
// the change and, separately, the error to give the caller once the change
// is committed (a lapsed request is recorded as expired, then refused); a
// nil change with an error fails at once, a nil change with none writes
// nothing.
func (s *Service) write(ctx context.Context, plan func(now time.Time) (*Change, error)) error {
	for range maxPlans {
		ch, after := plan(s.cfg.Clock.Now())
		if ch.Empty() {
			return after
		}
		if err := ch.Err(); err != nil {
			return err
		}
		err := s.cfg.Store.Commit(ctx, ch)
		if errors.Is(err, ErrConflict) && ctx.Err() == nil {
			continue
		}
		if err != nil {
			return err
		}
		return after
	}
	return fmt.Errorf("%w: the write conflicted with others %d times in a row; try again", ErrConflict, maxPlans)
}

// view runs fn in a read-only snapshot.
func (s *Service) view(ctx context.Context, fn func(tx Tx) error) error {
	return s.cfg.Store.View(ctx, fn)
}

// recordOnly commits a change that only audits e, at the time of the commit.
func (s *Service) recordOnly(ctx context.Context, e Event) error {
	return s.write(ctx, func(now time.Time) (*Change, error) {
		e.Time = now
		return new(Change).Record(e), nil
	})
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("broker: marshal audit data: %v", err)) // only plain values are passed
	}
	return b
}

// Restore describes a database put back from a backup.
type Restore struct {
	// BackupEntries is the backup's log size; Replaced the size of the
	// log it replaced (0 when there was none), whose entries past
	// BackupEntries the restored log no longer holds.
	BackupEntries, Replaced int64
	// ReplacedFile is where the replaced database was kept.
	ReplacedFile string
}

// RecordRestore audits that the broker's database was restored from a
// backup, as its first entry after the backup's: the log forks here from
// the one witnesses last saw, on purpose.
//
// Errors: ErrAuditUnavailable when the entry could not be appended.
func (s *Service) RecordRestore(ctx context.Context, r Restore) error {
	return s.recordOnly(ctx, Event{Type: EventBrokerRestored, Actor: "broker",
		Data: mustJSON(map[string]any{"backup_entries": r.BackupEntries, "replaced_entries": r.Replaced,
			"lost_entries": max(r.Replaced-r.BackupEntries, 0), "replaced_file": r.ReplacedFile})})
}
