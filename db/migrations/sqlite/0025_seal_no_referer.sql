-- Seal requests without a Referer for a certified site, per site and day (unix day
-- number): the seal then asks visitors to check the address bar instead of vouching,
-- and the operator portal tells an operator whose seal is often fetched this way to
-- update the snippet (which sends the page's origin). Days older than 30 are purged.
CREATE TABLE seal_no_referer (
    site_id TEXT   NOT NULL REFERENCES sites(id),
    day     BIGINT NOT NULL,
    hits    BIGINT NOT NULL,
    PRIMARY KEY (site_id, day)
);
