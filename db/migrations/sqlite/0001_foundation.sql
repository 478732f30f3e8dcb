-- Foundation: organizations, sites and their domains (owned by badge-server), and the
-- CA's issuers, certificates, revocations, CRLs, OCSP responses and audit log.
-- Times are Unix seconds (BIGINT) so both backends store and compare them alike.
-- In SQLite, single-column integer keys are INTEGER PRIMARY KEY (rowid aliases), so
-- no second index is written on every insert.

CREATE TABLE issuers (
    id          INTEGER PRIMARY KEY,
    slug        TEXT    NOT NULL UNIQUE,
    subject     TEXT    NOT NULL,
    cert_der    BLOB    NOT NULL,
    name_hash   BLOB    NOT NULL,
    key_hash    BLOB    NOT NULL,
    created_at  BIGINT  NOT NULL
);

CREATE TABLE certificates (
    id            INTEGER PRIMARY KEY,
    issuer_id     BIGINT  NOT NULL REFERENCES issuers(id),
    serial        BLOB    NOT NULL,
    status        TEXT    NOT NULL CHECK (status IN ('reserved','issued')),
    organization  TEXT    NOT NULL,
    uscc          TEXT    NOT NULL,
    icp           TEXT    NOT NULL,
    province      TEXT    NOT NULL,
    city          TEXT    NOT NULL,
    domains       TEXT    NOT NULL,
    not_before    BIGINT  NOT NULL,
    not_after     BIGINT  NOT NULL,
    der           BLOB,
    sha256        BLOB,
    created_at    BIGINT  NOT NULL,
    UNIQUE (issuer_id, serial)
);

CREATE TABLE revocations (
    certificate_id  INTEGER PRIMARY KEY REFERENCES certificates(id),
    revoked_at      BIGINT  NOT NULL,
    reason          BIGINT  NOT NULL,
    actor           TEXT    NOT NULL
);

CREATE TABLE crls (
    id           INTEGER PRIMARY KEY,
    issuer_id    BIGINT  NOT NULL REFERENCES issuers(id),
    number       BIGINT  NOT NULL,
    this_update  BIGINT  NOT NULL,
    next_update  BIGINT  NOT NULL,
    entries      BIGINT  NOT NULL,
    der          BLOB    NOT NULL,
    UNIQUE (issuer_id, number)
);

CREATE TABLE ocsp_responses (
    certificate_id  INTEGER PRIMARY KEY REFERENCES certificates(id),
    this_update     BIGINT  NOT NULL,
    next_update     BIGINT  NOT NULL,
    der             BLOB    NOT NULL
);
CREATE INDEX ocsp_responses_next_update ON ocsp_responses (next_update);

-- Monotonic counters (CRL numbers), advanced with UPDATE … RETURNING inside the
-- transaction that uses the value.
CREATE TABLE counters (
    name   TEXT    PRIMARY KEY,
    value  BIGINT  NOT NULL
);

-- Hash-chained audit log: hash = SHA-256(prev_hash ‖ fields). audit_head holds the
-- last sequence number and hash, so a deleted tail is detected too.
CREATE TABLE audit_log (
    seq        INTEGER PRIMARY KEY,
    at         BIGINT  NOT NULL,
    actor      TEXT    NOT NULL,
    action     TEXT    NOT NULL,
    subject    TEXT    NOT NULL,
    details    TEXT    NOT NULL,
    prev_hash  BLOB    NOT NULL,
    hash       BLOB    NOT NULL
);

CREATE TABLE audit_head (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    seq   BIGINT  NOT NULL,
    hash  BLOB    NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, zeroblob(32));

-- Sites and their owners belong to badge-server; the CA never reads them.
CREATE TABLE organizations (
    id          INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL,
    uscc        TEXT    NOT NULL UNIQUE,
    province    TEXT    NOT NULL,
    city        TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL
);

CREATE TABLE sites (
    id               TEXT    PRIMARY KEY,
    organization_id  BIGINT  NOT NULL REFERENCES organizations(id),
    status           TEXT    NOT NULL CHECK (status IN ('pending','validated','certified','suspended','revoked','expired')),
    icp              TEXT    NOT NULL,
    certificate_id   BIGINT  REFERENCES certificates(id),
    created_at       BIGINT  NOT NULL,
    updated_at       BIGINT  NOT NULL
);

CREATE TABLE site_domains (
    site_id   TEXT    NOT NULL REFERENCES sites(id),
    domain    TEXT    NOT NULL UNIQUE,
    position  BIGINT  NOT NULL,
    PRIMARY KEY (site_id, domain)
);
