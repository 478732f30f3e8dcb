-- Complaint attachments: screenshots and PDFs a party adds as evidence (owned by
-- badge-server; see badge-server/src/attachment.rs for what is accepted).
-- The bytes live in this table, not in files: that keeps them outside any web root
-- by construction, every replica (two servers share one database) serves the same
-- ones, and an upload is written in the same transaction as its timeline event and
-- its audit entry, so a failed upload leaves nothing behind. Files are small (a few
-- MiB, a handful per complaint), so the database carries them without trouble.
-- media_type is what the bytes were sniffed as, never what the client declared;
-- name is the client's file name cleaned for display; sha256 is of content.
-- seq orders a complaint's files as they were added (several can share a second).
CREATE TABLE complaint_attachments (
    seq            INTEGER PRIMARY KEY,
    id             TEXT    NOT NULL UNIQUE,
    complaint_id   TEXT    NOT NULL REFERENCES complaints(id),
    media_type     TEXT    NOT NULL CHECK (media_type IN ('image/png','image/jpeg','image/webp','application/pdf')),
    size           BIGINT  NOT NULL,
    sha256         TEXT    NOT NULL,
    name           TEXT    NOT NULL,
    uploaded_by    BIGINT  NOT NULL REFERENCES accounts(id),
    uploader_role  TEXT    NOT NULL CHECK (uploader_role IN ('complainant','operator','staff')),
    created_at     BIGINT  NOT NULL,
    content        BLOB    NOT NULL,
    CHECK (size = length(content))
);
CREATE INDEX complaint_attachments_complaint ON complaint_attachments (complaint_id, seq);
