//! `/health` and the system operations: the ATT&CK sync.

use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};

use crate::api::ApiTags;
use crate::api::bundle_upload::OptionalBundleUpload;
use crate::app::AppState;
use crate::auth::{BearerAuth, Permission};
use crate::error::{ApiError, AppError, documented::*};
use crate::scheduler::Scheduler;
use crate::service::intel::ScanReport;
use crate::service::jobs::{self, JobId};
use crate::service::sync::{BundleOrigin, SyncReport};

pub struct SystemApi;

#[derive(Debug, Object)]
#[oai(example)]
pub struct Health {
    /// `ok` while the server answers and its database responds.
    pub status: String,
    pub version: String,
}

impl poem_openapi::types::Example for Health {
    fn example() -> Self {
        Health { status: "ok".into(), version: crate::VERSION.into() }
    }
}

#[derive(Debug, Object)]
#[oai(example)]
pub struct SyncResponse {
    pub message: String,
    /// Active techniques added.
    pub new: u64,
    /// Techniques whose ATT&CK definition changed.
    pub updated: u64,
    /// Techniques that became revoked or deprecated (or arrived so).
    pub deprecated: u64,
    pub unchanged: u64,
    /// Changed techniques flagged for review because they have tests.
    pub flagged_for_review: u64,
    /// The ATT&CK release the bundle names, when it names one.
    #[oai(nullable)]
    pub attack_version: Option<String>,
    /// Where the bundle came from: a URL, a path, `upload` or `embedded:…`.
    pub source: String,
}

impl poem_openapi::types::Example for SyncResponse {
    fn example() -> Self {
        SyncResponse {
            message: "MITRE sync completed".into(),
            new: 5,
            updated: 10,
            deprecated: 1,
            unchanged: 675,
            flagged_for_review: 2,
            attack_version: Some("18.1".into()),
            source: "upload".into(),
        }
    }
}

impl From<SyncReport> for SyncResponse {
    fn from(report: SyncReport) -> Self {
        SyncResponse {
            message: "MITRE sync completed".into(),
            new: report.new,
            updated: report.updated,
            deprecated: report.deprecated,
            unchanged: report.unchanged,
            flagged_for_review: report.flagged_for_review,
            attack_version: report.attack_version,
            source: report.source,
        }
    }
}

/// One feed's part in a scan.
#[derive(Debug, Object)]
pub struct FeedScanResult {
    pub feed_id: String,
    pub name: String,
    /// `ok` or `error`.
    pub status: String,
    pub new_items: u64,
    #[oai(nullable)]
    pub error: Option<String>,
}

#[derive(Debug, Object)]
#[oai(example)]
pub struct ScanResponse {
    pub message: String,
    pub new_items: u64,
    /// Techniques flagged for review by the new items.
    pub flagged_techniques: u64,
    pub feeds: Vec<FeedScanResult>,
}

impl poem_openapi::types::Example for ScanResponse {
    fn example() -> Self {
        ScanResponse {
            message: "Intel scan completed".into(),
            new_items: 3,
            flagged_techniques: 2,
            feeds: vec![FeedScanResult {
                feed_id: "6f1c...".into(),
                name: "www.cisa.gov".into(),
                status: "ok".into(),
                new_items: 3,
                error: None,
            }],
        }
    }
}

impl From<ScanReport> for ScanResponse {
    fn from(report: ScanReport) -> Self {
        ScanResponse {
            message: "Intel scan completed".into(),
            new_items: report.new_items,
            flagged_techniques: report.flagged_techniques,
            feeds: report
                .feeds
                .into_iter()
                .map(|feed| FeedScanResult {
                    feed_id: feed.feed_id,
                    name: feed.name,
                    status: if feed.ok { "ok" } else { "error" }.into(),
                    new_items: feed.new_items,
                    error: feed.error,
                })
                .collect(),
        }
    }
}

#[derive(Debug, Object)]
pub struct JobStatus {
    pub id: JobId,
    pub name: String,
    /// `null` when the job is disabled.
    #[oai(nullable)]
    pub next_run_time: Option<String>,
    /// The cron expression (6 fields, seconds first); `null` when disabled.
    #[oai(nullable)]
    pub schedule: Option<String>,
    pub enabled: bool,
    #[oai(nullable)]
    pub last_run_at: Option<String>,
    #[oai(nullable)]
    pub last_finished_at: Option<String>,
    /// `running`, `ok` or `failed`.
    #[oai(nullable)]
    pub last_status: Option<String>,
    #[oai(nullable)]
    pub last_message: Option<String>,
    /// A username, or `scheduler`.
    #[oai(nullable)]
    pub last_triggered_by: Option<String>,
}

