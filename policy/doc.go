// Package policy holds the rules the broker decides by: groups, principals and
// their enrolled keys, and roles with their approval quorum. Parse turns the
// YAML policy file (version 1) into a validated, immutable Policy; the Check*
// functions and Quorum evaluate requests and approvals against it. Everything
// here is pure: no I/O, no clock, no package-level mutable state.
//
// A Policy returned by Parse is never modified afterwards and is safe for
// concurrent use. Pointers returned by its lookup methods point into the
// Policy; callers MUST NOT modify what they point to.
//
// # File format
//
// testdata/valid.yaml is a complete example. Keys are snake_case; unknown
// keys, aliases and more than one YAML document are rejected.
//
//	version: 1                      # required, must be 1
//	admins: [carol]                 # principal ids
//	admin_quorum: 1                 # k of admins must sign the next policy bundle; default 1, at most len(admins)
//	groups:
//	  - {name: sre, description: on-call SREs}
//	principals:
//	  - id: alice                   # ids and names match ^[a-z][a-z0-9._-]{0,63}$
//	    name: Alice Example
//	    groups: [engineering]
//	    keys: [ssh-ed25519 AAAA... alice@laptop]   # authorized_keys lines, no options
//	    disabled: false
//	roles:
//	  - name: prod-ssh-root
//	    description: root on production hosts
//	    requesters: [engineering]   # required, groups
//	    approval:                   # required; ALL clauses must hold
//	      - {count: 2, groups: [sre]}
//	      - {count: 1, groups: [security]}
//	    duration: {default: 30m, max: 1h}   # max required, at most 24h; default defaults to max
//	    incident: {required: true, pattern: '^INC-[0-9]+$'}  # pattern must match the whole reference
//	    min_reason: 10              # characters, surrounding white space not counted
//	    pending_ttl: 1h             # default 1h, at most 168h
//	    require_user_verification: false
//	    jwt: {audience: [ops-api], scopes: [admin, deploy]}
//	    drills: true
//	    stale_after: 720h           # optional, 1m to 8760h: an older policy bundle needs one more approver
//
// Durations use Go syntax (30m, 1h30m, 168h); there is no unit for days.
package policy
