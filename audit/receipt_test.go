package audit

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
)

func mustReceipt(t testing.TB, m *memLog, index int64) *Receipt {
	t.Helper()
	signed := m.checkpoints[len(m.checkpoints)-1]
	size := m.head(t).Size
	p, err := ProveInclusion(index, size, m)
	if err != nil {
		t.Fatal(err)
	}
	return &Receipt{Index: index, Proof: p, Checkpoint: signed}
}

func TestReceiptGolden(t *testing.T) {
	s, v := testKeys(t, testLogSeed)
	m := buildLog(t, s, 21, 21)
	r := mustReceipt(t, m, 6)
	b := r.Marshal()
	golden(t, "receipt.tlog-proof", b)
	p, err := ParseReceipt(b)
	if err != nil {
		t.Fatalf("ParseReceipt(golden): %v", err)
	}
	if !reflect.DeepEqual(p, r) {
		t.Errorf("round trip: got %+v, want %+v", p, r)
	}
	if err := p.Verify(m.entries[6], v); err != nil {
		t.Errorf("Verify: %v", err)
	}
	r.Extra = []byte("opaque")
	p, err = ParseReceipt(r.Marshal())
	if err != nil || !bytes.Equal(p.Extra, r.Extra) {
		t.Errorf("extra line round trip: got %+v, %v", p, err)
	}
}

func TestReceiptVerifyRejects(t *testing.T) {
	s, v := testKeys(t, testLogSeed)
	_, otherV := testKeys(t, testOtherSeed)
	m := buildLog(t, s, 21, 21)
	good := mustReceipt(t, m, 6)
	tests := []struct {
		name   string
		mutate func(r *Receipt) []byte // returns the leaf to verify
		v      note.Verifier
		want   string
	}{
		{"other entry", func(r *Receipt) []byte { return m.entries[7] }, v, "not included"},
		{"other index", func(r *Receipt) []byte { r.Index = 7; return m.entries[6] }, v, "not included"},
		{"index beyond size", func(r *Receipt) []byte { r.Index = 21; return m.entries[6] }, v, "not in a tree"},
		{"proof hash changed", func(r *Receipt) []byte { r.Proof[2][5] ^= 1; return m.entries[6] }, v, "not included"},
		{"proof hash dropped", func(r *Receipt) []byte { r.Proof = r.Proof[1:]; return m.entries[6] }, v, "not included"},
		{"other log key", func(r *Receipt) []byte { return m.entries[6] }, otherV, "open checkpoint"},
		{"older checkpoint", func(r *Receipt) []byte {
			r.Checkpoint = buildLog(t, s, 20, 20).checkpoints[0]
			return m.entries[6]
		}, v, "not included"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := mustReceipt(t, m, 6)
			leaf := tt.mutate(r)
			err := r.Verify(leaf, tt.v)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Verify: got %v, want error containing %q", err, tt.want)
			}
		})
	}
	if err := good.Verify(m.entries[6], v); err != nil {
		t.Errorf("untouched receipt: %v", err)
	}
}

