package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/failsmall/breakglass/hwkey"
	"github.com/failsmall/breakglass/internal/brokertest"
	"github.com/failsmall/breakglass/policy"
	"github.com/failsmall/breakglass/server"
)

// firstBundle returns policyYAML as a first (serial 1) bundle signed by the
// brokertest keys of admins.
func firstBundle(t testing.TB, policyYAML string, admins ...string) []byte {
	t.Helper()
	var signers []ssh.Signer
	for _, a := range admins {
		signers = append(signers, brokertest.Signer(a))
	}
	raw, err := server.SignBundle(&policy.Bundle{Serial: 1, Created: time.Now().UTC().Truncate(time.Second), Policy: []byte(policyYAML)}, signers)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// initBroker pins policyYAML, signed by the brokertest keys of admins, as
// the first bundle of the broker that config describes, with `breakglass
// init` as an operator would; once: the test configs keep their data in
// data/ next to the config, and a data folder with a bundle is left alone.
func initBroker(t testing.TB, config, policyYAML string, admins ...string) {
	t.Helper()
	if _, err := os.Stat(server.Dir(filepath.Join(filepath.Dir(config), "data")).ActiveBundle()); err == nil {
		return
	}
	file := filepath.Join(filepath.Dir(config), "first.bundle")
	mustWriteFile(t, file, string(firstBundle(t, policyYAML, admins...)))
	if code, out, errOut := runCLI("init", "--config", config, file); code != 0 {
		t.Fatalf("breakglass init: exit %d: %s%s", code, out, errOut)
	}
}

// devLocal is the dev policy file policyFile, signed on change with the dev
// admin carol's key in d.
func devLocal(t testing.TB, d server.Dir, policyFile string) *server.LocalPolicy {
	t.Helper()
	carol, err := hwkey.LoadKeyFile(filepath.Join(d.DevKeys(), "carol"))
	if err != nil {
		t.Fatal(err)
	}
	return &server.LocalPolicy{File: policyFile, Admins: []ssh.Signer{carol}}
}

func mustLoadKey(t testing.TB, file string) ssh.Signer {
	t.Helper()
	s, err := hwkey.LoadKeyFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// startApp opens a broker in this process with cfg (server.Open), serves
// it on a free loopback port, checks that a policy is active, and closes it when t ends.
func startApp(t testing.TB, cfg server.Config) *server.Server {
	t.Helper()
	cfg.Addr = "127.0.0.1:0"
	a, err := server.Open(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close(context.Background()) })
	if _, err := a.Service().Policy(); err != nil {
		t.Fatalf("no active policy: %v", err)
	}
	return a
}
