package offline_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/failsmall/breakglass/audit"
	"github.com/failsmall/breakglass/broker"
	"github.com/failsmall/breakglass/internal/brokertest"
	"github.com/failsmall/breakglass/offline"
	"github.com/failsmall/breakglass/token"
)

// newTestLog, appendEntry, appendGrant and receipt are the test forms of
// openTestLog and testLog's add, addGrant and prove (helpers_test.go).
func newTestLog(t testing.TB, seed []byte) *testLog {
	t.Helper()
	l, err := openTestLog(seed)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func (l *testLog) appendEntry(t testing.TB, e audit.Entry) int64 {
	t.Helper()
	n, err := l.add(e)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func (l *testLog) appendGrant(t testing.TB, c token.Claims) int64 {
	t.Helper()
	n, err := l.addGrant(c)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func (l *testLog) receipt(t testing.TB, index int64, cosigners ...note.Signer) []byte {
	t.Helper()
	r, err := l.prove(index, cosigners...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func mustWitness(t testing.TB, name string, seed []byte) (*audit.CosignatureSigner, *audit.CosignatureVerifier) {
	t.Helper()
	s, err := audit.NewCosignatureSigner(name, ed25519.NewKeyFromSeed(seed), func() time.Time { return start })
	if err != nil {
		t.Fatal(err)
	}
	v, err := audit.NewCosignatureVerifier(s.VerifierKey())
	if err != nil {
		t.Fatal(err)
	}
	return s, v
}

// receiptFixture is a log holding the fixture grant's entry between other
// entries, including another grant's, and a cosigning witness.
type receiptFixture struct {
	log         *testLog
	index       int64 // the fixture grant's entry
	otherIndex  int64 // grant-2's entry
	witness     *audit.CosignatureSigner
	witnessKey  *audit.CosignatureVerifier
	otherClaims token.Claims
}

func newReceiptFixture(t testing.TB, f *fixture) *receiptFixture {
	t.Helper()
	rf := &receiptFixture{log: newTestLog(t, logSeed)}
	rf.witness, rf.witnessKey = mustWitness(t, "witness.example/w1", witnessSeed)
	for i := range 5 {
		rf.log.appendEntry(t, audit.Entry{Type: broker.EventRequestCreated, Time: start.Add(time.Duration(i) * time.Second),
			Actor: "alice", Subjects: []string{fmt.Sprintf("req-%d", i)}, Data: json.RawMessage(`{}`)})
	}
	rf.index = rf.log.appendGrant(t, f.claims)
	rf.otherClaims = f.claims
	rf.otherClaims.ID, rf.otherClaims.RequestID = "grant-2", "req-2"
	rf.otherIndex = rf.log.appendGrant(t, rf.otherClaims)
	rf.log.appendEntry(t, audit.Entry{Type: broker.EventCredentialsFetched, Time: start.Add(time.Minute), Actor: "alice",
		Subjects: []string{"grant-1"}, Data: json.RawMessage(`{}`)})
	return rf
}

func TestVerifyCredentialReceipt(t *testing.T) {
	f := newFixture(t)
	rf := newReceiptFixture(t, f)
	m := mustMaterial(t, f, mustEvidence(t, f, "bob", "dave", "erin"))
	m.Receipt, m.LogKey = rf.log.receipt(t, rf.index, rf.witness), rf.log.key
	m.Witnesses, m.WitnessQuorum = note.VerifierList(rf.witnessKey), 1
	res, err := offline.VerifyCredential(mustMint(t, f, f.claims), m)
	if err != nil {
		t.Fatalf("VerifyCredential: %v", err)
	}
	want := offline.ReceiptResult{Index: rf.index, Size: int64(len(rf.log.leaves)), Origin: brokertest.Name,
		Witnesses: []string{"witness.example/w1"}}
	if res.Receipt == nil || res.Receipt.Index != want.Index || res.Receipt.Size != want.Size ||
		res.Receipt.Origin != want.Origin || !slices.Equal(res.Receipt.Witnesses, want.Witnesses) {
		t.Fatalf("receipt result = %+v, want %+v", res.Receipt, want)
	}

	// Without a quorum, the witness is not needed; without a receipt,
	// nothing is checked, even in strict mode.
	m.Receipt, m.Witnesses, m.WitnessQuorum = rf.log.receipt(t, rf.index), nil, 0
	if res, err = offline.VerifyCredential(mustMint(t, f, f.claims), m); err != nil || res.Receipt == nil || res.Receipt.Witnesses != nil {
		t.Fatalf("without a quorum: %+v, %v", res, err)
	}
	// Strict mode requires the receipt and its log key; outside it,
	// nothing is checked without one.
	m.Receipt = nil
	if _, err = offline.VerifyCredential(mustMint(t, f, f.claims), m); !errors.Is(err, offline.ErrNoReceipt) {
		t.Fatalf("strict without a receipt: %v, want ErrNoReceipt", err)
	}
	m.Receipt, m.LogKey = rf.log.receipt(t, rf.index), nil
	if _, err = offline.VerifyCredential(mustMint(t, f, f.claims), m); !errors.Is(err, offline.ErrNoLogKey) {
		t.Fatalf("strict without a log key: %v, want ErrNoLogKey", err)
	}
	m.Receipt, m.Strict = nil, false
	if res, err = offline.VerifyCredential(mustMint(t, f, f.claims), m); err != nil || res.Receipt != nil {
		t.Fatalf("without a receipt, not strict: %+v, %v", res, err)
	}
}

// TestStrictBindsTheGrant (issue 10, defect 2): with the broker's stolen
// signing key and material anyone can read (the audit entries, the stored
// bundle, hence evidence), a token re-minted under a new grant id for a
// revoked grant, or with a later expiry, passed strict verification; the
// receipt, required in strict mode, ties the token to the grant.issued
// entry of its own grant, id, issue time and expiry alike.
func TestStrictBindsTheGrant(t *testing.T) {
	f := newFixture(t)
	e := mustEvidence(t, f, "bob", "dave", "erin")
	m := mustMaterial(t, f, e)
	// grant-1 is revoked: the list names it.
	rev, err := f.revocations(start, time.Hour, 8, "grant-1")
	if err != nil {
		t.Fatal(err)
	}
	m.Revocations = rev
	if _, err := offline.VerifyCredential(mustMint(t, f, f.claims), m); !errors.Is(err, offline.ErrRevoked) {
		t.Fatalf("the revoked grant's own token: %v, want ErrRevoked", err)
	}
	// The thief mints the same grant under a new id, then (the grant not
	// revoked) issued later so it lives on after the real one expired,
	// and presents the evidence and the grant's real receipt.
	reminted := f.claims
	reminted.ID = "grant-1-again"
	later := f.claims
	later.IssuedAt, later.Expiry = f.claims.IssuedAt.Add(20*time.Minute), f.claims.Expiry.Add(20*time.Minute)
	for name, c := range map[string]token.Claims{"a new grant id": reminted, "issued later": later} {
		mm := m
		if name == "issued later" {
			mm.Now = f.claims.Expiry.Add(5 * time.Minute)
			if mm.Revocations, err = f.revocations(start, time.Hour, 8); err != nil {
				t.Fatal(err)
			}
		}
		_, err := offline.VerifyCredential(mustMint(t, f, c), mm)
		checkOnly(t, err, offline.ErrReceiptMismatch)
		// Without the receipt, as before the fix, the same token passed.
		mm.Strict, mm.Receipt = false, nil
		if _, err := offline.VerifyCredential(mustMint(t, f, c), mm); err != nil {
			t.Errorf("%s without the receipt outside strict mode: %v (the evidence alone cannot tell)", name, err)
		}
	}
}

// TestVerifyCredentialReceiptRejects changes one thing each in a valid
// receipt's material.
func TestVerifyCredentialReceiptRejects(t *testing.T) {
	f := newFixture(t)
	rf := newReceiptFixture(t, f)
	other := newTestLog(t, otherSeed)
	other.leaves, other.hashes = rf.log.leaves, rf.log.hashes
	_, otherWitnessKey := mustWitness(t, "witness.example/w2", otherSeed)
	editReceipt := func(edit func(r *audit.Receipt)) []byte {
		r, err := audit.ParseReceipt(rf.log.receipt(t, rf.index))
		if err != nil {
			t.Fatal(err)
		}
		edit(r)
		return r.Marshal()
	}
	tests := []struct {
		name  string
		edit  func(m *offline.Material)
		want  error
		inMsg string
	}{
		{"another grant's entry", func(m *offline.Material) { m.Receipt = rf.log.receipt(t, rf.otherIndex) },
			offline.ErrReceiptMismatch, `grant is "grant-2" in the audit entry, "grant-1" in the credential`},
		{"another kind of entry", func(m *offline.Material) { m.Receipt = rf.log.receipt(t, 0) },
			offline.ErrReceiptMismatch, "it proves a request.created entry, not a grant.issued entry"},
		{"tampered leaf", func(m *offline.Material) {
			m.Receipt = editReceipt(func(r *audit.Receipt) {
				r.Extra = bytes.Replace(r.Extra, []byte(`"approvers":["bob","dave","erin"]`), []byte(`"approvers":["bob","dave","mallory"]`), 1)
			})
		}, offline.ErrReceiptUnverified, "its entry is not at index 5 of the checkpoint of size 8"},
		{"another grant's leaf with this proof", func(m *offline.Material) {
			m.Receipt = editReceipt(func(r *audit.Receipt) { r.Extra = rf.log.leaves[rf.otherIndex] })
		}, offline.ErrReceiptUnverified, "its entry is not at index 5"},
		{"checkpoint signed by another key", func(m *offline.Material) { m.Receipt = other.receipt(t, rf.index) },
			offline.ErrReceiptUnverified, "its checkpoint is not signed by log key " + brokertest.Name},
		{"no extra", func(m *offline.Material) { m.Receipt = editReceipt(func(r *audit.Receipt) { r.Extra = nil }) },
			offline.ErrBadReceipt, "fetch it again with `breakglass token ID --receipt FILE` from a current broker"},
		{"not a receipt", func(m *offline.Material) { m.Receipt = []byte("hello\n\nworld\n") },
			offline.ErrBadReceipt, "malformed receipt"},
		{"no log key", func(m *offline.Material) { m.LogKey = nil }, offline.ErrNoLogKey, "audit-key.pub"},
		{"witness quorum unmet", func(m *offline.Material) {
			m.Witnesses, m.WitnessQuorum = note.VerifierList(rf.witnessKey), 1
		}, offline.ErrWitnessQuorum, "0 of the given witnesses cosigned the receipt's checkpoint, want 1"},
		{"cosigned by an unknown witness only", func(m *offline.Material) {
			m.Receipt = rf.log.receipt(t, rf.index, rf.witness)
			m.Witnesses, m.WitnessQuorum = note.VerifierList(otherWitnessKey), 1
		}, offline.ErrWitnessQuorum, "0 of the given witnesses"},
		{"the log key is no witness", func(m *offline.Material) {
			m.Witnesses, m.WitnessQuorum = note.VerifierList(rf.log.key, rf.witnessKey), 1
		}, offline.ErrWitnessQuorum, "0 of the given witnesses"},
		{"quorum without witness keys", func(m *offline.Material) { m.WitnessQuorum = 1 },
			offline.ErrWitnessQuorum, "no witness keys were given"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := mustMaterial(t, f, mustEvidence(t, f, "bob", "dave", "erin"))
			m.Receipt, m.LogKey = rf.log.receipt(t, rf.index), rf.log.key
			tt.edit(&m)
			res, err := offline.VerifyCredential(mustMint(t, f, f.claims), m)
			if res != nil {
				t.Errorf("result %+v returned with an error", res)
			}
			checkOnly(t, err, tt.want)
			if !strings.Contains(err.Error(), tt.inMsg) {
				t.Errorf("error %q does not say %q", err, tt.inMsg)
			}
		})
	}
}

// TestVerifyCredentialReceiptClaims: a receipt of the right grant refuses a
// credential that claims other than what was logged.
func TestVerifyCredentialReceiptClaims(t *testing.T) {
	f := newFixture(t)
	rf := newReceiptFixture(t, f)
	tests := []struct {
		name  string
		edit  func(c *token.Claims)
		inMsg string
	}{
		{"approvers", func(c *token.Claims) { c.Approvers = []string{"bob", "dave"} }, `approvers are ["bob" "dave" "erin"] in the audit entry, ["bob" "dave"] in the credential`},
		{"request", func(c *token.Claims) { c.RequestID = "req-9" }, `request is "req-1" in the audit entry, "req-9" in the credential`},
		{"policy", func(c *token.Claims) { c.PolicyHash = "sha256:ff" }, `policy is "` + f.bundleHash + `" in the audit entry, "sha256:ff" in the credential`},
		{"requester", func(c *token.Claims) { c.Subject = "mallory" }, `requester is "alice" in the audit entry, "mallory" in the credential`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := f.claims
			c.Approvers = slices.Clone(c.Approvers)
			tt.edit(&c)
			// No evidence: it would refuse these claims first.
			m := offline.Material{JWKS: f.keys.JWKS(), Issuer: brokertest.Name, Audience: "ops-api", Now: start.Add(10 * time.Minute),
				Receipt: rf.log.receipt(t, rf.index), LogKey: rf.log.key}
			_, err := offline.VerifyCredential(mustMint(t, f, c), m)
			checkOnly(t, err, offline.ErrReceiptMismatch)
			if err != nil && !strings.Contains(err.Error(), tt.inMsg) {
				t.Errorf("error %q does not say %q", err, tt.inMsg)
			}
		})
	}
}
