package upstream

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/failsmall/breakglass/policy"
)

// Limits on what a SCIM service provider may answer: past them the
// answer is garbage, not a directory.
const (
	// MaxSCIMResponse is the largest ListResponse page, in bytes.
	MaxSCIMResponse = 16 << 20
	// MaxSCIMResources is the largest totalResults of a listing.
	MaxSCIMResources = 100_000
	// MaxSCIMPages is the most pages one listing may take.
	MaxSCIMPages = 1000
	// SCIMPageSize is the count asked for on each page; the provider may
	// answer fewer.
	SCIMPageSize = 100
)

// scimListResponse is the URN of a SCIM ListResponse (RFC 7644 3.4.2).
const scimListResponse = "urn:ietf:params:scim:api:messages:2.0:ListResponse"

// SCIMSource reads users and groups from a SCIM 2.0 service provider
// (RFC 7643, RFC 7644). It only reads. Do not copy it after its first
// Fetch.
type SCIMSource struct {
	// URL is the base, e.g. https://idp.example/scim/v2; /Users and
	// /Groups are appended.
	URL string
	// Token, when set, is sent as "Authorization: Bearer <Token>".
	Token string
	// Client is the HTTP client; nil means DefaultClient's settings.
	Client *http.Client

	once   sync.Once
	client *http.Client
}

// Name returns the URL, never the token.
func (s *SCIMSource) Name() string { return s.URL }

// Directory is a snapshot of a SCIM service provider.
type Directory struct {
	Users  []SCIMUser
	Groups []SCIMGroup
}

// SCIMUser is a SCIM User resource, reduced to what restricts a policy.
type SCIMUser struct {
	ID, UserName, ExternalID string
	// Active is the active attribute; a user without one counts as
	// active, since a directory can only take away.
	Active bool
}

// SCIMGroup is a SCIM Group resource.
type SCIMGroup struct {
	ID, DisplayName string
	// Members are the members' values: user ids, or group ids for nested
	// groups.
	Members []string
}

// Fetch lists /Users then /Groups, page by page (startIndex, count), and
// returns the directory. It fails, naming the URL, on a non-200 status, a
// page over MaxSCIMResponse (ErrTooLarge), anything that is not a
// ListResponse, a totalResults over MaxSCIMResources or changing between
// pages, a page that is empty, overlong or starts elsewhere than asked,
// more than MaxSCIMPages pages, a user without id or userName, a group
// without id or displayName, a member without value, and duplicate ids or
// userNames.
func (s *SCIMSource) Fetch(ctx context.Context) (*Directory, error) {
	base, err := parseUpstreamURL(s.URL)
	if err != nil {
		return nil, fmt.Errorf("SCIM source: %w", err)
	}
	s.once.Do(func() {
		s.client = s.Client
		if s.client == nil {
			s.client = DefaultClient()
		}
	})
	l := lister{ctx: ctx, client: s.client, base: strings.TrimSuffix(base, "/"), header: http.Header{"Accept": {"application/scim+json"}}}
	if s.Token != "" {
		l.header.Set("Authorization", "Bearer "+s.Token)
	}
	b := builder{seen: map[string]bool{}}
	if err := l.list("Users", b.addUser); err != nil {
		return nil, err
	}
	if err := l.list("Groups", b.addGroup); err != nil {
		return nil, err
	}
	return &b.d, nil
}

// lister pages through one SCIM endpoint.
type lister struct {
	ctx    context.Context
	client *http.Client
	base   string
	header http.Header
}

// page is a ListResponse; pointers tell an absent attribute from a zero.
// encoding/json matches names case-insensitively, as SCIM wants (RFC 7643
// section 2.1).
type page struct {
	Schemas      []string          `json:"schemas"`
	TotalResults *int              `json:"totalResults"`
	StartIndex   *int              `json:"startIndex"`
	Resources    []json.RawMessage `json:"Resources"`
}

// list calls each with every resource of endpoint, in order.
func (l *lister) list(endpoint string, each func(json.RawMessage) error) error {
	total, got := -1, 0
	for n := 1; total < 0 || got < total; n++ {
		url := fmt.Sprintf("%s/%s?startIndex=%d&count=%d", l.base, endpoint, got+1, SCIMPageSize)
		if n > MaxSCIMPages {
			return fmt.Errorf("GET %s: more than %d pages; refusing the listing", url, MaxSCIMPages)
		}
		body, err := httpGet(l.ctx, l.client, url, l.header, MaxSCIMResponse)
		if err != nil {
			return err
		}
		p, err := parsePage(body, got+1, total)
		if err != nil {
			return fmt.Errorf("GET %s: %w", url, err)
		}
		total = *p.TotalResults
		if got+len(p.Resources) > total {
			return fmt.Errorf("GET %s: %d resources past the %d already listed exceed totalResults %d", url, len(p.Resources), got, total)
		}
		for i, raw := range p.Resources {
			if err := each(raw); err != nil {
				return fmt.Errorf("GET %s: resource %d: %w", url, got+1+i, err)
			}
		}
		got += len(p.Resources)
	}
	return nil
}

