//! SQL for the record of scheduled and manual job runs.

use rusqlite::{Connection, OptionalExtension, params};

use crate::error::AppError;

#[derive(Debug, Clone)]
pub struct JobRunRow {
    pub id: String,
    pub job_id: String,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub outcome: String,
    pub message: String,
    pub triggered_by: String,
}

pub fn start(conn: &Connection, run: &JobRunRow) -> Result<(), AppError> {
    conn.prepare_cached(
        "INSERT INTO job_runs (id, job_id, started_at, finished_at, outcome, message, triggered_by)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        run.id,
        run.job_id,
        run.started_at,
        run.finished_at,
        run.outcome,
        run.message,
        run.triggered_by
    ])?;
    Ok(())
}

pub fn finish(conn: &Connection, id: &str, finished_at: &str, outcome: &str, message: &str) -> Result<(), AppError> {
    conn.prepare_cached("UPDATE job_runs SET finished_at = ?2, outcome = ?3, message = ?4 WHERE id = ?1")?
        .execute(params![id, finished_at, outcome, message])?;
    Ok(())
}

pub fn last_run(conn: &Connection, job_id: &str) -> Result<Option<JobRunRow>, AppError> {
    Ok(conn
        .prepare_cached(
            "SELECT id, job_id, started_at, finished_at, outcome, message, triggered_by FROM job_runs
             WHERE job_id = ?1 ORDER BY started_at DESC, rowid DESC LIMIT 1",
        )?
        .query_row([job_id], |row| {
            Ok(JobRunRow {
                id: row.get(0)?,
                job_id: row.get(1)?,
                started_at: row.get(2)?,
                finished_at: row.get(3)?,
                outcome: row.get(4)?,
                message: row.get(5)?,
                triggered_by: row.get(6)?,
            })
        })
        .optional()?)
}

/// Runs left `running` by a process that stopped mid-run are marked failed at the next start.
pub fn fail_interrupted(conn: &Connection, now: &str) -> Result<usize, AppError> {
    Ok(conn.execute(
        "UPDATE job_runs SET outcome = 'failed', finished_at = ?1, message = 'interrupted: Aegis stopped during the run'
         WHERE outcome = 'running'",
        [now],
    )?)
}
