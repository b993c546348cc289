// Package migrations holds the SQLite schema as numbered SQL files,
// NNNN_name.sql, applied in order by package sqlite, each in one transaction.
// A file, once released, is never edited: a change is a new file.
package migrations

import "embed"

// FS holds the migration files at its root.
//
//go:embed *.sql
var FS embed.FS
