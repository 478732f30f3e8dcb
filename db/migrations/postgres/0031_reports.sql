-- The anti-fraud work report (issue 16), one row per published period (`2026-Q4`,
-- `2026-11`). `figures` is the canonical JSON served at /reports/{period}.json, byte
-- for byte; a rebuild recomputes it and must find the same bytes (published reports
-- are immutable). `pdf` is Chromium's print of the report page, when Chromium was
-- there to make it.
CREATE TABLE reports (
    period     TEXT    PRIMARY KEY,
    figures    TEXT    NOT NULL,
    pdf        BYTEA,
    built_at   BIGINT  NOT NULL
);
