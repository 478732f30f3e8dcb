-- Self-discipline conventions (自律公约) staff publish and member organizations sign
-- (issue 16). A convention's text is versioned: a new version is a new row, and a
-- signature names the version it was given to. Signing a new version adds a row; the
-- old one stays, so a page can say "signed version N" until the organization signs
-- again. Who signed (the account) is kept here and in the audit log, never shown.
CREATE TABLE conventions (
    id          BIGSERIAL PRIMARY KEY,
    title       TEXT    NOT NULL UNIQUE,
    created_by  BIGINT  NOT NULL REFERENCES accounts(id),
    created_at  BIGINT  NOT NULL
);
CREATE TABLE convention_versions (
    convention_id  BIGINT  NOT NULL REFERENCES conventions(id),
    version        BIGINT  NOT NULL,
    body           TEXT    NOT NULL,
    published_by   BIGINT  NOT NULL REFERENCES accounts(id),
    published_at   BIGINT  NOT NULL,
    PRIMARY KEY (convention_id, version)
);
CREATE TABLE convention_signatures (
    id               BIGSERIAL PRIMARY KEY,
    convention_id    BIGINT  NOT NULL,
    version          BIGINT  NOT NULL,
    organization_id  BIGINT  NOT NULL REFERENCES organizations(id),
    account_id       BIGINT  NOT NULL REFERENCES accounts(id),
    signed_at        BIGINT  NOT NULL,
    FOREIGN KEY (convention_id, version) REFERENCES convention_versions (convention_id, version),
    UNIQUE (convention_id, version, organization_id)
);
CREATE INDEX convention_signatures_organization ON convention_signatures (organization_id);
