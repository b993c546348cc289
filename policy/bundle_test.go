package policy_test

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/failsmall/breakglass/hwkey"
	"github.com/failsmall/breakglass/policy"
)

var updateBundleGolden = flag.Bool("update", false, "rewrite golden files")

var bundleTime = time.Date(2026, 11, 25, 21, 0, 0, 0, time.UTC)

// adminPolicy is testdata/valid.yaml with admins replaced by the list given,
// e.g. "[carol, erin, bob]".
func adminPolicy(t testing.TB, admins string) []byte {
	t.Helper()
	data := mustReadFile(t, "testdata/valid.yaml")
	out := bytes.Replace(data, []byte("admins: [carol]"), []byte("admins: "+admins), 1)
	if bytes.Equal(out, data) && admins != "[carol]" {
		t.Fatal("testdata/valid.yaml no longer has the line admins: [carol]")
	}
	return out
}

func sshSigner(t testing.TB, name string) ssh.Signer {
	t.Helper()
	s, err := ssh.NewSignerFromKey(testSigner(name))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// mustSigned returns b's encoding followed by the signatures of names.
func mustSigned(t testing.TB, b *policy.Bundle, names ...string) []byte {
	t.Helper()
	out, err := b.Encode()
	if err != nil {
		t.Fatalf("encode bundle: %v", err)
	}
	for _, n := range names {
		sig, err := policy.SignBundle(b, sshSigner(t, n))
		if err != nil {
			t.Fatalf("sign bundle as %s: %v", n, err)
		}
		out = append(out, sig...)
	}
	return out
}

// chain returns an active policy (admins carol, erin, bob), its bundle info
// (serial 1), and the next bundle (serial 2) following it.
func chain(t testing.TB) (*policy.Policy, *policy.BundleInfo, *policy.Bundle) {
	t.Helper()
	first := &policy.Bundle{Serial: 1, Created: bundleTime, Policy: adminPolicy(t, "[carol, erin, bob]")}
	sb, cur, err := policy.PinBundle(mustSigned(t, first, "carol", "erin"), 2)
	if err != nil {
		t.Fatalf("pin first bundle: %v", err)
	}
	info := sb.Info()
	next := &policy.Bundle{Serial: 2, Created: bundleTime.Add(time.Hour), Previous: info.Hash, Policy: adminPolicy(t, "[carol, erin, bob]")}
	return cur, &info, next
}

func TestBundleGolden(t *testing.T) {
	_, _, next := chain(t)
	got := mustSigned(t, next, "carol", "erin")
	const path = "testdata/bundle.golden"
	if *updateBundleGolden {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if want := mustReadFile(t, path); !bytes.Equal(got, want) {
		t.Fatalf("signed bundle differs from %s (run with -update if the format changed on purpose)\ngot:\n%s", path, got)
	}
	sb, err := policy.ParseSignedBundle(got)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(sb.Encode(), got) {
		t.Fatal("re-encoding the parsed golden bundle changed it")
	}
	if h, _ := next.Hash(); h != sb.Hash || !strings.HasPrefix(h, "sha256:") || len(h) != 71 {
		t.Fatalf("hash: Bundle.Hash %q, SignedBundle.Hash %q", h, sb.Hash)
	}
}

func TestVerifyBundleAccepts(t *testing.T) {
	cur, info, next := chain(t)
	sb, p, err := policy.VerifyBundle(mustSigned(t, next, "bob", "carol"), cur, info, 2)
	if err != nil {
		t.Fatalf("VerifyBundle: %v", err)
	}
	if sb.Bundle.Serial != 2 || sb.Bundle.Previous != info.Hash || !sb.Bundle.Created.Equal(next.Created) {
		t.Fatalf("bundle = %+v", sb.Bundle)
	}
	if !bytes.Equal(p.Bytes(), next.Policy) {
		t.Fatal("the activated policy is not the bundle's policy")
	}
}

func TestVerifyBundleRejects(t *testing.T) {
	cur, info, next := chain(t)
	invalid := *next
	invalid.Policy = []byte("version: 2\n")
	newAdmin := *next
	newAdmin.Policy = adminPolicy(t, "[carol, erin, bob, dave]")
	old := *next
	old.Serial = 1
	wrongPrev := *next
	wrongPrev.Previous = "sha256:" + strings.Repeat("ab", 32)
	noPrev := *next
	noPrev.Previous = ""
	otherNS := mustSigned(t, next, "carol")
	otherSig, err := hwkey.Sign(sshSigner(t, "erin"), hwkey.Namespace, otherNS[:bytes.Index(otherNS, []byte("-----BEGIN"))])
	if err != nil {
		t.Fatal(err)
	}
	otherNS = append(otherNS, otherSig.Armor()...)
	forged := mustSigned(t, next, "carol")
	other := *next
	other.Serial = 3
	forgedSig, _ := policy.SignBundle(&other, sshSigner(t, "erin")) // erin signed another bundle
	forged = append(forged, forgedSig...)
	signedOnce := mustSigned(t, next, "carol")
	twice := append(signedOnce, signedOnce[bytes.Index(signedOnce, []byte("-----BEGIN")):]...)

	tests := []struct {
		name   string
		signed []byte
		want   error
		valid  int
	}{
		{"one admin signature of two", mustSigned(t, next, "carol"), policy.ErrBundleQuorum, 1},
		{"no signatures", mustSigned(t, next), policy.ErrBundleQuorum, 0},
		{"same admin twice", twice, policy.ErrBundleQuorum, 1},
		{"admin of the new bundle only", mustSigned(t, &newAdmin, "carol", "dave"), policy.ErrBundleSigner, 1},
		{"principal not an admin", mustSigned(t, next, "erin", "alice"), policy.ErrBundleSigner, 1},
		{"signature over another bundle", forged, policy.ErrBundleQuorum, 1},
		{"signature in another namespace", otherNS, policy.ErrBundleQuorum, 1},
		{"old serial", mustSigned(t, &old, "carol", "erin"), policy.ErrBundleSerial, -1},
		{"wrong previous", mustSigned(t, &wrongPrev, "carol", "erin"), policy.ErrBundlePrevious, -1},
		{"empty previous", mustSigned(t, &noPrev, "carol", "erin"), policy.ErrBundlePrevious, -1},
		{"valid signatures over an invalid policy", mustSigned(t, &invalid, "carol", "erin"), policy.ErrBundlePolicy, -1},
		{"truncated", mustSigned(t, next, "carol", "erin")[:500], policy.ErrBundleMalformed, -1},
	}
	sentinels := []error{policy.ErrBundleQuorum, policy.ErrBundleSigner, policy.ErrBundleSerial,
		policy.ErrBundlePrevious, policy.ErrBundlePolicy, policy.ErrBundleMalformed}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sb, p, err := policy.VerifyBundle(tt.signed, cur, info, 2)
			if sb != nil || p != nil || err == nil {
				t.Fatalf("VerifyBundle = %v, %v, %v; want a rejection", sb, p, err)
			}
			for _, s := range sentinels {
				if got := errors.Is(err, s); got != (s == tt.want) {
					t.Errorf("errors.Is(%q, %q) = %v, want %v", err, s, got, !got)
				}
			}
			var qe *policy.BundleQuorumError
			if tt.valid >= 0 {
				if !errors.As(err, &qe) || len(qe.Valid) != tt.valid || qe.K != 2 {
					t.Fatalf("error %v: want a *BundleQuorumError with %d valid of 2", err, tt.valid)
				}
			}
			t.Log(err)
		})
	}
}

