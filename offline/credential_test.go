package offline_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/failsmall/breakglass/broker"
	"github.com/failsmall/breakglass/internal/brokertest"
	"github.com/failsmall/breakglass/offline"
	"github.com/failsmall/breakglass/token"
)

var offlineErrors = []error{offline.ErrNoEvidence, offline.ErrNoRevocations, offline.ErrNoTrust, offline.ErrBadEvidence,
	offline.ErrEvidenceMismatch, offline.ErrUntrustedBundle, offline.ErrMissingApprovals, offline.ErrForgedApproval,
	offline.ErrNotEligible, offline.ErrQuorumShort, offline.ErrRevoked, offline.ErrBadRevocations,
	offline.ErrRevocationsExpired, offline.ErrRevocationsRollback, offline.ErrNoLogKey, offline.ErrBadReceipt,
	offline.ErrReceiptUnverified, offline.ErrWitnessQuorum, offline.ErrReceiptMismatch}

// checkOnly fails t unless err wraps want and no other offline sentinel.
func checkOnly(t *testing.T, err, want error) {
	t.Helper()
	if err == nil {
		t.Fatalf("verified; want %v", want)
	}
	for _, s := range offlineErrors {
		if got := errors.Is(err, s); got != (s == want) {
			t.Errorf("errors.Is(%q, %q) = %v, want %v", err, s, got, !got)
		}
	}
}

func TestVerifyCredentialStrict(t *testing.T) {
	f := newFixture(t)
	m := mustMaterial(t, f, mustEvidence(t, f, "bob", "dave", "erin"))
	res, err := offline.VerifyCredential(mustMint(t, f, f.claims), m)
	if err != nil {
		t.Fatalf("VerifyCredential: %v", err)
	}
	if !res.Strict || !slices.Equal(res.Approvers, []string{"bob", "dave", "erin"}) || res.Claims.ID != "grant-1" {
		t.Fatalf("result = %+v", res)
	}
	if res.Bundle == nil || res.Bundle.Hash != f.bundleHash || res.Bundle.Serial != 1 {
		t.Fatalf("bundle = %+v, want serial 1 hash %s", res.Bundle, f.bundleHash)
	}
	if res.Revocations == nil || res.Revocations.Sequence != 7 {
		t.Fatalf("revocations = %+v, want sequence 7", res.Revocations)
	}
}

