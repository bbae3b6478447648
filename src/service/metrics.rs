//! Coverage metrics, computed from the techniques' maintained statuses (never from a scan of the
//! tests): the summary, and the same by tactic in matrix order.

use std::collections::HashMap;

use crate::db::{Db, catalogue as sql};
use crate::error::AppError;
use crate::service::coverage::{CoverageStatus, coverage_percentage};

#[derive(Debug, Clone, Default, PartialEq)]
pub struct StatusCounts {
    pub total: u64,
    pub validated: u64,
    pub partial: u64,
    pub not_covered: u64,
    pub in_progress: u64,
    pub not_evaluated: u64,
    pub coverage_percentage: f64,
}

impl StatusCounts {
    /// Totals and the coverage percentage from counts by status.
    pub fn from_map(counts: &HashMap<CoverageStatus, u64>) -> StatusCounts {
        let count = |status| counts.get(&status).copied().unwrap_or(0);
        let mut result = StatusCounts {
            validated: count(CoverageStatus::Validated),
            partial: count(CoverageStatus::Partial),
            not_covered: count(CoverageStatus::NotCovered),
            in_progress: count(CoverageStatus::InProgress),
            not_evaluated: count(CoverageStatus::NotEvaluated),
            ..StatusCounts::default()
        };
        result.total =
            result.validated + result.partial + result.not_covered + result.in_progress + result.not_evaluated;
        result.coverage_percentage = coverage_percentage(result.validated, result.partial, result.total);
        result
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct TacticCoverage {
    pub shortname: String,
    pub name: String,
    pub mitre_id: String,
    pub counts: StatusCounts,
}

pub async fn summary(db: &Db) -> Result<StatusCounts, AppError> {
    let counts = db.read(sql::status_counts).await?;
    Ok(StatusCounts::from_map(&counts))
}

/// Every tactic in matrix order, with its active techniques counted by status.
pub async fn by_tactic(db: &Db) -> Result<Vec<TacticCoverage>, AppError> {
    db.read(|conn| {
        let mut counts = sql::status_counts_by_tactic(conn)?;
        let tactics = sql::tactics(conn)?;
        Ok(tactics
            .into_iter()
            .map(|tactic| TacticCoverage {
                counts: StatusCounts::from_map(&counts.remove(&tactic.shortname).unwrap_or_default()),
                shortname: tactic.shortname,
                name: tactic.name,
                mitre_id: tactic.mitre_id,
            })
            .collect())
    })
    .await
}
