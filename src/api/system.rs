//! `/health` and, as they land, the system operations (sync, scans, scheduler).

use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};

use crate::api::ApiTags;
use crate::app::AppState;
use crate::error::ApiError;

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
        Health {
            status: "ok".into(),
            version: crate::VERSION.into(),
        }
    }
}

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::System")]
impl SystemApi {
    /// Health check
    ///
    /// No authentication. Answers `ok` once the database responds; for start-up scripts and monitors.
    #[oai(path = "/health", method = "get")]
    async fn health(&self, state: Data<&AppState>) -> Result<Json<Health>, ApiError<0>> {
        state
            .db
            .read(|conn| Ok(conn.query_row("SELECT 1", [], |_| Ok(()))?))
            .await?;
        Ok(Json(Health {
            status: "ok".into(),
            version: crate::VERSION.into(),
        }))
    }
}
