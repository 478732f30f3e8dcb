-- The transparency log (issue 15). Every issuance, hold, release, revocation and
-- complaint decision appends one entry in the event's own transaction; its index
-- comes from the `log` counter, whose row lock (PostgreSQL) or the writer lock
-- (SQLite) makes commit order index order, so the entries have no gaps and two
-- replicas can never give out one index twice. The integrator (at most once a
-- second) hashes the new entries into the stored tiles and signs a checkpoint.
CREATE TABLE log_entries (
    idx            BIGINT  PRIMARY KEY,
    kind           TEXT    NOT NULL,
    certificate_id BIGINT  REFERENCES certificates(id),
    site_id        TEXT,
    body           BYTEA    NOT NULL
);
CREATE INDEX log_entries_certificate ON log_entries (certificate_id);
CREATE INDEX log_entries_site ON log_entries (site_id);

-- Hash tiles of height 8 (C2SP tlog-tiles), each at its widest width so far: the
-- level-0 tiles hold leaf hashes. Full tiles never change.
CREATE TABLE log_tiles (
    level  SMALLINT NOT NULL,
    n      BIGINT   NOT NULL,
    data   BYTEA    NOT NULL,
    PRIMARY KEY (level, n)
);

-- How far the tiles reach, and the secret salt of complaint hashes. One row.
CREATE TABLE log_head (
    id    SMALLINT PRIMARY KEY CHECK (id = 1),
    size  BIGINT   NOT NULL,
    root  BYTEA    NOT NULL,
    salt  BYTEA    NOT NULL
);

-- Every checkpoint signed: `note` as the log signed it, `published` as served
-- (with the witnesses' cosignatures), once published.
CREATE TABLE log_checkpoints (
    size          BIGINT  PRIMARY KEY,
    root          BYTEA   NOT NULL,
    note          TEXT    NOT NULL,
    published     TEXT,
    signed_at     BIGINT  NOT NULL,
    published_at  BIGINT
);
CREATE INDEX log_checkpoints_published ON log_checkpoints (published_at);

-- The size each witness last cosigned, the `old` of the next add-checkpoint.
CREATE TABLE log_witnesses (
    name  TEXT    PRIMARY KEY,
    size  BIGINT  NOT NULL
);
