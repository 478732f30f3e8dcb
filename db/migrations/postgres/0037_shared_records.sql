-- Shared records (客户诚信档案, owned by badge-server, issue 17): what a member reports
-- about an organization (USCC) or a site (domain), masked, shared with every member or
-- with alliance staff only. The organization concerned may dispute it once; staff
-- keep it (resolved_*) or delete it. Deleted when expires_at passes (housekeeping).
CREATE TABLE shared_records (
    id            TEXT    PRIMARY KEY,
    member_id     TEXT    NOT NULL REFERENCES members (id),
    submitted_by  BIGINT  NOT NULL REFERENCES accounts (id),
    uscc          TEXT,
    domain        TEXT,
    category      TEXT    NOT NULL,
    summary       TEXT    NOT NULL,
    scope         TEXT    NOT NULL CHECK (scope IN ('members', 'staff')),
    disputed_at   BIGINT,
    disputed_by   BIGINT  REFERENCES accounts (id),
    dispute       TEXT,
    resolved_at   BIGINT,
    resolved_by   BIGINT  REFERENCES accounts (id),
    resolution    TEXT,
    created_at    BIGINT  NOT NULL,
    expires_at    BIGINT  NOT NULL,
    CHECK (uscc IS NOT NULL OR domain IS NOT NULL)
);
CREATE INDEX shared_records_uscc ON shared_records (uscc);
CREATE INDEX shared_records_domain ON shared_records (domain);
CREATE INDEX shared_records_member ON shared_records (member_id, created_at);
CREATE INDEX shared_records_expiry ON shared_records (expires_at);
