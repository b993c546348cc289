// Package scimtest runs a real SCIM 2.0 service provider (RFC 7643/7644) on
// the loopback interface for tests, built on github.com/elimity-com/scim.
// It serves GET /Users and GET /Groups (paginated ListResponses, at most
// PageSize resources a page), GET of one resource, and the discovery
// endpoints. It is read-only over HTTP: a test changes the directory with
// the Server's methods, as an identity provider's admin would.
package scimtest

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/elimity-com/scim"
	"github.com/elimity-com/scim/optional"
	"github.com/elimity-com/scim/schema"
)

// PageSize is the most resources one ListResponse holds, whatever count
// the client asks for; it is small so every test exercises pagination.
const PageSize = 2

// Server is a running SCIM service provider. Its methods are safe for
// concurrent use with the requests it serves; the mutators fail the test
// on misuse (an unknown user, a duplicate name) and must be called from
// the test's goroutine.
type Server struct {
	t        testing.TB
	dir      *directory
	handler  http.Handler
	requests atomic.Int64

	mu     sync.Mutex // guards the fields below
	addr   string     // host:port, fixed for the Server's life
	srv    *http.Server
	served chan struct{} // closed when srv's Serve has returned
	nextID int
	token  string
}

// New starts a Server on 127.0.0.1 at a free port; it stops at the end of
// the test.
func New(t testing.TB) *Server {
	t.Helper()
	s := &Server{t: t, dir: &directory{}}
	scimServer, err := scim.NewServer(&scim.ServerArgs{
		ServiceProviderConfig: &scim.ServiceProviderConfig{
			DocumentationURI: optional.NewString("scimtest"),
			MaxResults:       PageSize,
		},
		ResourceTypes: []scim.ResourceType{
			{ID: optional.NewString("User"), Name: "User", Endpoint: "/Users",
				Schema: schema.CoreUserSchema(), Handler: users{d: s.dir}},
			{ID: optional.NewString("Group"), Name: "Group", Endpoint: "/Groups",
				Schema: schema.CoreGroupSchema(), Handler: groups{d: s.dir}},
		},
	})
	if err != nil {
		t.Fatalf("scimtest: %v", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/scim/", http.StripPrefix("/scim", scimServer))
	s.handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		if tok := s.requiredToken(); tok != "" && r.Header.Get("Authorization") != "Bearer "+tok {
			w.Header().Set("WWW-Authenticate", "Bearer")
			http.Error(w, "scimtest: missing or wrong bearer token", http.StatusUnauthorized)
			return
		}
		mux.ServeHTTP(w, r)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("scimtest: %v", err)
	}
	s.addr = ln.Addr().String()
	s.serve(ln)
	t.Cleanup(s.Stop)
	return s
}

// URL is the service provider's base URL, ending in /scim/v2.
func (s *Server) URL() string { return "http://" + s.addr + "/scim/v2" }

// Requests is how many HTTP requests the Server has received, refused
// ones included.
func (s *Server) Requests() int { return int(s.requests.Load()) }

// RequireToken makes the Server answer 401 to requests without the header
// "Authorization: Bearer token"; "" accepts every request (the default).
func (s *Server) RequireToken(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.token = token
}

func (s *Server) requiredToken() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.token
}

// Stop takes the Server down: the listener closes (connections are
// refused) and open connections are cut. Stopping a stopped Server does
// nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv == nil {
		return
	}
	s.srv.Close()
	// The listening socket is closed for real only once Serve's Accept
	// has returned: until then a dial could still be accepted and reset.
	<-s.served
	s.srv = nil
}

// Start brings a stopped Server back on the same address; it fails the
// test if the address was taken meanwhile. Starting a running Server does
// nothing.
func (s *Server) Start() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		return
	}
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		s.t.Fatalf("scimtest: restart on %s: %v", s.addr, err)
	}
	s.serve(ln)
}

// serve runs an http.Server on ln; s.mu must be held or s unshared.
func (s *Server) serve(ln net.Listener) {
	srv := &http.Server{Handler: s.handler}
	served := make(chan struct{})
	s.srv, s.served = srv, served
	go func() {
		defer close(served)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.t.Errorf("scimtest: serve: %v", err)
		}
	}()
}

func (s *Server) newID(kind string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextID++
	return fmt.Sprintf("%s-%04d", kind, s.nextID)
}

// AddUser adds a user and returns the id the Server gave it, which differs
// from userName.
func (s *Server) AddUser(userName string, active bool) (id string) {
	s.t.Helper()
	id = s.newID("u")
	s.dir.mu.Lock()
	defer s.dir.mu.Unlock()
	if s.dir.userIndex(userName) >= 0 {
		s.t.Fatalf("scimtest: AddUser: user %q already exists", userName)
	}
	s.dir.users = append(s.dir.users, user{id: id, userName: userName, active: active})
	return id
}

// SetActive sets the active attribute of the user userName.
func (s *Server) SetActive(userName string, active bool) {
	s.t.Helper()
	s.dir.mu.Lock()
	defer s.dir.mu.Unlock()
	s.dir.users[s.mustUser(userName)].active = active
}

// SetExternalID sets the externalId of the user userName; "" removes it.
func (s *Server) SetExternalID(userName, externalID string) {
	s.t.Helper()
	s.dir.mu.Lock()
	defer s.dir.mu.Unlock()
	s.dir.users[s.mustUser(userName)].externalID = externalID
}

// mustUser returns the index of userName; s.dir.mu must be held.
func (s *Server) mustUser(userName string) int {
	s.t.Helper()
	i := s.dir.userIndex(userName)
	if i < 0 {
		s.t.Fatalf("scimtest: no user %q", userName)
	}
	return i
}

// AddGroup adds a group whose members are the users named.
func (s *Server) AddGroup(displayName string, memberUserNames ...string) {
	s.t.Helper()
	id := s.newID("g")
	s.dir.mu.Lock()
	defer s.dir.mu.Unlock()
	if s.dir.groupIndex(displayName) >= 0 {
		s.t.Fatalf("scimtest: AddGroup: group %q already exists", displayName)
	}
	members, err := s.dir.memberIDs(memberUserNames)
	if err != nil {
		s.t.Fatal(err)
	}
	s.dir.groups = append(s.dir.groups, group{id: id, displayName: displayName, members: members})
}

// SetGroupMembers replaces the members of the group displayName with the
// users named.
func (s *Server) SetGroupMembers(displayName string, memberUserNames ...string) {
	s.t.Helper()
	s.dir.mu.Lock()
	defer s.dir.mu.Unlock()
	i := s.dir.groupIndex(displayName)
	if i < 0 {
		s.t.Fatalf("scimtest: no group %q", displayName)
	}
	members, err := s.dir.memberIDs(memberUserNames)
	if err != nil {
		s.t.Fatal(err)
	}
	s.dir.groups[i].members = members
}
