//! Red-team tests and their life: draft → validated or rejected (a patched rejected test is a
//! draft again; validated is final). Every change recomputes the technique's status in the same
//! transaction.

use poem_openapi::Enum;
use rusqlite::OptionalExtension;
use serde_json::json;

use crate::auth::{CurrentUser, Permission};
use crate::db::tests::{self as sql, EvidenceRow, TestFilter, TestRow};
use crate::db::{Db, catalogue};
use crate::error::AppError;
use crate::evidence::store::BlobStore;
use crate::service::audit::{self, Actor, AuditAction, AuditEvent, entity};
use crate::service::{coverage, history};
use crate::time;

pub const MAX_NAME_CHARS: usize = 200;
pub const MAX_TEXT_CHARS: usize = 100_000;
pub const MAX_TOOL_CHARS: usize = 200;
pub const MAX_COMMENT_CHARS: usize = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, serde::Serialize)]
#[oai(rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum TestState {
    Draft,
    Validated,
    Rejected,
}

impl TestState {
    pub fn as_str(self) -> &'static str {
        match self {
            TestState::Draft => "draft",
            TestState::Validated => "validated",
            TestState::Rejected => "rejected",
        }
    }

    pub fn parse(value: &str) -> Option<TestState> {
        [TestState::Draft, TestState::Validated, TestState::Rejected].into_iter().find(|s| s.as_str() == value)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, serde::Serialize)]
#[oai(rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum TestResult {
    Detected,
    PartiallyDetected,
    NotDetected,
}

impl TestResult {
    pub fn as_str(self) -> &'static str {
        match self {
            TestResult::Detected => "detected",
            TestResult::PartiallyDetected => "partially_detected",
            TestResult::NotDetected => "not_detected",
        }
    }

    pub fn parse(value: &str) -> Option<TestResult> {
        [TestResult::Detected, TestResult::PartiallyDetected, TestResult::NotDetected]
            .into_iter()
            .find(|r| r.as_str() == value)
    }
}

pub struct NewTest {
    /// The technique's uuid.
    pub technique_id: String,
    pub name: String,
    pub description: Option<String>,
    pub platform: String,
    pub procedure_text: Option<String>,
    pub tool_used: Option<String>,
}

#[derive(Default)]
pub struct TestChanges {
    pub name: Option<String>,
    pub description: Option<String>,
    pub platform: Option<String>,
    pub procedure_text: Option<String>,
    pub tool_used: Option<String>,
}

pub struct TestDetail {
    pub test: TestRow,
    pub evidence: Vec<EvidenceRow>,
}

fn check_text(field: &str, value: String, max: usize) -> Result<String, AppError> {
    if value.chars().count() > max {
        return Err(AppError::validation(format!("{field} must be at most {max} characters")));
    }
    Ok(value)
}

fn check_name(name: &str) -> Result<String, AppError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
        return Err(AppError::validation(format!("name must be 1 to {MAX_NAME_CHARS} characters")));
    }
    Ok(name.to_owned())
}

/// One of the technique's platforms, or any platform the catalogue knows, matched case-insensitively.
fn resolve_platform(
    conn: &rusqlite::Connection,
    technique_platforms: &[String],
    value: &str,
) -> Result<String, AppError> {
    let wanted = value.trim().to_lowercase();
    if technique_platforms.contains(&wanted) {
        return Ok(wanted);
    }
    let mut stmt = conn.prepare_cached(
        "SELECT DISTINCT platform.value FROM techniques, json_each(techniques.platforms) AS platform ORDER BY 1",
    )?;
    let known: Vec<String> = stmt.query_map([], |row| row.get(0))?.collect::<rusqlite::Result<_>>()?;
    if known.contains(&wanted) {
        Ok(wanted)
    } else {
        Err(AppError::validation(format!(
            "unknown platform '{value}'; this technique's platforms: {}; known platforms: {}",
            technique_platforms.join(", "),
            known.join(", ")
        )))
    }
}

