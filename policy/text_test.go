package policy

import (
	"strings"
	"testing"
)

// TestCheckText: the one check for human text accepts what people write
// in many scripts and refuses what reads otherwise than it is signed.
func TestCheckText(t *testing.T) {
	for _, ok := range []string{
		"", "deploy stuck on prod-eu, rolling back INC-4242",
		"Ünïcödé naïve café", "Việt Nam", "क्षत्रिय", "日本語の理由", "Ελληνικά", "🔥 pager storm",
		"e\u0301\u0302\u0303", // three combining marks: allowed
	} {
		if err := CheckText(ok); err != nil {
			t.Errorf("CheckText(%q) = %v, want nil", ok, err)
		}
	}
	for _, tc := range []struct{ in, want string }{
		{"approve \u202Ereverse", "U+202E"},
		{"line\u2028separator", "U+2028"},
		{"para\u2029separator", "U+2029"},
		{"zero\u200Bwidth", "U+200B"},
		{"soft\u00ADhyphen", "U+00AD"},
		{"isolate\u2066x\u2069", "U+2066"},
		{"new\nline", "U+000A"},
		{"nul\x00", "U+0000"},
		{"bad \xff utf8", "not valid UTF-8"},
		{"hangul\u3164filler", "invisible filler U+3164"},
		{"braille\u2800blank", "invisible filler U+2800"},
		{"cgj\u034Fjoin", "invisible filler U+034F"},
		{"wide\u2003space", "space character U+2003"},
		{"ideographic\u3000space", "space character U+3000"},
		{"zalgo e\u0301\u0302\u0303\u0304", "more than 3 combining marks"},
		{"hidden\U000E0100", "invisible filler U+E0100"},
	} {
		err := CheckText(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("CheckText(%q) = %v, want an error containing %q", tc.in, err, tc.want)
		}
	}
}
