-- Re-verification state of certified sites (owned by the verifier). The proof stays
-- in place: the method and token the operator used are checked again on schedule.
CREATE TABLE recheck_subjects (
    site_id            TEXT    PRIMARY KEY,
    organization       TEXT    NOT NULL,
    uscc               TEXT,
    icp                TEXT,
    domains            TEXT    NOT NULL,
    method             TEXT    NOT NULL,
    token              TEXT    NOT NULL,
    certificate_serial BLOB,
    state              TEXT    NOT NULL CHECK (state IN ('ok','grace','suspended','revoked')),
    domain_due_at      BIGINT  NOT NULL,
    icp_due_at         BIGINT  NOT NULL,
    retry_at           BIGINT,
    retries            BIGINT  NOT NULL DEFAULT 0,
    failing_since      BIGINT,
    suspended_at       BIGINT,
    last_reason        TEXT,
    icp_snapshot       TEXT,
    updated_at         BIGINT  NOT NULL
);
CREATE INDEX recheck_subjects_due ON recheck_subjects (state, domain_due_at, icp_due_at);
