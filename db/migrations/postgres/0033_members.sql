-- Members of the alliance (owned by badge-server): the organizations whose
-- trust-and-safety staff read the exchange feed, share records and register brands.
-- Their staff accounts have the role `member` and name their member.
CREATE TABLE members (
    id          TEXT    PRIMARY KEY,
    name        TEXT    NOT NULL,
    uscc        TEXT    NOT NULL UNIQUE,
    contact     TEXT,
    created_at  BIGINT  NOT NULL
);

ALTER TABLE accounts DROP CONSTRAINT accounts_role_check;
ALTER TABLE accounts ADD CONSTRAINT accounts_role_check
    CHECK (role IN ('user','operator','staff','admin','member'));
ALTER TABLE accounts ADD COLUMN member_id TEXT REFERENCES members (id);
ALTER TABLE accounts ADD CONSTRAINT accounts_member_role
    CHECK ((role = 'member') = (member_id IS NOT NULL));
CREATE INDEX accounts_member ON accounts (member_id) WHERE member_id IS NOT NULL;
