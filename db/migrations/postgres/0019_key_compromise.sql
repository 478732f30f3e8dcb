-- SHA-256 of each certificate's SubjectPublicKeyInfo, so that every certificate for
-- one key can be found (a keyCompromise revocation revokes them all). NULL on rows
-- written before this column; opening the CA fills them in.
ALTER TABLE certificates ADD COLUMN spki_sha256 BYTEA;
CREATE INDEX certificates_spki_sha256 ON certificates (spki_sha256);

-- Keys never to be certified again: every keyCompromise revocation adds its key.
CREATE TABLE blocked_keys (
    spki_sha256  BYTEA    PRIMARY KEY,
    reason       TEXT  NOT NULL,
    actor        TEXT  NOT NULL,
    blocked_at   BIGINT NOT NULL
);
