package sqlite_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/failsmall/breakglass/broker"
	"github.com/failsmall/breakglass/sqlite"
)

func bundleRow(serial uint64, hex byte) *broker.StoredBundle {
	return &broker.StoredBundle{Hash: "sha256:" + strings.Repeat(string(hex), 64), Serial: serial,
		Created: t0.Add(-1e9), Raw: []byte("bundle " + string(hex)), Activated: t0, Source: "test"}
}

func TestBundles(t *testing.T) {
	db := newDB(t)
	mustUpdate(t, db, func(tx *sqlite.Tx) error { return tx.InsertBundle(bundleRow(1, 'a')) })
	mustUpdate(t, db, func(tx *sqlite.Tx) error { return tx.InsertBundle(bundleRow(3, 'b')) })
	for _, tt := range []struct {
		name string
		b    *broker.StoredBundle
		want error
	}{
		{"same hash", bundleRow(4, 'a'), broker.ErrConflict},
		{"serial not higher", bundleRow(2, 'c'), broker.ErrConflict},
		{"same serial", bundleRow(3, 'c'), broker.ErrConflict},
		{"bad hash", &broker.StoredBundle{Hash: "md5:x", Serial: 9, Created: t0, Activated: t0, Raw: []byte("x")}, nil},
		{"no serial", &broker.StoredBundle{Hash: bundleRow(0, 'd').Hash, Created: t0, Activated: t0}, broker.ErrInvalid},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := db.Update(t.Context(), func(tx *sqlite.Tx) error { return tx.InsertBundle(tt.b) })
			if err == nil || (tt.want != nil && !errors.Is(err, tt.want)) {
				t.Fatalf("InsertBundle = %v, want %v", err, tt.want)
			}
		})
	}
	var got []*broker.StoredBundle
	var one *broker.StoredBundle
	err := db.View(t.Context(), func(tx broker.Tx) error {
		var err error
		if got, err = tx.LatestBundles(5); err != nil {
			return err
		}
		if _, err := tx.Bundle("sha256:" + strings.Repeat("f", 64)); !errors.Is(err, broker.ErrNotFound) {
			t.Errorf("unknown bundle = %v, want ErrNotFound", err)
		}
		one, err = tx.Bundle(bundleRow(1, 'a').Hash)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Serial != 3 || got[1].Serial != 1 {
		t.Fatalf("LatestBundles = %d rows, first serial %d", len(got), got[0].Serial)
	}
	if got[0].Raw != nil || got[0].Hash != bundleRow(3, 'b').Hash {
		t.Fatalf("LatestBundles read the bundle file (%d bytes) or lost the hash %q", len(got[0].Raw), got[0].Hash)
	}
	if want := bundleRow(1, 'a'); !reflect.DeepEqual(one, want) {
		t.Fatalf("Bundle round trip = %+v, want %+v", one, want)
	}
}

func TestDirectories(t *testing.T) {
	db := newDB(t)
	mustUpdate(t, db, func(tx *sqlite.Tx) error {
		return tx.SetDirectory("scim", json.RawMessage(`{"disabled":{"bob":"x"}}`), t0)
	})
	mustUpdate(t, db, func(tx *sqlite.Tx) error { return tx.SetDirectory("scim", json.RawMessage(`{}`), t0) })
	if err := db.Update(t.Context(), func(tx *sqlite.Tx) error { return tx.SetDirectory("scim", json.RawMessage(`{`), t0) }); !errors.Is(err, broker.ErrInvalid) {
		t.Fatalf("bad JSON = %v", err)
	}
	err := db.View(t.Context(), func(tx broker.Tx) error {
		m, err := tx.Directories()
		if err == nil && (len(m) != 1 || string(m["scim"]) != `{}`) {
			t.Errorf("Directories = %s", m)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}