// TestVerifyCredentialRejects changes one thing each: the material, the
// evidence or the credential's claims.
func TestVerifyCredentialRejects(t *testing.T) {
	f := newFixture(t)
	other := f.stmt
	other.Request = "req-2"
	otherText, err := other.Encode()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		edit  func(m *offline.Material, e *offline.Evidence, c *token.Claims)
		want  error
		inMsg string
	}{
		{"no approvals", func(m *offline.Material, e *offline.Evidence, c *token.Claims) { e.Approvals = nil },
			offline.ErrMissingApprovals, "no approval signatures"},
		{"forged signature over another text", func(m *offline.Material, e *offline.Evidence, c *token.Claims) {
			e.Approvals[1].Signature = mustApproval(t, "dave", otherText).Signature
		}, offline.ErrForgedApproval, "approval 2 by dave"},
		{"signature from an unenrolled key", func(m *offline.Material, e *offline.Evidence, c *token.Claims) {
			e.Approvals[0] = mustApproval(t, "eve", f.text)
		}, offline.ErrForgedApproval, "no principal of the policy bundle enrolled"},
		{"signature not SSHSIG", func(m *offline.Material, e *offline.Evidence, c *token.Claims) {
			e.Approvals[0].Signature = "-----BEGIN SSH SIGNATURE-----\nAAAA\n-----END SSH SIGNATURE-----\n"
		}, offline.ErrForgedApproval, "approval 1"},
		{"approver not in an approving group", func(m *offline.Material, e *offline.Evidence, c *token.Claims) {
			e.Approvals = append(e.Approvals, mustApproval(t, "mallory", f.text))
		}, offline.ErrNotEligible, "mallory"},
		{"requester approving", func(m *offline.Material, e *offline.Evidence, c *token.Claims) {
			e.Approvals = append(e.Approvals, mustApproval(t, "alice", f.text))
		}, offline.ErrNotEligible, "requester cannot approve"},
		{"disabled approver", func(m *offline.Material, e *offline.Evidence, c *token.Claims) {
			e.Approvals[0] = mustApproval(t, "frank", f.text)
			c.Approvers = []string{"frank", "dave", "erin"}
		}, offline.ErrNotEligible, "disabled"},
		{"quorum short", func(m *offline.Material, e *offline.Evidence, c *token.Claims) {
			e.Approvals = e.Approvals[1:]
			c.Approvers = []string{"dave", "erin"}
		}, offline.ErrQuorumShort, "1 more from [sre]"},
		{"same approver twice", func(m *offline.Material, e *offline.Evidence, c *token.Claims) {
			e.Approvals[0] = e.Approvals[1]
			c.Approvers = []string{"dave", "erin"}
		}, offline.ErrQuorumShort, "approvals from [dave, erin]"},
		{"revoked", func(m *offline.Material, e *offline.Evidence, c *token.Claims) {
			m.Revocations = mustRevocations(t, f, start, time.Hour, 8, "grant-0", "grant-1")
		}, offline.ErrRevoked, "grant grant-1 is in revocation list 8"},
		{"revocation list too old", func(m *offline.Material, e *offline.Evidence, c *token.Claims) {
			m.Revocations = mustRevocations(t, f, start.Add(-time.Hour), 69*time.Minute, 8)
		}, offline.ErrRevocationsExpired, "expired at 2026-11-25T21:09:00Z"},
		{"revocation list replayed", func(m *offline.Material, e *offline.Evidence, c *token.Claims) {
			m.MinRevocationSequence = 9
		}, offline.ErrRevocationsRollback, "sequence 7, already saw 9"},
		{"evidence for another request", func(m *offline.Material, e *offline.Evidence, c *token.Claims) {
			*e = offline.Evidence{Statement: string(otherText), Bundle: e.Bundle,
				Approvals: []offline.Approval{mustApproval(t, "bob", otherText), mustApproval(t, "dave", otherText), mustApproval(t, "erin", otherText)}}
		}, offline.ErrEvidenceMismatch, `request is "req-2" in the evidence, "req-1" in the credential`},
		{"approval over another statement", func(m *offline.Material, e *offline.Evidence, c *token.Claims) {
			e.Approvals[2] = mustApproval(t, "erin", otherText)
		}, offline.ErrEvidenceMismatch, "approval 3 is over another statement"},
		{"credential for another policy", func(m *offline.Material, e *offline.Evidence, c *token.Claims) {
			c.PolicyHash = "sha256:" + strings.Repeat("0", 64)
		}, offline.ErrEvidenceMismatch, "policy bundle is"},
		{"credential for another role", func(m *offline.Material, e *offline.Evidence, c *token.Claims) { c.Role = "rollout-halt" },
			offline.ErrEvidenceMismatch, "role is"},
		{"credential for another requester", func(m *offline.Material, e *offline.Evidence, c *token.Claims) { c.Subject = "mallory" },
			offline.ErrEvidenceMismatch, "requester is"},
		{"credential outliving the approved duration", func(m *offline.Material, e *offline.Evidence, c *token.Claims) {
			c.Expiry = c.IssuedAt.Add(31 * time.Minute)
		}, offline.ErrEvidenceMismatch, "lives 31m0s"},
		{"credential naming an approver without approval", func(m *offline.Material, e *offline.Evidence, c *token.Claims) {
			e.Approvals = append(e.Approvals[:2], mustApproval(t, "carol", f.text))
		}, offline.ErrEvidenceMismatch, `names approver "erin"`},
		{"bundle not signed by trusted admins", func(m *offline.Material, e *offline.Evidence, c *token.Claims) { m.AdminQuorum = 3 },
			offline.ErrUntrustedBundle, "need 3"},
		{"statement not canonical", func(m *offline.Material, e *offline.Evidence, c *token.Claims) { e.Statement += "\n" },
			offline.ErrBadEvidence, "statement"},
		{"denial statement", func(m *offline.Material, e *offline.Evidence, c *token.Claims) {
			d := f.stmt
			d.Kind, d.DenialReason = broker.KindDenial, "no"
			text, _ := d.Encode()
			e.Statement = string(text)
		}, offline.ErrBadEvidence, "want an approval statement"},
		{"truncated bundle", func(m *offline.Material, e *offline.Evidence, c *token.Claims) { e.Bundle = e.Bundle[:200] },
			offline.ErrBadEvidence, "truncated"},
		{"no evidence", func(m *offline.Material, e *offline.Evidence, c *token.Claims) { m.Evidence = nil },
			offline.ErrNoEvidence, "evidence"},
		{"no revocation list", func(m *offline.Material, e *offline.Evidence, c *token.Claims) { m.Revocations = "" },
			offline.ErrNoRevocations, "cache it"},
		{"no trusted admins", func(m *offline.Material, e *offline.Evidence, c *token.Claims) { m.TrustedAdmins = nil },
			offline.ErrNoTrust, "admin quorum"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := mustEvidence(t, f, "bob", "dave", "erin")
			m := mustMaterial(t, f, e)
			c := f.claims
			tt.edit(&m, e, &c)
			res, err := offline.VerifyCredential(mustMint(t, f, c), m)
			if res != nil {
				t.Fatalf("result %+v returned with error %v", res, err)
			}
			checkOnly(t, err, tt.want)
			if err != nil && !strings.Contains(err.Error(), tt.inMsg) {
				t.Errorf("error %q does not mention %q", err, tt.inMsg)
			}
			t.Log(err)
		})
	}
}

