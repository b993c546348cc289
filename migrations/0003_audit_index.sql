-- Audit lookups and witness cosignatures.
--
-- audit_subjects indexes every entry by each of its subjects, so the entry
-- that issued a grant (its receipt) is found without scanning the log. It is
-- derived data, written in the same transaction as the entry; the verifier
-- never trusts it.
CREATE TABLE audit_subjects (
	subject TEXT    NOT NULL,
	type    TEXT    NOT NULL,
	idx     INTEGER NOT NULL REFERENCES audit_entries (idx),
	PRIMARY KEY (subject, idx)
) STRICT, WITHOUT ROWID;
-- The append-only trigger below reads max(idx): keep it a lookup.
CREATE INDEX audit_subjects_by_idx ON audit_subjects (idx);

-- audit_cosignatures keeps the c2sp.org/tlog-cosignature lines witnesses
-- returned for a checkpoint, one per witness; appended to the checkpoint's
-- signed note they make the cosigned checkpoint.
CREATE TABLE audit_cosignatures (
	size    INTEGER NOT NULL REFERENCES audit_checkpoints (size),
	witness TEXT    NOT NULL,
	line    BLOB    NOT NULL,
	created INTEGER NOT NULL,
	PRIMARY KEY (size, witness)
) STRICT;

CREATE TRIGGER audit_subjects_append_only_update BEFORE UPDATE ON audit_subjects
BEGIN SELECT RAISE(ABORT, 'audit_subjects is append-only: no update'); END;
CREATE TRIGGER audit_subjects_append_only_delete BEFORE DELETE ON audit_subjects
BEGIN SELECT RAISE(ABORT, 'audit_subjects is append-only: no delete'); END;
CREATE TRIGGER audit_cosignatures_append_only_update BEFORE UPDATE ON audit_cosignatures
BEGIN SELECT RAISE(ABORT, 'audit_cosignatures is append-only: no update'); END;
CREATE TRIGGER audit_cosignatures_append_only_delete BEFORE DELETE ON audit_cosignatures
BEGIN SELECT RAISE(ABORT, 'audit_cosignatures is append-only: no delete'); END;
CREATE TRIGGER audit_subjects_append_only_insert BEFORE INSERT ON audit_subjects
WHEN NEW.idx < (SELECT coalesce(max(idx), 0) FROM audit_subjects)
BEGIN SELECT RAISE(ABORT, 'audit_subjects is append-only: insert only for the newest entry'); END;
CREATE TRIGGER audit_cosignatures_append_only_insert BEFORE INSERT ON audit_cosignatures
WHEN EXISTS (SELECT 1 FROM audit_cosignatures WHERE size = NEW.size AND witness = NEW.witness)
BEGIN SELECT RAISE(ABORT, 'audit_cosignatures is append-only: that witness already cosigned that size'); END;
