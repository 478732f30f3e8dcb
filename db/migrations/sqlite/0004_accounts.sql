-- People and API tokens (owned by badge-server). Tokens are stored as SHA-256
-- hashes; the plaintext is shown once, when created.
CREATE TABLE accounts (
    id                  INTEGER PRIMARY KEY,
    email               TEXT    NOT NULL UNIQUE,
    role                TEXT    NOT NULL CHECK (role IN ('user','operator','staff','admin')),
    password_hash       TEXT,
    email_confirmed_at  BIGINT,
    created_at          BIGINT  NOT NULL
);

CREATE TABLE api_tokens (
    id            INTEGER PRIMARY KEY,
    account_id    BIGINT  NOT NULL REFERENCES accounts(id),
    token_hash    BLOB    NOT NULL UNIQUE,
    label         TEXT    NOT NULL,
    created_at    BIGINT  NOT NULL,
    revoked_at    BIGINT
);

ALTER TABLE sites ADD COLUMN account_id BIGINT REFERENCES accounts(id);
