-- Each registrable domain's own website filing number (shared/icp.md §5 rule 1), as
-- a JSON object {"example.cn": "京ICP备2024018653号-1", …}. NULL on rows from before:
-- read as the single `icp` number for every domain. An application keeps what the
-- applicant claimed (`filings`, checked against MIIT on every verification) apart
-- from what MIIT answered (`verified_filings`, what the certificate will name).
ALTER TABLE applications ADD COLUMN filings TEXT;
ALTER TABLE applications ADD COLUMN verified_filings TEXT;
ALTER TABLE sites ADD COLUMN filings TEXT;
ALTER TABLE recheck_subjects ADD COLUMN filings TEXT;
-- Approval looks up an application's passing domain-control checks.
CREATE INDEX verification_checks_application ON verification_checks (application_id, at);
