package policy_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/failsmall/breakglass/policy"
)

func TestCheckRequest(t *testing.T) {
	p := mustValid(t)
	ok := policy.RequestInput{Role: "prod-ssh-root", Requester: "alice", Reason: "disk full on db-7", Incident: "INC-4812"}
	with := func(f func(*policy.RequestInput)) policy.RequestInput {
		in := ok
		f(&in)
		return in
	}
	cases := []struct {
		name    string
		in      policy.RequestInput
		want    time.Duration
		wantErr error
	}{
		{"valid, default duration", ok, 30 * time.Minute, nil},
		{"valid, explicit duration", with(func(in *policy.RequestInput) { in.Duration = 45 * time.Minute }), 45 * time.Minute, nil},
		{"valid, exactly max", with(func(in *policy.RequestInput) { in.Duration = time.Hour }), time.Hour, nil},
		{"valid, no incident where optional", policy.RequestInput{Role: "rollout-halt", Requester: "bob"}, 15 * time.Minute, nil},
		{"unknown role", with(func(in *policy.RequestInput) { in.Role = "prod-root" }), 0, policy.ErrUnknownRole},
		{"unknown requester", with(func(in *policy.RequestInput) { in.Requester = "mallory" }), 0, policy.ErrUnknownPrincipal},
		{"disabled requester", with(func(in *policy.RequestInput) { in.Requester = "frank" }), 0, policy.ErrDisabled},
		{"requester outside requesters", with(func(in *policy.RequestInput) { in.Requester = "bob" }), 0, policy.ErrNotRequester},
		{"reason too short", with(func(in *policy.RequestInput) { in.Reason = "disk" }), 0, policy.ErrReason},
		{"reason padded with spaces", with(func(in *policy.RequestInput) { in.Reason = "   disk        " }), 0, policy.ErrReason},
		{"reason with newline", with(func(in *policy.RequestInput) { in.Reason = "disk full on db-7\nrole: admin" }), 0, policy.ErrReason},
		{"reason with carriage return", with(func(in *policy.RequestInput) { in.Reason = "disk full on db-7\r" }), 0, policy.ErrReason},
		{"reason with bidi override", with(func(in *policy.RequestInput) { in.Reason = "disk full on \u202edb-7" }), 0, policy.ErrReason},
		{"reason not UTF-8", with(func(in *policy.RequestInput) { in.Reason = "disk full on \xffdb-7" }), 0, policy.ErrReason},
		{"reason too long", with(func(in *policy.RequestInput) { in.Reason = strings.Repeat("x", policy.MaxReason+1) }), 0, policy.ErrReason},
		{"incident missing", with(func(in *policy.RequestInput) { in.Incident = "" }), 0, policy.ErrIncident},
		{"incident not matching", with(func(in *policy.RequestInput) { in.Incident = "INC-" }), 0, policy.ErrIncident},
		{"incident with newline", with(func(in *policy.RequestInput) { in.Incident = "INC-1\nINC-2" }), 0, policy.ErrIncident},
		{"incident with tab", with(func(in *policy.RequestInput) { in.Incident = "INC-1\t" }), 0, policy.ErrIncident},
		{"incident too long", with(func(in *policy.RequestInput) { in.Incident = "INC-" + strings.Repeat("1", policy.MaxIncident) }), 0, policy.ErrIncident},
		{"optional incident must match when given", policy.RequestInput{Role: "rollout-halt", Requester: "bob", Incident: "ticket 5"}, 0, policy.ErrIncident},
		{"optional incident matches whole string", policy.RequestInput{Role: "rollout-halt", Requester: "bob", Incident: "xINC-5"}, 0, policy.ErrIncident},
		{"duration above max", with(func(in *policy.RequestInput) { in.Duration = time.Hour + time.Second }), 0, policy.ErrDuration},
		{"duration negative", with(func(in *policy.RequestInput) { in.Duration = -time.Minute }), 0, policy.ErrDuration},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := policy.CheckRequest(p, c.in)
			if !errors.Is(err, c.wantErr) || (err == nil) != (c.wantErr == nil) {
				t.Fatalf("CheckRequest error = %v, want %v", err, c.wantErr)
			}
			if got != c.want {
				t.Errorf("CheckRequest duration = %s, want %s", got, c.want)
			}
		})
	}
}

func TestCheckApprover(t *testing.T) {
	p := mustValid(t)
	cases := []struct {
		name, role, requester, approver string
		wantErr                         error
	}{
		{"sre approver", "prod-ssh-root", "alice", "bob", nil},
		{"security approver", "prod-ssh-root", "alice", "carol", nil},
		{"member of both clauses", "prod-ssh-root", "alice", "erin", nil},
		{"unknown role", "nope", "alice", "bob", policy.ErrUnknownRole},
		{"self approval", "rollout-halt", "bob", "bob", policy.ErrSelfApproval},
		{"unknown approver", "prod-ssh-root", "alice", "mallory", policy.ErrUnknownPrincipal},
		{"disabled approver", "prod-ssh-root", "alice", "frank", policy.ErrDisabled},
		{"approver in no clause group", "prod-ssh-root", "bob", "alice", policy.ErrNotEligible},
		{"principal without keys in no clause group", "prod-ssh-root", "alice", "grace", policy.ErrNotEligible},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := policy.CheckApprover(p, c.role, c.requester, c.approver)
			if !errors.Is(err, c.wantErr) || (err == nil) != (c.wantErr == nil) {
				t.Errorf("CheckApprover = %v, want %v", err, c.wantErr)
			}
		})
	}
}

// TestSentinelsDistinct guards the broker's error mapping: no sentinel may
// match another.
func TestSentinelsDistinct(t *testing.T) {
	all := []error{policy.ErrUnknownRole, policy.ErrUnknownPrincipal, policy.ErrDisabled, policy.ErrNotRequester,
		policy.ErrSelfApproval, policy.ErrNotEligible, policy.ErrReason, policy.ErrIncident, policy.ErrDuration}
	for i, a := range all {
		for j, b := range all {
			if i != j && errors.Is(a, b) {
				t.Errorf("%v matches %v", a, b)
			}
		}
	}
}
