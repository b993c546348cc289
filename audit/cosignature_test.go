package audit

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/binary"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
)

func testCosigner(t testing.TB, now time.Time) *CosignatureSigner {
	t.Helper()
	s, err := NewCosignatureSigner("witness.test.example/w1", ed25519.NewKeyFromSeed(testWitnessSeed), func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestCosignatureSpecExample parses the cosignature line of the example in
// c2sp.org/tlog-cosignature. The spec publishes no key for it, so what can
// be checked is the framing: key ID, then the timestamp its signed-message
// example shows ("time 1679315147"), then 64 signature bytes.
func TestCosignatureSpecExample(t *testing.T) {
	const line = "jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA=="
	got, err := CosignatureTime(note.Signature{Name: "witness.example.com/w1", Base64: line})
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Unix(1679315147, 0).UTC(); !got.Equal(want) {
		t.Errorf("timestamp: got %v, want %v", got, want)
	}
	raw, _ := base64.StdEncoding.DecodeString(line)
	if id := binary.BigEndian.Uint32(raw); id != 0x8d66cf3f {
		t.Errorf("key ID: got %08x, want 8d66cf3f", id)
	}
	// The signed message layout, byte for byte as the spec shows it.
	body := "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
	want := "cosignature/v1\ntime 1679315147\n" + body
	if got := string(cosignedMessage(1679315147, []byte(body))); got != want {
		t.Errorf("signed message:\n%q\nwant\n%q", got, want)
	}
}

func TestCosignatureRoundTrip(t *testing.T) {
	now := time.Unix(1764104400, 999).UTC()
	cs := testCosigner(t, now)
	logS, logV := testKeys(t, testLogSeed)
	m := buildLog(t, logS, 4, 4)
	text := m.head(t).Text()

	signed, err := note.Sign(&note.Note{Text: string(text)}, logS, cs)
	if err != nil {
		t.Fatal(err)
	}
	cv, err := NewCosignatureVerifier(cs.VerifierKey())
	if err != nil {
		t.Fatalf("NewCosignatureVerifier(%q): %v", cs.VerifierKey(), err)
	}
	n, err := note.Open(signed, note.VerifierList(logV, cv))
	if err != nil {
		t.Fatalf("note.Open: %v", err)
	}
	if len(n.Sigs) != 2 {
		t.Fatalf("verified %d signatures, want 2", len(n.Sigs))
	}
	ts, err := CosignatureTime(n.Sigs[1])
	if err != nil || !ts.Equal(now.Truncate(time.Second)) {
		t.Errorf("CosignatureTime: got %v, %v, want %v", ts, err, now.Truncate(time.Second))
	}

	// Independent check of the format: Ed25519 over the spec's message.
	raw, _ := base64.StdEncoding.DecodeString(n.Sigs[1].Base64)
	pub := ed25519.NewKeyFromSeed(testWitnessSeed).Public().(ed25519.PublicKey)
	msg := "cosignature/v1\ntime 1764104400\n" + string(text)
	if binary.BigEndian.Uint64(raw[4:]) != 1764104400 || !ed25519.Verify(pub, []byte(msg), raw[12:]) {
		t.Error("cosignature is not Ed25519 over the cosignature/v1 message")
	}
	if !strings.HasPrefix(cs.VerifierKey(), "witness.test.example/w1+") {
		t.Errorf("VerifierKey: %q", cs.VerifierKey())
	}
	// golang.org/x/mod/sumdb/note does not know type 0x04: that is why this
	// package implements it.
	if _, err := note.NewVerifier(cs.VerifierKey()); err == nil {
		t.Log("note.NewVerifier now accepts cosignature/v1 keys; consider using it")
	}
}

func TestCosignatureVerifierRejects(t *testing.T) {
	cs := testCosigner(t, time.Unix(1700000000, 0))
	cv, err := NewCosignatureVerifier(cs.VerifierKey())
	if err != nil {
		t.Fatal(err)
	}
	text := []byte("o\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n")
	sig, err := cs.Sign(text)
	if err != nil {
		t.Fatal(err)
	}
	if !cv.Verify(text, sig) {
		t.Fatal("valid cosignature rejected")
	}
	key := ed25519.NewKeyFromSeed(testWitnessSeed)
	huge := binary.BigEndian.AppendUint64(nil, 1<<63)
	huge = append(huge, ed25519.Sign(key, append([]byte("cosignature/v1\ntime 9223372036854775808\n"), text...))...)
	tests := []struct {
		name      string
		text, sig []byte
	}{
		{"other text", []byte("o\n2\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"), sig},
		{"other timestamp", text, append(binary.BigEndian.AppendUint64(nil, 1700000001), sig[8:]...)},
		{"short", text, sig[:71]},
		{"long", text, append(sig, 0)},
		{"no timestamp", text, sig[8:]},
		{"timestamp above 2^63-1", text, huge},
		{"plain note signature", text, ed25519.Sign(key, text)},
	}
	for _, tt := range tests {
		if cv.Verify(tt.text, tt.sig) {
			t.Errorf("%s: accepted", tt.name)
		}
	}
}

func TestNewCosignatureVerifierRejects(t *testing.T) {
	pub := ed25519.NewKeyFromSeed(testWitnessSeed).Public().(ed25519.PublicKey)
	good, err := CosignatureVerifierKey("w.example/1", pub)
	if err != nil {
		t.Fatal(err)
	}
	_, logVkey, _ := NewKeyFromSeed("w.example/1", testWitnessSeed)
	name, rest, _ := strings.Cut(good, "+")
	hash, key, _ := strings.Cut(rest, "+")
	for _, tt := range []struct{ name, vkey string }{
		{"ed25519 note key (type 0x01)", logVkey},
		{"wrong key ID", name + "+00000000+" + key},
		{"other name", "w.example/2+" + hash + "+" + key},
		{"short key", name + "+" + hash + "+" + key[:20]},
		{"no name", "+" + hash + "+" + key},
		{"empty", ""},
	} {
		if _, err := NewCosignatureVerifier(tt.vkey); err == nil {
			t.Errorf("%s: %q accepted", tt.name, tt.vkey)
		}
	}
	if _, err := NewCosignatureSigner("w", ed25519.NewKeyFromSeed(testWitnessSeed), nil); err == nil {
		t.Error("NewCosignatureSigner with a nil clock: got nil error")
	}
	before := testCosigner(t, time.Unix(-1, 0))
	if _, err := before.Sign([]byte("x\n")); err == nil {
		t.Error("Sign before the epoch: got nil error")
	}
}
