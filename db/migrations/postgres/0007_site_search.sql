-- Registry search: organization, USCC, ICP number and domains of each site, found by
-- substring (Chinese included). PostgreSQL answers LIKE through a pg_trgm GIN index.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
ALTER TABLE sites ADD COLUMN search_text TEXT NOT NULL DEFAULT '';
CREATE INDEX sites_search_trgm ON sites USING gin (search_text gin_trgm_ops);
