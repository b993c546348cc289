-- breakglass schema, version 1.
-- Times are INTEGER Unix nanoseconds (UTC); NULL means "never" / unset.
-- String lists are JSON arrays in TEXT.

CREATE TABLE requests (
	id                TEXT    PRIMARY KEY,
	role              TEXT    NOT NULL,
	requester         TEXT    NOT NULL,
	reason            TEXT    NOT NULL,
	incident          TEXT    NOT NULL,
	duration          INTEGER NOT NULL,
	created           INTEGER NOT NULL,
	expires           INTEGER NOT NULL,
	state             TEXT    NOT NULL CHECK (state IN
		('pending', 'approved', 'issued', 'denied', 'cancelled', 'expired', 'revoked')),
	updated           INTEGER NOT NULL,
	policy_hash       TEXT    NOT NULL,
	statement         BLOB    NOT NULL,
	statement_digest  TEXT    NOT NULL,
	request_statement BLOB    NOT NULL,
	request_signature BLOB    NOT NULL,
	drill             INTEGER NOT NULL CHECK (drill IN (0, 1))
) STRICT;
CREATE INDEX requests_created ON requests (created DESC, id DESC);
CREATE INDEX requests_state_expires ON requests (state, expires);
CREATE INDEX requests_requester ON requests (requester, created DESC);

CREATE TABLE approvals (
	seq             INTEGER PRIMARY KEY,
	request_id      TEXT    NOT NULL REFERENCES requests (id),
	approver        TEXT    NOT NULL,
	kind            TEXT    NOT NULL CHECK (kind IN ('request', 'approval', 'denial')),
	statement       BLOB    NOT NULL,
	signature       BLOB    NOT NULL,
	key_fingerprint TEXT    NOT NULL,
	key_type        TEXT    NOT NULL,
	user_present    INTEGER NOT NULL CHECK (user_present IN (0, 1)),
	user_verified   INTEGER NOT NULL CHECK (user_verified IN (0, 1)),
	counter         INTEGER NOT NULL CHECK (counter BETWEEN 0 AND 4294967295),
	counter_warning INTEGER NOT NULL CHECK (counter_warning IN (0, 1)),
	created         INTEGER NOT NULL,
	UNIQUE (request_id, approver, kind)
) STRICT;

CREATE TABLE grants (
	id         TEXT    PRIMARY KEY,
	request_id TEXT    NOT NULL UNIQUE REFERENCES requests (id),
	requester  TEXT    NOT NULL,
	role       TEXT    NOT NULL,
	approvers  TEXT    NOT NULL CHECK (json_valid(approvers) AND json_type(approvers) = 'array'),
	issued     INTEGER NOT NULL,
	expires    INTEGER NOT NULL,
	revoked    INTEGER,
	revoked_by TEXT    NOT NULL,
	token      TEXT    NOT NULL,
	key_id     TEXT    NOT NULL
) STRICT;
CREATE INDEX grants_unrevoked_expires ON grants (expires) WHERE revoked IS NULL;

CREATE TABLE key_counters (
	fingerprint TEXT    PRIMARY KEY,
	counter     INTEGER NOT NULL CHECK (counter BETWEEN 0 AND 4294967295),
	updated     INTEGER NOT NULL
) STRICT;

CREATE TABLE challenges (
	nonce     TEXT    PRIMARY KEY,
	broker    TEXT    NOT NULL,
	principal TEXT    NOT NULL,
	action    TEXT    NOT NULL,
	subject   TEXT    NOT NULL,
	not_after INTEGER NOT NULL,
	used      INTEGER
) STRICT;
CREATE INDEX challenges_not_after ON challenges (not_after);

CREATE TABLE sessions (
	token_hash TEXT    PRIMARY KEY,
	principal  TEXT    NOT NULL,
	created    INTEGER NOT NULL,
	expires    INTEGER NOT NULL
) STRICT;
CREATE INDEX sessions_expires ON sessions (expires);

-- serials holds the last SSH certificate serial handed out, in its one row.
CREATE TABLE serials (
	id   INTEGER PRIMARY KEY CHECK (id = 1),
	last INTEGER NOT NULL CHECK (last > 0)
) STRICT;

-- The audit log: leaves, the tlog stored hashes, and signed checkpoints.
-- All three are append-only: the triggers below abort any UPDATE or DELETE,
-- and any INSERT that is not at the end (which also stops INSERT OR REPLACE
-- from overwriting a row, since REPLACE's implicit delete fires no trigger).
CREATE TABLE audit_entries (
	idx  INTEGER PRIMARY KEY CHECK (idx >= 0),
	leaf BLOB    NOT NULL
) STRICT;

CREATE TABLE audit_hashes (
	idx  INTEGER PRIMARY KEY CHECK (idx >= 0),
	hash BLOB    NOT NULL CHECK (length(hash) = 32)
) STRICT;

CREATE TABLE audit_checkpoints (
	size    INTEGER PRIMARY KEY CHECK (size >= 0),
	signed  BLOB    NOT NULL,
	created INTEGER NOT NULL
) STRICT;

CREATE TRIGGER audit_entries_append_only_insert BEFORE INSERT ON audit_entries
WHEN NEW.idx IS NOT (SELECT coalesce(max(idx) + 1, 0) FROM audit_entries)
BEGIN SELECT RAISE(ABORT, 'audit_entries is append-only: insert only at the end'); END;
CREATE TRIGGER audit_entries_append_only_update BEFORE UPDATE ON audit_entries
BEGIN SELECT RAISE(ABORT, 'audit_entries is append-only: no update'); END;
CREATE TRIGGER audit_entries_append_only_delete BEFORE DELETE ON audit_entries
BEGIN SELECT RAISE(ABORT, 'audit_entries is append-only: no delete'); END;

CREATE TRIGGER audit_hashes_append_only_insert BEFORE INSERT ON audit_hashes
WHEN NEW.idx IS NOT (SELECT coalesce(max(idx) + 1, 0) FROM audit_hashes)
BEGIN SELECT RAISE(ABORT, 'audit_hashes is append-only: insert only at the end'); END;
CREATE TRIGGER audit_hashes_append_only_update BEFORE UPDATE ON audit_hashes
BEGIN SELECT RAISE(ABORT, 'audit_hashes is append-only: no update'); END;
CREATE TRIGGER audit_hashes_append_only_delete BEFORE DELETE ON audit_hashes
BEGIN SELECT RAISE(ABORT, 'audit_hashes is append-only: no delete'); END;

CREATE TRIGGER audit_checkpoints_append_only_insert BEFORE INSERT ON audit_checkpoints
WHEN EXISTS (SELECT 1 FROM audit_checkpoints WHERE size = NEW.size)
BEGIN SELECT RAISE(ABORT, 'audit_checkpoints is append-only: size already checkpointed'); END;
CREATE TRIGGER audit_checkpoints_append_only_update BEFORE UPDATE ON audit_checkpoints
BEGIN SELECT RAISE(ABORT, 'audit_checkpoints is append-only: no update'); END;
CREATE TRIGGER audit_checkpoints_append_only_delete BEFORE DELETE ON audit_checkpoints
BEGIN SELECT RAISE(ABORT, 'audit_checkpoints is append-only: no delete'); END;
