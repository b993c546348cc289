package hwkey

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

// buildBlob assembles an SSHSIG blob from its parts, valid or not.
func buildBlob(magic string, version uint32, fields ...[]byte) []byte {
	b := binary.BigEndian.AppendUint32([]byte(magic), version)
	for _, f := range fields {
		b = appendString(b, f)
	}
	return b
}

// armorText armors any bytes like ssh-keygen does.
func armorText(blob []byte) []byte {
	enc := base64.StdEncoding.EncodeToString(blob)
	return []byte(armorBegin + "\n" + enc + "\n" + armorEnd + "\n")
}

func TestParseSignatureRejects(t *testing.T) {
	signer := mustEd25519(t, 1)
	good := mustSign(t, signer, Namespace, testMessage)
	pub := signer.PublicKey().Marshal()
	sigBytes := ssh.Marshal(good.Sig)
	fields := func(change func(f [][]byte)) []byte {
		f := [][]byte{pub, []byte(Namespace), nil, []byte(HashSHA512), sigBytes}
		change(f)
		return buildBlob(sigMagic, sigVersion, f...)
	}
	enc := string(good.Armor())
	sk := mustSign(t, newSKEd25519(t, 2, FlagUserPresent), Namespace, testMessage)
	skShort := *sk.Sig
	skShort.Rest = skShort.Rest[:4]

	tests := []struct {
		name    string
		armored []byte
		want    error
		msg     string // in the error text
	}{
		{"empty", nil, ErrMalformed, "does not start"},
		{"not armored", good.Marshal(), ErrMalformed, "does not start"},
		{"wrong armor label", []byte(strings.ReplaceAll(enc, "SSH SIGNATURE", "SSH SIG")), ErrMalformed, "does not start"},
		{"no end line", []byte(strings.TrimSuffix(enc, armorEnd+"\n")), ErrMalformed, "does not end"},
		{"text after end line", []byte(enc + "more\n"), ErrMalformed, "does not end"},
		{"second signature after the first", []byte(enc + enc), ErrMalformed, "not base64"},
		{"blank line in body", []byte(strings.Replace(enc, "\n", "\n\n", 2)), ErrMalformed, "not base64"},
		{"space in body", []byte(strings.Replace(enc, "\nU1NIU0lH", "\nU1NI U0lH", 1)), ErrMalformed, "not base64"},
		{"bad base64 length", []byte(strings.Replace(enc, "\n", "\nA", 2)), ErrMalformed, "armor body"},
		{"bad magic", armorText(append([]byte("SSHSIX"), good.Marshal()[6:]...)), ErrMalformed, "bad magic"},
		{"version 2", armorText(buildBlob(sigMagic, 2, pub, []byte(Namespace), nil, []byte(HashSHA512), sigBytes)), ErrMalformed, "version 2"},
		{"trailing garbage", armorText(append(good.Marshal(), 0)), ErrMalformed, "trailing"},
		{"garbage public key", armorText(fields(func(f [][]byte) { f[0] = []byte("junk") })), ErrMalformed, "public key"},
		{"public key with trailing junk", armorText(fields(func(f [][]byte) { f[0] = append(append([]byte{}, pub...), 0) })), ErrMalformed, "public key"},
		{"empty namespace", armorText(fields(func(f [][]byte) { f[1] = nil })), ErrMalformed, "namespace"},
		{"NUL in namespace", armorText(fields(func(f [][]byte) { f[1] = []byte("break\x00glass") })), ErrMalformed, "namespace"},
		{"reserved not empty", armorText(fields(func(f [][]byte) { f[2] = []byte("x") })), ErrMalformed, "reserved"},
		{"unknown hash", armorText(fields(func(f [][]byte) { f[3] = []byte("sha1") })), ErrAlgorithm, `"sha1"`},
		{"upper-case hash", armorText(fields(func(f [][]byte) { f[3] = []byte("SHA512") })), ErrAlgorithm, `"SHA512"`},
		{"signature truncated", armorText(fields(func(f [][]byte) { f[4] = f[4][:20] })), ErrMalformed, "truncated in signature blob"},
		{"bytes after ed25519 signature", armorText(fields(func(f [][]byte) { f[4] = append(append([]byte{}, f[4]...), 1) })), ErrMalformed, "after its blob"},
		{"sk signature without counter", armorText(fields(func(f [][]byte) { f[4] = ssh.Marshal(&skShort) })), ErrMalformed, "after its blob"},
		{"missing signature field", armorText(buildBlob(sigMagic, sigVersion, pub, []byte(Namespace), nil, []byte(HashSHA512))), ErrMalformed, "truncated in signature"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseSignature(tt.armored)
			wantErr(t, err, tt.want)
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("got error %q, want it to mention %q", err, tt.msg)
			}
		})
	}
}

// Every proper prefix of a valid blob is rejected.
func TestParseSignatureTruncated(t *testing.T) {
	for _, sig := range []*Signature{
		mustSign(t, mustEd25519(t, 1), Namespace, testMessage),
		mustSign(t, newSKECDSA(t, 3, FlagUserPresent), Namespace, testMessage),
	} {
		blob := sig.Marshal()
		for n := range len(blob) {
			if _, err := ParseSignatureBlob(blob[:n]); err == nil {
				t.Fatalf("%s: prefix of %d/%d bytes parsed", sig.PublicKey.Type(), n, len(blob))
			}
		}
	}
}

func TestArmorRoundTrip(t *testing.T) {
	for _, signer := range []ssh.Signer{
		mustEd25519(t, 1),
		mustECDSA(t, elliptic256(), 2),
		newSKEd25519(t, 3, FlagUserPresent|FlagUserVerified),
		newSKECDSA(t, 4, FlagUserPresent),
	} {
		t.Run(signer.PublicKey().Type(), func(t *testing.T) {
			sig := mustSign(t, signer, Namespace, testMessage)
			armored := sig.Armor()
			lines := strings.Split(strings.TrimSuffix(string(armored), "\n"), "\n")
			if lines[0] != armorBegin || lines[len(lines)-1] != armorEnd {
				t.Fatalf("armor lines: got %q ... %q", lines[0], lines[len(lines)-1])
			}
			for i, l := range lines[1 : len(lines)-1] {
				if last := i == len(lines)-3; len(l) != armorWidth && !(last && len(l) <= armorWidth) {
					t.Errorf("body line %d: got %d characters, want %d", i, len(l), armorWidth)
				}
			}
			for name, text := range map[string][]byte{
				"as written": armored,
				"CRLF":       bytes.ReplaceAll(armored, []byte("\n"), []byte("\r\n")),
				"padded":     append(append([]byte("\n  "), armored...), "\n\n"...),
				"one line":   armorText(sig.Marshal()),
			} {
				got := mustParse(t, text)
				if !bytes.Equal(got.Marshal(), sig.Marshal()) {
					t.Errorf("%s: got blob %x, want %x", name, got.Marshal(), sig.Marshal())
				}
			}
			got := mustParse(t, armored)
			if got.Namespace != Namespace || got.HashAlg != HashSHA512 || !bytes.Equal(got.PublicKey.Marshal(), signer.PublicKey().Marshal()) {
				t.Errorf("got %q %q %s, want %q %q %s", got.Namespace, got.HashAlg, got.PublicKey.Type(), Namespace, HashSHA512, signer.PublicKey().Type())
			}
			mustVerify(t, got, signer.PublicKey(), Namespace, testMessage)
		})
	}
}
