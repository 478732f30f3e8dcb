-- The OCSP answer for the SHA-256 CertID, signed with the SHA-1 one (at issuance,
-- revocation and refresh), so that the responder only ever reads. NULL on rows
-- written before this column: the refresh signs those first.
ALTER TABLE ocsp_responses ADD COLUMN der_sha256 BYTEA;