func TestParseReceiptRejects(t *testing.T) {
	s, _ := testKeys(t, testLogSeed)
	m := buildLog(t, s, 5, 5)
	good := string(mustReceipt(t, m, 2).Marshal())
	tests := []struct{ name, in, want string }{
		{"empty", "", "no empty line"},
		{"no checkpoint", strings.SplitAfter(good, "\n\n")[0], "no checkpoint"},
		{"wrong header", strings.Replace(good, "tlog-proof@v1", "tlog-proof@v2", 1), "first line"},
		{"no index", strings.Replace(good, "index 2\n", "", 1), "index line"},
		{"index leading zero", strings.Replace(good, "index 2", "index 02", 1), "leading zero"},
		{"index negative", strings.Replace(good, "index 2", "index -2", 1), "not a decimal"},
		{"index twice", strings.Replace(good, "index 2\n", "index 2\nindex 2\n", 1), "proof line 1"},
		{"extra after index", strings.Replace(good, "index 2\n", "index 2\nextra AA==\n", 1), "proof line 1"},
		{"extra empty", strings.Replace(good, "index 2\n", "extra \nindex 2\n", 1), "extra line"},
		{"extra bad base64", strings.Replace(good, "index 2\n", "extra %%%\nindex 2\n", 1), "extra line"},
		{"bad proof hash", strings.Replace(good, "index 2\n", "index 2\nAAAA\n", 1), "proof line 1"},
		{"too many hashes", strings.Replace(good, "index 2\n", "index 2\n"+strings.Repeat("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n", 64), 1), "limit 63"},
		{"crlf", strings.ReplaceAll(good, "\n", "\r\n"), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseReceipt([]byte(tt.in))
			if err == nil || !errors.Is(err, ErrMalformedReceipt) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ParseReceipt: got %v, want error containing %q", err, tt.want)
			}
		})
	}
}

// TestReceiptMutations flips every byte of an encoded receipt: each result
// fails to parse or to verify, or still proves the very same entry at the
// same index under the same checkpoint.
func TestReceiptMutations(t *testing.T) {
	s, v := testKeys(t, testLogSeed)
	m := buildLog(t, s, 11, 11)
	good := mustReceipt(t, m, 9)
	b := good.Marshal()
	want, _, _ := Open(good.Checkpoint, v)
	for i := range b {
		for _, x := range []byte{0x01, 0x10, 0x80} {
			mb := bytes.Clone(b)
			mb[i] ^= x
			r, err := ParseReceipt(mb)
			if err != nil || r.Verify(m.entries[9], v) != nil {
				continue
			}
			c, _, _ := Open(r.Checkpoint, v)
			if r.Index != 9 || !reflect.DeepEqual(c, want) {
				t.Errorf("byte %d ^ %#x: verified index %d in %+v", i, x, r.Index, c)
			}
		}
	}
}

func TestReceiptVerifyCosigned(t *testing.T) {
	s, v := testKeys(t, testLogSeed)
	m := buildLog(t, s, 6, 6)
	cs := testCosigner(t, time.Unix(1764104400, 0))
	cv, _ := NewCosignatureVerifier(cs.VerifierKey())
	r := mustReceipt(t, m, 1)
	if err := r.VerifyCosigned(m.entries[1], v, note.VerifierList(cv), 1); err == nil {
		t.Error("uncosigned receipt passed a quorum of 1")
	}
	c, n, _ := Open(r.Checkpoint, v)
	cosigned, err := note.Sign(n, cs)
	if err != nil {
		t.Fatal(err)
	}
	r.Checkpoint = cosigned
	if err := r.VerifyCosigned(m.entries[1], v, note.VerifierList(cv), 1); err != nil {
		t.Errorf("cosigned receipt: %v", err)
	}
	if err := r.VerifyCosigned(m.entries[1], v, note.VerifierList(cv), 2); err == nil {
		t.Error("one cosignature passed a quorum of 2")
	}
	if err := r.Verify(m.entries[1], v); err != nil || c.Size != 6 {
		t.Errorf("cosigned receipt, log key only: %v", err)
	}
}

func FuzzParseReceipt(f *testing.F) {
	s, _ := testKeys(f, testLogSeed)
	m := buildLog(f, s, 5, 5)
	f.Add(mustReceipt(f, m, 2).Marshal())
	// Found by the fuzzer: encoding/base64 skips a CR inside a hash line.
	f.Add([]byte("c2sp.org/tlog-proof@v1\nindex 0\n000000000000000000000000000000000000\r0000000=\n\n0"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseReceipt(b)
		if err != nil {
			return
		}
		if again := r.Marshal(); !bytes.Equal(again, b) {
			t.Fatalf("accepted %q but Marshal gives %q", b, again)
		}
	})
}
