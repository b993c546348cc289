package upstream_test

import (
	"errors"
	"fmt"
	"maps"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/failsmall/breakglass/internal/scimtest"
	"github.com/failsmall/breakglass/policy"
	"github.com/failsmall/breakglass/upstream"
)

func mustPolicy(t testing.TB) *policy.Policy {
	t.Helper()
	p, err := policy.Parse([]byte(withKeys(testPolicy, everyone...)))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func mustFetch(t testing.TB, src *upstream.SCIMSource) *upstream.Directory {
	t.Helper()
	d, err := src.Fetch(t.Context())
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	return d
}

// mirror fills s with testPolicy's principals (active) and groups.
func mirror(s *scimtest.Server) {
	for _, id := range everyone {
		s.AddUser(id, true)
	}
	s.AddGroup("engineering", "alice", "mallory")
	s.AddGroup("sre", "bob", "dave", "frank")
	s.AddGroup("security", "erin", "carol")
}

func TestSCIMFetchPages(t *testing.T) {
	s := scimtest.New(t)
	ids := map[string]string{}
	for _, n := range []string{"alice", "bob", "carol", "dave", "erin"} {
		ids[n] = s.AddUser(n, n != "bob")
	}
	s.SetExternalID("carol", "emp-3")
	s.AddGroup("sre", "bob", "dave")
	s.AddGroup("security", "erin")
	s.AddGroup("empty")

	got := mustFetch(t, &upstream.SCIMSource{URL: s.URL()})
	want := &upstream.Directory{
		Users: []upstream.SCIMUser{
			{ID: ids["alice"], UserName: "alice", Active: true},
			{ID: ids["bob"], UserName: "bob", Active: false},
			{ID: ids["carol"], UserName: "carol", ExternalID: "emp-3", Active: true},
			{ID: ids["dave"], UserName: "dave", Active: true},
			{ID: ids["erin"], UserName: "erin", Active: true},
		},
	}
	if !reflect.DeepEqual(got.Users, want.Users) {
		t.Errorf("Users = %+v\nwant %+v", got.Users, want.Users)
	}
	var names []string
	for _, g := range got.Groups {
		names = append(names, fmt.Sprintf("%s%v", g.DisplayName, g.Members))
	}
	wantGroups := []string{fmt.Sprintf("sre[%s %s]", ids["bob"], ids["dave"]), fmt.Sprintf("security[%s]", ids["erin"]), "empty[]"}
	if !slices.Equal(names, wantGroups) {
		t.Errorf("Groups = %v, want %v", names, wantGroups)
	}
	// 5 users at scimtest.PageSize a page, then 3 groups.
	if got, want := s.Requests(), 3+2; got != want {
		t.Errorf("the server saw %d requests, want %d (one a page)", got, want)
	}
}

func TestSCIMToken(t *testing.T) {
	s := scimtest.New(t)
	s.AddUser("alice", true)
	s.RequireToken("s3cret")
	_, err := (&upstream.SCIMSource{URL: s.URL()}).Fetch(t.Context())
	checkErr(t, err, s.URL()+"/Users", "401")
	d := mustFetch(t, &upstream.SCIMSource{URL: s.URL(), Token: "s3cret"})
	if len(d.Users) != 1 {
		t.Errorf("Users = %v, want alice", d.Users)
	}
	if name := (&upstream.SCIMSource{URL: s.URL(), Token: "s3cret"}).Name(); strings.Contains(name, "s3cret") {
		t.Errorf("Name() = %q shows the token", name)
	}
}

func TestSCIMDown(t *testing.T) {
	s := scimtest.New(t)
	s.Stop()
	_, err := (&upstream.SCIMSource{URL: s.URL()}).Fetch(t.Context())
	checkErr(t, err, s.URL()+"/Users", "connection refused")
}

// TestRestrictions changes a directory that mirrors testPolicy and checks
// what it takes away.
func TestRestrictions(t *testing.T) {
	tests := map[string]struct {
		change       func(s *scimtest.Server)
		disabled     []string
		removed      map[string][]string
		missing      []string
		reasonSubstr string
	}{
		"mirror takes nothing": {change: func(*scimtest.Server) {}},
		"deactivated": {change: func(s *scimtest.Server) { s.SetActive("bob", false) },
			disabled: []string{"bob"}, reasonSubstr: `"bob"`},
		"deactivated policy-disabled": {change: func(s *scimtest.Server) { s.SetActive("frank", false) },
			disabled: []string{"frank"}},
		"added user and group change nothing": {change: func(s *scimtest.Server) {
			s.AddUser("zed", true)
			s.AddUser("yves", false)
			s.AddGroup("admins", "zed", "alice")
			s.SetGroupMembers("sre", "bob", "dave", "frank", "zed")
		}},
		"dropped from a group": {change: func(s *scimtest.Server) { s.SetGroupMembers("sre", "bob", "frank") },
			removed: map[string][]string{"dave": {"sre"}}},
		"emptied group": {change: func(s *scimtest.Server) { s.SetGroupMembers("security") },
			removed: map[string][]string{"erin": {"security"}, "carol": {"security"}}},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			s := scimtest.New(t)
			mirror(s)
			tt.change(s)
			r, missing := upstream.Restrictions(mustPolicy(t), mustFetch(t, &upstream.SCIMSource{URL: s.URL()}))
			checkRestriction(t, r, missing, tt.disabled, tt.removed, tt.missing)
			for _, reason := range r.Disabled {
				if !strings.Contains(reason, tt.reasonSubstr) {
					t.Errorf("reason %q does not say %q", reason, tt.reasonSubstr)
				}
			}
		})
	}
}

