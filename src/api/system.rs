//! `/health` and, as they land, the system operations (sync, scans, scheduler).

use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};

use crate::api::ApiTags;

pub struct SystemApi;

#[derive(Debug, Object)]
pub struct Health {
    /// `ok` while the server answers.
    pub status: String,
    pub version: String,
}

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::System")]
impl SystemApi {
    /// Health check
    ///
    /// No authentication. For load balancers and start-up scripts.
    #[oai(path = "/health", method = "get")]
    async fn health(&self) -> Json<Health> {
        Json(Health {
            status: "ok".into(),
            version: crate::VERSION.into(),
        })
    }
}