// parsePage decodes and checks one page asked from startIndex, given the
// total of the previous pages (-1 on the first).
func parsePage(body []byte, startIndex, total int) (*page, error) {
	var p page
	if err := json.Unmarshal(body, &p); err != nil {
		return nil, fmt.Errorf("not a SCIM ListResponse: %w", err)
	}
	switch {
	case !slices.Contains(p.Schemas, scimListResponse):
		return nil, fmt.Errorf("not a SCIM ListResponse: schemas %.200q lack %s", p.Schemas, scimListResponse)
	case p.TotalResults == nil:
		return nil, fmt.Errorf("ListResponse without totalResults")
	case *p.TotalResults < 0 || *p.TotalResults > MaxSCIMResources:
		return nil, fmt.Errorf("absurd totalResults %d: want 0 to %d", *p.TotalResults, MaxSCIMResources)
	case total >= 0 && *p.TotalResults != total:
		return nil, fmt.Errorf("totalResults changed from %d to %d while paging (the directory changed?); try again", total, *p.TotalResults)
	case p.StartIndex != nil && *p.StartIndex != startIndex:
		return nil, fmt.Errorf("startIndex %d, want the %d asked for", *p.StartIndex, startIndex)
	case len(p.Resources) > SCIMPageSize:
		return nil, fmt.Errorf("%d resources, more than the count %d asked for", len(p.Resources), SCIMPageSize)
	case len(p.Resources) == 0 && startIndex <= *p.TotalResults:
		return nil, fmt.Errorf("no resources from startIndex %d though totalResults is %d", startIndex, *p.TotalResults)
	}
	return &p, nil
}

// builder collects a Directory, refusing duplicates.
type builder struct {
	d    Directory
	seen map[string]bool // "user id " + id, "userName " + lower-case userName, "group id " + id
}

// once reports whether key is new, and remembers it.
func (b *builder) once(key string) bool {
	if b.seen[key] {
		return false
	}
	b.seen[key] = true
	return true
}

func (b *builder) addUser(raw json.RawMessage) error {
	var u struct {
		ID         string `json:"id"`
		UserName   string `json:"userName"`
		ExternalID string `json:"externalId"`
		Active     *bool  `json:"active"`
	}
	if err := json.Unmarshal(raw, &u); err != nil {
		return fmt.Errorf("not a SCIM User: %w", err)
	}
	switch {
	case u.ID == "":
		return fmt.Errorf("user %.100q without id", u.UserName)
	case u.UserName == "":
		return fmt.Errorf("user id %.100q without userName", u.ID)
	case !b.once("user id " + u.ID):
		return fmt.Errorf("user id %.100q listed twice", u.ID)
	case !b.once("userName " + strings.ToLower(u.UserName)):
		return fmt.Errorf("userName %.100q listed twice (userName is unique regardless of case)", u.UserName)
	}
	b.d.Users = append(b.d.Users, SCIMUser{ID: u.ID, UserName: u.UserName, ExternalID: u.ExternalID, Active: u.Active == nil || *u.Active})
	return nil
}

func (b *builder) addGroup(raw json.RawMessage) error {
	var g struct {
		ID          string `json:"id"`
		DisplayName string `json:"displayName"`
		Members     []struct {
			Value string `json:"value"`
		} `json:"members"`
	}
	if err := json.Unmarshal(raw, &g); err != nil {
		return fmt.Errorf("not a SCIM Group: %w", err)
	}
	switch {
	case g.ID == "":
		return fmt.Errorf("group %.100q without id", g.DisplayName)
	case g.DisplayName == "":
		return fmt.Errorf("group id %.100q without displayName", g.ID)
	case !b.once("group id " + g.ID):
		return fmt.Errorf("group id %.100q listed twice", g.ID)
	}
	sg := SCIMGroup{ID: g.ID, DisplayName: g.DisplayName, Members: make([]string, 0, len(g.Members))}
	for i, m := range g.Members {
		if m.Value == "" {
			return fmt.Errorf("group %.100q: members[%d] without value", g.DisplayName, i)
		}
		sg.Members = append(sg.Members, m.Value)
	}
	b.d.Groups = append(b.d.Groups, sg)
	return nil
}