// TestStolenSigningKey mints credentials with the broker's JWT key alone, as
// a thief of that key would: each passes token.Verify but fails strict
// verification.
func TestStolenSigningKey(t *testing.T) {
	f := newFixture(t)
	attacker := []string{"eve1", "eve2", "eve3"}
	evilPolicy := strings.NewReplacer("KEY(bob)", "KEY(eve1)", "KEY(dave)", "KEY(eve2)", "KEY(erin)", "KEY(eve3)").Replace(testPolicy)
	evilBundle, evilHash, err := signedBundle(withKeys(evilPolicy, append(everyone, attacker...)...), 2, "eve3")
	if err != nil {
		t.Fatal(err)
	}
	evilClaims := f.claims
	evilClaims.PolicyHash = evilHash
	evilStmt := f.stmt
	evilStmt.Policy = evilHash
	evilText, err := evilStmt.Encode()
	if err != nil {
		t.Fatal(err)
	}
	evilEvidence := &offline.Evidence{Statement: string(evilText), Bundle: string(evilBundle)}
	for _, n := range attacker {
		evilEvidence.Approvals = append(evilEvidence.Approvals, mustApproval(t, n, evilText))
	}
	forgedEvidence := &offline.Evidence{Statement: string(f.text), Bundle: string(f.bundle)}
	for _, n := range attacker {
		forgedEvidence.Approvals = append(forgedEvidence.Approvals, mustApproval(t, n, f.text))
	}
	tests := []struct {
		name     string
		claims   token.Claims
		evidence *offline.Evidence
		want     error
	}{
		{"no evidence at all", f.claims, nil, offline.ErrNoEvidence},
		{"real bundle, approvals by the attacker's keys", f.claims, forgedEvidence, offline.ErrForgedApproval},
		{"real bundle, no approvals", f.claims, &offline.Evidence{Statement: string(f.text), Bundle: string(f.bundle)}, offline.ErrMissingApprovals},
		{"a bundle of the attacker enrolling their keys", evilClaims, evilEvidence, offline.ErrUntrustedBundle},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := mustMint(t, f, tt.claims)
			if _, err := token.Verify(tok, f.keys.JWKS(), token.VerifyOptions{Issuer: brokertest.Name, Audience: "ops-api",
				Now: func() time.Time { return start.Add(10 * time.Minute) }}); err != nil {
				t.Fatalf("plain token.Verify: %v; the stolen key should be enough for it", err)
			}
			_, err := offline.VerifyCredential(tok, mustMaterial(t, f, tt.evidence))
			checkOnly(t, err, tt.want)
			t.Log(err)
		})
	}
}

