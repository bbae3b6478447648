//! Threat intelligence: fetching feeds (bounded), parsing them with a real feed parser, and finding
//! the ATT&CK technique ids they mention.

pub mod extract;
pub mod feed;
