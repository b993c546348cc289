package policy

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Limits on request text, which goes into line-based signed statements.
const (
	// MaxReason is the longest reason accepted, in characters.
	MaxReason = 1000
	// MaxIncident is the longest incident reference accepted, in characters.
	MaxIncident = 128
)

// RequestInput is what a requester asks for.
type RequestInput struct {
	Role, Requester, Reason, Incident string
	Duration                          time.Duration // 0 means the role's default
}

// CheckRequest decides whether in may be requested and returns the duration
// the grant would last. It returns an error wrapping ErrUnknownRole,
// ErrUnknownPrincipal, ErrDisabled, ErrNotRequester, ErrReason, ErrIncident
// or ErrDuration, checked in that order.
func CheckRequest(p *Policy, in RequestInput) (time.Duration, error) {
	r, ok := p.Role(in.Role)
	if !ok {
		return 0, fmt.Errorf("%w %q", ErrUnknownRole, in.Role)
	}
	if err := checkRequester(p, r, in.Requester); err != nil {
		return 0, err
	}
	if err := checkReason(r, in.Reason); err != nil {
		return 0, err
	}
	if err := checkIncident(r, in.Incident); err != nil {
		return 0, err
	}
	return effectiveDuration(r, in.Duration)
}

func checkRequester(p *Policy, r *Role, id string) error {
	pr, ok := p.Principal(id)
	switch {
	case !ok:
		return fmt.Errorf("requester: %w %q", ErrUnknownPrincipal, id)
	case pr.Disabled:
		return fmt.Errorf("requester %q: %w", id, ErrDisabled)
	}
	for _, g := range r.Requesters {
		if p.InGroup(id, g) {
			return nil
		}
	}
	return fmt.Errorf("%q: %w %q (requesters come from %s)", id, ErrNotRequester, r.Name, groupList(r.Requesters))
}

// checkReason counts characters without surrounding white space.
func checkReason(r *Role, reason string) error {
	if err := plainText(reason); err != nil {
		return fmt.Errorf("%w: %v", ErrReason, err)
	}
	n := utf8.RuneCountInString(strings.TrimSpace(reason))
	switch {
	case n < r.MinReason:
		return fmt.Errorf("%w: role %q needs at least %d characters, got %d", ErrReason, r.Name, r.MinReason, n)
	case n > MaxReason:
		return fmt.Errorf("%w: %d characters, at most %d allowed", ErrReason, n, MaxReason)
	}
	return nil
}

// checkIncident requires an incident when the role says so, and a given
// incident to match the role's pattern as a whole.
func checkIncident(r *Role, incident string) error {
	if err := plainText(incident); err != nil {
		return fmt.Errorf("%w: %v", ErrIncident, err)
	}
	switch n := utf8.RuneCountInString(incident); {
	case n == 0 && r.IncidentRequired:
		return fmt.Errorf("%w: role %q requires an incident reference", ErrIncident, r.Name)
	case n == 0:
		return nil
	case n > MaxIncident:
		return fmt.Errorf("%w: %d characters, at most %d allowed", ErrIncident, n, MaxIncident)
	case strings.TrimSpace(incident) != incident:
		return fmt.Errorf("%w: %q has surrounding white space", ErrIncident, incident)
	case r.incidentFull != nil && !r.incidentFull.MatchString(incident):
		return fmt.Errorf("%w: %q does not match %s", ErrIncident, incident, r.IncidentPattern)
	}
	return nil
}

func effectiveDuration(r *Role, d time.Duration) (time.Duration, error) {
	switch {
	case d == 0:
		d = r.DefaultDuration
	case d < 0:
		return 0, fmt.Errorf("%w: %s is not positive", ErrDuration, d)
	}
	if d > r.MaxDuration {
		return 0, fmt.Errorf("%w: %s is above the maximum %s for role %q", ErrDuration, d, r.MaxDuration, r.Name)
	}
	if d <= 0 {
		return 0, fmt.Errorf("%w: role %q has no positive default duration", ErrDuration, r.Name)
	}
	return d, nil
}

// plainText is CheckText, under the name the policy's own fields use.
func plainText(s string) error { return CheckText(s) }
