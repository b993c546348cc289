package hwkey

import (
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadKeyFile(t *testing.T) {
	ed := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	ec := mustECDSAKey(t, elliptic.P256(), 7)
	ecDER, err := x509.MarshalECPrivateKey(ec)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(ed)
	if err != nil {
		t.Fatal(err)
	}
	rsa1024, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	mustPEM := func(block *pem.Block, err error) []byte {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(block)
	}
	openssh := mustPEM(ssh.MarshalPrivateKey(ed, "c"))
	edPub := mustSigner(t, ed).PublicKey()

	tests := []struct {
		name, file string
		data       []byte
		want       error
		msg        string
		pub        ssh.PublicKey // the key loaded, when want is nil
	}{
		{"openssh ed25519", "id", openssh, nil, "", edPub},
		{"pkcs8 ed25519", "id", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}), nil, "", edPub},
		{"sec1 ecdsa", "id", pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: ecDER}), nil, "", mustSigner(t, ec).PublicKey()},
		{"passphrase-protected", "id", mustPEM(ssh.MarshalPrivateKeyWithPassphrase(ed, "c", []byte("secret"))), ErrKeyFile, "add it to ssh-agent", nil},
		{"public key path", "id.pub", ssh.MarshalAuthorizedKey(edPub), ErrKeyFile, "is a public key", nil},
		{"public key content", "id", ssh.MarshalAuthorizedKey(edPub), ErrKeyFile, "holds a public key", nil},
		{"garbage", "id", []byte("not a key\n"), ErrKeyFile, "no key found", nil},
		{"rsa 1024 bits", "id", mustPEM(ssh.MarshalPrivateKey(rsa1024, "c")), ErrAlgorithm, "1024 bits", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			signer, err := LoadKeyFile(writeFile(t, tt.file, tt.data))
			wantErr(t, err, tt.want)
			if err != nil {
				if !strings.Contains(err.Error(), tt.msg) {
					t.Errorf("got error %q, want it to mention %q", err, tt.msg)
				}
				return
			}
			if got := ssh.FingerprintSHA256(signer.PublicKey()); got != ssh.FingerprintSHA256(tt.pub) {
				t.Errorf("got key %s, want %s", got, ssh.FingerprintSHA256(tt.pub))
			}
			mustVerify(t, mustSign(t, signer, Namespace, testMessage), tt.pub, Namespace, testMessage)
		})
	}
	_, err = LoadKeyFile(filepath.Join(t.TempDir(), "missing"))
	wantErr(t, err, ErrKeyFile)
}
