package sqlite

import (
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/failsmall/breakglass/migrations"
)

func TestLoadMigrations(t *testing.T) {
	file := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }
	for _, tc := range []struct {
		name    string
		fs      fstest.MapFS
		want    []int
		wantErr string
	}{
		{"in order", fstest.MapFS{"0002_b.sql": file("B"), "0001_a.sql": file("A")}, []int{1, 2}, ""},
		{"none", fstest.MapFS{}, nil, ""},
		{"gap", fstest.MapFS{"0001_a.sql": file("A"), "0003_c.sql": file("C")}, nil, "want version 0002"},
		{"starts at 2", fstest.MapFS{"0002_b.sql": file("B")}, nil, "want version 0001"},
		{"bad name", fstest.MapFS{"1_init.sql": file("A")}, nil, "NNNN_name.sql"},
		{"repeat", fstest.MapFS{"0001_a.sql": file("A"), "0001_b.sql": file("B")}, nil, "want version 0002"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ms, err := loadMigrations(tc.fs)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("loadMigrations: got %v, want an error containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []int
			for _, m := range ms {
				got = append(got, m.version)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("versions: got %v, want %v", got, tc.want)
			}
		})
	}
}

// TestEmbeddedMigrations checks the shipped files load and every table is
// STRICT.
func TestEmbeddedMigrations(t *testing.T) {
	ms, err := loadMigrations(migrations.FS)
	if err != nil || len(ms) == 0 {
		t.Fatalf("loadMigrations(migrations.FS): %d files, %v", len(ms), err)
	}
	db := openInternal(t)
	rows, err := db.r.Query(`SELECT name, strict FROM pragma_table_list WHERE schema = 'main' AND type = 'table' AND name NOT LIKE 'sqlite_%'`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var name string
		var strict bool
		if err := rows.Scan(&name, &strict); err != nil {
			t.Fatal(err)
		}
		n++
		if !strict {
			t.Errorf("table %s is not STRICT", name)
		}
	}
	if n < 11 {
		t.Errorf("found %d tables, want at least 11", n)
	}
}
