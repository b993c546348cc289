package scimtest_test

import (
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"testing"

	"github.com/failsmall/breakglass/internal/scimtest"
)

type listResponse struct {
	Schemas      []string         `json:"schemas"`
	TotalResults int              `json:"totalResults"`
	StartIndex   int              `json:"startIndex"`
	Resources    []map[string]any `json:"Resources"`
}

// mustGet GETs url and decodes its ListResponse, failing t unless the
// status is want.
func mustGet(t *testing.T, url string, header http.Header, want int) listResponse {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header = header
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("GET %s: status %d, want %d: %s", url, resp.StatusCode, want, body)
	}
	var lr listResponse
	if want == http.StatusOK {
		if err := json.Unmarshal(body, &lr); err != nil {
			t.Fatalf("GET %s: %v in %s", url, err, body)
		}
	}
	return lr
}

func TestListPages(t *testing.T) {
	s := scimtest.New(t)
	aliceID := s.AddUser("alice", true)
	s.AddUser("bob", false)
	s.AddUser("carol", true)
	s.SetExternalID("carol", "emp-3")

	first := mustGet(t, s.URL()+"/Users?startIndex=1&count=100", nil, http.StatusOK)
	if !slices.Contains(first.Schemas, "urn:ietf:params:scim:api:messages:2.0:ListResponse") {
		t.Errorf("schemas = %v, want the ListResponse message", first.Schemas)
	}
	if first.TotalResults != 3 || len(first.Resources) != scimtest.PageSize {
		t.Fatalf("first page: total %d, %d resources; want 3, %d", first.TotalResults, len(first.Resources), scimtest.PageSize)
	}
	if got := first.Resources[0]; got["id"] != aliceID || got["userName"] != "alice" || got["active"] != true {
		t.Errorf("first user = %v, want alice (id %s) active", got, aliceID)
	}
	if got := first.Resources[1]; got["userName"] != "bob" || got["active"] != false {
		t.Errorf("second user = %v, want bob inactive", got)
	}
	second := mustGet(t, s.URL()+"/Users?startIndex=3&count=100", nil, http.StatusOK)
	if second.StartIndex != 3 || len(second.Resources) != 1 || second.Resources[0]["externalId"] != "emp-3" {
		t.Errorf("second page = %+v, want carol with externalId emp-3 at startIndex 3", second)
	}
}

func TestGroups(t *testing.T) {
	s := scimtest.New(t)
	aliceID := s.AddUser("alice", true)
	bobID := s.AddUser("bob", true)
	s.AddGroup("oncall", "alice", "bob")
	s.SetGroupMembers("oncall", "bob")

	lr := mustGet(t, s.URL()+"/Groups", nil, http.StatusOK)
	if lr.TotalResults != 1 || lr.Resources[0]["displayName"] != "oncall" {
		t.Fatalf("groups = %+v, want oncall", lr)
	}
	members, _ := lr.Resources[0]["members"].([]any)
	if len(members) != 1 || members[0].(map[string]any)["value"] != bobID {
		t.Errorf("members = %v, want only bob (%s), not alice (%s)", members, bobID, aliceID)
	}
}

func TestStopStart(t *testing.T) {
	s := scimtest.New(t)
	mustGet(t, s.URL()+"/Users", nil, http.StatusOK)
	s.Stop()
	if _, err := http.Get(s.URL() + "/Users"); err == nil {
		t.Fatal("GET after Stop succeeded; want connection refused")
	}
	s.Start()
	mustGet(t, s.URL()+"/Users", nil, http.StatusOK)
	if got := s.Requests(); got != 2 {
		t.Errorf("Requests() = %d, want 2", got)
	}
}

func TestRequireToken(t *testing.T) {
	s := scimtest.New(t)
	s.RequireToken("s3cret")
	mustGet(t, s.URL()+"/Users", nil, http.StatusUnauthorized)
	mustGet(t, s.URL()+"/Users", http.Header{"Authorization": {"Bearer wrong"}}, http.StatusUnauthorized)
	mustGet(t, s.URL()+"/Users", http.Header{"Authorization": {"Bearer s3cret"}}, http.StatusOK)
}

func TestReadOnly(t *testing.T) {
	s := scimtest.New(t)
	resp, err := http.Post(s.URL()+"/Users", "application/scim+json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode < 400 {
		t.Errorf("POST /Users: status %d, want an error", resp.StatusCode)
	}
}
