-- The exchange feed (owned by badge-server, issue 17): what members see, projected
-- from the audit log in its order. `seq` is the audit entry's number, so the feed's
-- order is the log's, which is commit order (see badge-server's domain::exchange);
-- `data` is fixed when projected. `exchange_head` is how far the projection has
-- read; updating it first takes its row lock, so two replicas never project at once.
CREATE TABLE exchange_events (
    seq   BIGINT  PRIMARY KEY,
    kind  TEXT    NOT NULL,
    at    BIGINT  NOT NULL,
    data  TEXT    NOT NULL
);

CREATE TABLE exchange_head (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  BIGINT  NOT NULL
);
INSERT INTO exchange_head (id, seq) VALUES (1, 0);
