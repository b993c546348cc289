package policy_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"testing"
	"time"
)

func TestValidExample(t *testing.T) {
	data := mustReadFile(t, "testdata/valid.yaml")
	p := mustParse(t, data)

	sum := sha256.Sum256(data)
	if got, want := p.Hash(), "sha256:"+hex.EncodeToString(sum[:]); got != want {
		t.Errorf("Hash() = %s, want %s", got, want)
	}
	if !bytes.Equal(p.Bytes(), data) {
		t.Error("Bytes() differs from the parsed file")
	}
	p.Bytes()[0] ^= 0xff
	if !bytes.Equal(p.Bytes(), data) {
		t.Error("modifying the result of Bytes() changed the policy")
	}
	if p.Version != 1 || len(p.Groups) != 3 || len(p.Principals) != 7 || len(p.Roles) != 2 {
		t.Errorf("got version %d, %d groups, %d principals, %d roles; want 1, 3, 7, 2",
			p.Version, len(p.Groups), len(p.Principals), len(p.Roles))
	}
	if got, want := p.MaxDuration(), time.Hour; got != want {
		t.Errorf("MaxDuration() = %s, want %s", got, want)
	}
}

func TestRoleFields(t *testing.T) {
	p := mustValid(t)
	r, ok := p.Role("prod-ssh-root")
	if !ok {
		t.Fatal(`Role("prod-ssh-root") not found`)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"DefaultDuration", r.DefaultDuration, 30 * time.Minute},
		{"MaxDuration", r.MaxDuration, time.Hour},
		{"IncidentRequired", r.IncidentRequired, true},
		{"IncidentPattern", r.IncidentPattern.String(), "^INC-[0-9]+$"},
		{"MinReason", r.MinReason, 10},
		{"PendingTTL", r.PendingTTL, time.Hour},
		{"RequireUserVerification", r.RequireUserVerification, false},
		{"Audience", len(r.Audience), 1},
		{"Scopes", len(r.Scopes), 2},
		{"Drills", r.Drills, true},
		{"Approval", len(r.Approval), 2},
		{"Approval[0].Count", r.Approval[0].Count, 2},
		{"Approval[1].Groups[0]", r.Approval[1].Groups[0], "security"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}

	halt, ok := p.Role("rollout-halt")
	if !ok {
		t.Fatal(`Role("rollout-halt") not found`)
	}
	if halt.DefaultDuration != 15*time.Minute {
		t.Errorf("rollout-halt default = %s, want the max 15m when unset", halt.DefaultDuration)
	}
	if halt.PendingTTL != time.Hour {
		t.Errorf("rollout-halt pending_ttl = %s, want the 1h default", halt.PendingTTL)
	}
	if halt.IncidentRequired || halt.IncidentPattern == nil {
		t.Errorf("rollout-halt incident: required %v, pattern %v; want false and a pattern", halt.IncidentRequired, halt.IncidentPattern)
	}
	if _, ok := p.Role("nope"); ok {
		t.Error(`Role("nope") found`)
	}
}

func TestLookups(t *testing.T) {
	p := mustValid(t)
	alice, ok := p.Principal("alice")
	if !ok || alice.Name != "Alice Example" || len(alice.Keys) != 2 {
		t.Fatalf(`Principal("alice") = %+v, %v`, alice, ok)
	}
	if _, ok := p.Principal("mallory"); ok {
		t.Error(`Principal("mallory") found`)
	}
	if g, ok := p.Principal("grace"); !ok || len(g.Keys) != 0 {
		t.Errorf(`Principal("grace") = %+v, %v; want a principal without keys`, g, ok)
	}

	pr, key, ok := p.PrincipalByKey(testKey(t, "alice2"))
	if !ok || pr.ID != "alice" || key != &alice.Keys[1] {
		t.Errorf("PrincipalByKey(alice2) = %v, %v, %v; want alice and her second key", pr, key, ok)
	}
	if want := "SHA256:"; key != nil && key.Fingerprint[:7] != want {
		t.Errorf("Fingerprint = %q, want prefix %q", key.Fingerprint, want)
	}
	if _, _, ok := p.PrincipalByKey(testKey(t, "mallory")); ok {
		t.Error("PrincipalByKey found an unenrolled key")
	}
	if _, _, ok := p.PrincipalByKey(nil); ok {
		t.Error("PrincipalByKey(nil) found a key")
	}
	if fr, _, ok := p.PrincipalByKey(testKey(t, "frank")); !ok || !fr.Disabled {
		t.Errorf("PrincipalByKey(frank) = %v, %v; want the disabled principal frank", fr, ok)
	}

	for _, c := range []struct {
		id, group string
		want      bool
	}{
		{"erin", "sre", true}, {"erin", "security", true}, {"bob", "security", false},
		{"frank", "sre", true}, {"mallory", "sre", false}, {"bob", "nope", false},
	} {
		if got := p.InGroup(c.id, c.group); got != c.want {
			t.Errorf("InGroup(%s, %s) = %v, want %v", c.id, c.group, got, c.want)
		}
	}
	if !p.IsAdmin("carol") || p.IsAdmin("alice") || p.IsAdmin("mallory") {
		t.Error("IsAdmin: want only carol")
	}
}
