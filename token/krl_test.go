package token

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

var updateKRLGolden = flag.Bool("update-krl", false, "rewrite testdata/sshkrl golden files")

// krlTestGolden is the KRL in testdata/sshkrl/krl-v3.golden: fixed CA (seed 1),
// fixed date, serials and key ids out of order and duplicated.
func krlTestGolden(t testing.TB) *KRL {
	t.Helper()
	return &KRL{
		Version:     3,
		GeneratedAt: time.Date(2026, 11, 25, 21, 0, 0, 0, time.UTC),
		Comment:     "breakglass revocations",
		CA:          sshTestSigner(t, 1).PublicKey(),
		Serials:     []uint64{42, 7, 42, math.MaxUint64},
		KeyIDs:      []string{KeyID("g2", "r2", "alice", []string{"bob", "carol"}), "revoked id"},
	}
}

func mustMarshalKRL(t testing.TB, k *KRL) []byte {
	t.Helper()
	b, err := k.Marshal()
	if err != nil {
		t.Fatalf("Marshal: %v", err)
	}
	return b
}

func mustParseKRL(t testing.TB, b []byte) *KRL {
	t.Helper()
	k, err := ParseKRL(b)
	if err != nil {
		t.Fatalf("ParseKRL: %v", err)
	}
	return k
}

// krlCanonical is what ParseKRL(k.Marshal()) must return: serials and key ids
// sorted and deduplicated, the date in UTC to the second.
func krlCanonical(k *KRL) *KRL {
	c := *k
	c.GeneratedAt = time.Unix(k.GeneratedAt.Unix(), 0).UTC()
	c.Serials = slices.Compact(slices.Sorted(slices.Values(k.Serials)))
	c.KeyIDs = slices.Compact(slices.Sorted(slices.Values(k.KeyIDs)))
	if len(c.Serials) == 0 {
		c.Serials = nil
	}
	if len(c.KeyIDs) == 0 {
		c.KeyIDs = nil
	}
	return &c
}

func krlEqual(t testing.TB, got, want *KRL) {
	t.Helper()
	gotCA, wantCA := []byte(nil), []byte(nil)
	if got.CA != nil {
		gotCA = got.CA.Marshal()
	}
	if want.CA != nil {
		wantCA = want.CA.Marshal()
	}
	if !bytes.Equal(gotCA, wantCA) {
		t.Errorf("CA = %x, want %x", gotCA, wantCA)
	}
	g, w := *got, *want
	g.CA, w.CA = nil, nil
	if !reflect.DeepEqual(g, w) {
		t.Errorf("KRL = %+v\nwant  %+v", g, w)
	}
}

func TestKRLRoundTrip(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 999, time.FixedZone("x", 3600))
	ca := sshTestSigner(t, 1).PublicKey()
	tests := []struct {
		name string
		krl  *KRL
	}{
		{"empty, no CA", &KRL{Version: 1, GeneratedAt: at}},
		{"CA only", &KRL{Version: 2, GeneratedAt: at, CA: ca, Comment: "nothing revoked yet"}},
		{"serials", &KRL{Version: 3, GeneratedAt: at, CA: ca, Serials: []uint64{9, 1, 9, math.MaxUint64}}},
		{"key ids", &KRL{Version: 4, GeneratedAt: at, CA: ca, KeyIDs: []string{"b", "a", "b"}}},
		{"both", krlTestGolden(t)},
		{"epoch", &KRL{Version: math.MaxUint64, GeneratedAt: time.Unix(0, 0), CA: ca, Serials: []uint64{1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := slices.Clone(tt.krl.Serials)
			got := mustParseKRL(t, mustMarshalKRL(t, tt.krl))
			krlEqual(t, got, krlCanonical(tt.krl))
			if !slices.Equal(tt.krl.Serials, before) {
				t.Errorf("Marshal changed the caller's serials: %v, was %v", tt.krl.Serials, before)
			}
		})
	}
}

func TestKRLGolden(t *testing.T) {
	path := filepath.Join("testdata", "sshkrl", "krl-v3.golden")
	got := mustMarshalKRL(t, krlTestGolden(t))
	if *updateKRLGolden {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run TestKRLGolden -update-krl to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("Marshal differs from %s:\ngot  %x\nwant %x", path, got, want)
	}
	krlEqual(t, mustParseKRL(t, want), krlCanonical(krlTestGolden(t)))
}

