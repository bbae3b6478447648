//! `/export` and `/reports`: the coverage as an ATT&CK Navigator layer, as CSV, and as a printable
//! HTML report.

use poem::web::Data;
use poem_openapi::param::Query;
use poem_openapi::payload::{Html, Json, PlainText};
use poem_openapi::{ApiResponse, OpenApi};

use crate::api::ApiTags;
use crate::app::AppState;
use crate::auth::{BearerAuth, Permission};
use crate::error::ApiError;
use crate::service::catalogue::TechniqueFilter;
use crate::service::coverage::CoverageStatus;
use crate::service::export;

pub struct ExportApi;

#[derive(ApiResponse)]
pub enum CsvResponse {
    /// The coverage, one row per active technique.
    #[oai(status = 200, content_type = "text/csv; charset=utf-8")]
    Csv(
        PlainText<String>,
        /// `attachment; filename="aegis-coverage.csv"`
        #[oai(header = "Content-Disposition")]
        String,
    ),
}

#[derive(ApiResponse)]
pub enum HtmlResponse {
    /// A self-contained page: inline styles, no scripts, no external resources.
    #[oai(status = 200)]
    Html(
        Html<String>,
        /// Inline styles only; nothing is fetched.
        #[oai(header = "Content-Security-Policy")]
        String,
    ),
}

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Export")]
impl ExportApi {
    /// ATT&CK Navigator layer
    ///
    /// A layer (format 4.5, Navigator 5.1) with one entry per technique and tactic, coloured and scored
    /// by coverage status (validated 3, partial 2, in progress 1, not covered 0, not evaluated unscored).
    /// The filters mean what they mean for `GET /techniques`.
    #[oai(path = "/export/navigator-layer", method = "get")]
    async fn navigator_layer(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        /// Shortname (`execution`), id (`TA0002`) or name (`Execution`).
        tactic: Query<Option<String>>,
        /// An ATT&CK platform, any case.
        platform: Query<Option<String>>,
        status: Query<Option<CoverageStatus>>,
    ) -> Result<Json<serde_json::Value>, ApiError> {
        auth.0.require(Permission::Read)?;
        let filter =
            TechniqueFilter { tactic: tactic.0, platform: platform.0, status: status.0, ..TechniqueFilter::default() };
        Ok(Json(export::navigator_layer(&state.db, filter).await?))
    }

    /// Coverage as CSV
    ///
    /// One row per active technique ordered by ATT&CK id; tactics and platforms joined with `; `.
    #[oai(path = "/export/coverage.csv", method = "get")]
    async fn coverage_csv(&self, auth: BearerAuth, state: Data<&AppState>) -> Result<CsvResponse, ApiError> {
        auth.0.require(Permission::Read)?;
        let body = export::coverage_csv(&state.db).await?;
        Ok(CsvResponse::Csv(PlainText(body), format!("attachment; filename=\"{}\"", export::CSV_FILENAME)))
    }

    /// Printable coverage report
    ///
    /// One self-contained HTML page: summary, coverage by tactic, a compact matrix, validated tests
    /// and open review items.
    #[oai(path = "/reports/coverage.html", method = "get")]
    async fn coverage_report(&self, auth: BearerAuth, state: Data<&AppState>) -> Result<HtmlResponse, ApiError> {
        auth.0.require(Permission::Read)?;
        let page = export::coverage_report_html(&state.db).await?;
        Ok(HtmlResponse::Html(Html(page), export::REPORT_CSP.to_owned()))
    }
}