#[derive(Debug, Object)]
pub struct SchedulerStatus {
    pub running: bool,
    pub jobs: Vec<JobStatus>,
}

#[derive(Debug, Object)]
pub struct JobRunResponse {
    pub id: JobId,
    /// `ok` or `failed`.
    pub status: String,
    pub message: String,
    pub started_at: String,
    #[oai(nullable)]
    pub finished_at: Option<String>,
}

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::System")]
impl SystemApi {
    /// Health check
    ///
    /// No authentication. Answers `ok` once the database responds; for start-up scripts and monitors.
    #[oai(path = "/health", method = "get")]
    async fn health(&self, state: Data<&AppState>) -> Result<Json<Health>, ApiError<0>> {
        state.db.read(|conn| Ok(conn.query_row("SELECT 1", [], |_| Ok(()))?)).await?;
        Ok(Json(Health { status: "ok".into(), version: crate::VERSION.into() }))
    }

    /// Sync the ATT&CK catalogue
    ///
    /// From `AEGIS_MITRE_SOURCE`, or from an uploaded bundle (`file`). One transaction: new techniques
    /// are added, changed ones updated (and flagged for review when they have tests), revoked and
    /// deprecated ones marked; nothing is deleted. A bad bundle changes nothing (400 `INVALID_BUNDLE`);
    /// an unreachable source is 502; a sync already running is 409.
    #[oai(path = "/system/sync-mitre", method = "post")]
    async fn sync_mitre(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        upload: OptionalBundleUpload,
    ) -> Result<Json<SyncResponse>, ApiError<{ AUTHED | CONFLICT | PAYLOAD_TOO_LARGE | UPSTREAM }>> {
        auth.0.require(Permission::ManageSystem)?;
        let origin = upload.0.map(BundleOrigin::Upload);
        Ok(Json(jobs::run_sync(&state, (&auth.0).into(), origin).await?.into()))
    }

    /// Run the threat-intel scan
    ///
    /// Fetches every enabled feed, stores new items, and flags the techniques they name for review.
    /// A failing feed is reported and does not fail the others; a scan already running is 409.
    #[oai(path = "/system/run-intel-scan", method = "post")]
    async fn run_intel_scan(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
    ) -> Result<Json<ScanResponse>, ApiError<{ AUTHED | CONFLICT }>> {
        auth.0.require(Permission::ManageSystem)?;
        Ok(Json(jobs::run_scan(&state, (&auth.0).into()).await?.into()))
    }

    /// Scheduler status
    ///
    /// Every job with its schedule, next run and last run.
    #[oai(path = "/system/scheduler-status", method = "get")]
    async fn scheduler_status(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
    ) -> Result<Json<SchedulerStatus>, ApiError> {
        auth.0.require(Permission::ManageSystem)?;
        let scheduler = state.scheduler.get();
        let mut statuses = Vec::new();
        for schedule in Scheduler::schedules(&state) {
            let last = jobs::last_run(&state, schedule.job).await?;
            let next = match scheduler {
                Some(scheduler) => scheduler.next_run(schedule.job).await,
                None => None,
            };
            statuses.push(JobStatus {
                id: schedule.job,
                name: schedule.job.name().into(),
                next_run_time: next.map(crate::time::format),
                enabled: schedule.cron.is_some(),
                schedule: schedule.cron,
                last_run_at: last.as_ref().map(|run| run.started_at.clone()),
                last_finished_at: last.as_ref().and_then(|run| run.finished_at.clone()),
                last_status: last.as_ref().map(|run| run.outcome.clone()),
                last_message: last.as_ref().map(|run| run.message.clone()),
                last_triggered_by: last.map(|run| run.triggered_by),
            });
        }
        Ok(Json(SchedulerStatus { running: scheduler.is_some(), jobs: statuses }))
    }

    /// Run a job now
    ///
    /// `mitre_sync`, `intel_scan` or `coverage_snapshot`, as the scheduler would; 409 while it is running.
    #[oai(path = "/system/jobs/:id/run", method = "post")]
    async fn run_job(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        id: Path<JobId>,
    ) -> Result<Json<JobRunResponse>, ApiError<{ AUTHED | CONFLICT | UPSTREAM }>> {
        auth.0.require(Permission::ManageSystem)?;
        jobs::run(&state, id.0, (&auth.0).into(), None).await?;
        let run = jobs::last_run(&state, id.0)
            .await?
            .ok_or_else(|| AppError::Internal(anyhow::anyhow!("run not recorded")))?;
        Ok(Json(JobRunResponse {
            id: id.0,
            status: run.outcome,
            message: run.message,
            started_at: run.started_at,
            finished_at: run.finished_at,
        }))
    }
}
