package offline_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/failsmall/breakglass/audit"
	"github.com/failsmall/breakglass/broker"
	"github.com/failsmall/breakglass/hwkey"
	"github.com/failsmall/breakglass/internal/brokertest"
	"github.com/failsmall/breakglass/offline"
	"github.com/failsmall/breakglass/policy"
	"github.com/failsmall/breakglass/token"
)

var start = time.Date(2026, 11, 25, 21, 0, 0, 0, time.UTC)

// testPolicy: prod-ssh-root needs two sre and one security approvers; carol
// and erin are the policy admins. KEY(name) becomes name's brokertest key.
const testPolicy = `version: 1
admins: [carol, erin]
groups:
  - name: engineering
  - name: sre
  - name: security
principals:
  - {id: alice, name: Alice, groups: [engineering], keys: [KEY(alice)]}
  - {id: bob, name: Bob, groups: [sre], keys: [KEY(bob)]}
  - {id: dave, name: Dave, groups: [sre], keys: [KEY(dave)]}
  - {id: erin, name: Erin, groups: [security], keys: [KEY(erin)]}
  - {id: carol, name: Carol, groups: [security], keys: [KEY(carol)]}
  - {id: mallory, name: Mallory, groups: [engineering], keys: [KEY(mallory)]}
  - {id: frank, name: Frank, groups: [sre], keys: [KEY(frank)], disabled: true}
roles:
  - name: prod-ssh-root
    requesters: [engineering]
    approval:
      - {count: 2, groups: [sre]}
      - {count: 1, groups: [security]}
    duration: {default: 30m, max: 1h}
    incident: {required: true, pattern: 'INC-[0-9]+'}
    jwt: {audience: [ops-api], scopes: [admin]}
`

// withKeys replaces KEY(name) with name's authorized key, quoted.
func withKeys(text string, names ...string) string {
	for _, n := range names {
		text = strings.ReplaceAll(text, "KEY("+n+")", `"`+brokertest.AuthorizedKey(n)+`"`)
	}
	return text
}

var everyone = []string{"alice", "bob", "dave", "erin", "carol", "mallory", "frank"}

// fixture is a broker's published material and one grant's evidence.
type fixture struct {
	keys       *token.Keyring
	revKey     ed25519.PrivateKey // the keyring's current private key, read from its file
	bundle     []byte             // signed by carol and erin
	bundleHash string
	trusted    *policy.Policy
	stmt       broker.Statement
	text       []byte // stmt encoded
	claims     token.Claims
	// log holds the grant.issued entry of claims, and receipt proves it,
	// as the broker's audit log and `token --receipt` would.
	log     *testLog
	receipt []byte
}

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

func openTestLog(seed []byte) (*testLog, error) {
	skey, vkey, err := audit.NewKeyFromSeed(brokertest.Name, seed)
	if err != nil {
		return nil, err
	}
	l := &testLog{}
	if l.signer, err = note.NewSigner(skey); err != nil {
		return nil, err
	}
	if l.key, err = note.NewVerifier(vkey); err != nil {
		return nil, err
	}
	return l, nil
}

// add appends e and returns its index.
func (l *testLog) add(e audit.Entry) (int64, error) {
	leaf, err := e.Marshal()
	if err != nil {
		return 0, err
	}
	n := int64(len(l.leaves))
	hs, err := audit.StoredHashes(n, leaf, l)
	if err != nil {
		return 0, err
	}
	l.leaves, l.hashes = append(l.leaves, leaf), append(l.hashes, hs...)
	return n, nil
}

// addGrant appends the grant.issued entry the broker writes for c.
func (l *testLog) addGrant(c token.Claims) (int64, error) {
	data, err := json.Marshal(map[string]any{"grant": c.ID, "request": c.RequestID, "role": c.Role, "requester": c.Subject,
		"approvers": c.Approvers, "issued": c.IssuedAt, "expires": c.Expiry, "kid": "k1", "incident": c.Incident,
		"policy": c.PolicyHash, "statement_digest": "sha256:00"})
	if err != nil {
		return 0, err
	}
	return l.add(audit.Entry{Type: broker.EventGrantIssued, Time: c.IssuedAt, Actor: "broker",
		Subjects: []string{c.RequestID, c.ID}, Data: data})
}

// prove returns the receipt of entry index in a checkpoint of the whole
// log, signed by the log and by cosigners, with the entry as extra.
func (l *testLog) prove(index int64, cosigners ...note.Signer) ([]byte, error) {
	size := int64(len(l.leaves))
	root, err := audit.TreeHash(size, l)
	if err != nil {
		return nil, err
	}
	c := audit.Checkpoint{Origin: brokertest.Name, Size: size, Hash: root}
	signed, err := note.Sign(&note.Note{Text: string(c.Text())}, append([]note.Signer{l.signer}, cosigners...)...)
	if err != nil {
		return nil, err
	}
	p, err := audit.ProveInclusion(index, size, l)
	if err != nil {
		return nil, err
	}
	r := audit.Receipt{Index: index, Proof: p, Checkpoint: signed, Extra: l.leaves[index]}
	return r.Marshal(), nil
}

