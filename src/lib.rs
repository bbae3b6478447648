//! Aegis: prove what your defences detect. A MITRE ATT&CK detection-coverage tracker in one binary.
//!
//! The crate is a library so the integration tests can start the real server on a loopback port;
//! `main.rs` only dispatches the command line.

pub mod api;
pub mod app;
pub mod attack;
pub mod auth;
pub mod cli;
pub mod commands;
pub mod config;
pub mod db;
pub mod error;
pub mod evidence;
pub mod intel;
pub mod middleware;
pub mod scheduler;
pub mod service;
pub mod time;
pub mod web;

/// The version reported by `/api/v1/health`, `--version` and the OpenAPI document.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
