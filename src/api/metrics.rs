//! `/metrics`: detection coverage overall and by tactic.

use poem::web::Data;
use poem_openapi::param::Query;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};

use bytes::Bytes;

use crate::api::ApiTags;
use crate::api::prepared::PreparedJson;
use crate::app::AppState;
use crate::auth::{BearerAuth, Permission};
use crate::error::{ApiError, AppError};
use crate::service::metrics::{StatusCounts, TacticCoverage};
use crate::service::{history, metrics};
use crate::time::{self, DayBound};

/// How far back the history goes when `from` is not given.
const DEFAULT_HISTORY_DAYS: i64 = 90;

pub struct MetricsApi;

/// Active techniques and sub-techniques by coverage status.
#[derive(Debug, Object)]
#[oai(example)]
pub struct SummaryOut {
    pub total_techniques: u64,
    pub validated: u64,
    pub partial: u64,
    pub not_covered: u64,
    pub in_progress: u64,
    pub not_evaluated: u64,
    /// (validated + partial) / total × 100, rounded to 2 decimals.
    pub coverage_percentage: f64,
}

impl poem_openapi::types::Example for SummaryOut {
    fn example() -> Self {
        SummaryOut {
            total_techniques: 200,
            validated: 50,
            partial: 20,
            not_covered: 30,
            in_progress: 10,
            not_evaluated: 90,
            coverage_percentage: 35.0,
        }
    }
}

/// One tactic's techniques by status; a technique counts under each of its tactics.
#[derive(Debug, Object)]
pub struct TacticMetricsOut {
    /// The tactic's shortname, e.g. `execution`.
    pub tactic: String,
    pub name: String,
    pub mitre_id: String,
    pub total: u64,
    pub validated: u64,
    pub partial: u64,
    pub not_covered: u64,
    pub not_evaluated: u64,
    pub in_progress: u64,
    pub coverage_percentage: f64,
}

/// One tactic's counts in a history point.
#[derive(Debug, Object)]
pub struct HistoryTacticOut {
    /// The tactic's shortname, e.g. `execution`.
    pub tactic: String,
    pub total: u64,
    pub validated: u64,
    pub partial: u64,
    pub not_covered: u64,
    pub in_progress: u64,
    pub not_evaluated: u64,
    pub coverage_percentage: f64,
}

/// One coverage snapshot.
#[derive(Debug, Object)]
pub struct HistoryPointOut {
    pub taken_at: String,
    /// `scheduled` (the daily job), `manual` (a user ran the job) or `status_change` (a test verdict
    /// or deletion changed a technique's status).
    pub reason: String,
    pub total: u64,
    pub validated: u64,
    pub partial: u64,
    pub not_covered: u64,
    pub in_progress: u64,
    pub not_evaluated: u64,
    pub coverage_percentage: f64,
    /// Every tactic in matrix order.
    pub by_tactic: Vec<HistoryTacticOut>,
}

/// The coverage snapshots taken in `[from, to]`, oldest first.
#[derive(Debug, Object)]
pub struct HistoryOut {
    pub from: String,
    pub to: String,
    pub points: Vec<HistoryPointOut>,
}

fn summary_out(c: StatusCounts) -> SummaryOut {
    SummaryOut {
        total_techniques: c.total,
        validated: c.validated,
        partial: c.partial,
        not_covered: c.not_covered,
        in_progress: c.in_progress,
        not_evaluated: c.not_evaluated,
        coverage_percentage: c.coverage_percentage,
    }
}

fn tactic_metrics_out(tactic: TacticCoverage) -> TacticMetricsOut {
    let c = tactic.counts;
    TacticMetricsOut {
        tactic: tactic.shortname,
        name: tactic.name,
        mitre_id: tactic.mitre_id,
        total: c.total,
        validated: c.validated,
        partial: c.partial,
        not_covered: c.not_covered,
        not_evaluated: c.not_evaluated,
        in_progress: c.in_progress,
        coverage_percentage: c.coverage_percentage,
    }
}

