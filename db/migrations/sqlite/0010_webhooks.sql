-- Webhooks (owned by badge-server): an operator's endpoint and the secret that signs
-- each delivery (HMAC-SHA256). The secret is kept in the clear because signing needs
-- it; it is shown to the operator once, when set.
ALTER TABLE accounts ADD COLUMN webhook_url TEXT;
ALTER TABLE accounts ADD COLUMN webhook_secret TEXT;
ALTER TABLE accounts ADD COLUMN webhook_updated_at BIGINT;
