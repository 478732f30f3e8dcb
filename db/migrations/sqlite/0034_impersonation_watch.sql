-- Impersonation watch (issue 17): the brands members register, and the draft
-- warnings staff publish or dismiss when an application or a copied seal imitates one.
CREATE TABLE member_brands (
    id          TEXT    PRIMARY KEY,
    member_id   TEXT    NOT NULL REFERENCES members (id),
    name        TEXT    NOT NULL,
    -- JSON arrays of strings.
    aliases     TEXT    NOT NULL DEFAULT '[]',
    domains     TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL,
    UNIQUE (member_id, name)
);

-- One draft per imitating domain, member and source: a copy recorded again or an
-- application filed twice does not ask staff twice.
CREATE TABLE warning_drafts (
    id              TEXT    PRIMARY KEY,
    domain          TEXT    NOT NULL,
    member_id       TEXT    NOT NULL REFERENCES members (id),
    brand           TEXT    NOT NULL,
    reason          TEXT    NOT NULL,
    source          TEXT    NOT NULL CHECK (source IN ('application', 'seal_copy')),
    application_id  TEXT,
    site_id         TEXT,
    state           TEXT    NOT NULL DEFAULT 'draft'
                            CHECK (state IN ('draft', 'published', 'dismissed')),
    warning_id      BIGINT,
    decided_by      TEXT,
    decided_at      BIGINT,
    created_at      BIGINT  NOT NULL,
    UNIQUE (domain, member_id, source)
);
CREATE INDEX warning_drafts_state ON warning_drafts (state, created_at);
