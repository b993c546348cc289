package broker_test

import (
	"bytes"
	"flag"
	"os"
	"testing"
	"time"

	"github.com/failsmall/breakglass/broker"
	"github.com/failsmall/breakglass/hwkey"
	"github.com/failsmall/breakglass/internal/brokertest"
)

var update = flag.Bool("update", false, "rewrite golden files")

func sampleStatement() broker.Statement {
	return broker.Statement{Kind: broker.KindApproval, Broker: "bg.example.net", Request: "01JD2X8ZQ4M3T5V6W7X8Y9Z0AB",
		Role: "prod-ssh-root", Requester: "alice", Duration: 30 * time.Minute, Incident: "INC-4812",
		Reason: "disk full on db-7, need root to clear", Policy: "sha256:4be1",
		NotAfter: time.Date(2026, 11, 25, 21, 30, 0, 0, time.UTC)}
}

// checkGolden compares got with the golden file, rewriting it under -update.
func checkGolden(t *testing.T, golden string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s: got\n%s\nwant\n%s", golden, got, want)
	}
}

func TestStatementGolden(t *testing.T) {
	got, err := sampleStatement().Encode()
	if err != nil {
		t.Fatal(err)
	}
	golden := "testdata/approval.txt"
	checkGolden(t, golden, got)
	back, err := broker.ParseStatement(got)
	if err != nil {
		t.Fatal(err)
	}
	if back != sampleStatement() {
		t.Errorf("round trip = %+v, want %+v", back, sampleStatement())
	}
}

func TestStatementRejectsNonCanonical(t *testing.T) {
	good, _ := sampleStatement().Encode()
	for name, text := range map[string]string{
		"no final newline": string(good[:len(good)-1]),
		"CRLF":             string(bytes.ReplaceAll(good, []byte("\n"), []byte("\r\n"))),
		"extra field":      string(good) + "extra: 1\n",
		"fields reordered": string(bytes.Replace(good, []byte("role: prod-ssh-root\nrequester: alice\n"), []byte("requester: alice\nrole: prod-ssh-root\n"), 1)),
		"duration 30m0s":   string(bytes.Replace(good, []byte("duration: 30m"), []byte("duration: 30m0s"), 1)),
		"two spaces":       string(bytes.Replace(good, []byte("role: "), []byte("role:  "), 1)),
		"unknown kind":     string(bytes.Replace(good, []byte("breakglass approval v1"), []byte("breakglass grant v1"), 1)),
		"version 2":        string(bytes.Replace(good, []byte(" v1\n"), []byte(" v2\n"), 1)),
		"local time":       string(bytes.Replace(good, []byte("21:30:00Z"), []byte("22:30:00+01:00"), 1)),
		"denial no reason": string(bytes.Replace(good, []byte("approval"), []byte("denial"), 1)),
		"empty":            "",
	} {
		if _, err := broker.ParseStatement([]byte(text)); err == nil {
			t.Errorf("%s: parsed, want an error", name)
		}
	}
	bad := sampleStatement()
	bad.Reason = "line one\nrole: root"
	if _, err := bad.Encode(); err == nil {
		t.Error("a reason with a newline encoded; it could forge a field")
	}
}

func TestNewIDSortsByTime(t *testing.T) {
	a := broker.NewID(time.Unix(1000, 0))
	b := broker.NewID(time.Unix(1001, 0))
	if !broker.ValidID(a) || !broker.ValidID(b) || a >= b {
		t.Errorf("ids %s, %s: want valid and increasing", a, b)
	}
	if broker.ValidID("01JD2X8ZQ4M3T5V6W7X8Y9Z0AI") { // I is not Crockford base32
		t.Error("ValidID accepted an I")
	}
}

// FuzzStatementSignature feeds the statement and SSHSIG decoders the way the
// broker does: parse a statement, parse a signature, verify one over the
// other. Nothing may panic, and a statement that parses must re-encode to
// the same bytes.
func FuzzStatementSignature(f *testing.F) {
	good, _ := sampleStatement().Encode()
	sig := brokertest.Sign(f, "bob", good)
	f.Add(good, sig)
	f.Add([]byte("breakglass denial v1\n"), []byte("-----BEGIN SSH SIGNATURE-----\n"))
	f.Add(bytes.Replace(good, []byte("approval"), []byte("request"), 1), sig[:len(sig)/2])
	bob := brokertest.Signer("bob").PublicKey()
	f.Fuzz(func(t *testing.T, text, sigText []byte) {
		if st, err := broker.ParseStatement(text); err == nil {
			enc, err := st.Encode()
			if err != nil || !bytes.Equal(enc, text) {
				t.Fatalf("parsed statement re-encodes to %q, %v; want the input", enc, err)
			}
		}
		broker.ParseChallenge(text)
		s, err := hwkey.ParseSignature(sigText)
		if err != nil {
			return
		}
		if _, err := hwkey.Verify(s, bob, hwkey.Namespace, text); err == nil && !(bytes.Equal(text, good) && bytes.Equal(sigText, sig)) {
			// Ed25519 signatures are deterministic, so only the seed pair verifies.
			t.Fatalf("a fuzzed signature verified: %q", sigText)
		}
	})
}

// TestDenialReasonIsCheckedAsOtherText: a denial reason gets the check every
// human text in a statement gets (policy.CheckText): bidirectional
// overrides, line separators, invisible fillers and odd spaces are refused
// when the statement is made and when a signed one is read.
func TestDenialReasonIsCheckedAsOtherText(t *testing.T) {
	ok := sampleStatement()
	ok.Kind, ok.DenialReason = broker.KindDenial, "not during the freeze"
	text, err := ok.Encode()
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"looks fine\u202E ,devorppa", "first\u2028second", "pad\u3164ded", "wide\u2003gap"} {
		d := ok
		d.DenialReason = bad
		if _, err := d.Encode(); err == nil {
			t.Errorf("Encode with denial reason %q: nil error, want a refusal", bad)
		}
		forged := bytes.Replace(text, []byte("not during the freeze"), []byte(bad), 1)
		if _, err := broker.ParseStatement(forged); err == nil {
			t.Errorf("ParseStatement with denial reason %q: nil error, want a refusal", bad)
		}
	}
}