func TestVerifyBundleInvalidPolicyWrapsProblems(t *testing.T) {
	cur, info, next := chain(t)
	next.Policy = []byte("version: 1\nadmins: [nobody]\n")
	_, _, err := policy.VerifyBundle(mustSigned(t, next, "carol", "erin"), cur, info, 2)
	var ve *policy.ValidationError
	if !errors.Is(err, policy.ErrBundlePolicy) || !errors.As(err, &ve) || !strings.Contains(err.Error(), "nobody") {
		t.Fatalf("err = %v; want ErrBundlePolicy wrapping a *ValidationError naming nobody", err)
	}
}

func TestVerifyBundleDisabledAdmin(t *testing.T) {
	first := &policy.Bundle{Serial: 1, Created: bundleTime, Policy: adminPolicy(t, "[carol, frank]")}
	sb, cur, err := policy.PinBundle(mustSigned(t, first, "carol"), 1)
	if err != nil {
		t.Fatal(err)
	}
	info := sb.Info()
	next := &policy.Bundle{Serial: 5, Created: bundleTime, Previous: info.Hash, Policy: first.Policy}
	_, _, err = policy.VerifyBundle(mustSigned(t, next, "frank", "carol"), cur, &info, 2)
	var qe *policy.BundleQuorumError
	if !errors.Is(err, policy.ErrBundleQuorum) || !errors.As(err, &qe) || len(qe.Invalid) != 1 || !strings.Contains(err.Error(), "frank is disabled") {
		t.Fatalf("err = %v; want the disabled admin frank not counted", err)
	}
	if _, _, err := policy.VerifyBundle(mustSigned(t, next, "frank", "carol"), cur, &info, 1); err != nil {
		t.Fatalf("k=1 with carol's signature: %v", err)
	}
}