fn not_found(id: &str) -> AppError {
    AppError::not_found(format!("no test {id}"))
}

/// Recomputes the technique's status from its tests (the roll-up), in the caller's transaction.
/// Returns whether its `status_global` changed.
fn recompute_status(tx: &rusqlite::Connection, technique_id: &str) -> Result<bool, AppError> {
    let before: Option<String> = tx
        .query_row("SELECT status_global FROM techniques WHERE id = ?1", [technique_id], |row| row.get(0))
        .optional()?;
    let tally = sql::tally(tx, technique_id)?;
    let status = coverage::roll_up(tally);
    sql::set_technique_rollup(tx, technique_id, status.as_str(), tally.total as i64)?;
    Ok(before.as_deref() != Some(status.as_str()))
}

/// [`recompute_status`], then a coverage-history snapshot in the same transaction when the status changed.
fn recompute_status_and_snapshot(tx: &rusqlite::Connection, technique_id: &str) -> Result<(), AppError> {
    if recompute_status(tx, technique_id)? {
        history::take_snapshot(tx, history::Reason::StatusChange)?;
    }
    Ok(())
}

fn load_detail(conn: &rusqlite::Connection, id: &str) -> Result<TestDetail, AppError> {
    let test = sql::find(conn, id)?.ok_or_else(|| not_found(id))?;
    let evidence = sql::evidence_of_test(conn, id)?;
    Ok(TestDetail { test, evidence })
}

fn record(
    tx: &rusqlite::Connection,
    actor: &Actor,
    action: AuditAction,
    test: &TestRow,
    details: serde_json::Value,
) -> Result<(), AppError> {
    let mut details = details;
    details["technique"] = json!(test.technique_mitre_id);
    details["name"] = json!(test.name);
    audit::record(tx, actor, AuditEvent { action, entity_type: entity::TEST, entity_id: Some(&test.id), details })
}

pub async fn create(db: &Db, user: &CurrentUser, new: NewTest) -> Result<TestDetail, AppError> {
    user.require(Permission::CreateTest)?;
    let name = check_name(&new.name)?;
    let description = check_text("description", new.description.unwrap_or_default(), MAX_TEXT_CHARS)?;
    let procedure_text = check_text("procedure_text", new.procedure_text.unwrap_or_default(), MAX_TEXT_CHARS)?;
    let tool_used = check_text("tool_used", new.tool_used.unwrap_or_default().trim().to_owned(), MAX_TOOL_CHARS)?;
    let (actor, user_id, username) = (Actor::from(user), user.id.clone(), user.username.clone());
    db.write(move |tx| {
        let technique = catalogue::find_technique_by_id(tx, &new.technique_id)?
            .ok_or_else(|| AppError::not_found(format!("no technique with id {}", new.technique_id)))?;
        let platform = resolve_platform(tx, &technique.platforms, &new.platform)?;
        let now = time::now();
        let id = uuid::Uuid::new_v4().to_string();
        sql::insert(
            tx,
            &TestRow {
                id: id.clone(),
                technique_id: technique.id.clone(),
                name,
                description,
                platform,
                procedure_text,
                tool_used,
                state: TestState::Draft.as_str().into(),
                result: None,
                validation_comments: None,
                validated_by: None,
                validated_by_name: None,
                validated_at: None,
                rejection_comments: None,
                rejected_by: None,
                rejected_by_name: None,
                rejected_at: None,
                created_by: user_id,
                created_by_name: username,
                created_at: now.clone(),
                updated_at: now,
                technique_mitre_id: technique.mitre_id.clone(),
                technique_name: technique.name.clone(),
                evidence_count: 0,
            },
        )?;
        recompute_status(tx, &technique.id)?;
        let detail = load_detail(tx, &id)?;
        record(tx, &actor, AuditAction::CreateTest, &detail.test, json!({ "platform": detail.test.platform }))?;
        Ok(detail)
    })
    .await
}

