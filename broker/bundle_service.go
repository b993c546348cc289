package broker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/failsmall/breakglass/policy"
)

// ErrBundleRejected is wrapped, with the policy package's reason
// (policy.ErrBundleQuorum, ErrBundleSigner, ErrBundleSerial,
// ErrBundlePrevious, ErrBundlePolicy, ErrBundleMalformed), by Activate
// and Pin when a bundle may not become active. The active bundle stays.
var ErrBundleRejected = errors.New("policy bundle rejected")

var errNotPinned = fmt.Errorf("%w: no policy bundle is pinned: run `breakglass init --data DIR BUNDLE` (or `serve --dev`)", ErrNoPolicy)

// Pin activates the first bundle of a broker that has none (breakglass
// init): its own admins must have signed it, admin_quorum of them.
//
// Errors: ErrBundleRejected (wrapping the policy package's reason) for a
// bundle that may not be pinned; ErrConflict once any bundle is stored;
// ErrAuditUnavailable.
func (s *Service) Pin(ctx context.Context, raw []byte, source string) (*StoredBundle, error) {
	sb, p, err := policy.PinBundle(raw, 0)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBundleRejected, err)
	}
	signers := policy.SignerIDs(policy.CheckEachSignature(sb, p))
	var out *StoredBundle
	err = s.write(ctx, func(now time.Time) (*Change, error) {
		have, err := s.bundleHeads(ctx)
		if err != nil {
			return nil, err
		}
		if len(have) > 0 {
			return nil, fmt.Errorf("%w: a policy bundle is already pinned here (serial %d, %s); push new bundles signed by its admins instead", ErrConflict, have[0].Serial, have[0].Hash)
		}
		out = storedFrom(sb, now, source)
		ch := s.insertBundle(RequireBundleHead{}, out, nil, signers, now)
		return ch, s.supersede(ctx, ch, out.Hash, now)
	})
	if err != nil {
		return nil, err
	}
	s.activate(p, out, nil)
	return out, nil
}

// Activate offers a signed bundle fetched from one of the broker's
// configured sources (source names it): the active bundle offered again
// confirms it, which resets its age (stale_after). It becomes active only when at least admin_quorum admins of the active policy signed
// it, its serial is higher, it follows the active bundle and its policy is
// valid; otherwise the rejection is audited (once per bundle) and an error
// wrapping ErrBundleRejected returned, and the active bundle stays.
//
// Errors: ErrNoPolicy when no bundle is pinned; ErrBundleRejected;
// ErrConflict when another bundle became active while this one was
// checked; ErrAuditUnavailable.
func (s *Service) Activate(ctx context.Context, raw []byte, source string) (*Activation, error) {
	return s.offer(ctx, raw, source, true)
}

// SourcePush is the source of the bundles offered with Push.
const SourcePush = "push"

// Push offers a signed bundle sent to the broker by anyone who can reach
// it (POST /v1/policy/bundles), as Activate does, with one difference: the
// active bundle pushed again is a no-op. It is public, so its arrival says
// nothing about whether the policy's sources still serve it, and a push
// must not reset the bundle's age and with it stale_after's extra approval.
// And a pushed bundle older than the active one is a rejection (audited,
// ErrBundleRejected wrapping policy.ErrBundleSerial), not OutcomeOlder:
// the pusher meant it, and must hear why nothing changed.
//
// Errors: as Activate's.
func (s *Service) Push(ctx context.Context, raw []byte) (*Activation, error) {
	return s.offer(ctx, raw, SourcePush, false)
}

