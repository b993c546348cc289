package sqlite_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/failsmall/breakglass/broker"
	"github.com/failsmall/breakglass/sqlite"
)

// t0 has nanoseconds so that a round trip that lost precision shows.
var t0 = time.Date(2026, 11, 25, 21, 0, 0, 123456789, time.UTC)

// newDB opens a fresh database in t's temporary directory.
func newDB(t testing.TB) *sqlite.DB {
	t.Helper()
	return mustOpen(t, filepath.Join(t.TempDir(), "breakglass.db"))
}

func mustOpen(t testing.TB, path string) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(path, sqlite.Options{})
	if err != nil {
		t.Fatalf("Open(%q): %v", path, err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return db
}

func mustUpdate(t testing.TB, db *sqlite.DB, fn func(*sqlite.Tx) error) {
	t.Helper()
	if err := db.Update(context.Background(), fn); err != nil {
		t.Fatalf("Update: %v", err)
	}
}

func mustView(t testing.TB, db *sqlite.DB, fn func(*sqlite.Tx) error) {
	t.Helper()
	if err := db.View(context.Background(), func(tx broker.Tx) error { return fn(tx.(*sqlite.Tx)) }); err != nil {
		t.Fatalf("View: %v", err)
	}
}

// newRequest returns a request with every field set.
func newRequest(id string, created time.Time) *broker.Request {
	return &broker.Request{
		ID:               id,
		Role:             "prod-ssh-root",
		Requester:        "alice",
		Reason:           "disk full on db-7, need root to clear",
		Incident:         "INC-4812",
		Duration:         30 * time.Minute,
		Created:          created,
		Expires:          created.Add(time.Hour),
		State:            broker.StatePending,
		Updated:          created.Add(time.Second),
		PolicyHash:       "sha256:4be1",
		Statement:        []byte("breakglass approval v1\nrequest: " + id + "\n"),
		StatementDigest:  "sha256:abcd",
		RequestStatement: []byte("breakglass request v1\nrequest: " + id + "\n"),
		RequestSignature: []byte("-----BEGIN SSH SIGNATURE-----\n" + id),
		Drill:            true,
	}
}

func newApproval(requestID, approver string, kind broker.Kind, created time.Time) *broker.Approval {
	return &broker.Approval{
		RequestID:      requestID,
		Approver:       approver,
		Kind:           kind,
		Statement:      []byte("breakglass " + string(kind) + " v1\n"),
		Signature:      []byte("sig by " + approver),
		KeyFingerprint: "SHA256:" + approver,
		KeyType:        "sk-ssh-ed25519@openssh.com",
		UserPresent:    true,
		UserVerified:   true,
		Counter:        4294967295,
		CounterWarning: true,
		Created:        created,
	}
}

func newGrant(id, requestID string, issued time.Time) *broker.Grant {
	return &broker.Grant{
		ID:        id,
		RequestID: requestID,
		Requester: "alice",
		Role:      "prod-ssh-root",
		Approvers: []string{"bob", "carol"},
		Issued:    issued,
		Expires:   issued.Add(30 * time.Minute),
		Token:     "eyJhbGciOiJFZERTQSJ9.e30.sig",
		KeyID:     "k1",
	}
}

func newEvent(i int) broker.Event {
	return broker.Event{
		Type:     broker.EventRequestCreated,
		Time:     t0.Add(time.Duration(i) * time.Millisecond),
		Actor:    "alice",
		Subjects: []string{fmt.Sprintf("req-%d", i)},
		Data:     json.RawMessage(fmt.Sprintf(`{"n":%d}`, i)),
	}
}

// insertRequests stores requests in one transaction.
func insertRequests(t testing.TB, db *sqlite.DB, rs ...*broker.Request) {
	t.Helper()
	mustUpdate(t, db, func(tx *sqlite.Tx) error {
		for _, r := range rs {
			if err := tx.InsertRequest(r); err != nil {
				return err
			}
		}
		return nil
	})
}

func checkEqual[T any](t testing.TB, what string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s:\n got %+v\nwant %+v", what, got, want)
	}
}
