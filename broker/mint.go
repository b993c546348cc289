package broker

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/failsmall/breakglass/policy"
)

// grantIfQuorum mints the grant of r when all, its approvals, meet the
// quorum, and adds it to ch. The state change is a compare-and-swap from
// pending, so racing approvals yield exactly one grant.
func (s *Service) grantIfQuorum(ctx context.Context, ch *Change, p *policy.Policy, r *Request, all []*Approval, res *ApprovalResult, now time.Time) error {
	var approvers []string
	for _, a := range all {
		if a.Kind == KindApproval && !slices.Contains(approvers, a.Approver) {
			approvers = append(approvers, a.Approver)
		}
	}
	role, ok := p.Role(r.Role)
	if !ok {
		return fmt.Errorf("%w: role %q is not in the active policy", ErrPolicyChanged, r.Role)
	}
	extra := 0
	if role.StaleAfter > 0 {
		if age := s.policy.Load().age(now); age > role.StaleAfter {
			extra = 1
			res.Stale = true
		}
	}
	q := policy.QuorumWith(p, r.Role, r.Requester, approvers, extra)
	if !q.Met {
		res.Missing = q.Missing
		return nil
	}
	counted := make([]string, 0, len(q.Assigned))
	for _, a := range approvers {
		if _, ok := q.Assigned[a]; ok {
			counted = append(counted, a)
		}
	}
	g := &Grant{ID: NewID(now), RequestID: r.ID, Requester: r.Requester, Role: r.Role,
		Approvers: counted, Issued: now.Truncate(time.Second), Expires: now.Truncate(time.Second).Add(min(r.Duration, role.MaxDuration))}
	var err error
	g.Token, g.KeyID, err = s.cfg.Minter.MintJWT(JWTClaims{Issuer: s.cfg.Name, Subject: r.Requester,
		Audience: role.Audience, Scopes: role.Scopes, IssuedAt: g.Issued, Expiry: g.Expires,
		GrantID: g.ID, Role: r.Role, Incident: r.Incident, RequestID: r.ID, Approvers: g.Approvers,
		PolicyHash: r.PolicyHash, Drill: r.Drill})
	if err != nil {
		return fmt.Errorf("mint credentials for request %s: %w", r.ID, err)
	}
	if role.SSH != nil {
		if err := s.mintSSH(ctx, role, r, g); err != nil {
			return err
		}
	}
	ch.Add(SetRequestState{ID: r.ID, From: StatePending, To: StateIssued, At: now}, InsertGrant{Grant: g})
	data := map[string]any{"grant": g.ID, "request": r.ID, "role": r.Role, "requester": r.Requester,
		"approvers": g.Approvers, "issued": g.Issued, "expires": g.Expires, "kid": g.KeyID,
		"incident": r.Incident, "policy": r.PolicyHash, "statement_digest": r.StatementDigest}
	if g.SSHCert != "" {
		data["ssh_serial"], data["ssh_certificate"] = g.SSHSerial, g.SSHCert
	}
	ch.Record(Event{Type: EventGrantIssued, Time: now, Actor: "broker", Subjects: []string{r.ID, g.ID},
		Data: mustJSON(data)})
	issued := *r
	issued.State, issued.Updated = StateIssued, now
	res.Request, res.Grant = &issued, g
	return nil
}

// expire adds to ch the move of lapsed pending request r to expired, and
// its audit entry, and returns ch.
func (s *Service) expire(ch *Change, r *Request, now time.Time) *Change {
	ch.Add(SetRequestState{ID: r.ID, From: StatePending, To: StateExpired, At: now})
	return ch.Record(Event{Type: EventRequestExpired, Time: now, Actor: "broker", Subjects: []string{r.ID},
		Data: mustJSON(map[string]any{"request": r.ID, "expires": r.Expires})})
}
