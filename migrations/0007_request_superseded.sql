-- A pending request a new policy bundle invalidates (its statement names
-- another policy) moves to a state of its own, superseded, recording the
-- bundle that superseded it, in the same transaction as the activation.
--
-- The state column's CHECK constraint gains 'superseded'. A CHECK change
-- does not touch a row on disk, so it is made in the schema text itself
-- (the procedure of https://www.sqlite.org/lang_altertable.html, "making
-- other kinds of table schema changes") rather than by copying the table,
-- which its foreign keys would forbid inside this transaction. The column
-- is added first: ALTER TABLE edits the schema text where its own parse of
-- it says, which must not be stale.
ALTER TABLE requests ADD COLUMN superseded_by TEXT;
PRAGMA writable_schema = ON;
UPDATE sqlite_schema SET sql = replace(sql,
	'''cancelled'', ''expired'', ''revoked'')',
	'''cancelled'', ''expired'', ''revoked'', ''superseded'')')
	WHERE type = 'table' AND name = 'requests';
-- RESET turns writable_schema off and reloads the schema, so that this
-- connection checks the new constraint from now on.
PRAGMA writable_schema = RESET;
