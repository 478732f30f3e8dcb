-- The staff sites list and a site's staff page (issue 18): one index for each filter,
-- sort and history look-up. The facts stay where their owners write them (the CA's
-- revocations and validity, the verifier's re-verification row); these only find them.
-- Newest first.
CREATE INDEX sites_created ON sites (created_at, id);
-- Province: organizations by province, then their sites.
CREATE INDEX organizations_province ON organizations (province);
CREATE INDEX sites_organization ON sites (organization_id);
-- Held (certificateHold) and revoked.
CREATE INDEX revocations_reason ON revocations (reason);
-- Expired.
CREATE INDEX certificates_not_after ON certificates (not_after);
-- Re-verification due, and the sort by due date: the expression is the one the list
-- writes (store/site_list.rs NEXT_DUE), so that the planner matches it.
CREATE INDEX recheck_subjects_next_due ON recheck_subjects ((CASE WHEN retry_at IS NOT NULL THEN retry_at WHEN domain_due_at < icp_due_at THEN domain_due_at ELSE icp_due_at END), site_id);
-- Failing, and the sort by last failure (most recent first, the sites not failing
-- last: PostgreSQL sorts NULLs first in a descending scan unless told).
CREATE INDEX recheck_subjects_failing ON recheck_subjects (failing_since DESC NULLS LAST, site_id DESC);
-- Grace ending soon.
CREATE INDEX recheck_subjects_grace ON recheck_subjects (state, failing_since);
-- Has open complaints (and the count on each row).
CREATE INDEX complaints_site_status ON complaints (site_id, status);
-- A site's page: the audit entries about it or its certificates, the warnings naming it.
CREATE INDEX audit_log_subject ON audit_log (subject, seq);
CREATE INDEX fraud_warnings_impersonates ON fraud_warnings (impersonates, published_at);
-- The console's queue of applications awaiting review (counted, and listed oldest first).
CREATE INDEX applications_status ON applications (status, updated_at);
