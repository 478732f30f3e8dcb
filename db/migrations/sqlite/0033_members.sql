-- Members of the alliance (owned by badge-server): the organizations whose
-- trust-and-safety staff read the exchange feed, share records and register brands.
-- Their staff accounts have the role `member` and name their member.
--
-- SQLite cannot alter a CHECK constraint, so `accounts` is rebuilt
-- (sqlite.org/lang_altertable.html, "Making Other Kinds Of Table Schema Changes").
-- sqlx runs a SQLite migration inside a transaction, where foreign keys cannot be
-- turned off; they are deferred instead (checked at commit, against the new table).
-- Dropping the old table still runs its ON DELETE CASCADE actions, so the rows of
-- the four tables that cascade are kept aside and put back; the accounts are put
-- into the new table after the drop, which is what settles the deferred checks.
PRAGMA defer_foreign_keys = ON;

CREATE TABLE members (
    id          TEXT    PRIMARY KEY,
    name        TEXT    NOT NULL,
    uscc        TEXT    NOT NULL UNIQUE,
    contact     TEXT,
    created_at  BIGINT  NOT NULL
);

CREATE TABLE accounts_new (
    id                  INTEGER PRIMARY KEY,
    email               TEXT    NOT NULL UNIQUE,
    role                TEXT    NOT NULL CHECK (role IN ('user','operator','staff','admin','member')),
    password_hash       TEXT,
    email_confirmed_at  BIGINT,
    created_at          BIGINT  NOT NULL,
    webhook_url         TEXT,
    webhook_secret      TEXT,
    webhook_updated_at  BIGINT,
    member_id           TEXT    REFERENCES members (id),
    CHECK ((role = 'member') = (member_id IS NOT NULL))
);
CREATE TEMP TABLE kept_accounts AS SELECT * FROM accounts;
CREATE TEMP TABLE kept_sessions AS SELECT * FROM sessions;
CREATE TEMP TABLE kept_email_tokens AS SELECT * FROM email_tokens;
CREATE TEMP TABLE kept_login_failures AS SELECT * FROM login_failures;
CREATE TEMP TABLE kept_login_devices AS SELECT * FROM login_devices;
DROP TABLE accounts;
ALTER TABLE accounts_new RENAME TO accounts;
INSERT INTO accounts (id, email, role, password_hash, email_confirmed_at, created_at,
                      webhook_url, webhook_secret, webhook_updated_at)
    SELECT id, email, role, password_hash, email_confirmed_at, created_at,
           webhook_url, webhook_secret, webhook_updated_at FROM kept_accounts;
INSERT INTO sessions SELECT * FROM kept_sessions;
INSERT INTO email_tokens SELECT * FROM kept_email_tokens;
INSERT INTO login_failures SELECT * FROM kept_login_failures;
INSERT INTO login_devices SELECT * FROM kept_login_devices;
DROP TABLE kept_accounts;
DROP TABLE kept_sessions;
DROP TABLE kept_email_tokens;
DROP TABLE kept_login_failures;
DROP TABLE kept_login_devices;

CREATE INDEX accounts_member ON accounts (member_id) WHERE member_id IS NOT NULL;
