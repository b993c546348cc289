package broker

import (
	"fmt"
	"strings"
	"time"

	"github.com/failsmall/breakglass/policy"
)

// Impact is how activating a new policy bears on one request: why it must
// be made again, or why its live grant is affected.
type Impact struct {
	Request *Request
	Grant   *Grant // the live grant; nil for a pending request
	Reasons []string
}

// PolicyImpact says which of views (requests with their grants) activating
// next affects, d being what next changes from the active policy:
//
//   - every pending or approved request: its statement names the active
//     bundle, so it must be requested again once next is active; its
//     reasons add whether next would refuse it and whether its role
//     changes;
//   - every live grant (not revoked, not expired at now) that next would
//     refuse to request, whose role d changes, or whose approvers would not
//     meet next's rule for it.
//
// Views in other states, and grants that are no longer live, are left out;
// both lists keep the order of views and are empty, not nil, when nothing
// is affected. PolicyImpact does no I/O.
func PolicyImpact(views []*RequestView, d *policy.PolicyDiff, next *policy.Policy, now time.Time) (pending, grants []Impact) {
	pending, grants = []Impact{}, []Impact{}
	for _, v := range views {
		r := v.Request
		switch {
		case r.State == StatePending || r.State == StateApproved:
			again := "its statement names " + shortHash(r.PolicyHash) + ": it must be requested again once the new bundle is active"
			pending = append(pending, Impact{Request: r, Reasons: append([]string{again}, requestReasons(r, d, next)...)})
		case r.State == StateIssued && v.Grant != nil && v.Grant.Active(now):
			if reasons := grantReasons(r, v.Grant, d, next); len(reasons) > 0 {
				grants = append(grants, Impact{Request: r, Grant: v.Grant, Reasons: reasons})
			}
		}
	}
	return pending, grants
}

// requestReasons says why next treats r differently: it would refuse r, or
// r's role changes.
func requestReasons(r *Request, d *policy.PolicyDiff, next *policy.Policy) []string {
	var out []string
	in := policy.RequestInput{Role: r.Role, Requester: r.Requester, Reason: r.Reason, Incident: r.Incident, Duration: r.Duration}
	if _, err := policy.CheckRequest(next, in); err != nil {
		out = append(out, "the new policy would refuse it: "+err.Error())
	}
	for _, rc := range d.RolesChanged {
		if rc.Name == r.Role {
			out = append(out, fmt.Sprintf("role %s changes: %s", rc.Name, strings.Join(rc.Fields, ", ")))
		}
	}
	return out
}

// grantReasons is requestReasons, and whether g's approvers would meet
// next's rule for r's role.
func grantReasons(r *Request, g *Grant, d *policy.PolicyDiff, next *policy.Policy) []string {
	out := requestReasons(r, d, next)
	if _, ok := next.Role(r.Role); ok {
		if q := policy.Quorum(next, r.Role, r.Requester, g.Approvers); !q.Met {
			out = append(out, fmt.Sprintf("its approvals (%s) would not meet the new rule: %s", strings.Join(g.Approvers, ", "), strings.Join(q.Missing, "; ")))
		}
	}
	return out
}

// shortHash abbreviates a "sha256:" hash for a sentence.
func shortHash(h string) string {
	if len(h) > len("sha256:")+12 {
		return h[:len("sha256:")+12] + "..."
	}
	return h
}
