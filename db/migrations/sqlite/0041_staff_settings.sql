-- Settings staff change in the console (issue 18): the complaint answer deadline and
-- its reminders, the re-verification intervals and the grace period. One row per
-- setting that was changed; without a row the configured value (environment or
-- command line) applies. Who changed it last and when; every change is also an
-- audit-chain entry (`settings.change`) with the old and the new value.
CREATE TABLE staff_settings (
    name        TEXT    PRIMARY KEY,
    value       TEXT    NOT NULL,
    changed_by  TEXT    NOT NULL,
    changed_at  BIGINT  NOT NULL
);
