package audit

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

func TestCheckpointGolden(t *testing.T) {
	s, v := testKeys(t, testLogSeed)
	m := buildLog(t, s, 13, 13)
	signed := m.checkpoints[0]
	golden(t, "checkpoint.golden", signed)
	c, n, err := Open(signed, v)
	if err != nil {
		t.Fatalf("Open(golden): %v", err)
	}
	if c.Origin != testOrigin || c.Size != 13 || c.Hash != m.head(t).Hash || c.Extra != nil {
		t.Errorf("Open: got %+v, want %+v", c, m.head(t))
	}
	if len(n.Sigs) != 1 || n.Sigs[0].Name != testOrigin {
		t.Errorf("signatures: got %+v, want one by %s", n.Sigs, testOrigin)
	}
}

func TestCheckpointTextRoundTrip(t *testing.T) {
	for _, c := range []Checkpoint{
		{Origin: "example.com/log", Size: 0, Hash: tlog.RecordHash(nil)},
		{Origin: "example.com/log", Size: 1<<63 - 1, Hash: tlog.Hash{1, 2, 3}},
		{Origin: "o", Size: 42, Hash: tlog.Hash{9}, Extra: []string{"ext one", "two"}},
	} {
		got, err := ParseCheckpoint(c.Text())
		if err != nil {
			t.Fatalf("ParseCheckpoint(%q): %v", c.Text(), err)
		}
		if !reflect.DeepEqual(got, c) {
			t.Errorf("round trip: got %+v, want %+v", got, c)
		}
	}
}

func TestParseCheckpointRejects(t *testing.T) {
	h := "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I="
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", "newline"},
		{"no final newline", "o\n1\n" + h, "newline"},
		{"two lines", "o\n1\n", "at least"},
		{"empty origin", "\n1\n" + h + "\n", "line 1 is empty"},
		{"empty extension", "o\n1\n" + h + "\n\n", "line 4 is empty"},
		{"leading zero", "o\n01\n" + h + "\n", "leading zero"},
		{"plus sign", "o\n+1\n" + h + "\n", "not a decimal"},
		{"negative", "o\n-1\n" + h + "\n", "not a decimal"},
		{"space in size", "o\n1 \n" + h + "\n", "not a decimal"},
		{"overflow", "o\n9223372036854775808\n" + h + "\n", "out of range"},
		{"short hash", "o\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxqw==\n", "32-byte"},
		{"hash not base64", "o\n1\n" + strings.Replace(h, "C", "*", 1) + "\n", "32-byte"},
		{"hash no padding", "o\n1\n" + strings.TrimSuffix(h, "=") + "\n", "32-byte"},
		{"hash non-canonical", "o\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2J=\n", "32-byte"},
		{"control char", "o\r\n1\n" + h + "\n", "control"},
		{"bad utf8", "o\xff\n1\n" + h + "\n", "UTF-8"},
		{"crlf", "o\n1\r\n" + h + "\n", "control"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseCheckpoint([]byte(tt.in))
			if err == nil || !errors.Is(err, ErrMalformedCheckpoint) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ParseCheckpoint(%q): got %v, want error containing %q", tt.in, err, tt.want)
			}
		})
	}
}

// TestOpenMutations changes every byte of a signed checkpoint in several
// ways: each result fails Open, or opens to the very same checkpoint.
func TestOpenMutations(t *testing.T) {
	s, v := testKeys(t, testLogSeed)
	m := buildLog(t, s, 5, 5)
	signed := m.checkpoints[0]
	want, _, err := Open(signed, v)
	if err != nil {
		t.Fatal(err)
	}
	accepted := 0
	try := func(what string, b []byte) {
		c, _, err := Open(b, v)
		if err != nil {
			return
		}
		accepted++
		if !reflect.DeepEqual(c, want) {
			t.Errorf("%s: opened to %+v, want %+v or an error", what, c, want)
		}
	}
	for i := range signed {
		for _, x := range []byte{0x01, 0x02, 0x40, 0x80} {
			b := bytes.Clone(signed)
			b[i] ^= x
			try("flip", b)
		}
		try("delete", append(bytes.Clone(signed[:i]), signed[i+1:]...))
		try("insert", append(append(bytes.Clone(signed[:i]), 'A'), signed[i:]...))
		try("truncate", signed[:i])
	}
	if accepted > 0 {
		t.Logf("%d mutations opened to the same checkpoint", accepted)
	}
}

