-- Browser sessions, one-time e-mail tokens and login throttling (owned by
-- badge-server). A session id and an e-mail token are 256 random bits handed to the
-- browser or the mailbox; only their SHA-256 is stored, so a database leak gives no
-- working session or link. A session without an account is an anonymous visitor's:
-- it carries the CSRF token of the login and registration forms.
CREATE TABLE sessions (
    id_hash       BYTEA   PRIMARY KEY,
    account_id    BIGINT  REFERENCES accounts(id) ON DELETE CASCADE,
    csrf_token    TEXT    NOT NULL,
    created_at    BIGINT  NOT NULL,
    last_seen_at  BIGINT  NOT NULL,
    expires_at    BIGINT  NOT NULL
);
CREATE INDEX sessions_account ON sessions (account_id);
CREATE INDEX sessions_expiry ON sessions (expires_at);

-- Links sent by mail: confirm an address, or reset a password. Used once.
CREATE TABLE email_tokens (
    id            BIGSERIAL PRIMARY KEY,
    token_hash    BYTEA   NOT NULL UNIQUE,
    account_id    BIGINT  NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    purpose       TEXT    NOT NULL CHECK (purpose IN ('confirm','reset')),
    created_at    BIGINT  NOT NULL,
    expires_at    BIGINT  NOT NULL,
    used_at       BIGINT
);
CREATE INDEX email_tokens_account ON email_tokens (account_id, purpose);

-- Lockout: consecutive failed logins, and until when the account refuses logins.
ALTER TABLE accounts ADD COLUMN failed_logins INTEGER NOT NULL DEFAULT 0;
ALTER TABLE accounts ADD COLUMN locked_until BIGINT;
