package broker_test

import (
	"strings"
	"testing"
	"time"

	"github.com/failsmall/breakglass/broker"
	"github.com/failsmall/breakglass/internal/brokertest"
	"github.com/failsmall/breakglass/policy"
)

// TestPolicyImpact: a pending or approved request is always affected; a
// live grant is when the new policy would refuse its request, changes its
// role, or no longer counts its approvers; others are left out.
func TestPolicyImpact(t *testing.T) {
	e := brokertest.New(t, testPolicy, "")
	// next: mallory leaves engineering, prod needs 3 of sre, uv is as it was.
	nextYAML := strings.Replace(strings.Replace(testPolicy, "groups: [engineering], keys: [KEY(mallory)]", "groups: [ops], keys: [KEY(mallory)]", 1),
		"{count: 2, groups: [sre]}", "{count: 3, groups: [sre]}", 1)
	next, err := policy.Parse([]byte(e.Expand(nextYAML)))
	if err != nil {
		t.Fatal(err)
	}
	d := policy.Diff(e.Policy, next)
	now := brokertest.Start
	req := func(id, role, requester string, state broker.State) *broker.Request {
		return &broker.Request{ID: id, Role: role, Requester: requester, Reason: "disk full on db-7", Incident: "INC-4812",
			Duration: 10 * time.Minute, State: state, PolicyHash: e.Policy.Hash()}
	}
	grant := func(id string, approvers []string, expires time.Time, revoked bool) *broker.Grant {
		g := &broker.Grant{ID: id, Approvers: approvers, Expires: expires}
		if revoked {
			g.Revoked = now.Add(-time.Minute)
		}
		return g
	}
	live := now.Add(time.Hour)
	views := []*broker.RequestView{
		{Request: req("R1", "uv", "alice", broker.StatePending)},
		{Request: req("R2", "prod", "alice", broker.StateApproved)},
		{Request: req("R3", "prod", "alice", broker.StateIssued), Grant: grant("G3", []string{"bob", "dave", "carol"}, live, false)},
		{Request: req("R4", "uv", "mallory", broker.StateIssued), Grant: grant("G4", []string{"bob"}, live, false)},
		{Request: req("R5", "uv", "alice", broker.StateIssued), Grant: grant("G5", []string{"bob"}, live, false)},
		{Request: req("R6", "prod", "alice", broker.StateIssued), Grant: grant("G6", []string{"bob"}, now, false)},
		{Request: req("R7", "prod", "alice", broker.StateIssued), Grant: grant("G7", []string{"bob"}, live, true)},
		{Request: req("R8", "prod", "alice", broker.StateDenied)},
	}
	pending, grants := broker.PolicyImpact(views, d, next, now)
	want := map[string][]string{
		"R1": {"must be requested again"},
		"R2": {"must be requested again", "role prod changes: approval"},
		"G3": {"role prod changes: approval", "its approvals (bob, dave, carol) would not meet the new rule"},
		"G4": {"the new policy would refuse it"},
	}
	got := map[string][]string{}
	for _, im := range pending {
		if im.Grant != nil {
			t.Errorf("pending request %s with grant %s", im.Request.ID, im.Grant.ID)
		}
		got[im.Request.ID] = im.Reasons
	}
	for _, im := range grants {
		got[im.Grant.ID] = im.Reasons
	}
	if len(pending) != 2 || pending[0].Request.ID != "R1" || pending[1].Request.ID != "R2" || len(grants) != 2 {
		t.Errorf("pending %d, grants %d: got %v, want R1, R2 and G3, G4", len(pending), len(grants), got)
	}
	for id, wants := range want {
		if len(got[id]) != len(wants) {
			t.Errorf("%s: reasons %q, want %d of them", id, got[id], len(wants))
			continue
		}
		for i, w := range wants {
			if !strings.Contains(got[id][i], w) {
				t.Errorf("%s: reason %d is %q, want it to say %q", id, i, got[id][i], w)
			}
		}
	}
	if p, g := broker.PolicyImpact(nil, d, next, now); p == nil || g == nil {
		t.Error("nothing affected: want empty lists, not nil")
	}
}
