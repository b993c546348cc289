package offline_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/failsmall/breakglass/audit"
	"github.com/failsmall/breakglass/broker"
	"github.com/failsmall/breakglass/internal/brokertest"
	"github.com/failsmall/breakglass/offline"
	"github.com/failsmall/breakglass/token"
)

// Fixed log and witness keys, as the audit package's tests.
var (
	logSeed     = bytes.Repeat([]byte{0x42}, ed25519.SeedSize)
	otherSeed   = bytes.Repeat([]byte{0x43}, ed25519.SeedSize)
	witnessSeed = bytes.Repeat([]byte{0x57}, ed25519.SeedSize)
)

// testLog is a broker's audit log in memory: the leaves, the stored hashes
// and its signer, built with the audit package as the broker builds it.
type testLog struct {
	leaves [][]byte
	hashes []tlog.Hash
	signer note.Signer
	key    note.Verifier
}

func (l *testLog) ReadHashes(idx []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(idx))
	for i, x := range idx {
		if x < 0 || x >= int64(len(l.hashes)) {
			return nil, fmt.Errorf("no stored hash %d", x)
		}
		out[i] = l.hashes[x]
	}
	return out, nil
}

func newTestLog(t testing.TB, seed []byte) *testLog {
	t.Helper()
	skey, vkey, err := audit.NewKeyFromSeed(brokertest.Name, seed)
	if err != nil {
		t.Fatal(err)
	}
	l := &testLog{}
	if l.signer, err = note.NewSigner(skey); err != nil {
		t.Fatal(err)
	}
	if l.key, err = note.NewVerifier(vkey); err != nil {
		t.Fatal(err)
	}
	return l
}

// appendEntry appends e and returns its index.
func (l *testLog) appendEntry(t testing.TB, e audit.Entry) int64 {
	t.Helper()
	leaf, err := e.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	n := int64(len(l.leaves))
	hs, err := audit.StoredHashes(n, leaf, l)
	if err != nil {
		t.Fatal(err)
	}
	l.leaves, l.hashes = append(l.leaves, leaf), append(l.hashes, hs...)
	return n
}

// appendGrant appends the grant.issued entry the broker writes for c.
func (l *testLog) appendGrant(t testing.TB, c token.Claims) int64 {
	t.Helper()
	data, err := json.Marshal(map[string]any{"grant": c.ID, "request": c.RequestID, "role": c.Role, "requester": c.Subject,
		"approvers": c.Approvers, "issued": c.IssuedAt, "expires": c.Expiry, "kid": "k1", "incident": c.Incident,
		"policy": c.PolicyHash, "statement_digest": "sha256:00"})
	if err != nil {
		t.Fatal(err)
	}
	return l.appendEntry(t, audit.Entry{Type: broker.EventGrantIssued, Time: c.IssuedAt, Actor: "broker",
		Subjects: []string{c.RequestID, c.ID}, Data: data})
}

// receipt proves entry index in a checkpoint of the whole log, signed by
// the log and by cosigners, with the entry as extra.
func (l *testLog) receipt(t testing.TB, index int64, cosigners ...note.Signer) []byte {
	t.Helper()
	size := int64(len(l.leaves))
	root, err := audit.TreeHash(size, l)
	if err != nil {
		t.Fatal(err)
	}
	c := audit.Checkpoint{Origin: brokertest.Name, Size: size, Hash: root}
	signed, err := note.Sign(&note.Note{Text: string(c.Text())}, append([]note.Signer{l.signer}, cosigners...)...)
	if err != nil {
		t.Fatal(err)
	}
	p, err := audit.ProveInclusion(index, size, l)
	if err != nil {
		t.Fatal(err)
	}
	r := audit.Receipt{Index: index, Proof: p, Checkpoint: signed, Extra: l.leaves[index]}
	return r.Marshal()
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
	m.Receipt, m.LogKey = nil, nil
	if res, err = offline.VerifyCredential(mustMint(t, f, f.claims), m); err != nil || res.Receipt != nil {
		t.Fatalf("without a receipt: %+v, %v", res, err)
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
