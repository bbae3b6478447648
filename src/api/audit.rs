//! `/audit-logs`: read the append-only audit trail, admin only.

use poem::web::Data;
use poem_openapi::param::Query;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use uuid::Uuid;

use crate::api::ApiTags;
use crate::api::prepared::PreparedJson;
use crate::app::AppState;
use crate::auth::{BearerAuth, Permission};
use crate::db::audit::AuditRow;
use crate::error::{ApiError, AppError};
use crate::service::audit::{self, AuditQuery};

pub struct AuditApi;

pub const DEFAULT_PAGE_SIZE: u64 = 50;
pub const MAX_PAGE_SIZE: u64 = 100;

fn default_limit() -> u64 {
    DEFAULT_PAGE_SIZE
}

#[derive(Debug, Object, serde::Serialize)]
#[oai(example)]
pub struct AuditLogOut {
    pub id: String,
    /// `null` for Aegis itself (first start, CLI, scheduler) or a login under an unknown name.
    #[oai(nullable)]
    pub user_id: Option<String>,
    pub username: String,
    pub action: String,
    pub entity_type: String,
    #[oai(nullable)]
    pub entity_id: Option<String>,
    /// RFC 3339, UTC.
    pub timestamp: String,
    pub details: serde_json::Value,
}

impl poem_openapi::types::Example for AuditLogOut {
    fn example() -> Self {
        AuditLogOut {
            id: "5d1e0c0a-8a43-4a4f-9a8e-2b7f0e1d6c42".into(),
            user_id: Some("0b3c8f52-3f0e-4d4e-9a57-1f0f5a3c9b11".into()),
            username: "admin".into(),
            action: "update_user".into(),
            entity_type: "user".into(),
            entity_id: Some("7f9d3a1e-6b2c-4e8f-a1d0-3c5b7e9f1a2b".into()),
            timestamp: "2026-12-04T09:31:12.345678Z".into(),
            details: serde_json::json!({"username": "red.tech", "changes": {"role": {"from": "red_tech", "to": "red_lead"}}}),
        }
    }
}

impl TryFrom<AuditRow> for AuditLogOut {
    type Error = AppError;

    fn try_from(row: AuditRow) -> Result<Self, AppError> {
        let details = serde_json::from_str(&row.details)
            .map_err(|err| AppError::Internal(anyhow::anyhow!("audit row {} details: {err}", row.id)))?;
        Ok(AuditLogOut {
            id: row.id,
            user_id: row.user_id,
            username: row.username,
            action: row.action,
            entity_type: row.entity_type,
            entity_id: row.entity_id,
            timestamp: row.timestamp,
            details,
        })
    }
}

#[derive(Debug, Object, serde::Serialize)]
pub struct AuditLogPage {
    pub items: Vec<AuditLogOut>,
    /// Rows matching the filters.
    pub total: i64,
    pub offset: u64,
    /// The page size used.
    pub limit: u64,
}

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::AuditLogs")]
impl AuditApi {
    /// List audit log entries
    ///
    /// Newest first. Dates are `YYYY-MM-DD` (a whole day) or RFC 3339 date-times; both bounds inclusive.
    #[oai(path = "/audit-logs", method = "get")]
    #[allow(clippy::too_many_arguments)]
    async fn list(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        user_id: Query<Option<Uuid>>,
        action: Query<Option<String>>,
        entity_type: Query<Option<String>>,
        start_date: Query<Option<String>>,
        end_date: Query<Option<String>>,
        #[oai(default)] offset: Query<u64>,
        #[oai(default = "default_limit", validator(minimum(value = "1"), maximum(value = "100")))] limit: Query<u64>,
    ) -> Result<PreparedJson<AuditLogPage>, ApiError> {
        auth.0.require(Permission::ReadAuditLog)?;
        let query = AuditQuery {
            user_id: user_id.0.map(|id| id.to_string()),
            action: action.0,
            entity_type: entity_type.0,
            start_date: start_date.0,
            end_date: end_date.0,
            offset: offset.0,
            limit: limit.0,
        };
        let page = audit::list(&state.db, query).await?;
        let items = page.items.into_iter().map(AuditLogOut::try_from).collect::<Result<_, _>>()?;
        Ok(PreparedJson::serialize(&AuditLogPage { items, total: page.total, offset: page.offset, limit: page.limit })?)
    }

    /// List the actions present in the log
    #[oai(path = "/audit-logs/actions", method = "get")]
    async fn actions(&self, auth: BearerAuth, state: Data<&AppState>) -> Result<Json<Vec<String>>, ApiError> {
        auth.0.require(Permission::ReadAuditLog)?;
        Ok(Json(audit::actions(&state.db).await?))
    }

    /// List the entity types present in the log
    #[oai(path = "/audit-logs/entity-types", method = "get")]
    async fn entity_types(&self, auth: BearerAuth, state: Data<&AppState>) -> Result<Json<Vec<String>>, ApiError> {
        auth.0.require(Permission::ReadAuditLog)?;
        Ok(Json(audit::entity_types(&state.db).await?))
    }
}
