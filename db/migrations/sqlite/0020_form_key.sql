-- The key that signs the CSRF token of an anonymous visitor's forms (login,
-- registration, password reset): the token is an HMAC of the visitor's form cookie,
-- so showing a form writes nothing. One key for every replica, made once here.
CREATE TABLE server_keys (
    name        TEXT    PRIMARY KEY,
    secret      BLOB    NOT NULL
);
INSERT INTO server_keys (name, secret) VALUES ('form', randomblob(32));