// TestRestrictionsMatching covers how a principal finds its SCIM user.
func TestRestrictionsMatching(t *testing.T) {
	s := scimtest.New(t)
	s.AddUser("Bob", false)           // case differs: still bob
	s.AddUser("alice.example", false) // matched by externalId
	s.SetExternalID("alice.example", "alice")
	s.AddUser("dave", true)    // exact userName wins over...
	s.AddUser("x-dave", false) // ...an externalId match
	s.SetExternalID("x-dave", "dave")
	s.AddUser("erin", true)
	s.AddUser("carol", true)
	s.AddGroup("sre", "Bob", "x-dave") // lists dave's externalId twin, not dave
	// No engineering or security group in SCIM: their members keep them.
	r, missing := upstream.Restrictions(mustPolicy(t), mustFetch(t, &upstream.SCIMSource{URL: s.URL()}))
	checkRestriction(t, r, missing, []string{"alice", "bob"},
		map[string][]string{"dave": {"sre"}}, []string{"mallory", "frank"})
}

// TestRestrictionsNested: a member of a member group is listed; group
// cycles end.
func TestRestrictionsNested(t *testing.T) {
	d := &upstream.Directory{
		Users: []upstream.SCIMUser{{ID: "u1", UserName: "bob", Active: true}, {ID: "u2", UserName: "dave", Active: true},
			{ID: "u3", UserName: "frank", Active: true}},
		Groups: []upstream.SCIMGroup{
			{ID: "g1", DisplayName: "sre", Members: []string{"u1", "g2"}},
			{ID: "g2", DisplayName: "sre-oncall", Members: []string{"u2", "g1"}},
		},
	}
	r, missing := upstream.Restrictions(mustPolicy(t), d)
	checkRestriction(t, r, missing, nil, map[string][]string{"frank": {"sre"}},
		[]string{"alice", "erin", "carol", "mallory"})
}

func checkRestriction(t *testing.T, r policy.Restriction, missing, disabled []string, removed map[string][]string, wantMissing []string) {
	t.Helper()
	if got := slices.Sorted(maps.Keys(r.Disabled)); !slices.Equal(got, slices.Sorted(slices.Values(disabled))) {
		t.Errorf("Disabled = %v, want %v", r.Disabled, disabled)
	}
	if removed == nil {
		removed = map[string][]string{}
	}
	if !reflect.DeepEqual(r.RemovedFrom, removed) {
		t.Errorf("RemovedFrom = %v, want %v", r.RemovedFrom, removed)
	}
	if !slices.Equal(missing, wantMissing) {
		t.Errorf("missing = %v, want %v", missing, wantMissing)
	}
}

const emptyList = `{"schemas":["urn:ietf:params:scim:api:messages:2.0:ListResponse"],"totalResults":0,"Resources":[]}`

// list is a ListResponse of total results holding resources.
func list(total int, startIndex int, resources ...string) string {
	return fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:ListResponse"],"totalResults":%d,"startIndex":%d,"itemsPerPage":%d,"Resources":[%s]}`,
		total, startIndex, len(resources), strings.Join(resources, ","))
}

