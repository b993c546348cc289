package policy_test

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/failsmall/breakglass/policy"
)

const policyBody = "version: 1\n"

func bundleText(serial, created, previous string, policy string) string {
	prev := "previous:"
	if previous != "" {
		prev += " " + previous
	}
	return "breakglass policy bundle v1\nserial: " + serial + "\ncreated: " + created + "\n" + prev +
		"\npolicy: " + strconv.Itoa(len(policy)) + "\n" + policy + "\n"
}

func TestParseBundle(t *testing.T) {
	hash := "sha256:" + strings.Repeat("0f", 32)
	good := bundleText("7", "2026-11-25T21:00:00Z", hash, policyBody)
	b, err := policy.ParseBundle([]byte(good))
	if err != nil {
		t.Fatalf("ParseBundle: %v", err)
	}
	want := policy.Bundle{Serial: 7, Created: time.Date(2026, 11, 25, 21, 0, 0, 0, time.UTC), Previous: hash, Policy: []byte(policyBody)}
	if b.Serial != want.Serial || !b.Created.Equal(want.Created) || b.Previous != want.Previous || !bytes.Equal(b.Policy, want.Policy) {
		t.Fatalf("got %+v, want %+v", b, want)
	}
	if enc, err := b.Encode(); err != nil || string(enc) != good {
		t.Fatalf("Encode = %q, %v; want %q", enc, err, good)
	}
}

func TestParseBundleRejects(t *testing.T) {
	hash := "sha256:" + strings.Repeat("0f", 32)
	when := "2026-11-25T21:00:00Z"
	good := bundleText("7", when, hash, policyBody)
	tests := map[string]string{
		"empty":                   "",
		"header only":             "breakglass policy bundle v1\n",
		"wrong header":            strings.Replace(good, "v1", "v2", 1),
		"serial zero":             bundleText("0", when, hash, policyBody),
		"serial leading zero":     bundleText("07", when, hash, policyBody),
		"serial negative":         bundleText("-7", when, hash, policyBody),
		"serial plus":             bundleText("+7", when, hash, policyBody),
		"serial overflow":         bundleText("18446744073709551616", when, hash, policyBody),
		"created offset":          bundleText("7", "2026-11-25T22:00:00+01:00", hash, policyBody),
		"created fraction":        bundleText("7", "2026-11-25T21:00:00.5Z", hash, policyBody),
		"created garbage":         bundleText("7", "yesterday", hash, policyBody),
		"previous upper hex":      bundleText("7", when, strings.ToUpper(hash), policyBody),
		"previous short":          bundleText("7", when, hash[:70], policyBody),
		"previous other alg":      bundleText("7", when, "sha512:"+hash[7:], policyBody),
		"two spaces":              strings.Replace(good, "serial: 7", "serial:  7", 1),
		"no space":                strings.Replace(good, "serial: 7", "serial:7", 1),
		"fields swapped":          strings.Replace(strings.Replace(good, "serial: 7\n", "", 1), "created: "+when+"\n", "created: "+when+"\nserial: 7\n", 1),
		"CRLF":                    strings.ReplaceAll(good, "\n", "\r\n"),
		"size too big":            strings.Replace(good, "policy: 11", "policy: 12", 1),
		"size too small":          strings.Replace(good, "policy: 11", "policy: 10", 1),
		"size leading zero":       strings.Replace(good, "policy: 11", "policy: 011", 1),
		"size huge":               strings.Replace(good, "policy: 11", "policy: 99999999999999999999", 1),
		"no final newline":        strings.TrimSuffix(good, "\n"),
		"trailing bytes":          good + "x",
		"trailing signature junk": good + "-----BEGIN SSH SIGNATURE-----\nAAAA\n-----END SSH SIGNATURE-----\n",
	}
	for name, text := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := policy.ParseBundle([]byte(text))
			if !errors.Is(err, policy.ErrBundleMalformed) {
				t.Fatalf("ParseBundle(%q) err = %v, want ErrBundleMalformed", text, err)
			}
			if name == "trailing bytes" || name == "trailing signature junk" {
				return
			}
			if _, err := policy.ParseSignedBundle([]byte(text)); !errors.Is(err, policy.ErrBundleMalformed) {
				t.Fatalf("ParseSignedBundle err = %v, want ErrBundleMalformed", err)
			}
		})
	}
}

