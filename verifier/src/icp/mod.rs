//! ICP filing providers and the rules that match a filing to an applicant.