// offer is Activate and Push; confirm says whether the active bundle
// offered again confirms it.
func (s *Service) offer(ctx context.Context, raw []byte, source string, confirm bool) (*Activation, error) {
	st := s.policy.Load()
	if st.bundle == nil {
		return nil, fmt.Errorf("%w: no policy bundle is pinned: run `breakglass init` first", ErrNoPolicy)
	}
	offered, err := policy.ParseSignedBundle(raw)
	if err != nil {
		return nil, s.reject(ctx, source, "", 0, err)
	}
	switch {
	case offered.Hash == st.bundle.Hash:
		if confirm {
			s.Confirm()
		}
		return &Activation{Outcome: OutcomeCurrent, Bundle: st.bundle}, nil
	case offered.Bundle.Serial < st.bundle.Serial && source == SourcePush:
		// Someone pushed it on purpose: say why it changes nothing, and
		// audit it as any rejection.
		return nil, s.reject(ctx, source, offered.Hash, offered.Bundle.Serial,
			fmt.Errorf("%w: serial %d is older than the active bundle's %d (%s)", policy.ErrBundleSerial, offered.Bundle.Serial, st.bundle.Serial, st.bundle.Hash))
	case offered.Bundle.Serial < st.bundle.Serial:
		// A source that is behind: not news, and not audited.
		return &Activation{Outcome: OutcomeOlder, Bundle: st.bundle}, nil
	}
	info := policy.BundleInfo{Serial: st.bundle.Serial, Hash: st.bundle.Hash, Created: st.bundle.Created}
	sb, p, err := policy.VerifyBundle(raw, st.p, &info, st.p.AdminQuorum)
	if err != nil {
		return nil, s.reject(ctx, source, offered.Hash, offered.Bundle.Serial, err)
	}
	signers := policy.SignerIDs(policy.CheckEachSignature(sb, st.p))
	var out *StoredBundle
	err = s.write(ctx, func(now time.Time) (*Change, error) {
		have, err := s.bundleHeads(ctx)
		if err != nil {
			return nil, err
		}
		if len(have) == 0 || have[0].Hash != st.bundle.Hash {
			return nil, fmt.Errorf("%w: the active bundle changed while this one was checked; offer it again", ErrConflict)
		}
		out = storedFrom(sb, now, source)
		ch := s.insertBundle(RequireBundleHead{Hash: st.bundle.Hash}, out, st.bundle, signers, now)
		return ch, s.supersede(ctx, ch, out.Hash, now)
	})
	if err != nil {
		return nil, err
	}
	s.activate(p, out, st.bundle)
	s.cfg.Logger.Info("policy bundle activated", "serial", out.Serial, "hash", out.Hash, "source", source, "signers", signers)
	return &Activation{Outcome: OutcomeActivated, Bundle: out, Signers: signers}, nil
}

func storedFrom(sb *policy.SignedBundle, now time.Time, source string) *StoredBundle {
	return &StoredBundle{Hash: sb.Hash, Serial: sb.Bundle.Serial, Created: sb.Bundle.Created, Raw: sb.Encode(),
		Activated: now, Source: source}
}

// bundleHeads reads the stored bundle with the highest serial, if any.
func (s *Service) bundleHeads(ctx context.Context) ([]*StoredBundle, error) {
	var have []*StoredBundle
	err := s.view(ctx, func(tx Tx) (err error) {
		have, err = tx.LatestBundles(1)
		return err
	})
	return have, err
}

// insertBundle is the change that stores b as the new head, given that the
// head is still what head requires, and audits its activation.
func (s *Service) insertBundle(head RequireBundleHead, b, prev *StoredBundle, signers []string, now time.Time) *Change {
	data := map[string]any{"serial": b.Serial, "hash": b.Hash, "created": b.Created, "source": b.Source, "signers": signers}
	subjects := []string{b.Hash}
	if prev != nil {
		data["previous"], data["previous_serial"] = prev.Hash, prev.Serial
	}
	ch := new(Change).Add(head, InsertBundle{Bundle: b})
	return ch.Record(Event{Type: EventPolicyActivated, Time: now, Actor: "broker", Subjects: subjects, Data: mustJSON(data)})
}

// supersede adds to ch the move of every pending request not made under
// bundle hash to StateSuperseded, each audited: a new bundle ends the
// requests it invalidates in the same step as its activation. (A request
// created under the old bundle while this change was planned is caught by
// the next Sweep.)
func (s *Service) supersede(ctx context.Context, ch *Change, hash string, now time.Time) error {
	var pending []*Request
	if err := s.view(ctx, func(tx Tx) (err error) {
		pending, err = tx.Requests(RequestFilter{State: StatePending})
		return err
	}); err != nil {
		return err
	}
	supersedeOps(ch, pending, hash, now)
	return nil
}

// supersedeOps adds the supersession of those of pending not made under
// bundle hash.
func supersedeOps(ch *Change, pending []*Request, hash string, now time.Time) {
	for _, r := range pending {
		if r.State != StatePending || r.PolicyHash == hash {
			continue
		}
		ch.Add(SupersedeRequest{ID: r.ID, By: hash, At: now})
		ch.Record(Event{Type: EventRequestSuperseded, Time: now, Actor: "broker", Subjects: []string{r.ID},
			Data: mustJSON(map[string]string{"bundle": hash, "policy": r.PolicyHash})})
	}
}

