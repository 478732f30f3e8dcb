-- Applications for a site certificate (owned by badge-server).
CREATE TABLE applications (
    id            TEXT    PRIMARY KEY,
    account_id    BIGINT  NOT NULL REFERENCES accounts(id),
    status        TEXT    NOT NULL CHECK (status IN ('pending','validated','review','failed','certified','rejected')),
    organization  TEXT    NOT NULL,
    uscc          TEXT    NOT NULL,
    icp           TEXT    NOT NULL,
    province      TEXT    NOT NULL,
    city          TEXT    NOT NULL,
    domains       TEXT    NOT NULL,
    csr_pem       TEXT,
    token         TEXT    NOT NULL,
    method        TEXT,
    reasons       TEXT    NOT NULL DEFAULT '[]',
    site_id       TEXT,
    created_at    BIGINT  NOT NULL,
    updated_at    BIGINT  NOT NULL
);
CREATE INDEX applications_account ON applications (account_id, created_at);
