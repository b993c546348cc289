package sqlite_test

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/failsmall/breakglass/broker"
	"github.com/failsmall/breakglass/sqlite"
)

func TestRequestRoundTrip(t *testing.T) {
	db := newDB(t)
	want := newRequest("r1", t0)
	insertRequests(t, db, want)
	mustView(t, db, func(tx *sqlite.Tx) error {
		got, err := tx.Request("r1")
		if err != nil {
			return err
		}
		checkEqual(t, "Request", got, want)
		return nil
	})
}

func TestRequestEmptyBlobsAndFalse(t *testing.T) {
	db := newDB(t)
	want := newRequest("r1", t0)
	want.Statement, want.RequestStatement, want.RequestSignature, want.Drill = nil, nil, nil, false
	want.Reason, want.Incident = "", ""
	insertRequests(t, db, want)
	mustView(t, db, func(tx *sqlite.Tx) error {
		got, err := tx.Request("r1")
		checkEqual(t, "Request", got, want)
		return err
	})
}

func TestInsertRequestErrors(t *testing.T) {
	db := newDB(t)
	insertRequests(t, db, newRequest("r1", t0))
	for _, tc := range []struct {
		name string
		r    func() *broker.Request
		want error
	}{
		{"duplicate id", func() *broker.Request { return newRequest("r1", t0) }, broker.ErrConflict},
		{"unknown state", func() *broker.Request { r := newRequest("r2", t0); r.State = "limbo"; return r }, broker.ErrInvalid},
		{"zero created", func() *broker.Request { r := newRequest("r2", t0); r.Created = time.Time{}; return r }, broker.ErrInvalid},
		{"year 3000", func() *broker.Request {
			r := newRequest("r2", t0)
			r.Expires = time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)
			return r
		}, broker.ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := db.Update(t.Context(), func(tx *sqlite.Tx) error { return tx.InsertRequest(tc.r()) })
			if !errors.Is(err, tc.want) {
				t.Errorf("InsertRequest: got %v, want %v", err, tc.want)
			}
		})
	}
}

func TestRequestNotFound(t *testing.T) {
	db := newDB(t)
	err := db.View(t.Context(), func(tx broker.Tx) error { _, err := tx.Request("nope"); return err })
	if !errors.Is(err, broker.ErrNotFound) {
		t.Errorf("Request(nope): got %v, want ErrNotFound", err)
	}
}

func TestRequestsFilterAndOrder(t *testing.T) {
	db := newDB(t)
	a := newRequest("a", t0)
	b := newRequest("b", t0.Add(time.Minute))
	b.Requester = "bob"
	c := newRequest("c", t0.Add(2*time.Minute))
	c.State = broker.StateDenied
	d := newRequest("d", t0.Add(3*time.Minute))
	d.Requester, d.Role = "mallory", "db-read"
	insertRequests(t, db, a, b, c, d)
	for _, tc := range []struct {
		name string
		f    broker.RequestFilter
		want []*broker.Request
	}{
		{"all, newest first", broker.RequestFilter{}, []*broker.Request{d, c, b, a}},
		{"state", broker.RequestFilter{State: broker.StatePending}, []*broker.Request{d, b, a}},
		{"requester", broker.RequestFilter{Requester: "alice"}, []*broker.Request{c, a}},
		{"both", broker.RequestFilter{State: broker.StatePending, Requester: "alice"}, []*broker.Request{a}},
		{"limit", broker.RequestFilter{Limit: 2}, []*broker.Request{d, c}},
		{"none", broker.RequestFilter{Requester: "nobody"}, nil},
		{"visible: own only", broker.RequestFilter{VisibleTo: &broker.Visibility{Requester: "mallory"}}, []*broker.Request{d}},
		{"visible: own and a role", broker.RequestFilter{VisibleTo: &broker.Visibility{Requester: "bob", Roles: []string{"db-read"}}},
			[]*broker.Request{d, b}},
		{"visible: roles, with state", broker.RequestFilter{State: broker.StatePending,
			VisibleTo: &broker.Visibility{Requester: "carol", Roles: []string{"prod-ssh-root", "db-read"}}}, []*broker.Request{d, b, a}},
		{"visible: nothing", broker.RequestFilter{VisibleTo: &broker.Visibility{Requester: "carol"}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mustView(t, db, func(tx *sqlite.Tx) error {
				got, err := tx.Requests(tc.f)
				checkEqual(t, "Requests", got, tc.want)
				return err
			})
		})
	}
}

