package sqlite

import (
	"context"
	"fmt"

	"github.com/failsmall/breakglass/broker"
)

// NextSerial returns a new SSH certificate serial, one more than the last
// handed out from this database; the first is 1. It belongs to the caller's
// transaction, so a serial is used up only if the transaction commits.
func (t *Tx) NextSerial() (uint64, error) {
	if !t.writable {
		return 0, errReadOnly
	}
	var n int64
	err := t.queryRow(`INSERT INTO serials (id, last) VALUES (1, 1)
		ON CONFLICT (id) DO UPDATE SET last = last + 1 RETURNING last`).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("sqlite: next serial: %w", err)
	}
	return uint64(n), nil
}

// NextSerial returns a new SSH certificate serial in a transaction of its
// own.
func (db *DB) NextSerial(ctx context.Context) (uint64, error) {
	var n uint64
	err := db.Update(ctx, func(tx broker.Tx) error {
		var err error
		n, err = tx.NextSerial()
		return err
	})
	return n, err
}
