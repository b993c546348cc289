package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/failsmall/breakglass/hwkey"
	"github.com/failsmall/breakglass/internal/systest"
	"github.com/failsmall/breakglass/server"
)

// hwAgent is a real ssh-agent holding software FIDO keys (sk-dummy) and a
// SoftHSM2 token's keys (PKCS#11), with PINs answered by an askpass script.
type hwAgent struct {
	*systest.Agent
	dir  string
	pubs map[string]string // name -> authorized_keys line
}

func startHWAgent(t *testing.T) *hwAgent {
	t.Helper()
	systest.Need(t, systest.SKDummy)
	systest.Need(t, systest.SoftHSM)
	p11 := systest.Need(t, "pkcs11-tool")
	hsmUtil := systest.Need(t, "softhsm2-util")
	dir, err := os.MkdirTemp("", "bg-hw")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	h := &hwAgent{dir: dir, pubs: map[string]string{}}
	askpass := filepath.Join(dir, "askpass")
	if err := os.WriteFile(askpass, []byte("#!/bin/sh\necho 1234\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "softhsm2.conf")
	if err := os.MkdirAll(filepath.Join(dir, "tokens"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(conf, []byte("directories.tokendir = "+filepath.Join(dir, "tokens")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// The agent and its helpers inherit these: PINs through askpass, and
	// SoftHSM's token folder.
	t.Setenv("SSH_ASKPASS", askpass)
	t.Setenv("SSH_ASKPASS_REQUIRE", "force")
	t.Setenv("SOFTHSM2_CONF", conf)
	systest.Run(t, nil, hsmUtil, "--init-token", "--free", "--label", "bg", "--pin", "1234", "--so-pin", "1234")
	for _, k := range []struct{ id, keyType string }{{"01", "EC:prime256v1"}, {"02", "rsa:2048"}} {
		systest.Run(t, nil, p11, "--module", systest.SoftHSM, "--login", "--pin", "1234", "--token-label", "bg",
			"--keypairgen", "--key-type", k.keyType, "--id", k.id, "--label", "bg-"+k.id)
	}
	// ssh-agent matches the allowed providers against the real path.
	hsm, err := filepath.EvalSymlinks(systest.SoftHSM)
	if err != nil {
		t.Fatal(err)
	}
	h.Agent = systest.StartAgent(t, "-P", systest.SKDummy+","+hsm)
	for _, k := range []struct{ name, keyType, opt string }{{"bob", "ed25519-sk", "verify-required"}, {"carol", "ecdsa-sk", ""}} {
		var args []string
		if k.opt != "" {
			args = []string{"-O", k.opt}
		}
		file := systest.Keygen(t, dir, k.name, k.keyType, args...)
		h.Add(t, file, "-S", systest.SKDummy)
		h.pubs[k.name] = systest.ReadPub(t, file)
	}
	h.Add(t, systest.SoftHSM, "-s")
	conn, err := hwkey.Agent(h.Socket)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	signers, err := conn.Signers()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range signers {
		switch s.PublicKey().Type() {
		case ssh.KeyAlgoECDSA256:
			h.pubs["dave"] = authorizedKey(s.PublicKey())
		case ssh.KeyAlgoRSA:
			h.pubs["erin"] = authorizedKey(s.PublicKey())
		}
	}
	if len(h.pubs) != 4 {
		t.Fatalf("agent keys: got %v, want bob, carol (sk) and dave, erin (PKCS#11)", h.pubs)
	}
	return h
}

// hwPolicy: alice (a key file) requests; uv needs one approval from sre
// with user verification; hsm needs two from ops, whose keys are on the
// PKCS#11 token.
func hwPolicy(alice string, pubs map[string]string) string {
	return fmt.Sprintf(`version: 1
admins: [alice]
groups: [{name: eng}, {name: sre}, {name: ops}]
principals:
  - {id: alice, groups: [eng], keys: [%q]}
  - {id: bob, groups: [sre], keys: [%q]}
  - {id: carol, groups: [sre], keys: [%q]}
  - {id: dave, groups: [ops], keys: [%q]}
  - {id: erin, groups: [ops], keys: [%q]}
roles:
  - name: uv
    requesters: [eng]
    approval: [{count: 1, groups: [sre]}]
    duration: {max: 1h}
    require_user_verification: true
    jwt: {audience: [uv]}
  - name: hsm
    requesters: [eng]
    approval: [{count: 2, groups: [ops]}]
    duration: {max: 1h}
    jwt: {audience: [hsm]}
    ssh: {principals: [breakglass-dev]}
`, alice, pubs["bob"], pubs["carol"], pubs["dave"], pubs["erin"])
}

// TestApprovalsThroughHardwareKeys signs approvals through a real ssh-agent:
// software FIDO keys, one made verify-required (accepted for a role that
// demands user verification) and one without (refused for it), and ECDSA
// P-256 and RSA-2048 keys on a SoftHSM2 token added over PKCS#11 (RSA signs
// with rsa-sha2-512). The CLI says clearly when the agent is missing, holds
// no enrolled key, or cannot get a signature from the security key.
func TestApprovalsThroughHardwareKeys(t *testing.T) {
	h := startHWAgent(t)
	alice := systest.Keygen(t, t.TempDir(), "alice", "ed25519")
	policyFile := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(policyFile, []byte(hwPolicy(systest.ReadPub(t, alice), h.pubs)), 0o600); err != nil {
		t.Fatal(err)
	}
	d := server.Dir(filepath.Join(t.TempDir(), "data")) // created 0700 by the broker
	if err := server.EnsureDevSSHCA(d); err != nil {
		t.Fatal(err)
	}
	a := startApp(t, server.Config{Name: "bg-hw", Data: d, Local: &server.LocalPolicy{File: policyFile, Admins: []ssh.Signer{mustLoadKey(t, alice)}}})
	b := &sshBroker{url: a.URL(), env: map[string]string{"BREAKGLASS_URL": a.URL(), "SSH_AUTH_SOCK": h.Socket}}
	request := func(role string) string {
		return strings.TrimSpace(b.cli(t, "request", "--key", alice, "--role", role, "--reason", "hardware keys", "--quiet"))
	}

	t.Run("FIDO key without user verification refused for a role that demands it", func(t *testing.T) {
		id := request("uv")
		_, err := b.try("approve", "--as", "carol", "--yes", id)
		if err == nil || !strings.Contains(err.Error(), "requires user verification") {
			t.Fatalf("approve as carol (ecdsa-sk, no PIN) = %v, want a user verification refusal", err)
		}
		out := b.cli(t, "approve", "--as", "bob", "--yes", id)
		if !strings.Contains(out, "quorum met") {
			t.Errorf("approve as bob (ed25519-sk verify-required) = %q, want the quorum met", out)
		}
		wantApproval(t, b, alice, id, "bob", "sk-ssh-ed25519@openssh.com", true)
	})
	t.Run("PKCS#11 ECDSA P-256 and RSA-2048 keys", func(t *testing.T) {
		id := request("hsm")
		b.cli(t, "approve", "--as", "dave", "--yes", id)
		if out := b.cli(t, "approve", "--as", "erin", "--yes", id); !strings.Contains(out, "quorum met") {
			t.Errorf("approve as erin = %q, want the quorum met", out)
		}
		wantApproval(t, b, alice, id, "dave", ssh.KeyAlgoECDSA256, false)
		sig := wantApproval(t, b, alice, id, "erin", ssh.KeyAlgoRSA, false)
		if sig.Sig.Format != ssh.KeyAlgoRSASHA512 {
			t.Errorf("RSA approval signed with %q, want %q", sig.Sig.Format, ssh.KeyAlgoRSASHA512)
		}
	})
	t.Run("security key does not answer", func(t *testing.T) {
		// The authenticator goes away after the key was added, as an
		// unplugged or untouched key does: the agent's signature fails.
		gone := filepath.Join(h.dir, "sk-gone.so")
		lib, err := os.ReadFile(systest.SKDummy)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(gone, lib, 0o755); err != nil {
			t.Fatal(err)
		}
		ag := systest.StartAgent(t, "-P", gone)
		ag.Add(t, filepath.Join(h.dir, "bob"), "-S", gone)
		os.Remove(gone)
		nb := &sshBroker{env: map[string]string{"BREAKGLASS_URL": a.URL(), "SSH_AUTH_SOCK": ag.Socket}}
		id := request("uv")
		_, err = nb.try("approve", "--yes", id)
		if err == nil || !strings.Contains(err.Error(), "waiting for a touch or its PIN") {
			t.Errorf("approve with an unanswering security key = %v, want a hint about the touch or PIN", err)
		}
	})
	t.Run("no agent", func(t *testing.T) {
		nb := &sshBroker{env: map[string]string{"BREAKGLASS_URL": a.URL()}}
		_, err := nb.try("approve", "--yes", "01M8AB1Y7Y6NE2KM854P5PJXZZ")
		if err == nil || !strings.Contains(err.Error(), "SSH_AUTH_SOCK is not set") || !strings.Contains(err.Error(), "--key FILE") {
			t.Errorf("approve without an agent = %v, want it to say SSH_AUTH_SOCK is not set and offer --key FILE", err)
		}
	})
	t.Run("agent holds no enrolled key", func(t *testing.T) {
		empty := systest.StartAgent(t)
		empty.Add(t, systest.Keygen(t, t.TempDir(), "stranger", "ed25519"))
		nb := &sshBroker{env: map[string]string{"BREAKGLASS_URL": a.URL(), "SSH_AUTH_SOCK": empty.Socket}}
		_, err := nb.try("approve", "--yes", "01M8AB1Y7Y6NE2KM854P5PJXZZ")
		if err == nil || !strings.Contains(err.Error(), "none of your 1 key(s) is enrolled") {
			t.Errorf("approve with an unenrolled key = %v, want it to say none of the keys is enrolled", err)
		}
	})
}

// wantApproval checks who's approval of request id, read with `show
// --json` as reader, and returns its parsed signature.
func wantApproval(t *testing.T, b *sshBroker, reader, id, who, keyType string, verified bool) *hwkey.Signature {
	t.Helper()
	var view struct {
		Approvals []struct {
			Approver     string `json:"approver"`
			Signature    string `json:"signature"`
			KeyType      string `json:"key_type"`
			UserVerified bool   `json:"user_verified"`
		} `json:"approvals"`
	}
	if err := json.Unmarshal([]byte(b.cli(t, "show", "--key", reader, "--json", id)), &view); err != nil {
		t.Fatal(err)
	}
	for _, a := range view.Approvals {
		if a.Approver != who {
			continue
		}
		if a.KeyType != keyType || a.UserVerified != verified {
			t.Errorf("%s's approval: key type %q, user verified %v; want %q, %v", who, a.KeyType, a.UserVerified, keyType, verified)
		}
		sig, err := hwkey.ParseSignature([]byte(a.Signature))
		if err != nil {
			t.Fatal(err)
		}
		return sig
	}
	t.Fatalf("request %s has no approval by %s: %+v", id, who, view.Approvals)
	return nil
}
