-- Registry search: organization, USCC, ICP number and domains of each site, found by
-- substring (Chinese included). SQLite answers LIKE through an FTS5 trigram index.
ALTER TABLE sites ADD COLUMN search_text TEXT NOT NULL DEFAULT '';
CREATE VIRTUAL TABLE site_search USING fts5(site_id UNINDEXED, text, tokenize = 'trigram');
CREATE TRIGGER sites_search_insert AFTER INSERT ON sites BEGIN
    INSERT INTO site_search (site_id, text) VALUES (new.id, new.search_text);
END;
CREATE TRIGGER sites_search_update AFTER UPDATE OF search_text ON sites BEGIN
    DELETE FROM site_search WHERE site_id = old.id;
    INSERT INTO site_search (site_id, text) VALUES (new.id, new.search_text);
END;
