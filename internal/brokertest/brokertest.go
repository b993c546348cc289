// Package brokertest builds a real broker for tests: a SQLite file in a
// temporary folder, a real keyring, a policy whose principals hold software
// Ed25519 keys (deterministic per name), and a fake clock.
package brokertest

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/failsmall/breakglass/broker"
	"github.com/failsmall/breakglass/hwkey"
	"github.com/failsmall/breakglass/policy"
	"github.com/failsmall/breakglass/sqlite"
	"github.com/failsmall/breakglass/token"
)

// Clock is a settable clock safe for concurrent use.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock starts at t.
func NewClock(t time.Time) *Clock { return &Clock{now: t} }

func (c *Clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

// Advance moves the clock by d: forward, or back when d is negative (a
// clock step).
func (c *Clock) Advance(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

// Env is a broker under test.
type Env struct {
	Dir  string
	DB   *sqlite.DB
	Keys *token.Keyring
	Svc  *broker.Service
	// Config is what Svc was made with.
	Config broker.Config
	Clock  *Clock
	Policy *policy.Policy
	// SSHCA is the broker's SSH CA key: Signer("ssh-ca").
	SSHCA   ssh.Signer
	signers map[string]ssh.Signer
}

// Name is the broker name tests use.
const Name = "bg.test"

// Start is the fake clock's start.
var Start = time.Date(2026, 11, 25, 21, 0, 0, 0, time.UTC)

var keyRef = regexp.MustCompile(`KEY\(([a-z0-9._-]+)\)`)

// New opens a broker whose policy is policyYAML with every KEY(name)
// replaced by the authorized_keys line of name's software key. dir, when
// not empty, is the data folder (so two Envs can share one database).
func New(t testing.TB, policyYAML, dir string) *Env {
	t.Helper()
	return NewWithSigners(t, policyYAML, dir, nil)
}

// NewWithSigners is New with the keys of signers (for example keys held by a
// real ssh-agent) in place of the software keys of the names it holds; Env.Sign
// signs with them.
func NewWithSigners(t testing.TB, policyYAML, dir string, signers map[string]ssh.Signer) *Env {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	e := &Env{Dir: dir, Clock: NewClock(Start), signers: signers}
	p, err := policy.Parse([]byte(e.Expand(policyYAML)))
	if err != nil {
		t.Fatalf("test policy: %v", err)
	}
	e.Policy = p
	e.open(t)
	if err := e.Svc.SetPolicy(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	return e
}

// Signer returns name's deterministic software key.
func Signer(name string) ssh.Signer {
	seed := sha256.Sum256([]byte("breakglass test key " + name))
	s, err := ssh.NewSignerFromKey(ed25519.NewKeyFromSeed(seed[:]))
	if err != nil {
		panic(err)
	}
	return s
}

// AuthorizedKey is name's public key as an authorized_keys line.
func AuthorizedKey(name string) string {
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(Signer(name).PublicKey())))
}

// Sign returns name's armored SSHSIG over text in the breakglass namespace.
func Sign(t testing.TB, name string, text []byte) []byte {
	t.Helper()
	sig, err := hwkey.Sign(Signer(name), hwkey.Namespace, text)
	if err != nil {
		t.Fatal(err)
	}
	return sig.Armor()
}

// SignerFor is the key this Env uses for name.
func (e *Env) SignerFor(name string) ssh.Signer {
	if s, ok := e.signers[name]; ok {
		return s
	}
	return Signer(name)
}

// Sign returns name's armored SSHSIG over text with this Env's key for name.
func (e *Env) Sign(t testing.TB, name string, text []byte) []byte {
	t.Helper()
	sig, err := hwkey.Sign(e.SignerFor(name), hwkey.Namespace, text)
	if err != nil {
		t.Fatalf("sign as %s: %v", name, err)
	}
	return sig.Armor()
}

// Request prepares and creates a request as requester, failing t on error.
func (e *Env) Request(t testing.TB, in broker.RequestInput) *broker.Request {
	t.Helper()
	r, err := e.TryRequest(t, in)
	if err != nil {
		t.Fatalf("request %+v: %v", in, err)
	}
	return r
}

// TryRequest prepares and creates a request as in.Requester.
func (e *Env) TryRequest(t testing.TB, in broker.RequestInput) (*broker.Request, error) {
	t.Helper()
	ctx := context.Background()
	text, err := e.Svc.Prepare(ctx, in)
	if err != nil {
		return nil, err
	}
	return e.Svc.CreateRequest(ctx, text, e.Sign(t, in.Requester, text))
}

// Approve signs request r's statement as who and submits it.
func (e *Env) Approve(t testing.TB, who string, r *broker.Request) (*broker.ApprovalResult, error) {
	t.Helper()
	return e.Svc.Approve(context.Background(), r.ID, e.Sign(t, who, r.Statement))
}

// Challenge gets a challenge for who and signs it.
func (e *Env) Challenge(t testing.TB, who, action, subject string) (text, sig []byte) {
	t.Helper()
	text, err := e.Svc.NewChallenge(context.Background(), who, action, subject)
	if err != nil {
		t.Fatalf("challenge for %s %s: %v", who, action, err)
	}
	return text, e.Sign(t, who, text)
}

// NewPinned is New with the policy pinned as a first bundle (serial 1)
// signed by admins, the way `breakglass init` does, instead of SetPolicy.
// The test policy must name them as admins.
func NewPinned(t testing.TB, policyYAML, dir string, admins ...string) *Env {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	e := &Env{Dir: dir, Clock: NewClock(Start)}
	e.open(t)
	raw := e.Bundle(t, &policy.Bundle{Serial: 1, Created: Start.Add(-time.Hour)}, policyYAML, admins...)
	if _, err := e.Svc.Pin(context.Background(), raw, "init"); err != nil {
		t.Fatalf("pin the test bundle: %v", err)
	}
	var err error
	if e.Policy, err = e.Svc.Policy(); err != nil {
		t.Fatal(err)
	}
	return e
}

// open opens e's store, keyring and Service, with no policy yet.
func (e *Env) open(t testing.TB) {
	t.Helper()
	var err error
	if e.DB, err = sqlite.Open(e.Dir+"/breakglass.db", sqlite.Options{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.DB.Close() })
	if e.Keys, err = token.OpenKeyring(e.Dir+"/keys", 25*time.Hour, e.Clock.Now); err != nil {
		t.Fatal(err)
	}
	e.SSHCA = Signer("ssh-ca")
	e.Config = broker.Config{Name: Name, Store: e.DB, Minter: token.Minter{Keyring: e.Keys},
		SSHCA: token.SSHCA{Signer: e.SSHCA}, Clock: e.Clock}
	if e.Svc, err = broker.New(e.Config); err != nil {
		t.Fatal(err)
	}
}

// Rewire replaces e.Svc with a Service over the same store, keys and clock,
// its Config changed by edit (a store or SSH CA wrapped with faults, say),
// and the active policy of the old one set, unless it had none.
func (e *Env) Rewire(t testing.TB, edit func(*broker.Config)) {
	t.Helper()
	cfg := e.Config
	edit(&cfg)
	svc, err := broker.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Svc.Policy(); err == nil {
		if _, err := svc.LoadActive(context.Background()); err != nil {
			if err := svc.SetPolicy(context.Background(), e.Policy); err != nil {
				t.Fatal(err)
			}
		}
	}
	e.Svc, e.Config = svc, cfg
}

// Expand replaces every KEY(name) in policyYAML with name's authorized_keys
// line, quoted.
func (e *Env) Expand(policyYAML string) string {
	return keyRef.ReplaceAllStringFunc(policyYAML, func(m string) string {
		pub := e.SignerFor(keyRef.FindStringSubmatch(m)[1]).PublicKey()
		return `"` + strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub))) + `"`
	})
}

// Bundle returns a signed bundle file: b with policyYAML (KEY() expanded)
// as its policy, followed by the signatures of signers.
func (e *Env) Bundle(t testing.TB, b *policy.Bundle, policyYAML string, signers ...string) []byte {
	t.Helper()
	b.Policy = []byte(e.Expand(policyYAML))
	out, err := b.Encode()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range signers {
		sig, err := policy.SignBundle(b, e.SignerFor(name))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, sig...)
	}
	return out
}
