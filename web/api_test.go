package web_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/failsmall/breakglass/broker"
	"github.com/failsmall/breakglass/internal/brokertest"
	"github.com/failsmall/breakglass/web"
)

func newServer(t *testing.T, e *brokertest.Env) *httptest.Server {
	t.Helper()
	s := web.NewServer(web.Config{Service: e.Svc, JWKS: func() any { return e.Keys.JWKS() }, KeyIDs: func() []string { return []string{e.Keys.CurrentKID()} }})
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	return ts
}

func call(t *testing.T, method, url, body string, header ...string) (int, web.ErrorJSON, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var e web.ErrorJSON
	json.Unmarshal(b, &e)
	return resp.StatusCode, e, string(b)
}

// TestAPIErrors: bad requests get a status, a stable code and a message that
// says what was wrong.
func TestAPIErrors(t *testing.T) {
	e := brokertest.New(t, racePolicy(3, 2), "")
	ts := newServer(t, e)
	r := e.Request(t, broker.RequestInput{Role: "prod", Requester: "alice", Reason: "api errors"})
	// A real session, so that rows which need one are refused for what
	// they test, not for having none.
	ctext, csig := e.Challenge(t, "alice", broker.ActionSession, "")
	tok, _, err := e.Svc.OpenSession(t.Context(), ctext, csig)
	if err != nil {
		t.Fatal(err)
	}
	auth := []string{"Authorization", "Bearer " + tok}
	tests := []struct {
		name, method, path, body string
		header                   []string
		status                   int
		code, msg                string
	}{
		{"unknown field", "POST", "/v1/requests/prepare", `{"role":"prod","rol":"x"}`, nil, 400, "bad_body", "unknown field"},
		{"trailing data", "POST", "/v1/requests", `{"statement":"","signature":""} {}`, nil, 400, "bad_body", "trailing"},
		{"body too large", "POST", "/v1/requests", `{"statement":"` + strings.Repeat("a", web.MaxBody) + `"}`, nil, 413, "too_large", "more than"},
		{"not JSON", "POST", "/v1/challenges", `role=prod`, nil, 400, "bad_body", "invalid character"},
		{"read without session", "GET", "/v1/requests", "", nil, 401, "unauthenticated", "sign a challenge"},
		{"read with a bad session", "GET", "/v1/requests/" + r.ID, "", []string{"Authorization", "Bearer nope"}, 401, "unauthenticated", "unknown session"},
		{"approval with garbage signature", "POST", "/v1/requests/" + r.ID + "/approvals", `{"signature":"x"}`, nil, 400, "bad_signature", "bad signature"},
		{"approval of unknown request", "POST", "/v1/requests/01JD2X8ZQ4M3T5V6W7X8Y9Z0AB/approvals", `{"signature":"x"}`, nil, 404, "not_found", "01JD2X8ZQ4M3T5V6W7X8Y9Z0AB"},
		{"self approval", "POST", "/v1/requests/" + r.ID + "/approvals", mustJSON(t, map[string]string{"signature": string(brokertest.Sign(t, "alice", r.Statement))}), nil, 403, "self_approval", "own request"},
		{"bad duration", "POST", "/v1/requests/prepare", `{"role":"prod","requester":"alice","reason":"hello world","duration":"soon"}`, nil, 400, "invalid", "duration"},
		{"challenge for nobody", "POST", "/v1/challenges", `{"principal":"zed","action":"session"}`, nil, 403, "unknown_principal", "zed"},
		{"bad state filter", "GET", "/v1/requests?state=bogus", "", auth, 400, "invalid", "bogus"},
		{"bad limit", "GET", "/v1/requests?limit=0", "", auth, 400, "invalid", "limit must be 1 to 1000"},
		{"no route", "GET", "/v1/nope", "", nil, 404, "no_route", "no such API route"},
		{"wrong method", "DELETE", "/v1/requests", "", nil, 405, "method_not_allowed", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, e, raw := call(t, tt.method, ts.URL+tt.path, tt.body, tt.header...)
			if status != tt.status || e.Error.Code != tt.code || !strings.Contains(e.Error.Message, tt.msg) {
				t.Errorf("got %d %s %q, want %d %s containing %q (body %.200s)", status, e.Error.Code, e.Error.Message, tt.status, tt.code, tt.msg, raw)
			}
		})
	}
}

func mustJSON(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestNoPolicyStillServes: a broker without a valid policy answers health,
// status and metrics, and refuses requests with the reason.
func TestNoPolicyStillServes(t *testing.T) {
	e := brokertest.New(t, racePolicy(2, 1), "")
	svc, err := broker.New(broker.Config{Name: "bg.nopolicy", Store: e.DB, Minter: tokenMinter(e)})
	if err != nil {
		t.Fatal(err)
	}
	svc.RejectPolicy(context.Background(), errors.New("line 3: roles[0].approval[0].count: needs 9 approvers"))
	s := web.NewServer(web.Config{Service: svc})
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	if status, _, _ := call(t, "GET", ts.URL+"/healthz", ""); status != 200 {
		t.Errorf("/healthz = %d, want 200", status)
	}
	if status, _, body := call(t, "GET", ts.URL+"/readyz", ""); status != 503 || !strings.Contains(body, "needs 9 approvers") {
		t.Errorf("/readyz = %d %s, want 503 with the reason", status, body)
	}
	status, _, body := call(t, "GET", ts.URL+"/v1/status", "")
	var st web.StatusJSON
	json.Unmarshal([]byte(body), &st)
	if status != 200 || st.Ready || !strings.Contains(st.PolicyError, "line 3: roles[0].approval[0].count") {
		t.Errorf("/v1/status = %d %+v, want 200, not ready, the policy error", status, st)
	}
	status, e2, _ := call(t, "POST", ts.URL+"/v1/requests/prepare", `{"role":"prod","requester":"alice","reason":"hello world"}`)
	if status != 503 || e2.Error.Code != "no_policy" || !strings.Contains(e2.Error.Message, "needs 9 approvers") {
		t.Errorf("prepare = %d %+v, want 503 no_policy with the reason", status, e2)
	}
	if status, _, body := call(t, "GET", ts.URL+"/metrics", ""); status != 200 || !strings.Contains(body, "breakglass_policy_loaded 0") {
		t.Errorf("/metrics = %d, want 200 with breakglass_policy_loaded 0", status)
	}
	if _, _, body := call(t, "GET", ts.URL+"/metrics", ""); !regexp.MustCompile(`(?m)^breakglass_build_info\{goversion="go[^"]+",modified="[^"]*",revision="[^"]*",version="[^"]*"\} 1$`).MatchString(body) {
		t.Errorf("/metrics has no breakglass_build_info line with the versions:\n%s", body)
	}
}