func TestSetRequestState(t *testing.T) {
	db := newDB(t)
	r := newRequest("r1", t0)
	insertRequests(t, db, r)
	at := t0.Add(5 * time.Minute)
	mustUpdate(t, db, func(tx *sqlite.Tx) error {
		return tx.SetRequestState("r1", broker.StatePending, broker.StateApproved, at)
	})
	r.State, r.Updated = broker.StateApproved, at
	mustView(t, db, func(tx *sqlite.Tx) error {
		got, err := tx.Request("r1")
		checkEqual(t, "Request after SetRequestState", got, r)
		return err
	})
	for _, tc := range []struct {
		name     string
		id       string
		from, to broker.State
		want     error
	}{
		{"wrong from", "r1", broker.StatePending, broker.StateIssued, broker.ErrConflict},
		{"missing", "nope", broker.StatePending, broker.StateIssued, broker.ErrNotFound},
		{"bad to", "r1", broker.StateApproved, "limbo", broker.ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := db.Update(t.Context(), func(tx *sqlite.Tx) error { return tx.SetRequestState(tc.id, tc.from, tc.to, at) })
			if !errors.Is(err, tc.want) {
				t.Errorf("SetRequestState: got %v, want %v", err, tc.want)
			}
		})
	}
}

func TestDueRequests(t *testing.T) {
	db := newDB(t)
	early := newRequest("early", t0) // expires t0+1h
	late := newRequest("late", t0.Add(time.Hour))
	done := newRequest("done", t0)
	done.State = broker.StateIssued
	exact := newRequest("exact", t0.Add(-time.Minute)) // expires t0+59m
	insertRequests(t, db, early, late, done, exact)
	mustView(t, db, func(tx *sqlite.Tx) error {
		got, err := tx.DueRequests(t0.Add(time.Hour), 0)
		checkEqual(t, "DueRequests", got, []*broker.Request{exact, early})
		if err != nil {
			return err
		}
		got, err = tx.DueRequests(t0.Add(time.Hour), 1)
		checkEqual(t, "DueRequests limit 1", got, []*broker.Request{exact})
		return err
	})
}

func TestCountByState(t *testing.T) {
	db := newDB(t)
	a, b, c := newRequest("a", t0), newRequest("b", t0), newRequest("c", t0)
	c.State = broker.StateRevoked
	insertRequests(t, db, a, b, c)
	mustView(t, db, func(tx *sqlite.Tx) error {
		got, err := tx.CountByState()
		checkEqual(t, "CountByState", got, map[broker.State]int{broker.StatePending: 2, broker.StateRevoked: 1})
		return err
	})
}

// TestSupersedeRequest: a pending request moves to superseded with the
// bundle that superseded it; any other state is a conflict.
func TestSupersedeRequest(t *testing.T) {
	db := newDB(t)
	a, b := newRequest("a", t0), newRequest("b", t0)
	b.State = broker.StateDenied
	insertRequests(t, db, a, b)
	mustUpdate(t, db, func(tx *sqlite.Tx) error { return tx.SupersedeRequest("a", "sha256:feed", t0.Add(time.Minute)) })
	mustView(t, db, func(tx *sqlite.Tx) error {
		r, err := tx.Request("a")
		if err == nil && (r.State != broker.StateSuperseded || r.SupersededBy != "sha256:feed" || !r.Updated.Equal(t0.Add(time.Minute))) {
			t.Errorf("superseded request = state %s by %q updated %s", r.State, r.SupersededBy, r.Updated)
		}
		return err
	})
	for id, want := range map[string]error{"a": broker.ErrConflict, "b": broker.ErrConflict, "nope": broker.ErrNotFound} {
		if err := db.Update(t.Context(), func(tx *sqlite.Tx) error { return tx.SupersedeRequest(id, "sha256:feed", t0) }); !errors.Is(err, want) {
			t.Errorf("supersede %s: %v, want %v", id, err, want)
		}
	}
}

// TestSupersededMigration: a database from before migration 0007 keeps its
// requests and takes the superseded state after it.
func TestSupersededMigration(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bg.db")
	db := mustOpen(t, path)
	insertRequests(t, db, newRequest("a", t0))
	db.Close()
	rawExecAll(t, path, undoSuperseded...)
	var schema string
	if err := rawDB(t, path).QueryRow(`SELECT sql FROM sqlite_schema WHERE name = 'requests'`).Scan(&schema); err != nil || strings.Contains(schema, "superseded") {
		t.Fatalf("the undone schema: %v, %s", err, schema)
	}
	db = mustOpen(t, path)
	mustUpdate(t, db, func(tx *sqlite.Tx) error { return tx.SupersedeRequest("a", "sha256:feed", t0) })
	if err := rawDB(t, path).QueryRow(`SELECT sql FROM sqlite_schema WHERE name = 'requests'`).Scan(&schema); err != nil || strings.Count(schema, "'superseded'") != 1 {
		t.Errorf("the migrated schema: %v, %s", err, schema)
	}
	var ok string
	if err := rawDB(t, path).QueryRow(`PRAGMA integrity_check`).Scan(&ok); err != nil || ok != "ok" {
		t.Errorf("integrity_check: %q, %v", ok, err)
	}
}
