-- /healthz proves that the database can still write, not only read: it bumps this one
-- row in a transaction, at most once per CHENGXIN_HEALTH_WRITE_SECS per process.
CREATE TABLE health_probe (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    probes      BIGINT  NOT NULL,
    written_at  BIGINT  NOT NULL
);
INSERT INTO health_probe (id, probes, written_at) VALUES (1, 0, 0);
