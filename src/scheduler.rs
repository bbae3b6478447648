//! The internal scheduler: each job on its cron expression from the config (6 fields, seconds
//! first; empty disables it). A tick while the job still runs is skipped; a failure is logged and
//! retried at the next tick. Jobs call services, never handlers.

use std::collections::HashMap;

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use tokio::sync::Mutex;
use tokio_cron_scheduler::{Job, JobScheduler};
use uuid::Uuid;

use crate::app::AppState;
use crate::error::AppError;
use crate::service::audit::Actor;
use crate::service::jobs::{self, JobId};

/// A job as configured.
#[derive(Debug, Clone)]
pub struct JobSchedule {
    pub job: JobId,
    /// `None` when disabled.
    pub cron: Option<String>,
}

pub struct Scheduler {
    inner: Mutex<JobScheduler>,
    scheduled: HashMap<JobId, Uuid>,
    pub schedules: Vec<JobSchedule>,
}

/// Checks a 6-field cron expression (seconds first) as the scheduler will read it.
pub fn check_cron(setting: &str, expression: &str) -> anyhow::Result<()> {
    if expression.split_whitespace().count() != 6 {
        bail!(
            "{setting} '{expression}' must have 6 fields, seconds first (e.g. '0 0 3 * * *'), or be empty to disable the job"
        );
    }
    Job::new_async(expression, |_, _| Box::pin(async {}))
        .map(drop)
        .map_err(|err| anyhow::anyhow!("{setting} '{expression}' is not a valid cron expression: {err:?}"))
}

impl Scheduler {
    pub fn schedules(state: &AppState) -> Vec<JobSchedule> {
        vec![
            JobSchedule { job: JobId::MitreSync, cron: state.config.mitre_sync_cron.clone() },
            JobSchedule { job: JobId::IntelScan, cron: state.config.intel_scan_cron.clone() },
            JobSchedule { job: JobId::CoverageSnapshot, cron: state.config.snapshot_cron.clone() },
        ]
    }

    /// Starts every enabled job.
    pub async fn start(state: AppState) -> anyhow::Result<Scheduler> {
        let scheduler = JobScheduler::new().await.map_err(|err| anyhow::anyhow!("starting the scheduler: {err:?}"))?;
        let schedules = Self::schedules(&state);
        let mut scheduled = HashMap::new();
        for schedule in &schedules {
            let Some(cron) = &schedule.cron else { continue };
            let (job, state) = (schedule.job, state.clone());
            let task = Job::new_async(cron.as_str(), move |_, _| {
                let state = state.clone();
                Box::pin(async move { run_scheduled(&state, job).await })
            })
            .map_err(|err| anyhow::anyhow!("the {} schedule '{cron}': {err:?}", job.as_str()))?;
            let id = scheduler.add(task).await.map_err(|err| anyhow::anyhow!("{err:?}")).context("adding a job")?;
            scheduled.insert(job, id);
        }
        scheduler.start().await.map_err(|err| anyhow::anyhow!("starting the scheduler: {err:?}"))?;
        Ok(Scheduler { inner: Mutex::new(scheduler), scheduled, schedules })
    }

    pub async fn next_run(&self, job: JobId) -> Option<DateTime<Utc>> {
        let id = *self.scheduled.get(&job)?;
        // `next_tick_for_job` takes `&mut self`; the scheduler handle is a cheap clone.
        let mut scheduler = self.inner.lock().await.clone();
        scheduler.next_tick_for_job(id).await.ok().flatten()
    }

    pub async fn shutdown(&self) {
        if let Err(err) = self.inner.lock().await.shutdown().await {
            tracing::warn!(error = ?err, "stopping the scheduler");
        }
    }
}

async fn run_scheduled(state: &AppState, job: JobId) {
    match jobs::run(state, job, Actor::System("scheduler"), None).await {
        Ok(_) => tracing::info!(job = job.as_str(), "scheduled job finished"),
        Err(AppError::Conflict(_)) => tracing::info!(job = job.as_str(), "skipped a tick: the job is still running"),
        Err(err) => {
            tracing::warn!(job = job.as_str(), error = %err, "scheduled job failed; it runs again at the next tick")
        }
    }
}
