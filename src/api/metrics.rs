//! `/metrics`: detection coverage overall and by tactic.

use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};

use crate::api::ApiTags;
use crate::app::AppState;
use crate::auth::{BearerAuth, Permission};
use crate::error::ApiError;
use crate::service::metrics;

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

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Metrics")]
impl MetricsApi {
    /// Coverage summary
    ///
    /// Counts active techniques and sub-techniques (revoked and deprecated ones excluded).
    #[oai(path = "/metrics/summary", method = "get")]
    async fn summary(&self, auth: BearerAuth, state: Data<&AppState>) -> Result<Json<SummaryOut>, ApiError> {
        auth.0.require(Permission::Read)?;
        let counts = metrics::summary(&state.db).await?;
        Ok(Json(SummaryOut {
            total_techniques: counts.total,
            validated: counts.validated,
            partial: counts.partial,
            not_covered: counts.not_covered,
            in_progress: counts.in_progress,
            not_evaluated: counts.not_evaluated,
            coverage_percentage: counts.coverage_percentage,
        }))
    }

    /// Coverage by tactic
    ///
    /// Every tactic in ATT&CK matrix order.
    #[oai(path = "/metrics/by-tactic", method = "get")]
    async fn by_tactic(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
    ) -> Result<Json<Vec<TacticMetricsOut>>, ApiError> {
        auth.0.require(Permission::Read)?;
        let tactics = metrics::by_tactic(&state.db).await?;
        Ok(Json(
            tactics
                .into_iter()
                .map(|tactic| TacticMetricsOut {
                    tactic: tactic.shortname,
                    name: tactic.name,
                    mitre_id: tactic.mitre_id,
                    total: tactic.counts.total,
                    validated: tactic.counts.validated,
                    partial: tactic.counts.partial,
                    not_covered: tactic.counts.not_covered,
                    not_evaluated: tactic.counts.not_evaluated,
                    in_progress: tactic.counts.in_progress,
                    coverage_percentage: tactic.counts.coverage_percentage,
                })
                .collect(),
        ))
    }
}
