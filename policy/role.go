package policy

import (
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"
)

// role decodes one role and checks what can be checked without looking at
// the rest of the policy: durations, limits, the incident pattern, the JWT
// claims. References to groups are checked by validate.
func (c *checker) role(n *yaml.Node, field string) Role {
	f := c.mapping(n, field, "name", "description", "requesters", "approval", "duration",
		"incident", "min_reason", "pending_ttl", "require_user_verification", "jwt", "ssh", "drills", "stale_after")
	if f == nil {
		c.requireMapping(n, field)
		return Role{}
	}
	r := Role{
		Name:                    c.str(f["name"], child(field, "name")),
		Description:             c.str(f["description"], child(field, "description")),
		Requesters:              c.strs(f["requesters"], child(field, "requesters")),
		RequireUserVerification: c.boolean(f["require_user_verification"], child(field, "require_user_verification")),
		Drills:                  c.boolean(f["drills"], child(field, "drills")),
	}
	if emptyList(f["requesters"]) {
		c.addf(child(field, "requesters"), "required: at least one group whose members may request the role")
	}
	for i, cn := range c.seq(f["approval"], child(field, "approval")) {
		r.Approval = append(r.Approval, c.clause(cn, item(child(field, "approval"), i)))
	}
	if emptyList(f["approval"]) {
		c.addf(child(field, "approval"), "required: at least one clause like {count: 1, groups: [sre]}")
	}
	c.durations(f["duration"], child(field, "duration"), &r)
	c.incident(f["incident"], child(field, "incident"), &r)
	c.limits(f, field, &r)
	c.jwt(f["jwt"], child(field, "jwt"), &r)
	c.ssh(f["ssh"], child(field, "ssh"), &r)
	return r
}

func (c *checker) clause(n *yaml.Node, field string) Clause {
	f := c.mapping(n, field, "count", "groups")
	if f == nil {
		c.requireMapping(n, field)
		return Clause{}
	}
	var cl Clause
	if count, ok := c.integer(f["count"], child(field, "count")); ok {
		cl.Count = count
		if count < 1 {
			c.addf(child(field, "count"), "must be at least 1, got %d", count)
		}
	} else if !present(f["count"]) {
		c.addf(child(field, "count"), "required: how many distinct approvers this clause needs")
	}
	cl.Groups = c.strs(f["groups"], child(field, "groups"))
	if emptyList(f["groups"]) {
		c.addf(child(field, "groups"), "required: the groups approvers may come from")
	}
	return cl
}

// durations decodes duration: {default, max}. max is required, within
// (0, MaxRoleDuration]; default is optional (it then equals max) and
// within (0, max].
func (c *checker) durations(n *yaml.Node, field string, r *Role) {
	f := c.mapping(n, field, "default", "max")
	if f == nil {
		if !present(n) {
			c.addf(child(field, "max"), "required: the longest a grant of this role may last, e.g. duration: {default: 30m, max: 1h}")
		}
		return
	}
	maxField, defField := child(field, "max"), child(field, "default")
	maxOK, defOK := false, false
	if r.MaxDuration, maxOK = c.duration(f["max"], maxField); maxOK {
		switch {
		case r.MaxDuration <= 0:
			c.addf(maxField, "must be positive, got %s", r.MaxDuration)
			maxOK = false
		case r.MaxDuration > MaxRoleDuration:
			c.addf(maxField, "%s is above the %s limit", r.MaxDuration, MaxRoleDuration)
			maxOK = false
		}
	} else if !present(f["max"]) {
		c.addf(maxField, "required: the longest a grant of this role may last")
	}
	if r.DefaultDuration, defOK = c.duration(f["default"], defField); !defOK {
		if !present(f["default"]) {
			r.DefaultDuration = r.MaxDuration
		}
		return
	}
	switch {
	case r.DefaultDuration <= 0:
		c.addf(defField, "must be positive, got %s", r.DefaultDuration)
	case maxOK && r.DefaultDuration > r.MaxDuration:
		c.addf(defField, "default %s is longer than max %s", r.DefaultDuration, r.MaxDuration)
	}
}

// incident decodes incident: {required, pattern}. A pattern without
// required is fine: it then applies only when an incident is given.
func (c *checker) incident(n *yaml.Node, field string, r *Role) {
	f := c.mapping(n, field, "required", "pattern")
	if f == nil {
		return
	}
	r.IncidentRequired = c.boolean(f["required"], child(field, "required"))
	pattern := c.str(f["pattern"], child(field, "pattern"))
	if pattern == "" {
		return
	}
	re, err := regexp.Compile(pattern)
	if err != nil {
		c.addf(child(field, "pattern"), "bad regular expression: %v", err)
		return
	}
	full, err := regexp.Compile(`^(?:` + pattern + `)$`)
	if err != nil {
		c.addf(child(field, "pattern"), "pattern cannot be anchored as ^(?:pattern)$: %v", err)
		return
	}
	r.IncidentPattern, r.incidentFull = re, full
}

// emptyList reports whether n is absent, null or an empty list.
func emptyList(n *yaml.Node) bool {
	return !present(n) || (n.Kind == yaml.SequenceNode && len(n.Content) == 0)
}

// limits decodes min_reason, pending_ttl and stale_after.
func (c *checker) limits(f map[string]*yaml.Node, field string, r *Role) {
	mr := child(field, "min_reason")
	if v, ok := c.integer(f["min_reason"], mr); ok {
		r.MinReason = v
		if v < 0 || v > MaxReason {
			c.addf(mr, "must be between 0 and %d characters, got %d", MaxReason, v)
		}
	}
	ttl := child(field, "pending_ttl")
	v, ok := c.duration(f["pending_ttl"], ttl)
	switch {
	case !ok:
		r.PendingTTL = DefaultPendingTTL
	case v <= 0:
		c.addf(ttl, "must be positive, got %s", v)
	case v > MaxPendingTTL:
		c.addf(ttl, "%s is above the %s limit", v, MaxPendingTTL)
	default:
		r.PendingTTL = v
	}
	c.staleAfter(f["stale_after"], child(field, "stale_after"), r)
}

// staleAfter decodes stale_after: absent or null is 0 (never stale),
// otherwise within [MinStaleAfter, MaxStaleAfter].
func (c *checker) staleAfter(n *yaml.Node, field string, r *Role) {
	v, ok := c.duration(n, field)
	switch {
	case !ok:
	case v < MinStaleAfter:
		c.addf(field, "%s is below the %s minimum", v, MinStaleAfter)
	case v > MaxStaleAfter:
		c.addf(field, "%s is above the %s limit", v, MaxStaleAfter)
	default:
		r.StaleAfter = v
	}
}

// jwt decodes jwt: {audience, scopes}. Scopes are OAuth scope tokens, so
// they may not contain white space.
func (c *checker) jwt(n *yaml.Node, field string, r *Role) {
	f := c.mapping(n, field, "audience", "scopes")
	if f == nil {
		return
	}
	r.Audience = c.strs(f["audience"], child(field, "audience"))
	r.Scopes = c.strs(f["scopes"], child(field, "scopes"))
	for i, a := range r.Audience {
		if err := plainText(a); err != nil || a == "" {
			c.addf(item(child(field, "audience"), i), "audience must be a non-empty single-line string")
		}
	}
	for i, s := range r.Scopes {
		if err := plainText(s); err != nil || s == "" || strings.ContainsAny(s, " \t") {
			c.addf(item(child(field, "scopes"), i), "scope must be a non-empty token without spaces")
		}
	}
}