// MaxRejectionAudits bounds how many bundle rejections of one source are
// audited per minute. Pushing needs no session (a bundle carries its own
// authority), so without a bound anyone could fill the audit log with
// rejected garbage; rejections past it are logged, not audited.
const MaxRejectionAudits = 10

// reject audits a rejected bundle, once per (source, bundle hash or error
// text) and at most MaxRejectionAudits per source per minute, and returns
// the error to give the caller.
func (s *Service) reject(ctx context.Context, source, hash string, serial uint64, reason error) error {
	err := fmt.Errorf("%w: %w", ErrBundleRejected, reason)
	key := source + "\x00" + hash
	if hash == "" {
		key += reason.Error()
	}
	minute := s.cfg.Clock.Now().Truncate(time.Minute)
	rate := fmt.Sprintf("rate\x00%s\x00%d", source, minute.Unix())
	s.mu.Lock()
	seen := s.rejected[key]
	limited := s.rejectCount[rate] >= MaxRejectionAudits
	if !seen && !limited {
		if len(s.rejected) > 1000 {
			clear(s.rejected)
		}
		if len(s.rejectCount) > 1000 {
			clear(s.rejectCount)
		}
		s.rejected[key] = true
		s.rejectCount[rate]++
	}
	s.mu.Unlock()
	if seen {
		return err
	}
	if limited {
		s.cfg.Logger.Warn("policy bundle rejected (not audited: too many rejections from this source this minute)", "source", source, "hash", hash, "err", reason)
		return err
	}
	if aerr := s.recordOnly(ctx, Event{Type: EventPolicyRejected, Actor: "broker", Subjects: nonEmpty(hash),
		Data: mustJSON(map[string]any{"source": source, "hash": hash, "serial": serial, "error": reason.Error()})}); aerr != nil {
		s.cfg.Logger.Error("could not audit the bundle rejection", "err", aerr)
	}
	s.cfg.Logger.Warn("policy bundle rejected; the active bundle stays", "source", source, "hash", hash, "err", reason)
	return err
}

func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

// activate makes p (from bundle b) active, with the directory restrictions
// kept, then tells BundleActivated.
func (s *Service) activate(p *policy.Policy, b, prev *StoredBundle) {
	s.mu.Lock()
	st := &policyState{base: p, bundle: b, previous: prev, loaded: s.cfg.Clock.Now()}
	if old := s.policy.Load(); old.bundle != nil && old.bundle.Hash == b.Hash {
		st.confirmed = old.confirmed
	}
	st.p = p.Restrict(mergeRestrictions(s.directories))
	s.policy.Store(st)
	s.mu.Unlock()
	if s.cfg.BundleActivated != nil {
		s.cfg.BundleActivated(b, prev)
	}
}

// Confirm records that an upstream served the active bundle just now,
// which resets the bundle's age (see BundleState).
func (s *Service) Confirm() {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := *s.policy.Load()
	st.confirmed = s.cfg.Clock.Now()
	s.policy.Store(&st)
}

// LoadActive activates the newest stored bundle and the stored directory
// restrictions: the broker's cold start, which needs nothing but the local
// store. It returns an error wrapping ErrNoPolicy when no bundle was pinned.
func (s *Service) LoadActive(ctx context.Context) (*StoredBundle, error) {
	var b, prev *StoredBundle
	var restr map[string]policy.Restriction
	err := s.view(ctx, func(tx Tx) error {
		heads, err := tx.LatestBundles(2)
		if err != nil {
			return err
		}
		if len(heads) == 0 {
			return errNotPinned
		}
		if restr, err = s.storedDirectories(tx); err != nil {
			return err
		}
		if s.unchanged(heads[0].Hash, restr) {
			return nil
		}
		// Something changed (or this is the cold start): read the files.
		if b, err = tx.Bundle(heads[0].Hash); err != nil {
			return err
		}
		if len(heads) > 1 {
			prev, err = tx.Bundle(heads[1].Hash)
		}
		return err
	})
	if errors.Is(err, errNotPinned) {
		// Say so in status and refusals, unless they already say why a
		// bundle was refused; nothing was rejected here, so nothing is
		// audited.
		s.mu.Lock()
		if cur := s.policy.Load(); cur.p == nil && cur.err == ErrNoPolicy {
			s.policy.Store(&policyState{err: err, loaded: s.cfg.Clock.Now()})
		}
		s.mu.Unlock()
		return nil, err
	}
	if err != nil {
		return nil, err
	}
	if b == nil {
		return s.policy.Load().bundle, nil
	}
	sb, err := policy.ParseSignedBundle(b.Raw)
	if err != nil {
		return nil, fmt.Errorf("%w: stored bundle serial %d is damaged: %v", ErrNoPolicy, b.Serial, err)
	}
	if sb.Hash != b.Hash {
		return nil, fmt.Errorf("%w: stored bundle serial %d hashes to %s, not %s: the store is damaged", ErrNoPolicy, b.Serial, sb.Hash, b.Hash)
	}
	p, err := policy.BundlePolicy(sb)
	if err != nil {
		return nil, fmt.Errorf("%w: stored bundle serial %d: %v", ErrNoPolicy, b.Serial, err)
	}
	s.mu.Lock()
	s.directories = restr
	s.mu.Unlock()
	s.activate(p, b, prev)
	return b, nil
}

