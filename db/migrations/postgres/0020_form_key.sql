-- The key that signs the CSRF token of an anonymous visitor's forms (login,
-- registration, password reset): the token is an HMAC of the visitor's form cookie,
-- so showing a form writes nothing. One key for every replica, made once here
-- (gen_random_uuid draws from the server's strong random source: 2 × 122 bits).
CREATE TABLE server_keys (
    name        TEXT    PRIMARY KEY,
    secret      BYTEA   NOT NULL
);
INSERT INTO server_keys (name, secret)
VALUES ('form', uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid()));
