package sqlite

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/mattn/go-sqlite3"

	"github.com/failsmall/breakglass/broker"
)

// InsertBundle stores an activated policy bundle; ErrConflict when its hash
// is already stored or its serial is not higher than every stored one (a
// trigger enforces it, across processes).
func (t *Tx) InsertBundle(b *broker.StoredBundle) error {
	var te timeEnc
	args := []any{b.Hash, int64(b.Serial), te.at("created", b.Created), notNil(b.Raw), te.at("activated", b.Activated), b.Source}
	if te.err != nil {
		return fmt.Errorf("sqlite: insert bundle %s: %w", b.Hash, te.err)
	}
	if b.Created.IsZero() || b.Activated.IsZero() || b.Serial == 0 || b.Serial > 1<<62 {
		return fmt.Errorf("%w: sqlite: insert bundle %s: serial, created and activated must be set", broker.ErrInvalid, b.Hash)
	}
	_, err := t.exec(`INSERT INTO bundles (hash, serial, created, raw, activated, source) VALUES (?,?,?,?,?,?)`, args...)
	switch {
	case isUnique(err):
		return fmt.Errorf("%w: bundle %s or serial %d is already stored", broker.ErrConflict, b.Hash, b.Serial)
	case isConstraint(err, sqlite3.ErrConstraintTrigger):
		return fmt.Errorf("%w: bundle serial %d: %v", broker.ErrConflict, b.Serial, err)
	case err != nil:
		return fmt.Errorf("sqlite: insert bundle %s: %w", b.Hash, err)
	}
	return nil
}

const bundleColumns = `hash, serial, created, raw, activated, source`

func scanBundle(row interface{ Scan(...any) error }) (*broker.StoredBundle, error) {
	var b broker.StoredBundle
	var serial int64
	var created, activated sql.NullInt64
	if err := row.Scan(&b.Hash, &serial, &created, &b.Raw, &activated, &b.Source); err != nil {
		return nil, err
	}
	b.Serial, b.Created, b.Activated = uint64(serial), fromNanos(created), fromNanos(activated)
	return &b, nil
}

// Bundle returns the bundle with this hash; ErrNotFound when unknown.
func (t *Tx) Bundle(hash string) (*broker.StoredBundle, error) {
	b, err := scanBundle(t.queryRow(`SELECT `+bundleColumns+` FROM bundles WHERE hash = ?`, hash))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: policy bundle %s", broker.ErrNotFound, hash)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: bundle %s: %w", hash, err)
	}
	return b, nil
}

// LatestBundles returns up to n bundles, highest serial first, without
// their Raw.
func (t *Tx) LatestBundles(n int) ([]*broker.StoredBundle, error) {
	rows, err := t.query(`SELECT hash, serial, created, NULL, activated, source FROM bundles ORDER BY serial DESC LIMIT ?`, n)
	if err != nil {
		return nil, fmt.Errorf("sqlite: latest bundles: %w", err)
	}
	defer rows.Close()
	var out []*broker.StoredBundle
	for rows.Next() {
		b, err := scanBundle(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: latest bundles: %w", err)
		}
		out = append(out, b)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: latest bundles: %w", err)
	}
	return out, nil
}

// SetDirectory stores the restriction a live directory source applies.
func (t *Tx) SetDirectory(source string, restriction json.RawMessage, at time.Time) error {
	var te timeEnc
	updated := te.at("updated", at)
	if te.err != nil {
		return fmt.Errorf("sqlite: set directory %s: %w", source, te.err)
	}
	if !json.Valid(restriction) {
		return fmt.Errorf("%w: sqlite: directory %s: restriction is not JSON", broker.ErrInvalid, source)
	}
	_, err := t.exec(`INSERT INTO directory (source, restriction, updated) VALUES (?,?,?)
		ON CONFLICT (source) DO UPDATE SET restriction = excluded.restriction, updated = excluded.updated`,
		source, []byte(restriction), updated)
	if err != nil {
		return fmt.Errorf("sqlite: set directory %s: %w", source, err)
	}
	return nil
}

// Directories returns the stored restriction of every directory source.
func (t *Tx) Directories() (map[string]json.RawMessage, error) {
	rows, err := t.query(`SELECT source, restriction FROM directory ORDER BY source`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: directories: %w", err)
	}
	defer rows.Close()
	out := map[string]json.RawMessage{}
	for rows.Next() {
		var src string
		var r []byte
		if err := rows.Scan(&src, &r); err != nil {
			return nil, fmt.Errorf("sqlite: directories: %w", err)
		}
		out[src] = r
	}
	return out, rows.Err()
}
