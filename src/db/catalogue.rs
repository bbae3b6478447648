//! SQL for the catalogue: tactics, techniques, their tactics, review flags and sync runs.

use std::collections::HashMap;

use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::error::AppError;
use crate::service::coverage::CoverageStatus;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TacticRow {
    pub shortname: String,
    pub mitre_id: String,
    pub name: String,
    pub position: i64,
}

/// A technique without its description (lists) or with it (detail).
#[derive(Debug, Clone)]
pub struct TechniqueRow {
    pub id: String,
    pub mitre_id: String,
    pub stix_id: Option<String>,
    pub name: String,
    pub description: String,
    pub platforms: Vec<String>,
    pub is_subtechnique: bool,
    pub parent_mitre_id: Option<String>,
    pub url: Option<String>,
    pub stix_version: Option<String>,
    pub stix_modified: Option<String>,
    pub revoked: bool,
    pub deprecated: bool,
    pub upstream_hash: Option<String>,
    pub status_global: CoverageStatus,
    pub test_count: i64,
    pub review_required: bool,
    pub reviewed_by: Option<String>,
    pub reviewed_by_name: Option<String>,
    pub reviewed_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    /// Shortnames, in matrix order.
    pub tactics: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct ReviewFlagRow {
    pub id: String,
    pub source: String,
    pub reason: String,
    pub reference: Option<String>,
    pub flagged_at: String,
}

pub fn tactics(conn: &Connection) -> Result<Vec<TacticRow>, AppError> {
    let mut stmt = conn.prepare_cached("SELECT shortname, mitre_id, name, position FROM tactics ORDER BY position")?;
    let rows = stmt
        .query_map([], |row| {
            Ok(TacticRow { shortname: row.get(0)?, mitre_id: row.get(1)?, name: row.get(2)?, position: row.get(3)? })
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

pub fn upsert_tactic(conn: &Connection, tactic: &TacticRow) -> Result<(), AppError> {
    conn.prepare_cached(
        "INSERT INTO tactics (shortname, mitre_id, name, position) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (shortname) DO UPDATE SET mitre_id = excluded.mitre_id, name = excluded.name,
                                               position = excluded.position",
    )?
    .execute(params![tactic.shortname, tactic.mitre_id, tactic.name, tactic.position])?;
    Ok(())
}

const TECHNIQUE_COLUMNS: &str = "t.id, t.mitre_id, t.stix_id, t.name, t.description, t.platforms, t.is_subtechnique,
     t.parent_mitre_id, t.url, t.stix_version, t.stix_modified, t.revoked, t.deprecated, t.upstream_hash,
     t.status_global, t.test_count, t.review_required, t.reviewed_by, t.reviewed_by_name, t.reviewed_at,
     t.created_at, t.updated_at";

fn technique_from_row(row: &Row<'_>, with_description: bool) -> rusqlite::Result<TechniqueRow> {
    let platforms: String = row.get(5)?;
    let status: String = row.get(14)?;
    Ok(TechniqueRow {
        id: row.get(0)?,
        mitre_id: row.get(1)?,
        stix_id: row.get(2)?,
        name: row.get(3)?,
        description: if with_description { row.get(4)? } else { String::new() },
        platforms: serde_json::from_str(&platforms)
            .map_err(|err| rusqlite::Error::FromSqlConversionFailure(5, rusqlite::types::Type::Text, err.into()))?,
        is_subtechnique: row.get(6)?,
        parent_mitre_id: row.get(7)?,
        url: row.get(8)?,
        stix_version: row.get(9)?,
        stix_modified: row.get(10)?,
        revoked: row.get(11)?,
        deprecated: row.get(12)?,
        upstream_hash: row.get(13)?,
        status_global: CoverageStatus::parse(&status)
            .ok_or_else(|| rusqlite::Error::FromSqlConversionFailure(14, rusqlite::types::Type::Text, status.into()))?,
        test_count: row.get(15)?,
        review_required: row.get(16)?,
        reviewed_by: row.get(17)?,
        reviewed_by_name: row.get(18)?,
        reviewed_at: row.get(19)?,
        created_at: row.get(20)?,
        updated_at: row.get(21)?,
        tactics: Vec::new(),
    })
}

/// Every technique (descriptions left out), each with its tactics, ordered by ATT&CK id.
pub fn all_techniques(conn: &Connection) -> Result<Vec<TechniqueRow>, AppError> {
    let mut stmt = conn.prepare_cached(&format!("SELECT {TECHNIQUE_COLUMNS} FROM techniques t ORDER BY t.mitre_id"))?;
    let mut techniques: Vec<TechniqueRow> =
        stmt.query_map([], |row| technique_from_row(row, false))?.collect::<rusqlite::Result<_>>()?;
    let mut tactics = all_technique_tactics(conn)?;
    for technique in &mut techniques {
        technique.tactics = tactics.remove(&technique.id).unwrap_or_default();
    }
    Ok(techniques)
}

fn all_technique_tactics(conn: &Connection) -> Result<HashMap<String, Vec<String>>, AppError> {
    let mut stmt =
        conn.prepare_cached("SELECT technique_id, tactic FROM technique_tactics ORDER BY technique_id, position")?;
    let mut map: HashMap<String, Vec<String>> = HashMap::new();
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        map.entry(row.get(0)?).or_default().push(row.get(1)?);
    }
    Ok(map)
}

pub fn find_technique(conn: &Connection, mitre_id: &str) -> Result<Option<TechniqueRow>, AppError> {
    let technique = conn
        .prepare_cached(&format!("SELECT {TECHNIQUE_COLUMNS} FROM techniques t WHERE t.mitre_id = ?1"))?
        .query_row([mitre_id], |row| technique_from_row(row, true))
        .optional()?;
    let Some(mut technique) = technique else { return Ok(None) };
    technique.tactics = technique_tactics(conn, &technique.id)?;
    Ok(Some(technique))
}

pub fn find_technique_by_id(conn: &Connection, id: &str) -> Result<Option<TechniqueRow>, AppError> {
    let technique = conn
        .prepare_cached(&format!("SELECT {TECHNIQUE_COLUMNS} FROM techniques t WHERE t.id = ?1"))?
        .query_row([id], |row| technique_from_row(row, false))
        .optional()?;
    let Some(mut technique) = technique else { return Ok(None) };
    technique.tactics = technique_tactics(conn, &technique.id)?;
    Ok(Some(technique))
}

pub fn technique_tactics(conn: &Connection, technique_id: &str) -> Result<Vec<String>, AppError> {
    let mut stmt =
        conn.prepare_cached("SELECT tactic FROM technique_tactics WHERE technique_id = ?1 ORDER BY position")?;
    let tactics = stmt.query_map([technique_id], |row| row.get(0))?.collect::<rusqlite::Result<_>>()?;
    Ok(tactics)
}

/// Sub-techniques of `parent_mitre_id`: (mitre_id, name, status), active ones only.
pub fn subtechniques(
    conn: &Connection,
    parent_mitre_id: &str,
) -> Result<Vec<(String, String, CoverageStatus)>, AppError> {
    let mut stmt = conn.prepare_cached(
        "SELECT mitre_id, name, status_global FROM techniques
         WHERE parent_mitre_id = ?1 AND revoked = 0 AND deprecated = 0 ORDER BY mitre_id",
    )?;
    let rows = stmt
        .query_map([parent_mitre_id], |row| {
            let status: String = row.get(2)?;
            Ok((row.get(0)?, row.get(1)?, CoverageStatus::parse(&status).unwrap_or(CoverageStatus::NotEvaluated)))
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

pub fn insert_technique(conn: &Connection, t: &TechniqueRow) -> Result<(), AppError> {
    let result = conn
        .prepare_cached(
            "INSERT INTO techniques (id, mitre_id, stix_id, name, description, platforms, is_subtechnique,
                 parent_mitre_id, url, stix_version, stix_modified, revoked, deprecated, upstream_hash,
                 status_global, test_count, review_required, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)",
        )?
        .execute(params![
            t.id,
            t.mitre_id,
            t.stix_id,
            t.name,
            t.description,
            serde_json::to_string(&t.platforms).expect("strings serialize"),
            t.is_subtechnique,
            t.parent_mitre_id,
            t.url,
            t.stix_version,
            t.stix_modified,
            t.revoked,
            t.deprecated,
            t.upstream_hash,
            t.status_global.as_str(),
            t.test_count,
            t.review_required,
            t.created_at,
            t.updated_at
        ]);
    match result {
        Err(rusqlite::Error::SqliteFailure(err, _)) if err.code == rusqlite::ErrorCode::ConstraintViolation => {
            Err(AppError::conflict(format!("technique {} already exists", t.mitre_id)))
        }
        other => other.map(drop).map_err(AppError::from),
    }
}

/// Writes every mutable column of an existing technique (not its tactics).
pub fn update_technique(conn: &Connection, t: &TechniqueRow) -> Result<(), AppError> {
    conn.prepare_cached(
        "UPDATE techniques SET stix_id = ?2, name = ?3, description = ?4, platforms = ?5, is_subtechnique = ?6,
             parent_mitre_id = ?7, url = ?8, stix_version = ?9, stix_modified = ?10, revoked = ?11,
             deprecated = ?12, upstream_hash = ?13, status_global = ?14, review_required = ?15,
             reviewed_by = ?16, reviewed_by_name = ?17, reviewed_at = ?18, updated_at = ?19
         WHERE id = ?1",
    )?
    .execute(params![
        t.id,
        t.stix_id,
        t.name,
        t.description,
        serde_json::to_string(&t.platforms).expect("strings serialize"),
        t.is_subtechnique,
        t.parent_mitre_id,
        t.url,
        t.stix_version,
        t.stix_modified,
        t.revoked,
        t.deprecated,
        t.upstream_hash,
        t.status_global.as_str(),
        t.review_required,
        t.reviewed_by,
        t.reviewed_by_name,
        t.reviewed_at,
        t.updated_at
    ])?;
    Ok(())
}

pub fn set_technique_tactics(conn: &Connection, technique_id: &str, tactics: &[String]) -> Result<(), AppError> {
    conn.prepare_cached("DELETE FROM technique_tactics WHERE technique_id = ?1")?.execute([technique_id])?;
    let mut insert =
        conn.prepare_cached("INSERT INTO technique_tactics (technique_id, tactic, position) VALUES (?1, ?2, ?3)")?;
    for (position, tactic) in tactics.iter().enumerate() {
        insert.execute(params![technique_id, tactic, position as i64])?;
    }
    Ok(())
}

pub fn open_review_flags(conn: &Connection, technique_id: &str) -> Result<Vec<ReviewFlagRow>, AppError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, source, reason, reference, flagged_at FROM review_flags
         WHERE technique_id = ?1 AND cleared_at IS NULL ORDER BY flagged_at, id",
    )?;
    let rows = stmt
        .query_map([technique_id], |row| {
            Ok(ReviewFlagRow {
                id: row.get(0)?,
                source: row.get(1)?,
                reason: row.get(2)?,
                reference: row.get(3)?,
                flagged_at: row.get(4)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

/// Opens a review flag and marks the technique as needing review.
pub fn flag_for_review(
    conn: &Connection,
    technique_id: &str,
    source: &str,
    reason: &str,
    reference: Option<&str>,
    now: &str,
) -> Result<(), AppError> {
    conn.prepare_cached(
        "INSERT INTO review_flags (id, technique_id, source, reason, reference, flagged_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![uuid::Uuid::new_v4().to_string(), technique_id, source, reason, reference, now])?;
    conn.prepare_cached("UPDATE techniques SET review_required = 1 WHERE id = ?1")?.execute([technique_id])?;
    Ok(())
}

/// Clears every open flag of a technique; returns how many were open.
pub fn clear_review_flags(
    conn: &Connection,
    technique_id: &str,
    cleared_by: &str,
    now: &str,
) -> Result<usize, AppError> {
    Ok(conn
        .prepare_cached(
            "UPDATE review_flags SET cleared_at = ?3, cleared_by = ?2 WHERE technique_id = ?1 AND cleared_at IS NULL",
        )?
        .execute(params![technique_id, cleared_by, now])?)
}

/// Counts of active techniques by status: the summary metrics, from the maintained statuses.
pub fn status_counts(conn: &Connection) -> Result<HashMap<CoverageStatus, u64>, AppError> {
    let mut stmt = conn.prepare_cached(
        "SELECT status_global, COUNT(*) FROM techniques WHERE revoked = 0 AND deprecated = 0 GROUP BY status_global",
    )?;
    let mut counts = HashMap::new();
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        let status: String = row.get(0)?;
        if let Some(status) = CoverageStatus::parse(&status) {
            counts.insert(status, row.get::<_, i64>(1)? as u64);
        }
    }
    Ok(counts)
}

/// Counts of active techniques by tactic and status; a technique counts under each of its tactics.
pub fn status_counts_by_tactic(conn: &Connection) -> Result<HashMap<String, HashMap<CoverageStatus, u64>>, AppError> {
    let mut stmt = conn.prepare_cached(
        "SELECT tt.tactic, t.status_global, COUNT(*) FROM technique_tactics tt
         JOIN techniques t ON t.id = tt.technique_id
         WHERE t.revoked = 0 AND t.deprecated = 0
         GROUP BY tt.tactic, t.status_global",
    )?;
    let mut counts: HashMap<String, HashMap<CoverageStatus, u64>> = HashMap::new();
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        let status: String = row.get(1)?;
        if let Some(status) = CoverageStatus::parse(&status) {
            counts.entry(row.get(0)?).or_default().insert(status, row.get::<_, i64>(2)? as u64);
        }
    }
    Ok(counts)
}

/// Changes whenever what the technique list or the metrics show may have changed (kept by triggers).
pub fn catalogue_version(conn: &Connection) -> Result<i64, AppError> {
    Ok(conn.prepare_cached("SELECT version FROM catalogue_version WHERE id = 1")?.query_row([], |row| row.get(0))?)
}

pub fn technique_count(conn: &Connection) -> Result<i64, AppError> {
    Ok(conn.query_row("SELECT COUNT(*) FROM techniques", [], |row| row.get(0))?)
}

#[derive(Debug, Clone)]
pub struct SyncRunRow {
    pub id: String,
    pub started_at: String,
    pub finished_at: String,
    pub source: String,
    pub triggered_by: String,
    pub outcome: String,
    pub new_count: i64,
    pub updated_count: i64,
    pub deprecated_count: i64,
    pub attack_version: Option<String>,
    pub message: String,
}

pub fn insert_sync_run(conn: &Connection, run: &SyncRunRow) -> Result<(), AppError> {
    conn.prepare_cached(
        "INSERT INTO sync_runs (id, started_at, finished_at, source, triggered_by, outcome, new_count,
             updated_count, deprecated_count, attack_version, message)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )?
    .execute(params![
        run.id,
        run.started_at,
        run.finished_at,
        run.source,
        run.triggered_by,
        run.outcome,
        run.new_count,
        run.updated_count,
        run.deprecated_count,
        run.attack_version,
        run.message
    ])?;
    Ok(())
}

pub fn last_sync_run(conn: &Connection, successful_only: bool) -> Result<Option<SyncRunRow>, AppError> {
    let filter = if successful_only { "WHERE outcome = 'ok'" } else { "" };
    Ok(conn
        .prepare_cached(&format!(
            "SELECT id, started_at, finished_at, source, triggered_by, outcome, new_count, updated_count,
                    deprecated_count, attack_version, message
             FROM sync_runs {filter} ORDER BY started_at DESC LIMIT 1"
        ))?
        .query_row([], |row| {
            Ok(SyncRunRow {
                id: row.get(0)?,
                started_at: row.get(1)?,
                finished_at: row.get(2)?,
                source: row.get(3)?,
                triggered_by: row.get(4)?,
                outcome: row.get(5)?,
                new_count: row.get(6)?,
                updated_count: row.get(7)?,
                deprecated_count: row.get(8)?,
                attack_version: row.get(9)?,
                message: row.get(10)?,
            })
        })
        .optional()?)
}
