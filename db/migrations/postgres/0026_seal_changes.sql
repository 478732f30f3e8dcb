-- Every change that can alter what a site's seal shows, written by the database
-- itself in the writer's transaction: a site row inserted or updated, a revocation or
-- hold recorded, made final or released. Each replica's seal cache keeps site facts
-- until one of these names the site (it polls this table a few times a second), so a
-- revocation made anywhere (the server, another replica, the `ca` or `verifier` CLI)
-- reaches every replica's seal without a database read on every request. Rows older
-- than an hour are purged. Identities come from a sequence, so a transaction may
-- commit a lower id after a higher one: the poller keeps such gaps open for a while.
CREATE TABLE seal_changes (
    id      BIGSERIAL PRIMARY KEY,
    site_id TEXT      NOT NULL,
    at      BIGINT    NOT NULL
);
CREATE INDEX seal_changes_at ON seal_changes (at);
CREATE INDEX sites_certificate ON sites (certificate_id);

CREATE FUNCTION seal_change_site() RETURNS trigger AS $$
BEGIN
    INSERT INTO seal_changes (site_id, at) VALUES (NEW.id, extract(epoch FROM now())::bigint);
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE FUNCTION seal_change_revocation() RETURNS trigger AS $$
DECLARE
    cid BIGINT;
BEGIN
    IF TG_OP = 'DELETE' THEN
        cid := OLD.certificate_id;
    ELSE
        cid := NEW.certificate_id;
    END IF;
    INSERT INTO seal_changes (site_id, at)
        SELECT id, extract(epoch FROM now())::bigint FROM sites WHERE certificate_id = cid;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER sites_seal_change AFTER INSERT OR UPDATE ON sites
    FOR EACH ROW EXECUTE FUNCTION seal_change_site();
CREATE TRIGGER revocations_seal_change AFTER INSERT OR UPDATE OR DELETE ON revocations
    FOR EACH ROW EXECUTE FUNCTION seal_change_revocation();
