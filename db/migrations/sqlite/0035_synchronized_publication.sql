-- Synchronized publication (issue 17): staff mark a published fraud warning or an
-- upheld complaint decision as prominent (重点案例); prominent cases lead the
-- embeddable board (`/embed/warnings`), the Atom feed (`/warnings.atom`) and
-- `/warnings`. Who marked it and when; NULL when it is not prominent (unmarking
-- clears both).
ALTER TABLE fraud_warnings ADD COLUMN prominent_at BIGINT;
ALTER TABLE fraud_warnings ADD COLUMN prominent_by BIGINT REFERENCES accounts(id);
ALTER TABLE complaints ADD COLUMN prominent_at BIGINT;
ALTER TABLE complaints ADD COLUMN prominent_by BIGINT REFERENCES accounts(id);
CREATE INDEX complaints_prominent ON complaints (prominent_at) WHERE prominent_at IS NOT NULL;

-- The origins (scheme, host, port) where a member frames the board: the board's
-- `Content-Security-Policy: frame-ancestors` lists them all. At most 20 per member,
-- counted by the service under a lock on the member's row.
CREATE TABLE member_origins (
    member_id   TEXT    NOT NULL REFERENCES members(id),
    origin      TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL,
    PRIMARY KEY (member_id, origin)
);
