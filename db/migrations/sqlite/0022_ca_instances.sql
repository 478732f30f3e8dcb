-- The serial-number instance prefix each running CA holds (issue 11, item 15): two CAs
-- issuing with one prefix could only be told apart by their random bits. A row is a
-- lease: its holder renews expires_at while it runs and deletes the row when it stops
-- cleanly; a row past expires_at, or held by a process that is gone from this host,
-- may be taken over.
CREATE TABLE ca_instances (
    prefix      BIGINT  PRIMARY KEY CHECK (prefix BETWEEN 1 AND 127),
    holder      TEXT    NOT NULL,
    host        TEXT    NOT NULL,
    pid         BIGINT  NOT NULL,
    claimed_at  BIGINT  NOT NULL,
    expires_at  BIGINT  NOT NULL
);