// Restrictions computes what directory d takes away from policy p. It only
// takes away, never adds:
//   - a principal whose SCIM user has active=false is disabled;
//   - a SCIM group whose displayName is a policy group's name and that
//     does not list a principal the policy puts in that group removes the
//     principal from it. Nested groups count (a member of a member group is
//     listed), and several SCIM groups of one name are one.
//
// A principal's SCIM user is the one whose userName is the principal's id,
// else those whose userName equals it regardless of case (RFC 7643 makes
// userName case-insensitive), else those whose externalId is the id; with
// several, any inactive one disables and any listed one keeps the group.
// SCIM users and groups the policy does not name change nothing. Principals
// without a SCIM user change nothing either; they are returned, in policy
// order, as missing. Both maps of the Restriction are non-nil.
func Restrictions(p *policy.Policy, d *Directory) (policy.Restriction, []string) {
	r := policy.Restriction{Disabled: map[string]string{}, RemovedFrom: map[string][]string{}}
	idx := newDirectoryIndex(d)
	var missing []string
	for _, pr := range p.Principals {
		users := idx.usersFor(pr.ID)
		if len(users) == 0 {
			missing = append(missing, pr.ID)
			continue
		}
		if u := slices.IndexFunc(users, func(u *SCIMUser) bool { return !u.Active }); u >= 0 {
			r.Disabled[pr.ID] = fmt.Sprintf("SCIM user %q (id %s) is not active", users[u].UserName, users[u].ID)
		}
		for _, g := range pr.Groups {
			members, ok := idx.groupMembers(g)
			if ok && !slices.ContainsFunc(users, func(u *SCIMUser) bool { return members[u.ID] }) {
				r.RemovedFrom[pr.ID] = append(r.RemovedFrom[pr.ID], g)
			}
		}
	}
	return r, missing
}

// directoryIndex looks a Directory up by the keys Restrictions matches.
type directoryIndex struct {
	byName  map[string]*SCIMUser
	byLower map[string][]*SCIMUser
	byExt   map[string][]*SCIMUser
	groups  map[string]*SCIMGroup   // by id
	named   map[string][]*SCIMGroup // by displayName
	members map[string]map[string]bool
}

func newDirectoryIndex(d *Directory) *directoryIndex {
	x := &directoryIndex{members: map[string]map[string]bool{}, byName: map[string]*SCIMUser{}, byLower: map[string][]*SCIMUser{},
		byExt: map[string][]*SCIMUser{}, groups: map[string]*SCIMGroup{}, named: map[string][]*SCIMGroup{}}
	for i := range d.Users {
		u := &d.Users[i]
		x.byName[u.UserName] = u
		x.byLower[strings.ToLower(u.UserName)] = append(x.byLower[strings.ToLower(u.UserName)], u)
		if u.ExternalID != "" {
			x.byExt[u.ExternalID] = append(x.byExt[u.ExternalID], u)
		}
	}
	for i := range d.Groups {
		g := &d.Groups[i]
		x.groups[g.ID] = g
		x.named[g.DisplayName] = append(x.named[g.DisplayName], g)
	}
	return x
}

func (x *directoryIndex) usersFor(id string) []*SCIMUser {
	if u, ok := x.byName[id]; ok {
		return []*SCIMUser{u}
	}
	if us := x.byLower[strings.ToLower(id)]; len(us) > 0 {
		return us
	}
	return x.byExt[id]
}

// groupMembers returns the member ids of the groups named name, nested
// groups expanded; false when no SCIM group has that name.
func (x *directoryIndex) groupMembers(name string) (map[string]bool, bool) {
	gs := x.named[name]
	if len(gs) == 0 {
		return nil, false
	}
	if m, ok := x.members[name]; ok {
		return m, true
	}
	members, seen := map[string]bool{}, map[string]bool{}
	var walk func(g *SCIMGroup)
	walk = func(g *SCIMGroup) {
		if seen[g.ID] {
			return
		}
		seen[g.ID] = true
		for _, m := range g.Members {
			members[m] = true
			if nested, ok := x.groups[m]; ok {
				walk(nested)
			}
		}
	}
	for _, g := range gs {
		walk(g)
	}
	x.members[name] = members
	return members, true
}
