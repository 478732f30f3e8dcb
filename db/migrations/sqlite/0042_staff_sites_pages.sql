-- The staff sites list picks a page from the narrowest rows that decide it (issue 18,
-- store/site_list.rs): a province's sites in date order are read from this index alone,
-- never from the site rows (12,500 sites in a large province were as many row reads a
-- request on SQLite). The certificate's id is here too: the state filters go from it to
-- the CA's rows.
DROP INDEX sites_organization;
CREATE INDEX sites_organization ON sites (organization_id, created_at, id, certificate_id);
