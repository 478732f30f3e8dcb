-- Every change that can alter what a site's seal shows, written by the database
-- itself in the writer's transaction: a site row inserted or updated, a revocation or
-- hold recorded, made final or released. Each replica's seal cache keeps site facts
-- until one of these names the site (it polls this table a few times a second), so a
-- revocation made anywhere (the server, another replica, the `ca` or `verifier` CLI)
-- reaches every replica's seal without a database read on every request. Rows older
-- than an hour are purged.
CREATE TABLE seal_changes (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    site_id TEXT    NOT NULL,
    at      BIGINT  NOT NULL
);
CREATE INDEX seal_changes_at ON seal_changes (at);
CREATE INDEX sites_certificate ON sites (certificate_id);

CREATE TRIGGER sites_seal_insert AFTER INSERT ON sites BEGIN
    INSERT INTO seal_changes (site_id, at) VALUES (NEW.id, CAST(strftime('%s', 'now') AS INTEGER));
END;
CREATE TRIGGER sites_seal_update AFTER UPDATE ON sites BEGIN
    INSERT INTO seal_changes (site_id, at) VALUES (NEW.id, CAST(strftime('%s', 'now') AS INTEGER));
END;
CREATE TRIGGER revocations_seal_insert AFTER INSERT ON revocations BEGIN
    INSERT INTO seal_changes (site_id, at)
        SELECT id, CAST(strftime('%s', 'now') AS INTEGER) FROM sites WHERE certificate_id = NEW.certificate_id;
END;
CREATE TRIGGER revocations_seal_update AFTER UPDATE ON revocations BEGIN
    INSERT INTO seal_changes (site_id, at)
        SELECT id, CAST(strftime('%s', 'now') AS INTEGER) FROM sites WHERE certificate_id = NEW.certificate_id;
END;
CREATE TRIGGER revocations_seal_delete AFTER DELETE ON revocations BEGIN
    INSERT INTO seal_changes (site_id, at)
        SELECT id, CAST(strftime('%s', 'now') AS INTEGER) FROM sites WHERE certificate_id = OLD.certificate_id;
END;