func userJSON(i int) string {
	return fmt.Sprintf(`{"id":"u%d","userName":"user%d","active":true}`, i, i)
}

func TestSCIMGarbage(t *testing.T) {
	tests := map[string]struct {
		users, groups func(start int) string // nil: an empty list
		status        int
		want          string
		is            error
	}{
		"html":              {users: func(int) string { return "<html>sign in</html>" }, want: "not a SCIM ListResponse"},
		"no schemas":        {users: func(int) string { return `{"totalResults":0}` }, want: "lack urn:ietf:params:scim:api:messages:2.0:ListResponse"},
		"a user not a list": {users: func(int) string { return `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"id":"u1"}` }, want: "not a SCIM ListResponse"},
		"no totalResults":   {users: func(int) string { return `{"schemas":["urn:ietf:params:scim:api:messages:2.0:ListResponse"]}` }, want: "without totalResults"},
		"absurd total":      {users: func(s int) string { return list(1_000_000_000, s, userJSON(s)) }, want: "absurd totalResults 1000000000"},
		"negative total":    {users: func(s int) string { return list(-1, s) }, want: "absurd totalResults -1"},
		"empty page":        {users: func(s int) string { return list(5, s) }, want: "no resources from startIndex 1 though totalResults is 5"},
		"more than total":   {users: func(s int) string { return list(1, s, userJSON(1), userJSON(2)) }, want: "exceed totalResults 1"},
		"wrong startIndex":  {users: func(s int) string { return list(3, s+1, userJSON(s)) }, want: "startIndex 2, want the 1"},
		"total changes":     {users: func(s int) string { return list(2+s, s, userJSON(s)) }, want: "totalResults changed from 3 to 4"},
		"repeated page":     {users: func(s int) string { return list(2, s, userJSON(1)) }, want: `user id "u1" listed twice`},
		"duplicate userName": {users: func(s int) string { return list(2, s, userJSON(1), `{"id":"u2","userName":"USER1"}`) },
			want: `userName "USER1" listed twice`},
		"no userName":   {users: func(s int) string { return list(1, s, `{"id":"u1","active":false}`) }, want: `user id "u1" without userName`},
		"no user id":    {users: func(s int) string { return list(1, s, `{"userName":"bob"}`) }, want: `user "bob" without id`},
		"active string": {users: func(s int) string { return list(1, s, `{"id":"u1","userName":"bob","active":"false"}`) }, want: "not a SCIM User"},
		"too many pages": {users: func(s int) string { return list(upstream.MaxSCIMResources, s, userJSON(s)) },
			want: fmt.Sprintf("more than %d pages", upstream.MaxSCIMPages)},
		"too large": {users: func(s int) string {
			return list(1, s, `{"id":"u1","userName":"`+strings.Repeat("a", upstream.MaxSCIMResponse)+`"}`)
		},
			is: upstream.ErrTooLarge},
		"status 500":         {status: 500, want: "status 500"},
		"no displayName":     {groups: func(s int) string { return list(1, s, `{"id":"g1","members":[]}`) }, want: `group id "g1" without displayName`},
		"member no value":    {groups: func(s int) string { return list(1, s, `{"id":"g1","displayName":"sre","members":[{"display":"bob"}]}`) }, want: `group "sre": members[0] without value`},
		"members not a list": {groups: func(s int) string { return list(1, s, `{"id":"g1","displayName":"sre","members":"bob"}`) }, want: "not a SCIM Group"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			url := serve(t, func(w http.ResponseWriter, r *http.Request) {
				start, _ := strconv.Atoi(r.URL.Query().Get("startIndex"))
				body := emptyList
				switch {
				case tt.status != 0:
					http.Error(w, "", tt.status)
					return
				case strings.HasSuffix(r.URL.Path, "/Users") && tt.users != nil:
					body = tt.users(start)
				case strings.HasSuffix(r.URL.Path, "/Groups") && tt.groups != nil:
					body = tt.groups(start)
				}
				w.Header().Set("Content-Type", "application/scim+json")
				w.Write([]byte(body))
			}) + "/scim/v2"
			d, err := (&upstream.SCIMSource{URL: url}).Fetch(t.Context())
			if err == nil {
				t.Fatalf("Fetch = %+v; want an error", d)
			}
			checkErr(t, err, url, tt.want)
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %v does not wrap %v", err, tt.is)
			}
		})
	}
}