func TestParseSignedBundleRejects(t *testing.T) {
	_, _, next := chain(t)
	signed := mustSigned(t, next, "carol")
	at := bytes.Index(signed, []byte("-----BEGIN"))
	sig := signed[at:]
	rewrapped := append(bytes.Clone(signed[:at]), bytes.Replace(sig, []byte("\n"), []byte(""), 1)...)
	tests := map[string][]byte{
		"garbage after bundle":  append(bytes.Clone(signed), "hello\n"...),
		"blank line between":    append(append(bytes.Clone(signed[:at]), '\n'), sig...),
		"signature without end": signed[:len(signed)-1],
		"armor rewrapped":       rewrapped,
		"CRLF armor":            append(bytes.Clone(signed[:at]), bytes.ReplaceAll(sig, []byte("\n"), []byte("\r\n"))...),
		"too many signatures":   append(bytes.Clone(signed[:at]), bytes.Repeat(sig, policy.MaxBundleSignatures+1)...),
	}
	for name, data := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := policy.ParseSignedBundle(data); !errors.Is(err, policy.ErrBundleMalformed) {
				t.Fatalf("err = %v, want ErrBundleMalformed", err)
			}
		})
	}
	sb, err := policy.ParseSignedBundle(append(bytes.Clone(signed[:at]), bytes.Repeat(sig, policy.MaxBundleSignatures)...))
	if err != nil || len(sb.Signatures) != policy.MaxBundleSignatures {
		t.Fatalf("%d signatures: %v", policy.MaxBundleSignatures, err)
	}
}

func TestBundleEncodeRejects(t *testing.T) {
	tests := map[string]policy.Bundle{
		"serial zero":      {Created: bundleTime},
		"no created":       {Serial: 1},
		"bad previous":     {Serial: 1, Created: bundleTime, Previous: "md5:00"},
		"policy too large": {Serial: 1, Created: bundleTime, Policy: make([]byte, policy.MaxSize+1)},
	}
	for name, b := range tests {
		if _, err := b.Encode(); !errors.Is(err, policy.ErrBundleMalformed) {
			t.Errorf("%s: Encode err = %v, want ErrBundleMalformed", name, err)
		}
	}
}

// FuzzParseBundle checks that parsing never panics and that whatever
// ParseSignedBundle accepts re-encodes to exactly the input.
func FuzzParseBundle(f *testing.F) {
	_, _, next := chain(f)
	f.Add(mustSigned(f, next, "carol", "erin"))
	f.Add(mustSigned(f, next))
	f.Add([]byte(bundleText("1", "2026-11-25T21:00:00Z", "", policyBody)))
	f.Add([]byte("breakglass policy bundle v1\nserial: 1\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := policy.ParseBundle(data)
		if err == nil {
			enc, err := b.Encode()
			if err != nil || !bytes.Equal(enc, data) {
				t.Fatalf("ParseBundle accepted %q but Encode = %q, %v", data, enc, err)
			}
		}
		sb, err := policy.ParseSignedBundle(data)
		if err != nil {
			if !errors.Is(err, policy.ErrBundleMalformed) {
				t.Fatalf("error %v does not wrap ErrBundleMalformed", err)
			}
			return
		}
		if !bytes.Equal(sb.Encode(), data) {
			t.Fatalf("ParseSignedBundle accepted %q but re-encodes to %q", data, sb.Encode())
		}
		if h, err := sb.Bundle.Hash(); err != nil || h != sb.Hash {
			t.Fatalf("Bundle.Hash = %q, %v; SignedBundle.Hash %q", h, err, sb.Hash)
		}
	})
}