func TestVerifyBundleArguments(t *testing.T) {
	cur, info, next := chain(t)
	signed := mustSigned(t, next, "carol", "erin", "bob")
	for _, k := range []int{0, -1, 4} {
		if _, _, err := policy.VerifyBundle(signed, cur, info, k); err == nil || !strings.Contains(err.Error(), "admin quorum") {
			t.Errorf("k=%d: err = %v, want a refused quorum", k, err)
		}
	}
	if _, _, err := policy.VerifyBundle(signed, nil, info, 2); err == nil {
		t.Error("no current policy: want an error")
	}
	if _, _, err := policy.VerifyBundle(signed, cur, info, 3); err != nil {
		t.Errorf("k=3 with three admins: %v", err)
	}
}

func TestVerifyBundleFromUnpinnedPolicy(t *testing.T) {
	cur := mustParse(t, adminPolicy(t, "[carol, erin]"))
	first := &policy.Bundle{Serial: 1, Created: bundleTime, Policy: cur.Bytes()}
	if _, _, err := policy.VerifyBundle(mustSigned(t, first, "carol"), cur, nil, 1); err != nil {
		t.Fatalf("first bundle signed by the running policy's admin: %v", err)
	}
	first.Previous = "sha256:" + strings.Repeat("0", 64)
	if _, _, err := policy.VerifyBundle(mustSigned(t, first, "carol"), cur, nil, 1); !errors.Is(err, policy.ErrBundlePrevious) {
		t.Fatalf("first bundle with a previous hash: err = %v, want ErrBundlePrevious", err)
	}
}

func TestPinBundleRejects(t *testing.T) {
	b := &policy.Bundle{Serial: 1, Created: bundleTime, Policy: adminPolicy(t, "[carol, erin]")}
	if _, _, err := policy.PinBundle(mustSigned(t, b, "alice"), 1); !errors.Is(err, policy.ErrBundleSigner) {
		t.Errorf("signed by a non-admin: err = %v, want ErrBundleSigner", err)
	}
	if _, _, err := policy.PinBundle(mustSigned(t, b, "carol"), 2); !errors.Is(err, policy.ErrBundleQuorum) {
		t.Errorf("one of two: err = %v, want ErrBundleQuorum", err)
	}
	b.Previous = "sha256:" + strings.Repeat("1", 64)
	if _, _, err := policy.PinBundle(mustSigned(t, b, "carol"), 1); !errors.Is(err, policy.ErrBundlePrevious) {
		t.Errorf("with a previous hash: err = %v, want ErrBundlePrevious", err)
	}
}

// TestVerifyBundleEveryTruncation cuts the signed file at every length: each
// prefix is rejected (a prefix ending on a signature boundary parses, but
// then lacks a signature).
func TestVerifyBundleEveryTruncation(t *testing.T) {
	cur, info, next := chain(t)
	signed := mustSigned(t, next, "carol", "erin")
	for n := 0; n < len(signed); n++ {
		if _, _, err := policy.VerifyBundle(signed[:n], cur, info, 2); err == nil {
			t.Fatalf("prefix of %d of %d bytes accepted", n, len(signed))
		} else if !errors.Is(err, policy.ErrBundleMalformed) && !errors.Is(err, policy.ErrBundleQuorum) {
			t.Fatalf("prefix of %d bytes: err = %v, want malformed or quorum", n, err)
		}
	}
}

// TestVerifyBundleEveryByteMutation flips one bit of every byte of the
// bundle part: nothing else is accepted.
func TestVerifyBundleEveryByteMutation(t *testing.T) {
	cur, info, next := chain(t)
	signed := mustSigned(t, next, "carol", "erin")
	end := bytes.Index(signed, []byte("-----BEGIN"))
	for i := range end {
		m := bytes.Clone(signed)
		m[i] ^= 0x20
		if _, _, err := policy.VerifyBundle(m, cur, info, 2); err == nil {
			t.Fatalf("byte %d (%q) flipped: accepted", i, signed[i])
		}
	}
}