func TestVerifyCredentialNotStrict(t *testing.T) {
	f := newFixture(t)
	tok := mustMint(t, f, f.claims)
	m := offline.Material{JWKS: f.keys.JWKS(), Issuer: brokertest.Name, Audience: "ops-api", Now: start.Add(10 * time.Minute)}
	res, err := offline.VerifyCredential(tok, m)
	if err != nil || res.Strict || res.Approvers != nil || res.Bundle != nil || res.Revocations != nil {
		t.Fatalf("without material: %+v, %v; want the token alone verified", res, err)
	}
	m.Revocations = mustRevocations(t, f, start, time.Hour, 1, "grant-1")
	if _, err := offline.VerifyCredential(tok, m); !errors.Is(err, offline.ErrRevoked) {
		t.Fatalf("revocation list given outside strict mode: err = %v, want ErrRevoked", err)
	}
	m.Revocations = ""
	m.Evidence = mustEvidence(t, f, "bob", "erin")
	if _, err := offline.VerifyCredential(tok, m); !errors.Is(err, offline.ErrNoTrust) {
		t.Fatalf("evidence without trusted admins: err = %v, want ErrNoTrust", err)
	}
	m.TrustedAdmins, m.AdminQuorum = f.trusted, 2
	if _, err := offline.VerifyCredential(tok, m); !errors.Is(err, offline.ErrQuorumShort) {
		t.Fatalf("evidence given outside strict mode: err = %v, want ErrQuorumShort", err)
	}
}

func TestVerifyCredentialTokenErrors(t *testing.T) {
	f := newFixture(t)
	m := mustMaterial(t, f, mustEvidence(t, f, "bob", "dave", "erin"))
	tok := mustMint(t, f, f.claims)
	m.Now = start.Add(time.Hour)
	if _, err := offline.VerifyCredential(tok, m); !errors.Is(err, token.ErrExpired) {
		t.Fatalf("expired token: err = %v, want token.ErrExpired", err)
	}
	m.Now, m.Audience = start.Add(10*time.Minute), "other-api"
	if _, err := offline.VerifyCredential(tok, m); !errors.Is(err, token.ErrAudience) {
		t.Fatalf("other audience: err = %v, want token.ErrAudience", err)
	}
	m.Audience = "ops-api"
	// Change one character inside the signature (never to itself: a token
	// that already ended in "AA" once made this test pass a token unchanged).
	i := len(tok) - 10
	swap := byte('A')
	if tok[i] == swap {
		swap = 'B'
	}
	tampered := tok[:i] + string(swap) + tok[i+1:]
	if _, err := offline.VerifyCredential(tampered, m); !errors.Is(err, token.ErrSignature) && !errors.Is(err, token.ErrMalformed) {
		t.Fatalf("tampered token: err = %v, want a signature error", err)
	}
}

// TestUserVerificationRequired: a role requiring user verification refuses
// software-key approvals, which prove none.
func TestUserVerificationRequired(t *testing.T) {
	f := newFixture(t)
	text := strings.Replace(withKeys(testPolicy, everyone...), "    jwt:", "    require_user_verification: true\n    jwt:", 1)
	bundle, hash, err := signedBundle(text, 1, "carol", "erin")
	if err != nil {
		t.Fatal(err)
	}
	c := f.claims
	c.PolicyHash = hash
	st := f.stmt
	st.Policy = hash
	stText, _ := st.Encode()
	e := &offline.Evidence{Statement: string(stText), Bundle: string(bundle)}
	for _, n := range []string{"bob", "dave", "erin"} {
		e.Approvals = append(e.Approvals, mustApproval(t, n, stText))
	}
	_, err = offline.VerifyCredential(mustMint(t, f, c), mustMaterial(t, f, e))
	checkOnly(t, err, offline.ErrNotEligible)
	if !strings.Contains(fmtErr(err), "requires user verification") {
		t.Fatalf("err = %v, want it to name user verification", err)
	}
}

func fmtErr(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// TestVerifyCredentialEveryStatementByte rewrites one byte of the approved
// statement everywhere in the evidence, as someone editing what was
// approved would: nothing is accepted.
func TestVerifyCredentialEveryStatementByte(t *testing.T) {
	f := newFixture(t)
	tok := mustMint(t, f, f.claims)
	for i := range f.text {
		e := mustEvidence(t, f, "bob", "dave", "erin")
		b := []byte(e.Statement)
		b[i] ^= 0x01
		e.Statement = string(b)
		for j := range e.Approvals {
			e.Approvals[j].Statement = e.Statement
		}
		if _, err := offline.VerifyCredential(tok, mustMaterial(t, f, e)); err == nil {
			t.Fatalf("statement byte %d (%q) changed: accepted", i, f.text[i])
		} else if !errors.Is(err, offline.ErrBadEvidence) && !errors.Is(err, offline.ErrEvidenceMismatch) && !errors.Is(err, offline.ErrForgedApproval) {
			t.Fatalf("statement byte %d changed: err = %v, want malformed, mismatch or forged", i, err)
		}
	}
}
