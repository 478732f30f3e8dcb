-- Operators told of re-verification (owned by badge-server, issue 18). The verifier
-- writes each transition's audit entry (site.grace, site.suspend, site.release,
-- site.revoke) in the transition's transaction, whichever process ran it; the
-- server projects those entries into mail and webhook jobs, each batch in one
-- transaction with `site_notice_head` (how far it has read), so a notice is queued
-- exactly once however the process that changed the state ended. It starts at the
-- log's current end: transitions made before this migration are not mailed now.
-- `site_notices` keeps each site's latest notice, which the portal shows.
CREATE TABLE site_notice_head (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  BIGINT  NOT NULL
);
INSERT INTO site_notice_head (id, seq) SELECT 1, COALESCE(MAX(seq), 0) FROM audit_log;

CREATE TABLE site_notices (
    site_id   TEXT    PRIMARY KEY,
    seq       BIGINT  NOT NULL,
    kind      TEXT    NOT NULL CHECK (kind IN ('grace', 'held', 'released', 'revoked')),
    reason    TEXT    NOT NULL,
    evidence  TEXT    NOT NULL,
    until_at  BIGINT,
    at        BIGINT  NOT NULL
);

-- Re-verification runs staff start over every due site: a durable job walks the due
-- sites by id in batches (`after_site`: the last site id taken) and adds each batch's
-- counts here, so a run a crash interrupted resumes where it was. One run at a time,
-- enforced here: at most one row is 'running'.
CREATE TABLE recheck_runs (
    id           BIGSERIAL PRIMARY KEY,
    state        TEXT    NOT NULL CHECK (state IN ('running', 'finished', 'failed')),
    started_by   TEXT    NOT NULL,
    started_at   BIGINT  NOT NULL,
    finished_at  BIGINT,
    total        BIGINT  NOT NULL,
    done         BIGINT  NOT NULL DEFAULT 0,
    passed       BIGINT  NOT NULL DEFAULT 0,
    failed       BIGINT  NOT NULL DEFAULT 0,
    errors       BIGINT  NOT NULL DEFAULT 0,
    after_site   TEXT    NOT NULL DEFAULT '',
    problem      TEXT
);
CREATE UNIQUE INDEX recheck_runs_one_running ON recheck_runs (state) WHERE state = 'running';
CREATE INDEX recheck_runs_started ON recheck_runs (started_at);

-- What a run changed: each site that entered grace, was held, revoked or released.
CREATE TABLE recheck_run_changes (
    id          BIGSERIAL PRIMARY KEY,
    run_id      BIGINT  NOT NULL REFERENCES recheck_runs (id),
    site_id     TEXT    NOT NULL,
    from_state  TEXT    NOT NULL,
    to_state    TEXT    NOT NULL,
    reason      TEXT    NOT NULL,
    at          BIGINT  NOT NULL
);
CREATE INDEX recheck_run_changes_run ON recheck_run_changes (run_id, id);
