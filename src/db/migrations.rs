//! Numbered SQL migrations embedded in the binary, applied in one transaction at start and
//! recorded in `schema_migrations`.

use anyhow::{Context, bail};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior};

/// `(version, name, sql)`, in order. Never edit a released migration: add the next number.
pub const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "init", include_str!("migrations/0001_init.sql")),
    (2, "catalogue", include_str!("migrations/0002_catalogue.sql")),
    (3, "tests_evidence", include_str!("migrations/0003_tests_evidence.sql")),
    (4, "scheduler_intel", include_str!("migrations/0004_scheduler_intel.sql")),
    (5, "history", include_str!("migrations/0005_history.sql")),
    (6, "atomics", include_str!("migrations/0006_atomics.sql")),
    (7, "audit_paging", include_str!("migrations/0007_audit_paging.sql")),
    (8, "catalogue_version", include_str!("migrations/0008_catalogue_version.sql")),
    (9, "test_tally", include_str!("migrations/0009_test_tally.sql")),
];

pub fn latest_version() -> i64 {
    MIGRATIONS.last().map_or(0, |(version, _, _)| *version)
}

/// Applies every migration the database lacks. Returns how many were applied.
pub fn apply(conn: &mut Connection) -> anyhow::Result<usize> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    tx.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version INTEGER PRIMARY KEY,
             name TEXT NOT NULL,
             applied_at TEXT NOT NULL
         ) STRICT;",
    )?;
    let current: i64 = tx
        .query_row("SELECT MAX(version) FROM schema_migrations", [], |row| row.get::<_, Option<i64>>(0))
        .optional()?
        .flatten()
        .unwrap_or(0);
    let latest = latest_version();
    if current > latest {
        bail!(
            "the database schema is at version {current}, newer than this Aegis {} understands \
             (version {latest}); run a newer Aegis or restore a backup made with this one",
            crate::VERSION
        );
    }
    let mut applied = 0;
    for (version, name, sql) in MIGRATIONS.iter().filter(|(version, _, _)| *version > current) {
        tx.execute_batch(sql).with_context(|| format!("applying migration {version} ({name})"))?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)",
            rusqlite::params![version, name, crate::time::now()],
        )?;
        tracing::info!(version, name, "applied database migration");
        applied += 1;
    }
    tx.commit()?;
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema(conn: &Connection) -> Vec<String> {
        let mut stmt = conn.prepare("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY name").unwrap();
        stmt.query_map([], |row| row.get(0)).unwrap().map(Result::unwrap).collect()
    }

    #[test]
    fn applying_twice_changes_nothing() {
        let mut conn = Connection::open_in_memory().unwrap();
        assert_eq!(apply(&mut conn).unwrap(), MIGRATIONS.len());
        let before = schema(&conn);
        let versions: i64 = conn.query_row("SELECT COUNT(*) FROM schema_migrations", [], |r| r.get(0)).unwrap();
        assert_eq!(apply(&mut conn).unwrap(), 0);
        assert_eq!(schema(&conn), before);
        let after: i64 = conn.query_row("SELECT COUNT(*) FROM schema_migrations", [], |r| r.get(0)).unwrap();
        assert_eq!(versions, after);
    }

    #[test]
    fn newer_database_is_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        apply(&mut conn).unwrap();
        conn.execute("INSERT INTO schema_migrations VALUES (9999, 'future', '2030-01-01T00:00:00Z')", []).unwrap();
        let err = apply(&mut conn).unwrap_err().to_string();
        assert!(err.contains("newer than this Aegis"), "{err}");
    }
}
