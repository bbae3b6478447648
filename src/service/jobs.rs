//! Jobs as data: the named jobs, one run at a time each (a manual trigger while one runs is a
//! conflict), every run recorded with its start, end, outcome, message and who triggered it.

use std::sync::Arc;

use poem_openapi::Enum;
use tokio::sync::Mutex;

use crate::app::AppState;
use crate::db::jobs::{self as sql, JobRunRow};
use crate::error::AppError;
use crate::service::audit::Actor;
use crate::service::history::{self, Reason};
use crate::service::intel::{self, ScanReport};
use crate::service::sync::{self, BundleOrigin, SyncReport};
use crate::time;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Enum)]
#[oai(rename_all = "snake_case")]
pub enum JobId {
    MitreSync,
    IntelScan,
    CoverageSnapshot,
}

impl JobId {
    pub const ALL: [JobId; 3] = [JobId::MitreSync, JobId::IntelScan, JobId::CoverageSnapshot];

    pub fn as_str(self) -> &'static str {
        match self {
            JobId::MitreSync => "mitre_sync",
            JobId::IntelScan => "intel_scan",
            JobId::CoverageSnapshot => "coverage_snapshot",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            JobId::MitreSync => "MITRE ATT&CK Sync",
            JobId::IntelScan => "Threat Intel Scan",
            JobId::CoverageSnapshot => "Coverage Snapshot",
        }
    }
}

/// One lock per job, shared by the scheduler and manual triggers.
#[derive(Clone, Default)]
pub struct JobLocks {
    mitre_sync: Arc<Mutex<()>>,
    intel_scan: Arc<Mutex<()>>,
    coverage_snapshot: Arc<Mutex<()>>,
}

impl JobLocks {
    fn of(&self, job: JobId) -> &Arc<Mutex<()>> {
        match job {
            JobId::MitreSync => &self.mitre_sync,
            JobId::IntelScan => &self.intel_scan,
            JobId::CoverageSnapshot => &self.coverage_snapshot,
        }
    }
}

pub enum JobOutput {
    Sync(SyncReport),
    Scan(ScanReport),
    /// The reason the snapshot was recorded with.
    Snapshot(Reason),
}

/// Runs `job` now unless it is running already (409). `bundle` overrides the sync's source.
pub async fn run(
    state: &AppState,
    job: JobId,
    actor: Actor,
    bundle: Option<BundleOrigin>,
) -> Result<JobOutput, AppError> {
    let lock = state.job_locks.of(job).clone();
    let Ok(_running) = lock.try_lock() else {
        return Err(AppError::conflict(format!("the {} job is running now; try again when it finishes", job.as_str())));
    };
    let run = JobRunRow {
        id: uuid::Uuid::new_v4().to_string(),
        job_id: job.as_str().into(),
        started_at: time::now(),
        finished_at: None,
        outcome: "running".into(),
        message: String::new(),
        triggered_by: match &actor {
            Actor::User { username, .. } => username.clone(),
            Actor::System(name) => (*name).to_owned(),
        },
    };
    let run_id = run.id.clone();
    state.db.write(move |tx| sql::start(tx, &run)).await?;

    let output = match job {
        JobId::MitreSync => {
            let origin = bundle.unwrap_or_else(|| BundleOrigin::Configured(state.config.mitre_source.clone()));
            sync::sync(&state.db, actor, origin).await.map(JobOutput::Sync)
        }
        JobId::IntelScan => intel::scan(&state.db, actor, state.config.intel_timeout).await.map(JobOutput::Scan),
        JobId::CoverageSnapshot => {
            // The scheduler's runs are `scheduled`; a user's trigger is `manual`.
            let reason = match &actor {
                Actor::System(_) => Reason::Scheduled,
                Actor::User { .. } => Reason::Manual,
            };
            history::snapshot(&state.db, reason).await.map(|_| JobOutput::Snapshot(reason))
        }
    };
    let (outcome, message) = match &output {
        Ok(JobOutput::Sync(report)) => ("ok", report.summary()),
        Ok(JobOutput::Scan(report)) => {
            let failed: Vec<&str> = report.feeds.iter().filter(|f| !f.ok).map(|f| f.name.as_str()).collect();
            let mut message = format!("{} new items from {} feeds", report.new_items, report.feeds.len());
            if !failed.is_empty() {
                message.push_str(&format!("; failed: {}", failed.join(", ")));
            }
            ("ok", message)
        }
        Ok(JobOutput::Snapshot(reason)) => ("ok", format!("{} coverage snapshot taken", reason.as_str())),
        Err(AppError::Internal(_)) => ("failed", "internal error (see the server log)".to_owned()),
        Err(err) => ("failed", err.to_string()),
    };
    let finished_at = time::now();
    state.db.write(move |tx| sql::finish(tx, &run_id, &finished_at, outcome, &message)).await?;
    output
}

/// [`run`] for the sync job, with its report.
pub async fn run_sync(state: &AppState, actor: Actor, bundle: Option<BundleOrigin>) -> Result<SyncReport, AppError> {
    match run(state, JobId::MitreSync, actor, bundle).await? {
        JobOutput::Sync(report) => Ok(report),
        _ => Err(AppError::Internal(anyhow::anyhow!("the sync job reported another job's output"))),
    }
}

/// [`run`] for the scan job, with its report.
pub async fn run_scan(state: &AppState, actor: Actor) -> Result<ScanReport, AppError> {
    match run(state, JobId::IntelScan, actor, None).await? {
        JobOutput::Scan(report) => Ok(report),
        _ => Err(AppError::Internal(anyhow::anyhow!("the scan job reported another job's output"))),
    }
}

pub async fn last_run(state: &AppState, job: JobId) -> Result<Option<JobRunRow>, AppError> {
    state.db.read(move |conn| sql::last_run(conn, job.as_str())).await
}
