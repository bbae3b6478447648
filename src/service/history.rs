//! Coverage history: snapshots of the coverage counts (overall and by tactic), computed from the
//! techniques' maintained statuses, taken daily by the `coverage_snapshot` job, when a user runs that
//! job, and whenever a test verdict or deletion changes a technique's status.

use rusqlite::{Connection, params};

use crate::db::{Db, catalogue as sql};
use crate::error::AppError;
use crate::service::metrics::StatusCounts;
use crate::time;

/// Why a snapshot was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// The scheduler ran the `coverage_snapshot` job.
    Scheduled,
    /// A test change moved a technique's status.
    StatusChange,
    /// A user ran the `coverage_snapshot` job.
    Manual,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Scheduled => "scheduled",
            Reason::StatusChange => "status_change",
            Reason::Manual => "manual",
        }
    }
}

/// One tactic's counts in a snapshot.
#[derive(Debug, Clone, PartialEq)]
pub struct TacticPoint {
    pub tactic: String,
    pub counts: StatusCounts,
}

/// One snapshot.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub taken_at: String,
    pub reason: String,
    pub counts: StatusCounts,
    /// In matrix order.
    pub by_tactic: Vec<TacticPoint>,
}

/// Records the current coverage, in the caller's transaction. Returns the snapshot's id.
pub fn take_snapshot(conn: &Connection, reason: Reason) -> Result<String, AppError> {
    let summary = StatusCounts::from_map(&sql::status_counts(conn)?);
    let mut by_tactic = sql::status_counts_by_tactic(conn)?;
    let id = uuid::Uuid::new_v4().to_string();
    conn.prepare_cached(
        "INSERT INTO coverage_snapshots (id, taken_at, reason, total, validated, partial, not_covered,
             in_progress, not_evaluated, coverage_percentage)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?
    .execute(params![
        id,
        time::now(),
        reason.as_str(),
        summary.total as i64,
        summary.validated as i64,
        summary.partial as i64,
        summary.not_covered as i64,
        summary.in_progress as i64,
        summary.not_evaluated as i64,
        summary.coverage_percentage,
    ])?;
    let mut insert = conn.prepare_cached(
        "INSERT INTO coverage_snapshot_tactics (snapshot_id, tactic, position, total, validated, partial,
             not_covered, in_progress, not_evaluated, coverage_percentage)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?;
    for tactic in sql::tactics(conn)? {
        let counts = StatusCounts::from_map(&by_tactic.remove(&tactic.shortname).unwrap_or_default());
        insert.execute(params![
            id,
            tactic.shortname,
            tactic.position,
            counts.total as i64,
            counts.validated as i64,
            counts.partial as i64,
            counts.not_covered as i64,
            counts.in_progress as i64,
            counts.not_evaluated as i64,
            counts.coverage_percentage,
        ])?;
    }
    Ok(id)
}

fn counts_from_row(row: &rusqlite::Row<'_>, first: usize) -> rusqlite::Result<StatusCounts> {
    let get = |i: usize| row.get::<_, i64>(first + i).map(|v| v.max(0) as u64);
    Ok(StatusCounts {
        total: get(0)?,
        validated: get(1)?,
        partial: get(2)?,
        not_covered: get(3)?,
        in_progress: get(4)?,
        not_evaluated: get(5)?,
        coverage_percentage: row.get(first + 6)?,
    })
}

/// The snapshots taken in `[from, to]` (stored-format timestamps), oldest first.
pub fn series_in(conn: &Connection, from: &str, to: &str) -> Result<Vec<Point>, AppError> {
    const COUNTS: &str = "total, validated, partial, not_covered, in_progress, not_evaluated, coverage_percentage";
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT id, taken_at, reason, {COUNTS} FROM coverage_snapshots
         WHERE taken_at >= ?1 AND taken_at <= ?2 ORDER BY taken_at, rowid"
    ))?;
    let snapshots = stmt
        .query_map(params![from, to], |row| {
            Ok((
                row.get::<_, String>(0)?,
                Point {
                    taken_at: row.get(1)?,
                    reason: row.get(2)?,
                    counts: counts_from_row(row, 3)?,
                    by_tactic: vec![],
                },
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut tactics = conn.prepare_cached(&format!(
        "SELECT tactic, {COUNTS} FROM coverage_snapshot_tactics WHERE snapshot_id = ?1 ORDER BY position, tactic"
    ))?;
    let mut points = Vec::with_capacity(snapshots.len());
    for (id, mut point) in snapshots {
        point.by_tactic = tactics
            .query_map(params![id], |row| Ok(TacticPoint { tactic: row.get(0)?, counts: counts_from_row(row, 1)? }))?
            .collect::<rusqlite::Result<_>>()?;
        points.push(point);
    }
    Ok(points)
}

/// [`series_in`] on a pooled connection.
pub async fn series(db: &Db, from: String, to: String) -> Result<Vec<Point>, AppError> {
    db.read(move |conn| series_in(conn, &from, &to)).await
}

/// Takes a snapshot in its own write transaction.
pub async fn snapshot(db: &Db, reason: Reason) -> Result<String, AppError> {
    db.write(move |tx| take_snapshot(tx, reason)).await
}
