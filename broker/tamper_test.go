package broker_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/failsmall/breakglass/audit"
	"github.com/failsmall/breakglass/broker"
	"github.com/failsmall/breakglass/internal/brokertest"
)

// TestEditedGrantRows (issue 10, defect 8): editing the grants table to
// un-revoke a grant, or to extend its expiry, is caught by VerifyAudit (the
// rows disagree with the grant's entries) and the broker refuses the
// grant's credentials. Before, both edits passed the audit check and the
// credentials were handed out again.
func TestEditedGrantRows(t *testing.T) {
	_, vkey, err := audit.GenerateKey(brokertest.Name)
	if err != nil {
		t.Fatal(err)
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		prepare func(e *brokertest.Env, r *broker.Request) // after the grant
		edit    []string                                   // SQL with ? for the grant id
		want    string
	}{
		{"un-revoked", func(e *brokertest.Env, r *broker.Request) { mustRevoke(t, e, "alice", r) },
			[]string{`UPDATE grants SET revoked = NULL, revoked_by = '' WHERE id = ?`,
				`UPDATE requests SET state = 'issued' WHERE id = (SELECT request_id FROM grants WHERE id = ?)`},
			"revoked is no in the database, yes in the log"},
		{"expiry extended", func(e *brokertest.Env, r *broker.Request) { e.Clock.Advance(2 * time.Hour) },
			[]string{`UPDATE grants SET expires = expires + 3600000000000 * 24 WHERE id = ?`}, "expiry is "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := brokertest.New(t, testPolicy, "")
			ctx := context.Background()
			r := e.Request(t, prodInput())
			var g *broker.Grant
			for _, who := range []string{"bob", "dave", "carol"} {
				if res := mustApprove(t, e, who, r); res.Grant != nil {
					g = res.Grant
				}
			}
			tc.prepare(e, r)
			if _, _, err := broker.VerifyAudit(ctx, e.DB, audit.VerifyOptions{Verifier: v}); err != nil {
				t.Fatalf("VerifyAudit before the edit: %v", err)
			}
			raw, err := sql.Open("sqlite3", "file:"+filepath.Join(e.Dir, "breakglass.db")+"?_busy_timeout=5000")
			if err != nil {
				t.Fatal(err)
			}
			defer raw.Close()
			for _, q := range tc.edit {
				if _, err := raw.Exec(q, g.ID); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			_, _, err = broker.VerifyAudit(ctx, e.DB, audit.VerifyOptions{Verifier: v})
			var rowErr *broker.GrantRowError
			if !errors.As(err, &rowErr) || rowErr.Grant != g.ID || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("VerifyAudit after the edit: %v, want a *GrantRowError for %s saying %q", err, g.ID, tc.want)
			}
			if _, err := e.Svc.Credentials(ctx, "alice", r.ID); !errors.Is(err, broker.ErrIntegrity) {
				t.Errorf("Credentials after the edit: %v, want ErrIntegrity", err)
			}
		})
	}
}
