-- Evidence attached to shared records (issue 17): the same checked bytes as a
-- complaint's attachments (badge-server's domain::attachment), deleted with their
-- record (by staff or by the retention purge).
CREATE TABLE record_attachments (
    seq            INTEGER PRIMARY KEY,
    id             TEXT    NOT NULL UNIQUE,
    record_id      TEXT    NOT NULL REFERENCES shared_records (id) ON DELETE CASCADE,
    media_type     TEXT    NOT NULL CHECK (media_type IN ('image/png','image/jpeg','image/webp','application/pdf')),
    size           BIGINT  NOT NULL,
    sha256         TEXT    NOT NULL,
    name           TEXT    NOT NULL,
    uploaded_by    BIGINT  NOT NULL REFERENCES accounts (id),
    uploader_role  TEXT    NOT NULL CHECK (uploader_role IN ('member')),
    created_at     BIGINT  NOT NULL,
    content        BLOB   NOT NULL,
    CHECK (size = length(content))
);
CREATE INDEX record_attachments_record ON record_attachments (record_id, seq);