pub async fn get(db: &Db, id: &str) -> Result<TestDetail, AppError> {
    let id = id.to_owned();
    // Two lookups by key: cheaper on the calling thread than the hop to the blocking pool.
    db.read_quick(move |conn| load_detail(conn, &id)).await
}

pub async fn for_technique(db: &Db, technique_id: &str) -> Result<Vec<TestRow>, AppError> {
    let technique_id = technique_id.to_owned();
    db.read(move |conn| sql::for_technique(conn, &technique_id)).await
}

/// Filters as the API receives them; `technique` is a uuid or an ATT&CK id.
#[derive(Debug, Clone, Default)]
pub struct TestQuery {
    pub technique: Option<String>,
    pub state: Option<TestState>,
    pub result: Option<TestResult>,
    pub platform: Option<String>,
    pub created_by: Option<String>,
    pub offset: u64,
    pub limit: u64,
}

pub async fn list(db: &Db, query: TestQuery) -> Result<(Vec<TestRow>, i64), AppError> {
    db.read(move |conn| {
        let technique_id = match &query.technique {
            None => None,
            Some(value) => {
                let by_id = catalogue::find_technique_by_id(conn, value)?;
                let technique = match by_id {
                    Some(technique) => Some(technique),
                    None => catalogue::find_technique(conn, &value.trim().to_ascii_uppercase())?,
                };
                Some(
                    technique
                        .map(|t| t.id)
                        .ok_or_else(|| AppError::validation(format!("unknown technique '{value}'")))?,
                )
            }
        };
        let filter = TestFilter {
            technique_id,
            state: query.state.map(|s| s.as_str().to_owned()),
            result: query.result.map(|r| r.as_str().to_owned()),
            platform: query.platform.map(|p| p.trim().to_lowercase()),
            created_by: query.created_by,
            offset: i64::try_from(query.offset).map_err(|_| AppError::validation("offset is too large"))?,
            limit: query.limit as i64,
        };
        sql::list(conn, &filter)
    })
    .await
}

/// Loads a test for a change by `user`: 404, then 403 unless creator (with the own-test right) or
/// allowed on any test, then 409 when validated.
fn load_for_change(
    tx: &rusqlite::Connection,
    user_id: &str,
    may_any: bool,
    may_own: bool,
    id: &str,
) -> Result<TestRow, AppError> {
    let test = sql::find(tx, id)?.ok_or_else(|| not_found(id))?;
    if !(may_any || (may_own && test.created_by == user_id)) {
        return Err(AppError::Forbidden("only the test's creator or an admin may change it".into()));
    }
    if test.state == TestState::Validated.as_str() {
        return Err(AppError::InvalidState("a validated test is final".into()));
    }
    Ok(test)
}

pub async fn update(db: &Db, user: &CurrentUser, id: &str, changes: TestChanges) -> Result<TestDetail, AppError> {
    let (may_any, may_own) = (user.can(Permission::EditAnyTest), user.can(Permission::EditOwnTest));
    if !may_any && !may_own {
        return Err(AppError::Forbidden(format!("the {} role may not change tests", user.role)));
    }
    let name = changes.name.as_deref().map(check_name).transpose()?;
    let description = changes.description.map(|d| check_text("description", d, MAX_TEXT_CHARS)).transpose()?;
    let procedure = changes.procedure_text.map(|p| check_text("procedure_text", p, MAX_TEXT_CHARS)).transpose()?;
    let tool = changes.tool_used.map(|t| check_text("tool_used", t.trim().to_owned(), MAX_TOOL_CHARS)).transpose()?;
    let (actor, user_id, id) = (Actor::from(user), user.id.clone(), id.to_owned());
    db.write(move |tx| {
        let mut test = load_for_change(tx, &user_id, may_any, may_own, &id)?;
        let mut changed = Vec::new();
        if let Some(platform) = &changes.platform {
            let technique = catalogue::find_technique_by_id(tx, &test.technique_id)?.ok_or_else(|| not_found(&id))?;
            let platform = resolve_platform(tx, &technique.platforms, platform)?;
            if platform != test.platform {
                test.platform = platform;
                changed.push("platform");
            }
        }
        for (field, value, target) in [
            ("name", name, &mut test.name),
            ("description", description, &mut test.description),
            ("procedure_text", procedure, &mut test.procedure_text),
            ("tool_used", tool, &mut test.tool_used),
        ] {
            if let Some(value) = value
                && value != *target
            {
                *target = value;
                changed.push(field);
            }
        }
        let reopened = test.state == TestState::Rejected.as_str();
        if changed.is_empty() && !reopened {
            return load_detail(tx, &id);
        }
        if reopened {
            test.state = TestState::Draft.as_str().into();
        }
        test.updated_at = time::now();
        sql::update(tx, &test)?;
        recompute_status(tx, &test.technique_id)?;
        record(tx, &actor, AuditAction::UpdateTest, &test, json!({ "changed": changed, "reopened": reopened }))?;
        load_detail(tx, &id)
    })
    .await
}

