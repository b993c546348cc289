package broker

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/failsmall/breakglass/policy"
)

// ErrBundleRejected is wrapped, with the policy package's reason
// (policy.ErrBundleQuorum, ErrBundleSigner, ErrBundleSerial,
// ErrBundlePrevious, ErrBundlePolicy, ErrBundleMalformed), by Activate
// and Pin when a bundle may not become active. The active bundle stays.
var ErrBundleRejected = errors.New("policy bundle rejected")

// Pin activates the first bundle of a broker that has none (breakglass
// init): its own admins must have signed it, admin_quorum of them. It fails
// with ErrConflict once any bundle is stored.
func (s *Service) Pin(ctx context.Context, raw []byte, source string) (*StoredBundle, error) {
	probe, err := policy.ParseSignedBundle(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBundleRejected, err)
	}
	k := 1
	if p, err := policy.BundlePolicy(probe); err == nil {
		k = p.AdminQuorum
	}
	sb, p, err := policy.PinBundle(raw, k)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBundleRejected, err)
	}
	signers := validSigners(sb, p)
	var out *StoredBundle
	err = s.update(ctx, func(tx Tx, now time.Time) error {
		have, err := tx.LatestBundles(1)
		if err != nil {
			return err
		}
		if len(have) > 0 {
			return fmt.Errorf("%w: a policy bundle is already pinned here (serial %d, %s); push new bundles signed by its admins instead", ErrConflict, have[0].Serial, have[0].Hash)
		}
		out = storedFrom(sb, now, source)
		return s.insertBundle(tx, out, nil, signers, now)
	})
	if err != nil {
		return nil, err
	}
	s.activate(p, out, nil)
	return out, nil
}

// Activate offers a signed bundle (from a source, or pushed). It becomes
// active only when at least admin_quorum admins of the active policy signed
// it, its serial is higher, it follows the active bundle and its policy is
// valid; otherwise the rejection is audited (once per bundle) and an error
// wrapping ErrBundleRejected returned, and the active bundle stays.
func (s *Service) Activate(ctx context.Context, raw []byte, source string) (*Activation, error) {
	st := s.policy.Load()
	if st.bundle == nil {
		return nil, fmt.Errorf("%w: no policy bundle is pinned: run `breakglass init` first", ErrNoPolicy)
	}
	sb, err := policy.ParseSignedBundle(raw)
	if err != nil {
		return nil, s.reject(ctx, source, "", 0, err)
	}
	switch {
	case sb.Hash == st.bundle.Hash:
		s.confirm()
		return &Activation{Outcome: OutcomeCurrent, Bundle: st.bundle}, nil
	case sb.Bundle.Serial < st.bundle.Serial:
		return &Activation{Outcome: OutcomeOlder, Bundle: st.bundle}, nil
	}
	info := policy.BundleInfo{Serial: st.bundle.Serial, Hash: st.bundle.Hash, Created: st.bundle.Created}
	sb, p, err := policy.VerifyBundle(raw, st.p, &info, st.p.AdminQuorum)
	if err != nil {
		return nil, s.reject(ctx, source, sb0Hash(raw), serialOf(raw), err)
	}
	signers := validSigners(sb, st.p)
	var out *StoredBundle
	err = s.update(ctx, func(tx Tx, now time.Time) error {
		have, err := tx.LatestBundles(1)
		if err != nil {
			return err
		}
		if len(have) == 0 || have[0].Hash != st.bundle.Hash {
			return fmt.Errorf("%w: the active bundle changed while this one was checked; offer it again", ErrConflict)
		}
		out = storedFrom(sb, now, source)
		return s.insertBundle(tx, out, st.bundle, signers, now)
	})
	if err != nil {
		return nil, err
	}
	s.activate(p, out, st.bundle)
	s.cfg.Logger.Info("policy bundle activated", "serial", out.Serial, "hash", out.Hash, "source", source, "signers", signers)
	return &Activation{Outcome: OutcomeActivated, Bundle: out, Signers: signers}, nil
}

