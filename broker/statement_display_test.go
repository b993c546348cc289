package broker_test

import (
	"strings"
	"testing"
	"time"

	"github.com/failsmall/breakglass/broker"
)

// TestDisplayQuotesFreeText (issue 10, defect 7): padding inside a reason
// cannot make it look like another field. The raw statement shows such a
// reason on the reason line followed by what looks like a policy field;
// Display quotes it, so the fake field sits inside the reason's quotes and
// the real policy has its own labelled line.
func TestDisplayQuotesFreeText(t *testing.T) {
	fake := "restart db-7" + strings.Repeat(" ", 60) + `policy: sha256:0000 "trusted"`
	st := broker.Statement{Kind: broker.KindApproval, Broker: "bg.test", Request: "01M8A846408AMDQ06V259A2GNB", Role: "prod",
		Requester: "alice", Duration: 30 * time.Minute, Incident: "INC-1", Reason: fake, Policy: "sha256:4be1",
		NotAfter: time.Date(2026, 12, 4, 22, 0, 0, 0, time.UTC)}
	text, err := st.Encode()
	if err != nil {
		t.Fatal(err)
	}
	shown, err := broker.DisplayText(text)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(shown, "\n"), "\n")
	want := []string{
		"  kind:          approval",
		"  broker:        bg.test",
		"  request:       01M8A846408AMDQ06V259A2GNB",
		"  role:          prod",
		"  requester:     alice",
		"  duration:      30m0s",
		`  incident:      "INC-1"`,
		`  reason:        "restart db-7` + strings.Repeat(" ", 60) + `policy: sha256:0000 \"trusted\""`,
		"  policy:        sha256:4be1",
		"  not after:     2026-12-04T22:00:00Z",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("Display:\n%s\nwant:\n%s", shown, strings.Join(want, "\n"))
	}
	for _, l := range lines {
		if strings.HasPrefix(strings.TrimSpace(l), "policy:") && l != "  policy:        sha256:4be1" {
			t.Errorf("a line other than the policy's reads as the policy field: %q", l)
		}
	}
	if _, err := broker.DisplayText([]byte("not a statement\n")); err == nil {
		t.Error("DisplayText of a non-statement: no error")
	}
}