pub async fn delete(db: &Db, store: &BlobStore, user: &CurrentUser, id: &str) -> Result<(), AppError> {
    let (may_any, may_own) = (user.can(Permission::EditAnyTest), user.can(Permission::EditOwnTest));
    if !may_any && !may_own {
        return Err(AppError::Forbidden(format!("the {} role may not delete tests", user.role)));
    }
    let (actor, user_id, id) = (Actor::from(user), user.id.clone(), id.to_owned());
    crate::service::evidence::delete_rows_and_blobs(db, store, move |tx| {
        let test = load_for_change(tx, &user_id, may_any, may_own, &id)?;
        let evidence = sql::evidence_of_test(tx, &id)?;
        sql::delete(tx, &id)?;
        recompute_status_and_snapshot(tx, &test.technique_id)?;
        record(tx, &actor, AuditAction::DeleteTest, &test, json!({ "evidence_removed": evidence.len() }))?;
        Ok(evidence.into_iter().map(|e| e.sha256).collect())
    })
    .await
}

/// A lead's verdict on a draft.
pub enum Verdict {
    Validate { result: TestResult, comments: Option<String> },
    Reject { comments: Option<String> },
}

pub async fn judge(db: &Db, user: &CurrentUser, id: &str, verdict: Verdict) -> Result<TestDetail, AppError> {
    user.require(Permission::ValidateTest)?;
    let comments = match &verdict {
        Verdict::Validate { comments, .. } | Verdict::Reject { comments } => comments.clone(),
    };
    let comments = comments.map(|c| check_text("comments", c, MAX_COMMENT_CHARS)).transpose()?;
    let (actor, user_id, username, id) = (Actor::from(user), user.id.clone(), user.username.clone(), id.to_owned());
    db.write(move |tx| {
        let mut test = sql::find(tx, &id)?.ok_or_else(|| not_found(&id))?;
        if test.state != TestState::Draft.as_str() {
            return Err(AppError::InvalidState(format!("only a draft can be judged; this test is {}", test.state)));
        }
        let now = time::now();
        let (action, details) = match verdict {
            Verdict::Validate { result, .. } => {
                test.state = TestState::Validated.as_str().into();
                test.result = Some(result.as_str().into());
                test.validation_comments = comments;
                test.validated_by = Some(user_id);
                test.validated_by_name = Some(username);
                test.validated_at = Some(now.clone());
                (AuditAction::ValidateTest, json!({ "result": result.as_str() }))
            }
            Verdict::Reject { .. } => {
                test.state = TestState::Rejected.as_str().into();
                test.rejection_comments = comments;
                test.rejected_by = Some(user_id);
                test.rejected_by_name = Some(username);
                test.rejected_at = Some(now.clone());
                (AuditAction::RejectTest, json!({}))
            }
        };
        test.updated_at = now;
        sql::update(tx, &test)?;
        recompute_status_and_snapshot(tx, &test.technique_id)?;
        record(tx, &actor, action, &test, details)?;
        load_detail(tx, &id)
    })
    .await
}
