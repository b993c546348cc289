package broker_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/failsmall/breakglass/broker"
	"github.com/failsmall/breakglass/internal/brokertest"
	"github.com/failsmall/breakglass/token"
)

// appendFails is a real store whose audit appends fail, as on a full disk:
// it refuses every change that appends to the log.
type appendFails struct{ broker.Store }

func (s appendFails) Commit(ctx context.Context, ch *broker.Change) error {
	if len(ch.Audit) > 0 {
		return fmt.Errorf("%w: disk I/O error", broker.ErrAuditUnavailable)
	}
	return s.Store.Commit(ctx, ch)
}

func TestRotateKeyAudited(t *testing.T) {
	e := brokertest.New(t, testPolicy, "")
	old := e.Keys.CurrentKID()
	rot, err := e.Svc.RotateKey(context.Background(), token.Stager{Keyring: e.Keys}, "operator")
	if err != nil {
		t.Fatal(err)
	}
	if rot.Old != old || rot.New == old || e.Keys.CurrentKID() != rot.New {
		t.Fatalf("rotation %+v, current %s; want from %s to the current key", rot, e.Keys.CurrentKID(), old)
	}
	if _, err := e.DB.AuditIndex(context.Background(), broker.EventKeyRotated, rot.New); err != nil {
		t.Errorf("no key.rotated entry for %s: %v", rot.New, err)
	}
}

// TestRotateKeyFailedAppend: when the key.rotated entry cannot be
// committed, the staged key is discarded and the old key stays current, in
// this process and on disk.
func TestRotateKeyFailedAppend(t *testing.T) {
	for _, tc := range []struct {
		name  string
		store func(e *brokertest.Env) broker.Store
	}{
		{"append fails", func(e *brokertest.Env) broker.Store { return appendFails{e.DB} }},
		{"database closed", func(e *brokertest.Env) broker.Store { e.DB.Close(); return e.DB }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := brokertest.New(t, testPolicy, "")
			old := e.Keys.CurrentKID()
			svc, err := broker.New(broker.Config{Name: brokertest.Name, Store: tc.store(e), Minter: token.Minter{Keyring: e.Keys}, Clock: e.Clock})
			if err != nil {
				t.Fatal(err)
			}
			rot, err := svc.RotateKey(context.Background(), token.Stager{Keyring: e.Keys}, "operator")
			if err == nil || !strings.Contains(err.Error(), old+" stays the signing key") {
				t.Fatalf("RotateKey = %+v, %v with a failing store; want an error saying %s stays", rot, err, old)
			}
			if e.Keys.CurrentKID() != old {
				t.Errorf("current key %s after a failed rotation, want %s still", e.Keys.CurrentKID(), old)
			}
			disk, err := token.OpenKeyring(filepath.Join(e.Dir, "keys"), 0, nil)
			if err != nil {
				t.Fatal(err)
			}
			if disk.CurrentKID() != old || len(disk.Keys()) != 1 {
				t.Errorf("on disk: current %s of %d keys, want %s alone", disk.CurrentKID(), len(disk.Keys()), old)
			}
			if left, _ := filepath.Glob(filepath.Join(e.Dir, "keys", ".tmp-*")); len(left) != 0 {
				t.Errorf("staged key files left: %v", left)
			}
		})
	}
}
