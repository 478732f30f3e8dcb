-- A copied-seal host is reported to staff only once it was seen in at least two
-- different hours (a burst of forged Referers is not); candidates seen once age out
-- after a day, every host after 90 days without a sighting.
ALTER TABLE seal_copies ADD COLUMN hours_seen BIGINT NOT NULL DEFAULT 1;
CREATE INDEX seal_copies_weakest ON seal_copies (site_id, hours_seen, hits, last_seen);
