-- Policy bundles and the live directory's restrictions.
--
-- bundles keeps every signed policy bundle the broker activated, the first
-- one pinned by `breakglass init`. The active bundle is the one with the
-- highest serial, the previous one the next highest; older ones stay so that
-- the evidence of any grant can name the bundle it was judged under. raw is
-- the signed bundle file exactly (policy.ParseSignedBundle), hash the
-- bundle's hash, which statements and credentials name.
CREATE TABLE bundles (
	hash      TEXT    NOT NULL PRIMARY KEY CHECK (hash LIKE 'sha256:%' AND length(hash) = 71),
	serial    INTEGER NOT NULL UNIQUE CHECK (serial > 0),
	created   INTEGER NOT NULL,
	raw       BLOB    NOT NULL,
	activated INTEGER NOT NULL,
	source    TEXT    NOT NULL
) STRICT;
CREATE TRIGGER bundles_append_only_update BEFORE UPDATE ON bundles
BEGIN SELECT RAISE(ABORT, 'bundles is append-only: no update'); END;
CREATE TRIGGER bundles_append_only_delete BEFORE DELETE ON bundles
BEGIN SELECT RAISE(ABORT, 'bundles is append-only: no delete'); END;
CREATE TRIGGER bundles_serial_increases BEFORE INSERT ON bundles
WHEN NEW.serial <= (SELECT coalesce(max(serial), 0) FROM bundles)
BEGIN SELECT RAISE(ABORT, 'bundles: serial must be higher than the active bundle'); END;

-- directory holds the last restriction a live directory (SCIM) applied:
-- principals it deactivated and group memberships it took away, as JSON.
-- One row per directory source; it survives restarts so that an offboarded
-- person stays off while the directory is down.
CREATE TABLE directory (
	source      TEXT    NOT NULL PRIMARY KEY,
	restriction BLOB    NOT NULL,
	updated     INTEGER NOT NULL
) STRICT;
