-- Seminars and forums (研讨会、专题论坛) staff announce (issue 16): listed at /events,
-- fed as iCalendar at /events.ics. Times are unix seconds (UTC); pages show Beijing
-- time. A deleted event keeps its row (deleted_at) so the audit log's subject stays
-- meaningful.
CREATE TABLE events (
    id               INTEGER PRIMARY KEY,
    title            TEXT    NOT NULL,
    starts_at        BIGINT  NOT NULL,
    place            TEXT    NOT NULL,
    description      TEXT    NOT NULL,
    registration_url TEXT,
    created_by       BIGINT  NOT NULL REFERENCES accounts(id),
    created_at       BIGINT  NOT NULL,
    updated_at       BIGINT  NOT NULL,
    deleted_at       BIGINT
);
CREATE INDEX events_starts_at ON events (starts_at) WHERE deleted_at IS NULL;
