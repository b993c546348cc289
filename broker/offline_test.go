package broker_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"os"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/failsmall/breakglass/broker"
	"github.com/failsmall/breakglass/hwkey"
)

// mustOfflineApproval signs the sample statement with a fixed key and returns
// the approval and its text form.
func mustOfflineApproval(t testing.TB) (*broker.OfflineApproval, []byte) {
	t.Helper()
	text, err := sampleStatement().Encode()
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize)))
	if err != nil {
		t.Fatal(err)
	}
	sig, err := hwkey.Sign(signer, hwkey.Namespace, text)
	if err != nil {
		t.Fatal(err)
	}
	o := &broker.OfflineApproval{Request: sampleStatement().Request, Digest: broker.Digest(text), Signature: sig}
	blob, err := o.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return o, blob
}

func TestOfflineApprovalGolden(t *testing.T) {
	o, got := mustOfflineApproval(t)
	golden := "testdata/offline-approval.txt"
	if *update {
		os.WriteFile(golden, got, 0o644)
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("offline approval =\n%s\nwant\n%s", got, want)
	}
	if len(got) > 512 {
		t.Errorf("offline approval is %d bytes; want it short enough to paste (at most 512)", len(got))
	}
	back, err := broker.ParseOfflineApproval(got)
	if err != nil {
		t.Fatal(err)
	}
	if back.Request != o.Request || back.Digest != o.Digest || !bytes.Equal(back.Signature.Marshal(), o.Signature.Marshal()) {
		t.Errorf("round trip = %+v, want %+v", back, o)
	}
	// The signature the broker gets verifies over the statement.
	text, _ := sampleStatement().Encode()
	if _, err := hwkey.Verify(back.Signature, o.Signature.PublicKey, hwkey.Namespace, text); err != nil {
		t.Errorf("relayed signature does not verify: %v", err)
	}
}

func TestOfflineApprovalAcceptsPasteNoise(t *testing.T) {
	o, good := mustOfflineApproval(t)
	for name, text := range map[string]string{
		"CRLF":              strings.ReplaceAll(string(good), "\n", "\r\n"),
		"indented":          "  " + strings.ReplaceAll(string(good), "\n", "\n    "),
		"blank lines round": "\n\n" + string(good) + "\n\n",
		"no final newline":  strings.TrimSuffix(string(good), "\n"),
		"one long line":     joinBody(string(good)),
	} {
		t.Run(name, func(t *testing.T) {
			got, err := broker.ParseOfflineApproval([]byte(text))
			if err != nil {
				t.Fatalf("err = %v, want none", err)
			}
			if got.Request != o.Request || got.Digest != o.Digest {
				t.Errorf("got request %s digest %s, want %s %s", got.Request, got.Digest, o.Request, o.Digest)
			}
		})
	}
}

// joinBody puts the base64 body on one line.
func joinBody(blob string) string {
	lines := strings.Split(strings.TrimSpace(blob), "\n")
	return lines[0] + "\n" + strings.Join(lines[1:len(lines)-1], "") + "\n" + lines[len(lines)-1] + "\n"
}

// rewrap encodes raw as an offline approval block.
func rewrap(raw []byte) string {
	return "-----BEGIN BREAKGLASS APPROVAL-----\n" + base64.StdEncoding.EncodeToString(raw) + "\n-----END BREAKGLASS APPROVAL-----\n"
}

