-- Hosts that showed a site's seal without being one of its certified domains
-- (a copied seal): fraud signals for staff.
CREATE TABLE seal_copies (
    site_id     TEXT    NOT NULL,
    host        TEXT    NOT NULL,
    first_seen  BIGINT  NOT NULL,
    last_seen   BIGINT  NOT NULL,
    hits        BIGINT  NOT NULL,
    PRIMARY KEY (site_id, host)
);
