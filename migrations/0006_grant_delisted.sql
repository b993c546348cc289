-- A revoked grant leaves the published revocation list when the sweep
-- delists it (at its expiry plus the skew relying parties allow), not when
-- the clock says it expired: the list's sequence, the number of revocations
-- plus the number of delistings, then only grows, whatever the clock does.
--
-- Revoked grants that had expired by this migration were already off the
-- list and counted twice in its sequence; they are delisted at their expiry,
-- so the sequence carries on from where it was.
ALTER TABLE grants ADD COLUMN delisted INTEGER;
UPDATE grants SET delisted = expires
	WHERE revoked IS NOT NULL AND expires <= CAST(unixepoch('subsec') * 1000000000 AS INTEGER);
CREATE INDEX grants_listed_expires ON grants (expires) WHERE revoked IS NOT NULL AND delisted IS NULL;
