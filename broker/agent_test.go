package broker_test

import (
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/failsmall/breakglass/hwkey"
	"github.com/failsmall/breakglass/internal/brokertest"
	"github.com/failsmall/breakglass/internal/systest"
)

// TestApprovalRefusalsThroughAgent runs the refusal table with keys made by
// ssh-keygen and signing through a real ssh-agent, as the CLI does.
func TestApprovalRefusalsThroughAgent(t *testing.T) {
	agent := systest.StartAgent(t)
	dir := t.TempDir()
	people := []string{"alice", "mallory", "bob", "dave", "erin", "carol", "root", "stranger"}
	for i, who := range people {
		typ := []string{"ed25519", "ecdsa"}[i%2]
		agent.Add(t, systest.Keygen(t, dir, who, typ))
	}
	conn, err := hwkey.Agent(agent.Socket)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	all, err := conn.Signers()
	if err != nil {
		t.Fatal(err)
	}
	byComment := map[string]ssh.Signer{}
	for _, s := range all {
		for _, who := range people {
			if pub, _, _, _, err := ssh.ParseAuthorizedKey([]byte(systest.ReadPub(t, dir+"/"+who))); err == nil &&
				string(pub.Marshal()) == string(s.PublicKey().Marshal()) {
				byComment[who] = s
			}
		}
	}
	if len(byComment) != len(people) {
		t.Fatalf("found %d of %d keys in the agent", len(byComment), len(people))
	}
	testApprovalRefusals(t, func(t *testing.T) *brokertest.Env {
		return brokertest.NewWithSigners(t, testPolicy, "", byComment)
	})
}

// TestSecurityKeyCounterFlagged: a FIDO key whose signature counter does not
// increase (sk-dummy always reports the same counter, as a cloned key would)
// is flagged on its second approval, and the approval still counts.
func TestSecurityKeyCounterFlagged(t *testing.T) {
	agent := systest.StartAgent(t, "-P", systest.Need(t, systest.SKDummy))
	dir := t.TempDir()
	agent.Add(t, systest.Keygen(t, dir, "bob", "ed25519-sk"), "-S", systest.SKDummy)
	conn, err := hwkey.Agent(agent.Socket)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	signers, err := conn.Signers()
	if err != nil || len(signers) != 1 {
		t.Fatalf("agent signers: %v, %v", signers, err)
	}
	e := brokertest.NewWithSigners(t, testPolicy, "", map[string]ssh.Signer{"bob": signers[0]})
	var warnings []bool
	for range 2 {
		r := e.Request(t, prodInput())
		res := mustApprove(t, e, "bob", r)
		if res.Approval.KeyType != ssh.KeyAlgoSKED25519 || !res.Approval.UserPresent {
			t.Fatalf("approval key %s, presence %v; want an sk-ssh-ed25519 signature with presence", res.Approval.KeyType, res.Approval.UserPresent)
		}
		warnings = append(warnings, res.Approval.CounterWarning)
	}
	if warnings[0] || !warnings[1] {
		t.Errorf("counter warnings = %v, want [false true]", warnings)
	}
}