// storedDirectories reads what every directory source takes away.
func (s *Service) storedDirectories(tx Tx) (map[string]policy.Restriction, error) {
	dirs, err := tx.Directories()
	if err != nil {
		return nil, err
	}
	out := make(map[string]policy.Restriction, len(dirs))
	for src, raw := range dirs {
		var r policy.Restriction
		if err := json.Unmarshal(raw, &r); err != nil {
			s.cfg.Logger.Error("stored directory restriction is unreadable; ignoring it", "source", src, "err", err)
			continue
		}
		out[src] = r
	}
	return out, nil
}

// unchanged reports whether the bundle with this hash is active and restr
// are the restrictions in force.
func (s *Service) unchanged(hash string, restr map[string]policy.Restriction) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cur := s.policy.Load(); cur.bundle == nil || cur.bundle.Hash != hash || len(restr) != len(s.directories) {
		return false
	}
	for src, r := range restr {
		if old, ok := s.directories[src]; !ok || !sameRestriction(old, r) {
			return false
		}
	}
	return true
}

// BasePolicy returns the active policy as signed, without what a directory
// took away; or why there is none (an error wrapping ErrNoPolicy).
func (s *Service) BasePolicy() (*policy.Policy, error) {
	st := s.policy.Load()
	if st.base == nil {
		return nil, st.err
	}
	return st.base, nil
}

// ActiveBundle returns the active bundle and the previous one (nil when
// none); ErrNoPolicy when none is active.
func (s *Service) ActiveBundle() (active, previous *StoredBundle, err error) {
	st := s.policy.Load()
	if st.bundle == nil {
		return nil, nil, fmt.Errorf("%w: no policy bundle is active", ErrNoPolicy)
	}
	return st.bundle, st.previous, nil
}

// StoredBundle returns the bundle with this hash; ErrNotFound when none is
// stored.
func (s *Service) StoredBundle(ctx context.Context, hash string) (*StoredBundle, error) {
	var out *StoredBundle
	err := s.view(ctx, func(tx Tx) error {
		var err error
		out, err = tx.Bundle(hash)
		return err
	})
	return out, err
}

// BundleState describes the active bundle; nil when none is active.
func (s *Service) BundleState() *BundleState {
	st := s.policy.Load()
	if st.bundle == nil {
		return nil
	}
	now := s.cfg.Clock.Now()
	age := st.age(now)
	out := &BundleState{Serial: st.bundle.Serial, Hash: st.bundle.Hash, Created: st.bundle.Created.UTC(),
		Activated: st.bundle.Activated.UTC(), Source: st.bundle.Source, Confirmed: st.freshSince().UTC(),
		Age: age, AgeSeconds: age.Seconds(), Admins: st.base.Admins, AdminQuorum: st.base.AdminQuorum}
	if st.previous != nil {
		out.Previous = &BundleRef{Serial: st.previous.Serial, Hash: st.previous.Hash}
	}
	r := st.p.Restricted()
	if len(r.Disabled) > 0 {
		out.Deactivated = r.Disabled
	}
	if len(r.RemovedFrom) > 0 {
		out.RemovedFrom = r.RemovedFrom
	}
	return out
}

// freshSince is when the active bundle was last known current.
func (st *policyState) freshSince() time.Time {
	if st.bundle == nil {
		return st.loaded
	}
	if st.confirmed.After(st.bundle.Created) {
		return st.confirmed
	}
	return st.bundle.Created
}

func (st *policyState) age(now time.Time) time.Duration { return max(0, now.Sub(st.freshSince())) }
