package broker_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/failsmall/breakglass/broker"
	"github.com/failsmall/breakglass/internal/brokertest"
)

// requestStatement is a request statement Prepare could return for
// requestAsk, with an SSH key.
func requestStatement(t *testing.T, edit func(*broker.Statement)) []byte {
	t.Helper()
	st := sampleStatement()
	st.Kind, st.Request = broker.KindRequest, broker.NewID(brokertest.Start)
	st.SSHKey = brokertest.AuthorizedKey("alice")
	if edit != nil {
		edit(&st)
	}
	text, err := st.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return text
}

// requestAsk is what alice asked Prepare for.
func requestAsk() broker.RequestInput {
	st := sampleStatement()
	return broker.RequestInput{Role: st.Role, Requester: st.Requester, Reason: st.Reason, Incident: st.Incident,
		Duration: st.Duration, SSHKey: brokertest.AuthorizedKey("alice") + " alice@laptop"}
}

func TestCheckRequestStatement(t *testing.T) {
	good := requestStatement(t, nil)
	if st, err := broker.CheckRequestStatement(good, requestAsk()); err != nil || st.Request == "" {
		t.Fatalf("the statement asked for: %+v, %v; want accepted", st, err)
	}
	defaultDuration := requestAsk()
	defaultDuration.Duration = 0
	if _, err := broker.CheckRequestStatement(good, defaultDuration); err != nil {
		t.Errorf("no duration asked (the role's default): %v, want any duration accepted", err)
	}
	noSSH := requestStatement(t, func(s *broker.Statement) { s.SSHKey = "" })
	if _, err := broker.CheckRequestStatement(noSSH, requestAsk()); err != nil {
		t.Errorf("no ssh-key (a role without ssh ignores the key sent): %v, want accepted", err)
	}
	for _, tc := range []struct {
		name  string
		edit  func(*broker.Statement)
		field string
	}{
		{"another role", func(s *broker.Statement) { s.Role = "prod-db-root" }, "role"},
		{"another requester", func(s *broker.Statement) { s.Requester = "mallory" }, "requester"},
		{"another reason", func(s *broker.Statement) { s.Reason = "just because" }, "reason"},
		{"another incident", func(s *broker.Statement) { s.Incident = "INC-1" }, "incident"},
		{"no incident", func(s *broker.Statement) { s.Incident = "" }, "incident"},
		{"longer duration", func(s *broker.Statement) { s.Duration = 8 * time.Hour }, "duration"},
		{"another ssh key", func(s *broker.Statement) { s.SSHKey = brokertest.AuthorizedKey("mallory") }, "ssh-key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := broker.CheckRequestStatement(requestStatement(t, tc.edit), requestAsk())
			checkMismatch(t, err, tc.field)
		})
	}
	t.Run("ssh key but none asked for", func(t *testing.T) {
		ask := requestAsk()
		ask.SSHKey = ""
		checkMismatch(t, errOf(broker.CheckRequestStatement(good, ask)), "ssh-key")
	})
	for name, text := range map[string][]byte{
		"an approval statement": mustEncode(t, sampleStatement()),
		"not a statement":       []byte("role: prod-ssh-root\n"),
		"an id not the broker's": requestStatement(t, func(s *broker.Statement) {
			s.Request = "REQ-1"
		}),
	} {
		if _, err := broker.CheckRequestStatement(text, requestAsk()); !errors.Is(err, broker.ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", name, err)
		}
	}
}

// approvalRecord is the request record whose approval statement is
// sampleStatement, as the broker reports it.
func approvalRecord(t *testing.T) (*broker.Request, []byte) {
	t.Helper()
	st := sampleStatement()
	text := mustEncode(t, st)
	return &broker.Request{ID: st.Request, Role: st.Role, Requester: st.Requester, Reason: st.Reason,
		Incident: st.Incident, Duration: st.Duration, Expires: st.NotAfter, State: broker.StatePending,
		PolicyHash: st.Policy, Statement: text, StatementDigest: broker.Digest(text)}, text
}

func TestCheckApprovalStatement(t *testing.T) {
	r, text := approvalRecord(t)
	if st, err := broker.CheckApprovalStatement(text, r, "bob"); err != nil || st.Request != r.ID {
		t.Fatalf("the statement of the record: %+v, %v; want accepted", st, err)
	}
	for _, tc := range []struct {
		name  string
		edit  func(*broker.Request)
		field string
	}{
		{"another digest", func(r *broker.Request) { r.StatementDigest = broker.Digest([]byte("other")) }, "digest"},
		{"another request", func(r *broker.Request) { r.ID = broker.NewID(brokertest.Start) }, "request"},
		{"another role", func(r *broker.Request) { r.Role = "prod-db-root" }, "role"},
		{"another requester", func(r *broker.Request) { r.Requester = "mallory" }, "requester"},
		{"another reason", func(r *broker.Request) { r.Reason = "just because" }, "reason"},
		{"another incident", func(r *broker.Request) { r.Incident = "INC-1" }, "incident"},
		{"another duration", func(r *broker.Request) { r.Duration = time.Hour }, "duration"},
		{"another policy", func(r *broker.Request) { r.PolicyHash = "sha256:0000" }, "policy"},
		{"another expiry", func(r *broker.Request) { r.Expires = r.Expires.Add(time.Hour) }, "not-after"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			shown, _ := approvalRecord(t)
			tc.edit(shown)
			_, err := broker.CheckApprovalStatement(text, shown, "bob")
			checkMismatch(t, err, tc.field)
		})
	}
	for _, tc := range []struct {
		state broker.State
		want  error
	}{
		{broker.StateCancelled, broker.ErrCancelled}, {broker.StateDenied, broker.ErrDenied},
		{broker.StateExpired, broker.ErrExpired}, {broker.StateIssued, broker.ErrAlreadyIssued},
	} {
		shown, _ := approvalRecord(t)
		shown.State = tc.state
		_, err := broker.CheckApprovalStatement(text, shown, "bob")
		if !errors.Is(err, tc.want) || err.Error() != "request "+r.ID+" is "+string(tc.state)+", not pending; nothing to approve" {
			t.Errorf("%s request: err = %v, want %v saying it is not pending", tc.state, err, tc.want)
		}
	}
	_, err := broker.CheckApprovalStatement(text, r, "alice")
	if !errors.Is(err, broker.ErrSelfApproval) || !strings.HasPrefix(err.Error(), "you (alice) made request "+r.ID) {
		t.Errorf("the requester approving: err = %v, want ErrSelfApproval", err)
	}
	denial := mustEncode(t, func() broker.Statement {
		st := sampleStatement()
		st.Kind, st.DenialReason = broker.KindDenial, "no"
		return st
	}())
	if _, err := broker.CheckApprovalStatement(denial, r, "bob"); !errors.Is(err, broker.ErrInvalid) {
		t.Errorf("a denial statement: err = %v, want ErrInvalid", err)
	}
}

// checkMismatch checks err is a *FieldMismatchError for field.
func checkMismatch(t *testing.T, err error, field string) {
	t.Helper()
	var m *broker.FieldMismatchError
	if !errors.As(err, &m) || m.Field != field || !errors.Is(err, broker.ErrStatementMismatch) {
		t.Fatalf("err = %v, want a mismatch of field %s", err, field)
	}
	if m.Got == m.Want {
		t.Errorf("mismatch of %s: got and want are both %q", field, m.Got)
	}
}

func mustEncode(t *testing.T, st broker.Statement) []byte {
	t.Helper()
	text, err := st.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return text
}

// errOf is the error of a two-result call.
func errOf[T any](_ T, err error) error { return err }
