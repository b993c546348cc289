-- breakglass schema, version 2: OpenSSH certificates minted with grants.
-- ssh_cert is the certificate in authorized_keys form ('' for roles without
-- ssh); ssh_serial its serial (NULL when none), unique per CA so that a KRL
-- revokes exactly one certificate.
ALTER TABLE grants ADD COLUMN ssh_cert TEXT NOT NULL DEFAULT '';
ALTER TABLE grants ADD COLUMN ssh_serial INTEGER CHECK (ssh_serial IS NULL OR ssh_serial > 0);
CREATE UNIQUE INDEX grants_ssh_serial ON grants (ssh_serial) WHERE ssh_serial IS NOT NULL;
CREATE INDEX grants_revoked_ssh ON grants (ssh_serial) WHERE revoked IS NOT NULL AND ssh_serial IS NOT NULL;
