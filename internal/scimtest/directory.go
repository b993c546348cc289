package scimtest

import (
	"fmt"
	"net/http"
	"slices"
	"sync"

	"github.com/elimity-com/scim"
	scimerrors "github.com/elimity-com/scim/errors"
	"github.com/elimity-com/scim/optional"
)

// directory is the server's data: users and groups in insertion order,
// which is the order GET /Users and GET /Groups list them in.
type directory struct {
	mu     sync.Mutex
	users  []user
	groups []group
}

type user struct {
	id, userName, externalID string
	active                   bool
}

type group struct {
	id, displayName string
	members         []string // user ids
}

func (d *directory) userIndex(userName string) int {
	return slices.IndexFunc(d.users, func(u user) bool { return u.userName == userName })
}

func (d *directory) groupIndex(displayName string) int {
	return slices.IndexFunc(d.groups, func(g group) bool { return g.displayName == displayName })
}

// memberIDs resolves user names to user ids.
func (d *directory) memberIDs(userNames []string) ([]string, error) {
	ids := make([]string, 0, len(userNames))
	for _, n := range userNames {
		i := d.userIndex(n)
		if i < 0 {
			return nil, fmt.Errorf("scimtest: group member %q is no user of the directory; AddUser first", n)
		}
		ids = append(ids, d.users[i].id)
	}
	return ids, nil
}

func (u user) resource() scim.Resource {
	r := scim.Resource{ID: u.id, Attributes: scim.ResourceAttributes{"userName": u.userName, "active": u.active}}
	if u.externalID != "" {
		r.ExternalID = optional.NewString(u.externalID)
	}
	return r
}

func (d *directory) groupResource(g group) scim.Resource {
	members := make([]any, 0, len(g.members))
	for _, id := range g.members {
		m := map[string]any{"value": id, "type": "User"}
		if i := slices.IndexFunc(d.users, func(u user) bool { return u.id == id }); i >= 0 {
			m["display"] = d.users[i].userName
		}
		members = append(members, m)
	}
	return scim.Resource{ID: g.id, Attributes: scim.ResourceAttributes{"displayName": g.displayName, "members": members}}
}

// page returns the resources from the 1-based params.StartIndex, at most
// params.Count of them, after params' filter.
func page(all []scim.Resource, params scim.ListRequestParams) (scim.Page, error) {
	if params.FilterValidator != nil {
		all = slices.DeleteFunc(all, func(r scim.Resource) bool {
			attrs := scim.ResourceAttributes{"id": r.ID}
			for k, v := range r.Attributes {
				attrs[k] = v
			}
			return params.FilterValidator.PassesFilter(attrs) != nil
		})
	}
	p := scim.Page{TotalResults: len(all), Resources: []scim.Resource{}}
	start := min(params.StartIndex-1, len(all))
	end := min(start+max(params.Count, 0), len(all))
	p.Resources = append(p.Resources, all[start:end]...)
	return p, nil
}

// readOnly refuses every write: tests change the directory through
// Server's methods, as an identity provider's admin would.
type readOnly struct{}

func errReadOnly() error {
	return scimerrors.ScimError{Status: http.StatusNotImplemented, Detail: "scimtest is read-only over HTTP: use the Server's methods"}
}

func (readOnly) Create(*http.Request, scim.ResourceAttributes) (scim.Resource, error) {
	return scim.Resource{}, errReadOnly()
}

func (readOnly) Replace(*http.Request, string, scim.ResourceAttributes) (scim.Resource, error) {
	return scim.Resource{}, errReadOnly()
}

func (readOnly) Delete(*http.Request, string) error { return errReadOnly() }

func (readOnly) Patch(*http.Request, string, []scim.PatchOperation) (scim.Resource, error) {
	return scim.Resource{}, errReadOnly()
}

// users serves /Users.
type users struct {
	readOnly
	d *directory
}

func (h users) Get(_ *http.Request, id string) (scim.Resource, error) {
	h.d.mu.Lock()
	defer h.d.mu.Unlock()
	for _, u := range h.d.users {
		if u.id == id {
			return u.resource(), nil
		}
	}
	return scim.Resource{}, scimerrors.ScimErrorResourceNotFound(id)
}

func (h users) GetAll(_ *http.Request, params scim.ListRequestParams) (scim.Page, error) {
	h.d.mu.Lock()
	defer h.d.mu.Unlock()
	all := make([]scim.Resource, 0, len(h.d.users))
	for _, u := range h.d.users {
		all = append(all, u.resource())
	}
	return page(all, params)
}

// groups serves /Groups.
type groups struct {
	readOnly
	d *directory
}

func (h groups) Get(_ *http.Request, id string) (scim.Resource, error) {
	h.d.mu.Lock()
	defer h.d.mu.Unlock()
	for _, g := range h.d.groups {
		if g.id == id {
			return h.d.groupResource(g), nil
		}
	}
	return scim.Resource{}, scimerrors.ScimErrorResourceNotFound(id)
}

func (h groups) GetAll(_ *http.Request, params scim.ListRequestParams) (scim.Page, error) {
	h.d.mu.Lock()
	defer h.d.mu.Unlock()
	all := make([]scim.Resource, 0, len(h.d.groups))
	for _, g := range h.d.groups {
		all = append(all, h.d.groupResource(g))
	}
	return page(all, params)
}