// rawOf returns the binary encoding inside a block.
func rawOf(t *testing.T, blob []byte) []byte {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(string(blob)), "\n")
	raw, err := base64.StdEncoding.DecodeString(strings.Join(lines[1:len(lines)-1], ""))
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestOfflineApprovalRejects(t *testing.T) {
	_, good := mustOfflineApproval(t)
	raw := rawOf(t, good)
	lines := strings.Split(strings.TrimSpace(string(good)), "\n")
	otherNS := func() []byte {
		o, _ := mustOfflineApproval(t)
		o.Signature.Namespace = hwkey.PolicyNamespace
		b := append([]byte{1}, 0, 0, 0, 26)
		b = append(b, o.Request...)
		b = append(b, raw[1+4+26:1+4+26+32]...)
		m := o.Signature.Marshal()
		b = append(b, byte(len(m)>>24), byte(len(m)>>16), byte(len(m)>>8), byte(len(m)))
		return append(b, m...)
	}
	for _, tt := range []struct {
		name, text, want string
	}{
		{"empty", "", "is empty"},
		{"wrong header", strings.Replace(string(good), "APPROVAL", "DENIAL", 1), "must start with the line"},
		{"SSH signature instead", "-----BEGIN SSH SIGNATURE-----\nAAAA\n-----END SSH SIGNATURE-----\n", "must start with the line"},
		{"text before", "here you go:\n" + string(good), "must start with the line"},
		{"no end line", strings.Join(lines[:len(lines)-1], "\n"), "truncated: it does not end"},
		{"last body line lost", strings.Join(append(lines[:len(lines)-2:len(lines)-2], lines[len(lines)-1]), "\n"), "truncated in the signature"},
		{"text after", string(good) + "thanks\n", "truncated: it does not end"},
		{"bad base64", strings.Replace(string(good), lines[1], "!!"+lines[1][2:], 1), "not valid base64"},
		{"non-canonical padding", nonCanonicalPad(raw), "not valid base64"},
		{"version 2", rewrap(append([]byte{2}, raw[1:]...)), "version 2, want 1"},
		{"no version", rewrap(nil), "truncated: no version"},
		{"cut in request id", rewrap(raw[:10]), "truncated in the request id"},
		{"cut in digest", rewrap(raw[:1+4+26+10]), "truncated in the statement digest"},
		{"cut in signature", rewrap(raw[:len(raw)-3]), "truncated in the signature"},
		{"trailing data", rewrap(append(append([]byte{}, raw...), 0)), "1 bytes of trailing data"},
		{"bad request id", rewrap(bytes.Replace(raw, []byte("01JD2X8ZQ4"), []byte("01JD2X8Z\n4"), 1)), "only letters, digits"},
		{"corrupt signature", rewrap(bytes.Replace(raw, []byte("SSHSIG"), []byte("SSHSIX"), 1)), "signature: "},
		{"policy namespace", rewrap(otherNS()), "namespace \"breakglass-policy\""},
		{"huge", strings.Repeat("A", broker.MaxOfflineApprovalSize+1), "more than"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := broker.ParseOfflineApproval([]byte(tt.text))
			if !errors.Is(err, broker.ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %q, want it to say %q", err, tt.want)
			}
		})
	}
}

// nonCanonicalPad returns a block whose base64 has non-zero padding bits, or
// an empty body with no padding needed if the length leaves no such bits.
func nonCanonicalPad(raw []byte) string {
	enc := []byte(base64.StdEncoding.EncodeToString(raw))
	i := bytes.IndexByte(enc, '=') - 1
	if i < 0 {
		enc = append(enc, '!')
	} else {
		enc[i]++ // set a bit the decoder must ignore: Strict refuses it
	}
	return "-----BEGIN BREAKGLASS APPROVAL-----\n" + string(enc) + "\n-----END BREAKGLASS APPROVAL-----\n"
}

func TestOfflineApprovalEncodeRefuses(t *testing.T) {
	o, _ := mustOfflineApproval(t)
	for name, mod := range map[string]func(*broker.OfflineApproval){
		"empty request":        func(o *broker.OfflineApproval) { o.Request = "" },
		"request with newline": func(o *broker.OfflineApproval) { o.Request = "A\nB" },
		"digest uppercase":     func(o *broker.OfflineApproval) { o.Digest = strings.ToUpper(o.Digest) },
		"digest sha512":        func(o *broker.OfflineApproval) { o.Digest = "sha512:" + o.Digest[7:] },
		"digest short":         func(o *broker.OfflineApproval) { o.Digest = o.Digest[:20] },
		"no signature":         func(o *broker.OfflineApproval) { o.Signature = nil },
		"policy namespace": func(o *broker.OfflineApproval) {
			s := *o.Signature
			s.Namespace = hwkey.PolicyNamespace
			o.Signature = &s
		},
	} {
		t.Run(name, func(t *testing.T) {
			c := *o
			mod(&c)
			if _, err := c.Encode(); !errors.Is(err, broker.ErrInvalid) {
				t.Errorf("err = %v, want ErrInvalid", err)
			}
		})
	}
}

func FuzzParseOfflineApproval(f *testing.F) {
	_, good := mustOfflineApproval(f)
	f.Add(good)
	f.Add([]byte(rewrap([]byte{1, 0, 0, 0, 1, 'A'})))
	f.Add([]byte("-----BEGIN BREAKGLASS APPROVAL-----\n-----END BREAKGLASS APPROVAL-----\n"))
	f.Fuzz(func(t *testing.T, text []byte) {
		o, err := broker.ParseOfflineApproval(text)
		if err != nil {
			if !errors.Is(err, broker.ErrInvalid) {
				t.Fatalf("err = %v, want one wrapping ErrInvalid", err)
			}
			return
		}
		// Whatever parses encodes, and parses back to the same.
		again, err := o.Encode()
		if err != nil {
			t.Fatalf("parsed %q but cannot encode it: %v", text, err)
		}
		back, err := broker.ParseOfflineApproval(again)
		if err != nil {
			t.Fatalf("re-encoding does not parse: %v", err)
		}
		if back.Request != o.Request || back.Digest != o.Digest || !bytes.Equal(back.Signature.Marshal(), o.Signature.Marshal()) {
			t.Fatalf("round trip changed %+v into %+v", o, back)
		}
	})
}
