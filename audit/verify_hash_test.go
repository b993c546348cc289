package audit

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/rfc6962"
)

func TestVerifyHasherMatchesRFC6962(t *testing.T) {
	v, want := newVerifyHasher(), rfc6962.DefaultHasher
	for i, in := range [][]byte{nil, {}, {0}, []byte("entry"), bytes.Repeat([]byte{0xa5}, 300)} {
		if got := v.leaf(in); !bytes.Equal(got, want.HashLeaf(in)) {
			t.Errorf("leaf(input %d) = %x, want %x", i, got, want.HashLeaf(in))
		}
		l, r := want.HashLeaf(in), want.HashLeaf([]byte(fmt.Sprint(i)))
		if got := v.children(l, r); !bytes.Equal(got, want.HashChildren(l, r)) {
			t.Errorf("children(input %d) = %x, want %x", i, got, want.HashChildren(l, r))
		}
	}
}

// TestParseTime: parseTime accepts what time.Parse(TimeFormat) accepts, with
// the same result, and refuses what it refuses.
func TestParseTime(t *testing.T) {
	for _, s := range []string{
		"2026-11-25T20:30:00.000000005Z", "0001-01-01T00:00:00.000000000Z", "9999-12-31T23:59:59.999999999Z",
		"2024-02-29T12:00:00.000000000Z", "2026-02-29T12:00:00.000000000Z", "2026-04-31T00:00:00.000000000Z",
		"2026-13-01T00:00:00.000000000Z", "2026-00-01T00:00:00.000000000Z", "2026-01-00T00:00:00.000000000Z",
		"2026-01-01T24:00:00.000000000Z", "2026-01-01T00:60:00.000000000Z", "2026-01-01T00:00:60.000000000Z",
		"2026-01-01T00:00:00.5Z", "2026-01-01T00:00:00Z", "2026-01-01T00:00:00.000000000+00:00",
		"2026-01-01 00:00:00.000000000Z", "2026-01-01T00:00:00.00000000xZ", "-026-01-01T00:00:00.000000000Z", "",
	} {
		want, wantErr := time.Parse(TimeFormat, s)
		got, err := parseTime(s)
		if (err != nil) != (wantErr != nil) || err == nil && !got.Equal(want) {
			t.Errorf("parseTime(%q) = %v, %v; time.Parse: %v, %v", s, got, err, want, wantErr)
		}
	}
}
