//! Prepares the HTTP benchmark's data dir: a database migrated by Aegis itself, the ATT&CK catalogue
//! imported from a real bundle by Aegis's own sync, and synthetic volume (users of every role, tests
//! over techniques and states with their rolled-up statuses, evidence with real blobs, audit rows).
//!
//! `bench-prepare <data dir> <bundle> [tests evidence audit]` prints one JSON line: the users (all with
//! the password below), the counts and the seconds each step took.

#[path = "../support/volume.rs"]
mod volume;

use std::path::PathBuf;
use std::time::Instant;

use aegis::attack::stix;
use aegis::db::Db;

/// Every synthetic user's password (the benchmark logs in with it).
const PASSWORD: &str = "bench-password-123";

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 3 && args.len() != 6 {
        eprintln!("usage: bench-prepare <data dir> <bundle.json[.gz]> [tests evidence audit]");
        std::process::exit(2);
    }
    let data_dir = PathBuf::from(&args[1]);
    let bundle_path = PathBuf::from(&args[2]);
    let volume = match &args[3..] {
        [tests, evidence, audit] => {
            volume::Volume { tests: tests.parse()?, evidence: evidence.parse()?, audit: audit.parse()? }
        }
        _ => volume::Volume::ISSUE,
    };
    std::fs::create_dir_all(data_dir.join("evidence"))?;
    let database = data_dir.join("aegis.db");

    let started = Instant::now();
    let db = Db::open(&database)?;
    let bytes = std::fs::read(&bundle_path)?;
    let bundle = stix::parse(&stix::decompress(&bytes)?)?;
    let report = db.write_blocking(move |tx| aegis::service::sync::apply(tx, &bundle))?;
    drop(db);
    let catalogue_seconds = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let hash = aegis::auth::password::hash_blocking(PASSWORD)?;
    let mut conn = rusqlite::Connection::open(&database)?;
    conn.execute_batch("PRAGMA foreign_keys = ON;")?;
    let filled = volume::fill(&mut conn, &data_dir.join("evidence"), &volume, &hash)?;
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")?;
    let volume_seconds = started.elapsed().as_secs_f64();

    let users: Vec<serde_json::Value> =
        filled.users.iter().map(|(username, role)| serde_json::json!({ "username": username, "role": role })).collect();
    let out = serde_json::json!({
        "password": PASSWORD,
        "users": users,
        "techniques_new": report.new,
        "tests": filled.tests,
        "evidence": filled.evidence,
        "audit": filled.audit,
        "catalogue_seconds": catalogue_seconds,
        "volume_seconds": volume_seconds,
        "database_bytes": std::fs::metadata(&database)?.len(),
    });
    println!("{out}");
    Ok(())
}
