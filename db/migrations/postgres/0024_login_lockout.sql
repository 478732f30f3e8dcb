-- Lockout per client, not per account (issue 12, item 8): five failed logins from one
-- network (an IPv4 address, an IPv6 /64) or one known browser lock that client out of
-- that account for a while; failures from unknown clients together lock only unknown
-- clients, after many more. A browser that once signed in to the account (it holds a
-- device cookie, OWASP's "device cookies") keeps its own count, so nobody can lock
-- staff out of their own browser.
CREATE TABLE login_failures (
    account_id    BIGINT  NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    -- 'device:<hash>', 'net:<network>' or '*' (every unknown client together).
    client        TEXT    NOT NULL,
    failures      INTEGER NOT NULL,
    locked_until  BIGINT,
    updated_at    BIGINT  NOT NULL,
    PRIMARY KEY (account_id, client)
);
CREATE INDEX login_failures_updated ON login_failures (updated_at);

-- Browsers that signed in to an account: SHA-256 of the device cookie's token.
CREATE TABLE login_devices (
    token_hash  BYTEA  PRIMARY KEY,
    account_id  BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    created_at  BIGINT NOT NULL
);
CREATE INDEX login_devices_account ON login_devices (account_id, created_at);

ALTER TABLE accounts DROP COLUMN failed_logins;
ALTER TABLE accounts DROP COLUMN locked_until;
