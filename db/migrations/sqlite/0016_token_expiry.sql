-- API tokens expire (90 days unless their creator says otherwise); tokens made
-- before expiry existed get 90 days from their creation.
ALTER TABLE api_tokens ADD COLUMN expires_at BIGINT;
UPDATE api_tokens SET expires_at = created_at + 7776000 WHERE expires_at IS NULL;
CREATE INDEX api_tokens_account ON api_tokens (account_id, created_at);