func sb0Hash(raw []byte) string {
	if sb, err := policy.ParseSignedBundle(raw); err == nil {
		return sb.Hash
	}
	return ""
}

func serialOf(raw []byte) uint64 {
	if sb, err := policy.ParseSignedBundle(raw); err == nil {
		return sb.Bundle.Serial
	}
	return 0
}

func storedFrom(sb *policy.SignedBundle, now time.Time, source string) *StoredBundle {
	return &StoredBundle{Hash: sb.Hash, Serial: sb.Bundle.Serial, Created: sb.Bundle.Created, Raw: sb.Encode(),
		Activated: now, Source: source}
}

func (s *Service) insertBundle(tx Tx, b, prev *StoredBundle, signers []string, now time.Time) error {
	if err := tx.InsertBundle(b); err != nil {
		return err
	}
	data := map[string]any{"serial": b.Serial, "hash": b.Hash, "created": b.Created, "source": b.Source, "signers": signers}
	subjects := []string{b.Hash}
	if prev != nil {
		data["previous"], data["previous_serial"] = prev.Hash, prev.Serial
	}
	_, err := tx.Append(Event{Type: EventPolicyActivated, Time: now, Actor: "broker", Subjects: subjects, Data: mustJSON(data)})
	return err
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
	if aerr := s.update(ctx, func(tx Tx, now time.Time) error {
		_, err := tx.Append(Event{Type: EventPolicyRejected, Time: now, Actor: "broker", Subjects: nonEmpty(hash),
			Data: mustJSON(map[string]any{"source": source, "hash": hash, "serial": serial, "error": reason.Error()})})
		return err
	}); aerr != nil {
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

// validSigners lists the admins of admins whose signature on sb verifies.
func validSigners(sb *policy.SignedBundle, admins *policy.Policy) []string {
	var out []string
	for _, sig := range sb.Signatures {
		one := &policy.SignedBundle{Bundle: sb.Bundle, Raw: sb.Raw, Hash: sb.Hash, Signatures: slices.Clone(sb.Signatures[:0])}
		one.Signatures = append(one.Signatures, sig)
		if policy.CheckBundleSignatures(one, admins, 1) == nil {
			if pr, _, ok := admins.PrincipalByKey(sig.PublicKey); ok && !slices.Contains(out, pr.ID) {
				out = append(out, pr.ID)
			}
		}
	}
	return out
}

// activate makes p (from bundle b) active, with the directory restrictions
// kept.
func (s *Service) activate(p *policy.Policy, b, prev *StoredBundle) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.cfg.Clock.Now()
	st := &policyState{base: p, bundle: b, previous: prev, loaded: now}
	if old := s.policy.Load(); old.bundle != nil && old.bundle.Hash == b.Hash {
		st.confirmed = old.confirmed
	}
	st.p = p.Restrict(mergeRestrictions(s.directories))
	s.policy.Store(st)
	if s.cfg.BundleActivated != nil {
		s.cfg.BundleActivated(b, prev)
	}
}

// confirm records that an upstream served the active bundle just now.
func (s *Service) confirm() {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := s.policy.Load()
	st := *cur
	st.confirmed = s.cfg.Clock.Now()
	s.policy.Store(&st)
}

// Confirm records that an upstream served a bundle no newer than the active
// one just now, which resets the bundle's age (see BundleState).
func (s *Service) Confirm() { s.confirm() }

// LoadActive activates the newest stored bundle and the stored directory
// restrictions: the broker's cold start, which needs nothing but the local
// store. It returns an error wrapping ErrNoPolicy when no bundle was pinned.
func (s *Service) LoadActive(ctx context.Context) (*StoredBundle, error) {
	var have []*StoredBundle
	var dirs map[string]json.RawMessage
	err := s.cfg.Store.View(ctx, func(tx Tx) error {
		var err error
		if have, err = tx.LatestBundles(2); err != nil {
			return err
		}
		dirs, err = tx.Directories()
		return err
	})
	if err != nil {
		return nil, err
	}
	if len(have) == 0 {
		return nil, fmt.Errorf("%w: no policy bundle is pinned: run `breakglass init --data DIR BUNDLE` (or `serve --dev`)", ErrNoPolicy)
	}
	b := have[0]
	restr := map[string]policy.Restriction{}
	for src, raw := range dirs {
		var r policy.Restriction
		if err := json.Unmarshal(raw, &r); err != nil {
			s.cfg.Logger.Error("stored directory restriction is unreadable; ignoring it", "source", src, "err", err)
			continue
		}
		restr[src] = r
	}
	var prev *StoredBundle
	if len(have) > 1 {
		prev = have[1]
	}
	s.mu.Lock()
	same := len(restr) == len(s.directories)
	for src, r := range restr {
		if old, ok := s.directories[src]; !ok || !sameRestriction(old, r) {
			same = false
		}
	}
	if cur := s.policy.Load(); same && cur.bundle != nil && cur.bundle.Hash == b.Hash {
		s.mu.Unlock()
		return b, nil
	}
	s.mu.Unlock()
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

// BasePolicy returns the active policy as signed, without what a directory
// took away; or why there is none.
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

// StoredBundle returns the bundle with this hash.
func (s *Service) StoredBundle(ctx context.Context, hash string) (*StoredBundle, error) {
	var out *StoredBundle
	err := s.cfg.Store.View(ctx, func(tx Tx) error {
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

// SetDirectory applies what a live directory source (SCIM) takes away:
// people it deactivated and group memberships it removed. It can never add
// anything (policy.Restrict). A change is stored, so it survives restarts
// while the directory is down, and audited; the live grants of newly
// deactivated people are revoked in the same transaction. It returns
// whether anything changed.
func (s *Service) SetDirectory(ctx context.Context, source string, r policy.Restriction) (bool, error) {
	s.mu.Lock()
	old := s.directories[source]
	s.mu.Unlock()
	if sameRestriction(old, r) {
		return false, nil
	}
	enc, err := json.Marshal(r)
	if err != nil {
		return false, err
	}
	var newlyOff []string
	for id := range r.Disabled {
		if _, was := old.Disabled[id]; !was {
			newlyOff = append(newlyOff, id)
		}
	}
	slices.Sort(newlyOff)
	var back []string
	for id := range old.Disabled {
		if _, still := r.Disabled[id]; !still {
			back = append(back, id)
		}
	}
	slices.Sort(back)
	var revoked []string
	err = s.update(ctx, func(tx Tx, now time.Time) error {
		revoked = revoked[:0]
		if err := tx.SetDirectory(source, enc, now); err != nil {
			return err
		}
		for _, id := range newlyOff {
			gs, err := s.revokeAllOf(tx, id, "directory:"+source, now)
			if err != nil {
				return err
			}
			revoked = append(revoked, gs...)
		}
		_, err := tx.Append(Event{Type: EventDirectoryChanged, Time: now, Actor: "directory:" + source, Subjects: newlyOff,
			Data: mustJSON(map[string]any{"source": source, "deactivated": r.Disabled, "removed_from": r.RemovedFrom,
				"newly_deactivated": newlyOff, "reactivated": back, "revoked_grants": revoked})})
		return err
	})
	if err != nil {
		return false, err
	}
	s.mu.Lock()
	if s.directories == nil {
		s.directories = map[string]policy.Restriction{}
	}
	s.directories[source] = r
	cur := s.policy.Load()
	if cur.base != nil {
		st := *cur
		st.p = cur.base.Restrict(mergeRestrictions(s.directories))
		s.policy.Store(&st)
	}
	s.mu.Unlock()
	s.cfg.Logger.Info("directory changed", "source", source, "deactivated", newlyOff, "reactivated", back, "revoked_grants", revoked)
	return true, nil
}

// revokeAllOf revokes the live grants of principal id.
func (s *Service) revokeAllOf(tx Tx, id, by string, now time.Time) ([]string, error) {
	rs, err := tx.Requests(RequestFilter{State: StateIssued, Requester: id})
	if err != nil {
		return nil, err
	}
	var out []string
	for _, r := range rs {
		g, err := tx.Grant(r.ID)
		if err != nil {
			return nil, err
		}
		if !g.Active(now) {
			continue
		}
		if err := tx.RevokeGrant(g.ID, by, now); err != nil {
			return nil, err
		}
		if err := tx.SetRequestState(r.ID, StateIssued, StateRevoked, now); err != nil {
			return nil, err
		}
		if _, err := tx.Append(Event{Type: EventGrantRevoked, Time: now, Actor: by, Subjects: []string{r.ID, g.ID},
			Data: mustJSON(map[string]string{"grant": g.ID, "reason": id + " was deactivated by the directory"})}); err != nil {
			return nil, err
		}
		out = append(out, g.ID)
	}
	return out, nil
}

func sameRestriction(a, b policy.Restriction) bool {
	if len(a.Disabled) != len(b.Disabled) || len(a.RemovedFrom) != len(b.RemovedFrom) {
		return false
	}
	if !maps.Equal(a.Disabled, b.Disabled) {
		return false
	}
	for k, v := range a.RemovedFrom {
		w, ok := b.RemovedFrom[k]
		if !ok || !slices.Equal(sorted(v), sorted(w)) {
			return false
		}
	}
	return true
}

func sorted(l []string) []string { l = slices.Clone(l); slices.Sort(l); return l }

// mergeRestrictions is the union of what every directory source takes away.
func mergeRestrictions(m map[string]policy.Restriction) policy.Restriction {
	out := policy.Restriction{Disabled: map[string]string{}, RemovedFrom: map[string][]string{}}
	for _, src := range slices.Sorted(maps.Keys(m)) {
		r := m[src]
		for id, why := range r.Disabled {
			if _, ok := out.Disabled[id]; !ok {
				out.Disabled[id] = why
			}
		}
		for id, gs := range r.RemovedFrom {
			for _, g := range gs {
				if !slices.Contains(out.RemovedFrom[id], g) {
					out.RemovedFrom[id] = append(out.RemovedFrom[id], g)
				}
			}
		}
	}
	return out
}

// Evidence is what a grant was decided on, for a relying party's strict
// verification (package offline): the request's approval statement, the
// approvals counted, and the signed bundle the quorum was judged under.
type Evidence struct {
	Statement []byte
	Approvals []*Approval
	Bundle    []byte
}

// Evidence returns the evidence of request id's grant to its requester, an
// approver of it, or a policy admin.
func (s *Service) Evidence(ctx context.Context, principal, id string) (*Evidence, error) {
	p, err := s.Policy()
	if err != nil {
		return nil, err
	}
	out := &Evidence{}
	err = s.cfg.Store.View(ctx, func(tx Tx) error {
		r, err := tx.Request(id)
		if err != nil {
			return err
		}
		g, err := tx.Grant(id)
		if err != nil {
			if r.State == StatePending {
				return fmt.Errorf("%w: request %s is pending", ErrCredentialsPending, id)
			}
			return stateError(r)
		}
		if principal != r.Requester && !slices.Contains(g.Approvers, principal) && !p.IsAdmin(principal) {
			return fmt.Errorf("%w: only the requester (%s), an approver of the grant or a policy admin may fetch the evidence of request %s", ErrForbidden, r.Requester, id)
		}
		b, err := tx.Bundle(r.PolicyHash)
		if errors.Is(err, ErrNotFound) {
			return fmt.Errorf("%w: request %s was judged under policy %s, which is not a stored bundle", ErrNotFound, id, r.PolicyHash)
		} else if err != nil {
			return err
		}
		all, err := tx.Approvals(id)
		if err != nil {
			return err
		}
		for _, a := range all {
			if a.Kind == KindApproval && slices.Contains(g.Approvers, a.Approver) {
				out.Approvals = append(out.Approvals, a)
			}
		}
		out.Statement, out.Bundle = bytes.Clone(r.Statement), b.Raw
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
