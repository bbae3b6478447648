//! The audit trail: who did what to which entity, written in the same transaction as the change,
//! and read back with filters. Nothing here updates or deletes a row (the schema forbids it too).

use rusqlite::Connection;
use serde_json::Value;

use crate::auth::CurrentUser;
use crate::db::{self, Db, audit::AuditFilter, audit::AuditRow};
use crate::error::AppError;
use crate::time::{self, DayBound};

/// The actions DESIGN.md names, spelled as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditAction {
    CreateTechnique,
    UpdateTechnique,
    ReviewTechnique,
    CreateTest,
    UpdateTest,
    ValidateTest,
    RejectTest,
    DeleteTest,
    UploadEvidence,
    DeleteEvidence,
    CreateUser,
    UpdateUser,
    Login,
    LoginFailed,
    SyncMitre,
    IntelScan,
    UpdateIntelFeeds,
    ImportAtomics,
}

impl AuditAction {
    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::CreateTechnique => "create_technique",
            AuditAction::UpdateTechnique => "update_technique",
            AuditAction::ReviewTechnique => "review_technique",
            AuditAction::CreateTest => "create_test",
            AuditAction::UpdateTest => "update_test",
            AuditAction::ValidateTest => "validate_test",
            AuditAction::RejectTest => "reject_test",
            AuditAction::DeleteTest => "delete_test",
            AuditAction::UploadEvidence => "upload_evidence",
            AuditAction::DeleteEvidence => "delete_evidence",
            AuditAction::CreateUser => "create_user",
            AuditAction::UpdateUser => "update_user",
            AuditAction::Login => "login",
            AuditAction::LoginFailed => "login_failed",
            AuditAction::SyncMitre => "sync_mitre",
            AuditAction::IntelScan => "intel_scan",
            AuditAction::UpdateIntelFeeds => "update_intel_feeds",
            AuditAction::ImportAtomics => "import_atomics",
        }
    }
}

/// The kinds of entity an audit row points at.
pub mod entity {
    pub const USER: &str = "user";
    pub const TECHNIQUE: &str = "technique";
    pub const TEST: &str = "test";
    pub const EVIDENCE: &str = "evidence";
    pub const SYSTEM: &str = "system";
    pub const INTEL_FEED: &str = "intel_feed";
}

/// Who made a change.
#[derive(Debug, Clone)]
pub enum Actor {
    User {
        id: String,
        username: String,
    },
    /// Aegis itself: `"system"` (first start), `"cli"`, `"scheduler"`.
    System(&'static str),
}

impl From<&CurrentUser> for Actor {
    fn from(user: &CurrentUser) -> Self {
        Actor::User { id: user.id.clone(), username: user.username.clone() }
    }
}

/// One row to write. `details` must be a JSON object and never holds a secret.
pub struct AuditEvent<'a> {
    pub action: AuditAction,
    pub entity_type: &'static str,
    pub entity_id: Option<&'a str>,
    pub details: Value,
}

/// Writes one audit row on `conn`, which is the transaction of the change being recorded.
pub fn record(conn: &Connection, actor: &Actor, event: AuditEvent<'_>) -> Result<(), AppError> {
    let (user_id, username) = match actor {
        Actor::User { id, username } => (Some(id.clone()), username.clone()),
        Actor::System(name) => (None, (*name).to_owned()),
    };
    record_row(conn, user_id, username, event)
}

/// Like [`record`] for a login attempt under a name that matches no user.
pub fn record_unknown_user(conn: &Connection, attempted: &str, event: AuditEvent<'_>) -> Result<(), AppError> {
    let attempted: String = attempted.chars().take(64).collect();
    record_row(conn, None, attempted, event)
}

fn record_row(
    conn: &Connection,
    user_id: Option<String>,
    username: String,
    event: AuditEvent<'_>,
) -> Result<(), AppError> {
    debug_assert!(event.details.is_object(), "audit details are a JSON object");
    db::audit::insert(
        conn,
        &AuditRow {
            id: uuid::Uuid::new_v4().to_string(),
            user_id,
            username,
            action: event.action.as_str().to_owned(),
            entity_type: event.entity_type.to_owned(),
            entity_id: event.entity_id.map(str::to_owned),
            timestamp: time::now(),
            details: event.details.to_string(),
        },
    )
}

/// A request for one page of the log, as the API receives it.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub user_id: Option<String>,
    pub action: Option<String>,
    pub entity_type: Option<String>,
    pub start_date: Option<String>,
    pub end_date: Option<String>,
    pub offset: u64,
    pub limit: u64,
}

pub struct AuditPage {
    pub items: Vec<AuditRow>,
    pub total: i64,
    pub offset: u64,
    pub limit: u64,
}

pub async fn list(db: &Db, query: AuditQuery) -> Result<AuditPage, AppError> {
    let since = parse_date("start_date", query.start_date.as_deref(), DayBound::Start)?;
    let until = parse_date("end_date", query.end_date.as_deref(), DayBound::End)?;
    if let (Some(since), Some(until)) = (&since, &until)
        && since > until
    {
        return Err(AppError::validation("start_date is after end_date"));
    }
    let filter = AuditFilter {
        user_id: query.user_id,
        action: query.action,
        entity_type: query.entity_type,
        since,
        until,
        offset: i64::try_from(query.offset).map_err(|_| AppError::validation("offset is too large"))?,
        limit: i64::try_from(query.limit).map_err(|_| AppError::validation("limit is too large"))?,
    };
    let (items, total) = db.read(move |conn| db::audit::list(conn, &filter)).await?;
    Ok(AuditPage { items, total, offset: query.offset, limit: query.limit })
}

fn parse_date(name: &str, value: Option<&str>, bound: DayBound) -> Result<Option<String>, AppError> {
    value
        .map(|value| {
            time::parse_filter(value, bound).ok_or_else(|| {
                AppError::validation(format!("{name} '{value}' is not a date (YYYY-MM-DD) or an RFC 3339 date-time"))
            })
        })
        .transpose()
}

pub async fn actions(db: &Db) -> Result<Vec<String>, AppError> {
    db.read(db::audit::distinct_actions).await
}

pub async fn entity_types(db: &Db) -> Result<Vec<String>, AppError> {
    db.read(db::audit::distinct_entity_types).await
}
