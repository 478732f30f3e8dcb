-- The complaint platform and fraud warnings (owned by badge-server).
-- A complaint's text is stored as written (staff see it); what is published is
-- masked when shown. complaint_events is the timeline every party sees (with the
-- actor's role, never the complainant's identity); the audit log has the rest.
CREATE TABLE complaints (
    id              TEXT    PRIMARY KEY,
    site_id         TEXT    NOT NULL REFERENCES sites(id),
    complainant_id  BIGINT  NOT NULL REFERENCES accounts(id),
    category        TEXT    NOT NULL,
    text            TEXT    NOT NULL,
    status          TEXT    NOT NULL CHECK (status IN ('submitted','forwarded','answered','feedback',
                        'under_review','upheld','dismissed','withdrawn','overdue')),
    deadline_at     BIGINT  NOT NULL,
    answer_text     TEXT,
    answered_at     BIGINT,
    satisfied       BOOLEAN,
    feedback_text   TEXT,
    feedback_at     BIGINT,
    decision_reason TEXT,
    decided_at      BIGINT,
    created_at      BIGINT  NOT NULL,
    updated_at      BIGINT  NOT NULL
);
CREATE INDEX complaints_site ON complaints (site_id, created_at);
CREATE INDEX complaints_open ON complaints (status, deadline_at);
CREATE INDEX complaints_complainant ON complaints (complainant_id);

CREATE TABLE complaint_events (
    id            BIGSERIAL PRIMARY KEY,
    complaint_id  TEXT    NOT NULL REFERENCES complaints(id),
    at            BIGINT  NOT NULL,
    actor_role    TEXT    NOT NULL,
    from_status   TEXT,
    to_status     TEXT    NOT NULL,
    note          TEXT
);
CREATE INDEX complaint_events_complaint ON complaint_events (complaint_id, id);

CREATE TABLE fraud_warnings (
    id            BIGSERIAL PRIMARY KEY,
    domain        TEXT    NOT NULL,
    impersonates  TEXT    REFERENCES sites(id),
    description   TEXT    NOT NULL,
    evidence      TEXT    NOT NULL,
    created_by    BIGINT  NOT NULL REFERENCES accounts(id),
    published_at  BIGINT  NOT NULL,
    withdrawn_at  BIGINT
);
CREATE UNIQUE INDEX fraud_warnings_domain ON fraud_warnings (domain) WHERE withdrawn_at IS NULL;
