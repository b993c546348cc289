package policy_test

import (
	"errors"
	"testing"
	"time"

	"github.com/failsmall/breakglass/policy"
)

// FuzzParse checks that no input makes Parse panic, that it returns exactly
// one of a policy or a *ValidationError, and that a policy it accepts has a
// stable hash and can be evaluated without panics.
func FuzzParse(f *testing.F) {
	f.Add(mustReadFile(f, "testdata/valid.yaml"))
	f.Add([]byte(quorumPolicy))
	f.Add([]byte(plus()))
	for _, c := range problemCases() {
		f.Add([]byte(c.yaml))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := policy.Parse(data)
		if err != nil {
			var ve *policy.ValidationError
			if !errors.As(err, &ve) || len(ve.Problems) == 0 || p != nil {
				t.Fatalf("Parse = %v, %v; want nil and a non-empty *ValidationError", p, err)
			}
			return
		}
		if p == nil {
			t.Fatal("Parse returned neither a policy nor an error")
		}
		again := mustParse(t, data)
		if p.Hash() != again.Hash() || p.Hash() != mustParse(t, p.Bytes()).Hash() {
			t.Fatalf("unstable hash: %s, %s", p.Hash(), again.Hash())
		}
		evaluate(t, p)
		if len(p.Principals) > 0 {
			first := p.Principals[0]
			q := p.Restrict(policy.Restriction{Disabled: map[string]string{first.ID: "fuzz"},
				RemovedFrom: map[string][]string{p.Principals[len(p.Principals)-1].ID: first.Groups}})
			if q.Hash() != p.Hash() || !q.Principals[0].Disabled {
				t.Fatalf("Restrict: hash %s (want %s), first principal disabled %v", q.Hash(), p.Hash(), q.Principals[0].Disabled)
			}
			evaluate(t, q)
		}
	})
}

// evaluate runs every evaluation function over every role and principal.
func evaluate(t *testing.T, p *policy.Policy) {
	var ids []string
	for _, pr := range p.Principals {
		ids = append(ids, pr.ID)
		for _, k := range pr.Keys {
			if got, _, ok := p.PrincipalByKey(k.PublicKey); !ok || got.ID != pr.ID {
				t.Fatalf("PrincipalByKey(%s) = %v, %v; want %s", k.Fingerprint, got, ok, pr.ID)
			}
		}
	}
	for _, r := range p.Roles {
		if r.MaxDuration > p.MaxDuration() {
			t.Fatalf("role %s lasts %s, above MaxDuration() %s", r.Name, r.MaxDuration, p.MaxDuration())
		}
		for _, requester := range ids {
			d, err := policy.CheckRequest(p, policy.RequestInput{Role: r.Name, Requester: requester,
				Reason: "a reason long enough for most roles", Incident: "INC-1"})
			if err == nil && (d <= 0 || d > r.MaxDuration) {
				t.Fatalf("CheckRequest(%s, %s) = %s, outside (0, %s]", r.Name, requester, d, r.MaxDuration)
			}
			for _, approver := range ids {
				_ = policy.CheckApprover(p, r.Name, requester, approver)
			}
			q := policy.Quorum(p, r.Name, requester, ids)
			if _, self := q.Assigned[requester]; self {
				t.Fatalf("Quorum assigned the requester %s", requester)
			}
			if q.Met != (len(q.Missing) == 0) {
				t.Fatalf("Quorum Met = %v with Missing %q", q.Met, q.Missing)
			}
			if stale := policy.QuorumWith(p, r.Name, requester, ids, 1); stale.Met && !q.Met {
				t.Fatalf("QuorumWith(extra 1) met where Quorum is not: %q", q.Missing)
			}
		}
	}
	_, _ = policy.CheckRequest(p, policy.RequestInput{Role: "no-such-role", Duration: time.Hour})
}
