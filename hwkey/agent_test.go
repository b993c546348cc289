package hwkey

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/failsmall/breakglass/internal/systest"
	"golang.org/x/crypto/ssh"
)

// TestAgentSign signs through a real ssh-agent holding every supported kind
// of key, software FIDO keys included (sk-dummy, allowed with -P), and
// checks the signatures with Verify and with ssh-keygen. sk-dummy signs with
// the flags the key was made with: 0x01 for a plain sk key, 0x05 for one made
// with -O verify-required (the agent asks for a PIN through SSH_ASKPASS),
// 0x00 for -O no-touch-required.
func TestAgentSign(t *testing.T) {
	systest.Need(t, systest.SKDummy)
	for _, kv := range askpassEnv(t) {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v) // the agent inherits it to ask for PINs
	}
	ag := systest.StartAgent(t, "-P", systest.SKDummy)
	dir := t.TempDir()
	keys := []struct {
		name, keyType string
		args          []string
		flags         byte // sk flags sk-dummy sets
		want          error
	}{
		{"ed25519", "ed25519", nil, 0, nil},
		{"ecdsa384", "ecdsa", []string{"-b", "384"}, 0, nil},
		{"rsa3072", "rsa", []string{"-b", "3072"}, 0, nil},
		{"ed25519-sk", "ed25519-sk", nil, FlagUserPresent, nil},
		{"ecdsa-sk", "ecdsa-sk", nil, FlagUserPresent, nil},
		{"ed25519-sk-uv", "ed25519-sk", []string{"-O", "verify-required"}, FlagUserPresent | FlagUserVerified, nil},
		{"ecdsa-sk-notouch", "ecdsa-sk", []string{"-O", "no-touch-required"}, 0, ErrNoPresence},
	}
	pubs := map[string]string{} // fingerprint -> authorized_keys line
	for _, k := range keys {
		key := systest.Keygen(t, dir, k.name, k.keyType, k.args...)
		if strings.HasSuffix(k.keyType, "-sk") {
			ag.Add(t, key, "-S", systest.SKDummy)
		} else {
			ag.Add(t, key)
		}
		pubs[k.name] = systest.ReadPub(t, key)
	}

	conn, err := Agent(ag.Socket)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	signers, err := conn.Signers()
	if err != nil {
		t.Fatal(err)
	}
	if len(signers) != len(keys) {
		t.Fatalf("got %d agent signers, want %d", len(signers), len(keys))
	}
	byFP := map[string]ssh.Signer{}
	for _, s := range signers {
		byFP[ssh.FingerprintSHA256(s.PublicKey())] = s
	}
	for _, k := range keys {
		t.Run(k.name, func(t *testing.T) {
			pub := mustAuthorizedKey(t, pubs[k.name])
			signer := byFP[ssh.FingerprintSHA256(pub)]
			if signer == nil {
				t.Fatalf("agent has no signer for %s", ssh.FingerprintSHA256(pub))
			}
			sig := mustSign(t, signer, Namespace, testMessage)
			if k.keyType == "rsa" && sig.Sig.Format != ssh.KeyAlgoRSASHA512 {
				t.Errorf("got signature algorithm %q, want %q", sig.Sig.Format, ssh.KeyAlgoRSASHA512)
			}
			res, err := Verify(mustParse(t, sig.Armor()), pub, Namespace, testMessage)
			wantErr(t, err, k.want)
			if err != nil {
				return
			}
			wantSKResult(t, res, strings.HasSuffix(k.keyType, "-sk"), k.flags)
			if err := keygenCheck(t, sig, pubs[k.name], Namespace, testMessage); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestAgentErrors(t *testing.T) {
	t.Run("SSH_AUTH_SOCK unset", func(t *testing.T) {
		t.Setenv("SSH_AUTH_SOCK", "")
		_, err := Agent("")
		wantErr(t, err, ErrNoAgent)
		if !strings.Contains(err.Error(), "SSH_AUTH_SOCK is not set") || !strings.Contains(err.Error(), "--key FILE") {
			t.Errorf("got error %q, want it to say SSH_AUTH_SOCK is not set and offer --key FILE", err)
		}
	})
	t.Run("no agent on the socket", func(t *testing.T) {
		_, err := Agent(filepath.Join(t.TempDir(), "agent.sock"))
		wantErr(t, err, ErrNoAgent)
	})
	t.Run("empty agent from SSH_AUTH_SOCK", func(t *testing.T) {
		ag := systest.StartAgent(t)
		t.Setenv("SSH_AUTH_SOCK", ag.Socket)
		conn, err := Agent("")
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_, err = conn.Signers()
		wantErr(t, err, ErrNoKeys)
	})
}