fn tactic_out(tactic: String, c: StatusCounts) -> HistoryTacticOut {
    HistoryTacticOut {
        tactic,
        total: c.total,
        validated: c.validated,
        partial: c.partial,
        not_covered: c.not_covered,
        in_progress: c.in_progress,
        not_evaluated: c.not_evaluated,
        coverage_percentage: c.coverage_percentage,
    }
}

fn point_out(point: history::Point) -> HistoryPointOut {
    let c = point.counts;
    HistoryPointOut {
        taken_at: point.taken_at,
        reason: point.reason,
        total: c.total,
        validated: c.validated,
        partial: c.partial,
        not_covered: c.not_covered,
        in_progress: c.in_progress,
        not_evaluated: c.not_evaluated,
        coverage_percentage: c.coverage_percentage,
        by_tactic: point.by_tactic.into_iter().map(|t| tactic_out(t.tactic, t.counts)).collect(),
    }
}

fn bound(name: &str, value: Option<String>, bound: DayBound) -> Result<Option<String>, AppError> {
    value
        .map(|value| {
            time::parse_filter(&value, bound)
                .ok_or_else(|| AppError::validation(format!("{name} '{value}' is not a date or an RFC 3339 date-time")))
        })
        .transpose()
}

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Metrics")]
impl MetricsApi {
    /// Coverage summary
    ///
    /// Counts active techniques and sub-techniques (revoked and deprecated ones excluded).
    #[oai(path = "/metrics/summary", method = "get")]
    async fn summary(&self, auth: BearerAuth, state: Data<&AppState>) -> Result<PreparedJson<SummaryOut>, ApiError> {
        auth.0.require(Permission::Read)?;
        // Rendered once per catalogue version: the counts come from the techniques' maintained statuses.
        let version = auth.0.catalogue_version;
        let body = state
            .views
            .metrics_summary
            .get_or_derive(version, async {
                Ok((version, PreparedJson::render(&summary_out(metrics::summary(&state.db).await?))))
            })
            .await?;
        Ok(PreparedJson::new(Bytes::clone(&body)))
    }

    /// Coverage by tactic
    ///
    /// Every tactic in ATT&CK matrix order.
    #[oai(path = "/metrics/by-tactic", method = "get")]
    async fn by_tactic(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
    ) -> Result<PreparedJson<Vec<TacticMetricsOut>>, ApiError> {
        auth.0.require(Permission::Read)?;
        let version = auth.0.catalogue_version;
        let body = state
            .views
            .metrics_by_tactic
            .get_or_derive(version, async {
                let tactics = metrics::by_tactic(&state.db).await?;
                Ok((version, PreparedJson::render(&tactics.into_iter().map(tactic_metrics_out).collect::<Vec<_>>())))
            })
            .await?;
        Ok(PreparedJson::new(Bytes::clone(&body)))
    }

    /// Coverage history
    ///
    /// The coverage snapshots taken between `from` and `to` (dates, which cover the whole day, or
    /// RFC 3339 date-times; default: the last 90 days up to now), oldest first, each with the
    /// summary counts and the counts by tactic.
    #[oai(path = "/metrics/history", method = "get")]
    async fn history(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        from: Query<Option<String>>,
        to: Query<Option<String>>,
    ) -> Result<Json<HistoryOut>, ApiError> {
        auth.0.require(Permission::Read)?;
        let to = bound("to", to.0, DayBound::End)?.unwrap_or_else(time::now);
        let from = match bound("from", from.0, DayBound::Start)? {
            Some(from) => from,
            None => {
                let to_at = chrono::DateTime::parse_from_rfc3339(&to)
                    .map_err(|err| AppError::Internal(anyhow::anyhow!("stored-format time: {err}")))?;
                time::format(to_at.with_timezone(&chrono::Utc) - chrono::Duration::days(DEFAULT_HISTORY_DAYS))
            }
        };
        if from > to {
            return Err(AppError::validation(format!("from '{from}' is after to '{to}'")).into());
        }
        let points = history::series(&state.db, from.clone(), to.clone()).await?;
        Ok(Json(HistoryOut { from, to, points: points.into_iter().map(point_out).collect() }))
    }
}