func buildFixture(dir string) (*fixture, error) {
	f := &fixture{}
	var err error
	f.bundle, f.bundleHash, err = signedBundle(withKeys(testPolicy, everyone...), 1, "carol", "erin")
	if err != nil {
		return nil, err
	}
	if f.trusted, err = policy.Parse([]byte(withKeys(testPolicy, everyone...))); err != nil {
		return nil, err
	}
	if f.keys, err = token.OpenKeyring(dir, 25*time.Hour, func() time.Time { return start }); err != nil {
		return nil, err
	}
	if f.revKey, err = keyringPrivateKey(dir); err != nil {
		return nil, err
	}
	f.stmt = broker.Statement{Kind: broker.KindApproval, Broker: brokertest.Name, Request: "req-1", Role: "prod-ssh-root",
		Requester: "alice", Duration: 30 * time.Minute, Incident: "INC-4812", Reason: "disk full on db-7, need root",
		Policy: f.bundleHash, NotAfter: start.Add(time.Hour)}
	if f.text, err = f.stmt.Encode(); err != nil {
		return nil, err
	}
	f.claims = token.Claims{Issuer: brokertest.Name, Subject: "alice", Audience: []string{"ops-api"},
		IssuedAt: start.Add(5 * time.Minute), Expiry: start.Add(35 * time.Minute), ID: "grant-1", Role: "prod-ssh-root",
		Scopes: []string{"admin"}, Incident: "INC-4812", RequestID: "req-1", Approvers: []string{"bob", "dave", "erin"},
		PolicyHash: f.bundleHash}
	if f.log, err = openTestLog(logSeed); err != nil {
		return nil, err
	}
	n, err := f.log.addGrant(f.claims)
	if err != nil {
		return nil, err
	}
	if f.receipt, err = f.log.prove(n); err != nil {
		return nil, err
	}
	return f, nil
}

// signedBundle returns the bundle of policyText signed by signers, and its hash.
func signedBundle(policyText string, serial uint64, signers ...string) ([]byte, string, error) {
	b := &policy.Bundle{Serial: serial, Created: start, Policy: []byte(policyText)}
	out, err := b.Encode()
	if err != nil {
		return nil, "", err
	}
	for _, n := range signers {
		sig, err := policy.SignBundle(b, brokertest.Signer(n))
		if err != nil {
			return nil, "", err
		}
		out = append(out, sig...)
	}
	h, err := b.Hash()
	return out, h, err
}

// keyringPrivateKey reads the only key file of a fresh keyring: what a thief
// of the broker's signing key would hold.
func keyringPrivateKey(dir string) (ed25519.PrivateKey, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.pem"))
	if err != nil || len(files) != 1 {
		return nil, fmt.Errorf("want one key file in the keyring, got %d (%v)", len(files), err)
	}
	data, err := os.ReadFile(files[0])
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(data)
	if blk == nil {
		return nil, errors.New("key file is not PEM")
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, err
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("key file holds a %T", k)
	}
	return priv, nil
}

// approval is name's signature over text, in the breakglass namespace.
func approval(name string, text []byte) (offline.Approval, error) {
	sig, err := hwkey.Sign(brokertest.Signer(name), hwkey.Namespace, text)
	if err != nil {
		return offline.Approval{}, err
	}
	return offline.Approval{Statement: string(text), Signature: string(sig.Armor())}, nil
}

func (f *fixture) evidence(names ...string) (*offline.Evidence, error) {
	e := &offline.Evidence{Statement: string(f.text), Bundle: string(f.bundle)}
	for _, n := range names {
		a, err := approval(n, f.text)
		if err != nil {
			return nil, err
		}
		e.Approvals = append(e.Approvals, a)
	}
	return e, nil
}

func (f *fixture) revocations(issued time.Time, maxAge time.Duration, seq uint64, revoked ...string) (string, error) {
	return token.SignRevocations(token.RevocationList{Issuer: brokertest.Name, Sequence: seq, Issued: issued,
		MaxAge: maxAge, Revoked: revoked}, f.revKey, f.keys.CurrentKID())
}

// material is strict material for the fixture's grant checked ten minutes
// after start, with a fresh revocation list revoking another grant and the
// grant's audit receipt.
func (f *fixture) material(e *offline.Evidence) (offline.Material, error) {
	rev, err := f.revocations(start, time.Hour, 7, "grant-0")
	return offline.Material{JWKS: f.keys.JWKS(), Issuer: brokertest.Name, Audience: "ops-api", Revocations: rev,
		Evidence: e, TrustedAdmins: f.trusted, AdminQuorum: 2, Receipt: f.receipt, LogKey: f.log.key,
		Strict: true, Now: start.Add(10 * time.Minute)}, err
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	f, err := buildFixture(filepath.Join(t.TempDir(), "keys"))
	if err != nil {
		t.Fatalf("fixture: %v", err)
	}
	return f
}

func mustEvidence(t testing.TB, f *fixture, names ...string) *offline.Evidence {
	t.Helper()
	e, err := f.evidence(names...)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func mustApproval(t testing.TB, name string, text []byte) offline.Approval {
	t.Helper()
	a, err := approval(name, text)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func mustMaterial(t testing.TB, f *fixture, e *offline.Evidence) offline.Material {
	t.Helper()
	m, err := f.material(e)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func mustMint(t testing.TB, f *fixture, c token.Claims) string {
	t.Helper()
	tok, err := f.keys.Mint(c)
	if err != nil {
		t.Fatalf("mint: %v", err)
	}
	return tok
}

func mustRevocations(t testing.TB, f *fixture, issued time.Time, maxAge time.Duration, seq uint64, revoked ...string) string {
	t.Helper()
	s, err := f.revocations(issued, maxAge, seq, revoked...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
