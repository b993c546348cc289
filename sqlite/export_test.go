package sqlite

import "context"

// Update runs fn in one write transaction of the group-commit writer, as
// Commit runs a change's operations; tests use it to write rows directly.
func (db *DB) Update(ctx context.Context, fn func(*Tx) error) error { return db.update(ctx, fn) }

// LogKeysForTest is testLogKeys, for the external tests.
var LogKeysForTest = testLogKeys
