//! The rules of the product, free of HTTP types: handlers and CLI commands both call these.

pub mod atomics;
pub mod audit;
pub mod auth;
pub mod catalogue;
pub mod coverage;
pub mod evidence;
pub mod export;
pub mod history;
pub mod intel;
pub mod jobs;
pub mod maintenance;
pub mod metrics;
pub mod sync;
pub mod tests;
pub mod users;