func TestKRLMarshalRejects(t *testing.T) {
	ca := sshTestSigner(t, 1)
	cert := mustSignCert(t, ca, sshTestSpec(t))
	at := time.Unix(1_700_000_000, 0)
	tests := []struct {
		name    string
		krl     KRL
		wantErr string
	}{
		{"no date", KRL{CA: ca.PublicKey()}, "GeneratedAt is not set"},
		{"date before 1970", KRL{GeneratedAt: time.Unix(-1, 0)}, "before 1970"},
		{"comment with NUL", KRL{GeneratedAt: at, Comment: "a\x00b"}, "comment contains NUL"},
		{"serials without CA", KRL{GeneratedAt: at, Serials: []uint64{1}}, "no CA is set"},
		{"key ids without CA", KRL{GeneratedAt: at, KeyIDs: []string{"x"}}, "no CA is set"},
		{"certificate as CA", KRL{GeneratedAt: at, CA: cert}, "CA is a certificate"},
		{"serial zero", KRL{GeneratedAt: at, CA: ca.PublicKey(), Serials: []uint64{3, 0}}, "serial 0"},
		{"empty key id", KRL{GeneratedAt: at, CA: ca.PublicKey(), KeyIDs: []string{""}}, "empty or contains NUL"},
		{"key id with NUL", KRL{GeneratedAt: at, CA: ca.PublicKey(), KeyIDs: []string{"a\x00"}}, "empty or contains NUL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.krl.Marshal()
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Marshal err = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestKRLIsRevoked(t *testing.T) {
	ca, other := sshTestSigner(t, 1), sshTestSigner(t, 3)
	k := &KRL{GeneratedAt: time.Now(), CA: ca.PublicKey(), Serials: []uint64{42}, KeyIDs: []string{"bad id"}}
	certWith := func(signer ssh.Signer, serial uint64, keyID string) *ssh.Certificate {
		spec := sshTestSpec(t)
		spec.Serial, spec.KeyID = serial, keyID
		return mustSignCert(t, signer, spec)
	}
	tests := []struct {
		name string
		cert *ssh.Certificate
		want bool
	}{
		{"revoked serial", certWith(ca, 42, "ok id"), true},
		{"revoked key id", certWith(ca, 43, "bad id"), true},
		{"neither", certWith(ca, 43, "ok id"), false},
		{"same serial, other CA", certWith(other, 42, "bad id"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := k.IsRevoked(tt.cert); got != tt.want {
				t.Errorf("IsRevoked = %v, want %v", got, tt.want)
			}
		})
	}
	if (&KRL{}).IsRevoked(certWith(ca, 42, "bad id")) {
		t.Error("a KRL without CA revokes a certificate")
	}
}

// krlHeader builds a KRL header with the given format version and flags.
func krlHeader(version uint32, flags uint64, comment string) []byte {
	b := []byte(krlMagic)
	b = binary.BigEndian.AppendUint32(b, version)
	b = binary.BigEndian.AppendUint64(b, 1)             // krl_version
	b = binary.BigEndian.AppendUint64(b, 1_700_000_000) // generated_date
	b = binary.BigEndian.AppendUint64(b, flags)
	b = krlAppendString(b, nil)
	return krlAppendString(b, []byte(comment))
}

// krlSection wraps body as a section (or subsection) of type typ.
func krlSection(typ byte, body ...[]byte) []byte {
	return krlAppendString([]byte{typ}, bytes.Join(body, nil))
}

func TestParseKRLRejects(t *testing.T) {
	ca := sshTestSigner(t, 1).PublicKey()
	cert := mustSignCert(t, sshTestSigner(t, 1), sshTestSpec(t))
	caHead := append(krlAppendString(nil, ca.Marshal()), krlAppendString(nil, nil)...)
	head := krlHeader(1, 0, "")
	certs := func(subs ...[]byte) []byte {
		return append(slices.Clone(head), krlSection(krlSectionCertificates, append([][]byte{caHead}, subs...)...)...)
	}
	serials := func(s ...uint64) []byte {
		var b []byte
		for _, v := range s {
			b = binary.BigEndian.AppendUint64(b, v)
		}
		return krlSection(krlCertSerialList, b)
	}
	long := func(n uint64) []byte { return binary.BigEndian.AppendUint64(nil, n) }
	tests := []struct {
		name    string
		data    []byte
		wantErr string
	}{
		{"empty input", nil, "bad magic"},
		{"bad magic", append([]byte("SSHKRL\n\x01"), head[8:]...), "bad magic"},
		{"format version 2", krlHeader(2, 0, ""), "format version 2"},
		{"truncated header", head[:len(head)-2], "header: truncated"},
		{"unknown flags", krlHeader(1, 1, ""), "unknown flags 0x1"},
		{"comment with NUL", krlHeader(1, 0, "a\x00"), "comment contains NUL"},
		{"date out of range", append(append(slices.Clone(head[:20]), long(math.MaxUint64)...), head[28:]...), "generated_date"},
		{"explicit key section", append(slices.Clone(head), krlSection(0x02, krlAppendString(nil, ca.Marshal()))...), "section type 2 not supported"},
		{"signature section", append(slices.Clone(head), krlSection(0x04, nil)...), "section type 4 not supported"},
		{"truncated section", certs(serials(5))[:len(certs(serials(5)))-1], "section: truncated"},
		{"section type only", append(slices.Clone(head), 0x01), "section: truncated"},
		{"two certificate sections", append(certs(serials(1)), krlSection(krlSectionCertificates, caHead)...), "more than one certificate section"},
		{"any-CA section", append(slices.Clone(head), krlSection(krlSectionCertificates, krlAppendString(nil, nil), krlAppendString(nil, nil))...), "any CA"},
		{"CA not a key", append(slices.Clone(head), krlSection(krlSectionCertificates, krlAppendString(nil, []byte("junk")), krlAppendString(nil, nil))...), "CA key"},
		{"certificate as CA", append(slices.Clone(head), krlSection(krlSectionCertificates, krlAppendString(nil, cert.Marshal()), krlAppendString(nil, nil))...), "CA key is a certificate"},
		{"serial list of 7 bytes", certs(krlSection(krlCertSerialList, make([]byte, 7))), "not a multiple of 8"},
		{"serial zero", certs(serials(3, 0)), "serial 0"},
		{"serial range", certs(krlSection(krlCertSerialRange, long(1), long(9))), "serial range or bitmap"},
		{"serial bitmap", certs(krlSection(krlCertSerialBitmap, long(1), krlAppendString(nil, []byte{1}))), "serial range or bitmap"},
		{"unknown subsection", certs(krlSection(0x39, nil)), "unknown subsection type 0x39"},
		{"empty key id subsection", certs(krlSection(krlCertKeyID)), "key id subsection is empty"},
		{"empty key id", certs(krlSection(krlCertKeyID, krlAppendString(nil, nil))), "empty or contains NUL"},
		{"key id with NUL", certs(krlSection(krlCertKeyID, krlAppendString(nil, []byte("a\x00")))), "empty or contains NUL"},
		{"key id overruns", certs(krlSection(krlCertKeyID, []byte{0, 0, 0, 9, 'a'})), "key id: truncated"},
		{"subsection overruns", certs([]byte{krlCertSerialList, 0, 0, 0, 16, 0, 0, 0, 0, 0, 0, 0, 1}), "subsection: truncated"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := ParseKRL(tt.data)
			if err == nil {
				t.Fatalf("ParseKRL = %+v, want error containing %q", k, tt.wantErr)
			}
			if !errors.Is(err, ErrMalformedKRL) {
				t.Errorf("error %q does not wrap ErrMalformedKRL", err)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error = %q, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

// Every truncation of a KRL fails to parse, except the one that keeps exactly
// the header, which is the valid empty KRL.
func TestParseKRLRejectsTruncation(t *testing.T) {
	full := mustMarshalKRL(t, krlTestGolden(t))
	headerLen := len(krlHeader(1, 0, krlTestGolden(t).Comment))
	for n := 0; n < len(full); n++ {
		k, err := ParseKRL(full[:n])
		if n == headerLen {
			if err != nil || k.CA != nil {
				t.Errorf("header-only prefix: ParseKRL = %+v, %v; want the empty KRL", k, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("ParseKRL of the first %d of %d bytes succeeded: %+v", n, len(full), k)
		}
	}
}

func FuzzParseKRL(f *testing.F) {
	f.Add(mustMarshalKRL(f, krlTestGolden(f)))
	f.Add(mustMarshalKRL(f, &KRL{GeneratedAt: time.Unix(1, 0)}))
	f.Add(krlHeader(1, 0, "comment"))
	f.Fuzz(func(t *testing.T, data []byte) {
		k, err := ParseKRL(data)
		if err != nil {
			if k != nil {
				t.Fatalf("ParseKRL returned both %+v and %v", k, err)
			}
			return
		}
		// Whatever parses must marshal again and read back the same.
		again := mustParseKRL(t, mustMarshalKRL(t, k))
		krlEqual(t, again, krlCanonical(k))
	})
}
