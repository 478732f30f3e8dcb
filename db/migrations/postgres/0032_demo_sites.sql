-- Sites certified by `badge-server serve --demo` (issue 16): its two demonstration
-- sites and anything issued while it runs. The demo refuses a database that holds a
-- site with `demo` false, and a plain `serve` refuses one with `demo` true, so demo
-- data never mixes with real data; the certificate page shows a "演示 Demo" banner
-- on every demo site.
ALTER TABLE sites ADD COLUMN demo BOOLEAN NOT NULL DEFAULT FALSE;