func TestOpenRejects(t *testing.T) {
	s, v := testKeys(t, testLogSeed)
	other, otherV := testKeys(t, testOtherSeed)
	m := buildLog(t, s, 3, 3)
	signed := m.checkpoints[0]
	c := m.head(t)

	if _, _, err := Open(signed, otherV); err == nil {
		t.Error("Open with another key of the same name: got nil error")
	}
	forged, err := Sign(c, other)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := Open(forged, v); err == nil {
		t.Error("Open of a checkpoint signed by another key: got nil error")
	}

	// A key named differently from the origin signs a valid note, but it is
	// not this log's checkpoint.
	skey, vkey, err := NewKeyFromSeed("elsewhere.example/log", testLogSeed)
	if err != nil {
		t.Fatal(err)
	}
	es, _ := note.NewSigner(skey)
	ev, _ := note.NewVerifier(vkey)
	n, err := note.Sign(&note.Note{Text: string(c.Text())}, es)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := Open(n, ev); err == nil || !strings.Contains(err.Error(), "origin") {
		t.Errorf("Open with origin != key name: got %v, want origin error", err)
	}
	if _, err := Sign(c, es); err == nil {
		t.Error("Sign with a key not named after the origin: got nil error")
	}
	bad := c
	bad.Extra = []string{""}
	if _, err := Sign(bad, s); err == nil {
		t.Error("Sign of an empty extension line: got nil error")
	}
}

func TestNewKeyFromSeed(t *testing.T) {
	skey, vkey, err := NewKeyFromSeed(testOrigin, testLogSeed)
	if err != nil {
		t.Fatal(err)
	}
	skey2, vkey2, _ := NewKeyFromSeed(testOrigin, testLogSeed)
	if skey != skey2 || vkey != vkey2 {
		t.Error("NewKeyFromSeed is not deterministic")
	}
	if !strings.HasPrefix(skey, "PRIVATE+KEY+"+testOrigin+"+") || !strings.HasPrefix(vkey, testOrigin+"+") {
		t.Errorf("keys: %q %q", skey, vkey)
	}
	for _, tt := range []struct{ name, origin string }{{"short seed", testOrigin}, {"bad name", "has space"}, {"plus", "a+b"}} {
		seed := testLogSeed
		if tt.name == "short seed" {
			seed = seed[:31]
		}
		if _, _, err := NewKeyFromSeed(tt.origin, seed); err == nil {
			t.Errorf("%s: got nil error", tt.name)
		}
	}
	gs, gv, err := GenerateKey(testOrigin)
	if err != nil {
		t.Fatal(err)
	}
	if gs == skey || gv == vkey {
		t.Error("GenerateKey returned the fixed test key")
	}
	signer, _ := note.NewSigner(gs)
	verifier, _ := note.NewVerifier(gv)
	signed, err := Sign(Checkpoint{Origin: testOrigin, Size: 1, Hash: tlog.Hash{1}}, signer)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := Open(signed, verifier); err != nil {
		t.Errorf("Open with a generated key: %v", err)
	}
}

func FuzzParseCheckpoint(f *testing.F) {
	f.Add([]byte("o\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"))
	f.Add([]byte("o\n0\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\next\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseCheckpoint(b)
		if err != nil {
			return
		}
		if !bytes.Equal(c.Text(), b) {
			t.Fatalf("accepted %q but Text gives %q", b, c.Text())
		}
	})
}
