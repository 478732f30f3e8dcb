-- The durable job queue (owned by badge-server): notifications (mail, webhooks),
-- complaint deadlines and reminders. A job is claimed by setting locked_until; a
-- claim that expires (the process died) makes it runnable again; done_at marks it
-- finished. dedupe_key makes enqueueing idempotent (one reminder per complaint and
-- threshold, whatever retries the enqueuing transaction had).
CREATE TABLE jobs (
    id            BIGSERIAL PRIMARY KEY,
    kind          TEXT    NOT NULL,
    payload       TEXT    NOT NULL,
    run_at        BIGINT  NOT NULL,
    attempts      INTEGER NOT NULL DEFAULT 0,
    max_attempts  INTEGER NOT NULL DEFAULT 8,
    locked_until  BIGINT,
    locked_by     TEXT,
    last_error    TEXT,
    done_at       BIGINT,
    failed_at     BIGINT,
    dedupe_key    TEXT    UNIQUE,
    created_at    BIGINT  NOT NULL
);
CREATE INDEX jobs_due ON jobs (run_at) WHERE done_at IS NULL AND failed_at IS NULL;
