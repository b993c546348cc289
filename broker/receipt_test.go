package broker_test

import (
	"context"
	"errors"
	"testing"

	"github.com/failsmall/breakglass/audit"
	"github.com/failsmall/breakglass/broker"
	"github.com/failsmall/breakglass/internal/brokertest"
	"github.com/failsmall/breakglass/sqlite"
	"github.com/failsmall/breakglass/token"
)

// entryReceipts answers a grant's receipt with its grant.issued entry read
// from a real log: the part of a receipt the broker is responsible for
// asking about (the proof and checkpoint are the audit log's).
type entryReceipts struct{ db *sqlite.DB }

func (r entryReceipts) GrantReceipt(ctx context.Context, grantID string) ([]byte, error) {
	i, err := r.db.AuditIndex(ctx, broker.EventGrantIssued, grantID)
	if err != nil {
		return nil, err
	}
	var leaf []byte
	err = r.db.AuditEntries(ctx, i, i+1, func(_ int64, b []byte) error { leaf = b; return nil })
	return leaf, err
}

// TestCredentialsCarryTheReceipt: Credentials returns the grant with the
// receipt of its own issuance, and refuses to return credentials without
// one when the log cannot prove it.
func TestCredentialsCarryTheReceipt(t *testing.T) {
	ctx := context.Background()
	e := brokertest.New(t, testPolicy, "")
	r := e.Request(t, prodInput())
	for _, who := range []string{"bob", "dave", "carol"} {
		mustApprove(t, e, who, r)
	}
	svc := func(rc broker.Receipts) *broker.Service {
		s, err := broker.New(broker.Config{Name: brokertest.Name, Store: e.DB, Minter: token.Minter{Keyring: e.Keys},
			Clock: e.Clock, Receipts: rc})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	g, err := svc(entryReceipts{e.DB}).Credentials(ctx, "alice", r.ID)
	if err != nil {
		t.Fatal(err)
	}
	entry, err := audit.ParseEntry(g.Receipt)
	if err != nil || entry.Type != broker.EventGrantIssued || len(entry.Subjects) != 2 || entry.Subjects[1] != g.ID {
		t.Fatalf("receipt %q (%v): want the grant.issued entry of grant %s", g.Receipt, err, g.ID)
	}
	other := brokertest.New(t, testPolicy, "") // a log that never issued this grant
	if g, err := svc(entryReceipts{other.DB}).Credentials(ctx, "alice", r.ID); !errors.Is(err, broker.ErrAuditUnavailable) || g != nil {
		t.Errorf("no receipt to be had: %v, %v; want ErrAuditUnavailable and no credentials", g, err)
	}
	g, err = e.Svc.Credentials(ctx, "alice", r.ID)
	if err != nil {
		t.Fatalf("a broker without Receipts: %v", err)
	}
	if g.Receipt != nil || g.Token == "" {
		t.Errorf("a broker without Receipts: receipt %q, token %q; want the credentials alone", g.Receipt, g.Token)
	}
}
