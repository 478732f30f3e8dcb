-- Sharded CRLs (issue 14). Each certificate is assigned a CRL shard at issuance: its
-- issuance sequence number (a per-issuer counter, `crl_seq:{issuer_id}`) divided by
-- 10,000, so no shard ever lists more than 10,000 certificates. Its CRL distribution
-- point names the shard (`/crl/{issuer}/{shard}.crl`). Certificates issued before this
-- migration name the issuer's one CRL (`/crl/{issuer}.crl`): they are the legacy
-- shard, -1, whose CRL keeps that URL until the last of them expires.
ALTER TABLE certificates ADD COLUMN crl_shard BIGINT NOT NULL DEFAULT -1;
CREATE INDEX certificates_crl_shard ON certificates (issuer_id, crl_shard);

-- Which shard a stored CRL covers (-1: the legacy one, as every CRL before this).
ALTER TABLE crls ADD COLUMN shard BIGINT NOT NULL DEFAULT -1;
CREATE INDEX crls_shard ON crls (issuer_id, shard, number);

-- Shards waiting for a new CRL: a revocation marks its certificate's shard dirty in
-- its own transaction, so a crash between the commit and the publication loses
-- nothing; the publisher (at most once a second) signs a new CRL for every dirty
-- shard and clears the mark in the transaction that stores the CRL.
CREATE TABLE crl_shards (
    issuer_id     BIGINT  NOT NULL REFERENCES issuers(id),
    shard         BIGINT  NOT NULL,
    dirty_since   BIGINT,
    published_at  BIGINT,
    PRIMARY KEY (issuer_id, shard)
);
CREATE INDEX crl_shards_dirty ON crl_shards (dirty_since) WHERE dirty_since IS NOT NULL;
