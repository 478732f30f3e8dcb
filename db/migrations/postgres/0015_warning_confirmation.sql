-- A warning that names a certified domain (or a parent or child of one) is published
-- only when staff confirm it explicitly; the console shows such warnings as such.
ALTER TABLE fraud_warnings ADD COLUMN on_certified BOOLEAN NOT NULL DEFAULT FALSE;
