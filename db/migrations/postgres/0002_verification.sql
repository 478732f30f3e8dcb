-- Evidence of every verification attempt (owned by the verifier).
CREATE TABLE verification_checks (
    id              BIGSERIAL PRIMARY KEY,
    subject         TEXT    NOT NULL,
    check_kind      TEXT    NOT NULL,
    verdict         TEXT    NOT NULL CHECK (verdict IN ('pass','fail','review','error')),
    application_id  TEXT,
    site_id         TEXT,
    evidence        TEXT    NOT NULL,
    at              BIGINT  NOT NULL
);
CREATE INDEX verification_checks_subject ON verification_checks (subject, at);
CREATE INDEX verification_checks_site ON verification_checks (site_id, at);
