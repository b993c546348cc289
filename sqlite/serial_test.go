package sqlite_test

import (
	"testing"

	"github.com/failsmall/breakglass/broker"
	"github.com/failsmall/breakglass/sqlite"
)

func TestNextSerial(t *testing.T) {
	db := newDB(t)
	var got []uint64
	for range 2 {
		s, err := db.NextSerial(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, s)
	}
	mustUpdate(t, db, func(tx broker.Tx) error {
		for range 2 {
			s, err := tx.(interface{ NextSerial() (uint64, error) }).NextSerial()
			if err != nil {
				return err
			}
			got = append(got, s)
		}
		return nil
	})
	checkEqual(t, "serials", got, []uint64{1, 2, 3, 4})
	db.Close()
	db = mustOpen(t, db.Path())
	s, err := db.NextSerial(t.Context())
	if s != 5 || err != nil {
		t.Errorf("NextSerial after reopen: got %d, %v; want 5", s, err)
	}
	var _ interface{ NextSerial() (uint64, error) } = (*sqlite.Tx)(nil)
}
