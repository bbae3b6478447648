//! `/health` and the system operations: the ATT&CK sync.

use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};

use crate::api::ApiTags;
use crate::api::bundle_upload::OptionalBundleUpload;
use crate::app::AppState;
use crate::auth::{BearerAuth, Permission};
use crate::error::{ApiError, documented::*};
use crate::service::sync::{self, BundleOrigin};

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
    /// an unreachable source is 502. Syncs run one at a time.
    #[oai(path = "/system/sync-mitre", method = "post")]
    async fn sync_mitre(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        upload: OptionalBundleUpload,
    ) -> Result<Json<SyncResponse>, ApiError<{ AUTHED | PAYLOAD_TOO_LARGE | UPSTREAM }>> {
        auth.0.require(Permission::ManageSystem)?;
        let origin = match upload.0 {
            Some(bytes) => BundleOrigin::Upload(bytes),
            None => BundleOrigin::Configured(state.config.mitre_source.clone()),
        };
        let _one_at_a_time = state.sync_lock.lock().await;
        let report = sync::sync(&state.db, (&auth.0).into(), origin).await?;
        Ok(Json(SyncResponse {
            message: "MITRE sync completed".into(),
            new: report.new,
            updated: report.updated,
            deprecated: report.deprecated,
            unchanged: report.unchanged,
            flagged_for_review: report.flagged_for_review,
            attack_version: report.attack_version,
            source: report.source,
        }))
    }
}
