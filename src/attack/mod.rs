//! The ATT&CK catalogue's source side: reading STIX bundles (plain or gzip, STIX 2.0 or 2.1) and
//! fetching them from the configured source.

pub mod source;
pub mod stix;
