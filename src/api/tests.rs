//! `/tests`: red-team tests of techniques, their validation by leads, and their evidence uploads.

use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use uuid::Uuid;

use crate::api::ApiTags;
use crate::api::evidence::{EvidenceOut, evidence_out};
use crate::api::evidence_upload::EvidenceUpload;
use crate::api::prepared::PreparedJson;
use crate::api::text::Text;
use crate::app::AppState;
use crate::auth::{BearerAuth, Permission};
use crate::db::tests::TestRow;
use crate::error::{ApiError, AppError, documented::*};
use crate::service::atomics;
use crate::service::evidence::{self, Upload};
use crate::service::tests::{self, NewTest, TestChanges, TestDetail, TestQuery, TestResult, TestState, Verdict};

pub struct TestsApi;

/// A test as lists show it.
#[derive(Debug, Object, serde::Serialize)]
pub struct TestOut {
    pub id: String,
    /// The technique's uuid.
    pub technique_id: String,
    pub technique_mitre_id: String,
    pub technique_name: String,
    pub name: String,
    pub description: String,
    /// Lowercase ATT&CK platform name.
    pub platform: String,
    pub procedure_text: String,
    pub tool_used: String,
    pub state: TestState,
    /// Set once validated.
    #[oai(nullable)]
    pub result: Option<TestResult>,
    #[oai(nullable)]
    pub validation_comments: Option<String>,
    #[oai(nullable)]
    pub validated_by: Option<String>,
    #[oai(nullable)]
    pub validated_by_username: Option<String>,
    #[oai(nullable)]
    pub validated_at: Option<String>,
    /// The last rejection, kept when the test is reopened.
    #[oai(nullable)]
    pub rejection_comments: Option<String>,
    #[oai(nullable)]
    pub rejected_by: Option<String>,
    #[oai(nullable)]
    pub rejected_by_username: Option<String>,
    #[oai(nullable)]
    pub rejected_at: Option<String>,
    pub created_by: String,
    pub created_by_username: String,
    pub created_at: String,
    pub updated_at: String,
    pub evidence_count: i64,
}

impl From<TestRow> for TestOut {
    fn from(t: TestRow) -> Self {
        TestOut {
            id: t.id,
            technique_id: t.technique_id,
            technique_mitre_id: t.technique_mitre_id,
            technique_name: t.technique_name,
            name: t.name,
            description: t.description,
            platform: t.platform,
            procedure_text: t.procedure_text,
            tool_used: t.tool_used,
            state: TestState::parse(&t.state).unwrap_or(TestState::Draft),
            result: t.result.as_deref().and_then(TestResult::parse),
            validation_comments: t.validation_comments,
            validated_by: t.validated_by,
            validated_by_username: t.validated_by_name,
            validated_at: t.validated_at,
            rejection_comments: t.rejection_comments,
            rejected_by: t.rejected_by,
            rejected_by_username: t.rejected_by_name,
            rejected_at: t.rejected_at,
            created_by: t.created_by,
            created_by_username: t.created_by_name,
            created_at: t.created_at,
            updated_at: t.updated_at,
            evidence_count: t.evidence_count,
        }
    }
}

/// A test with its evidence.
#[derive(Debug, Object, serde::Serialize)]
pub struct TestDetailOut {
    #[oai(flatten)]
    #[serde(flatten)]
    pub test: TestOut,
    /// Each with a fresh, time-limited `download_url`.
    pub evidences: Vec<EvidenceOut>,
}

fn detail_out(state: &AppState, detail: TestDetail) -> TestDetailOut {
    TestDetailOut {
        test: detail.test.into(),
        evidences: detail.evidence.into_iter().map(|row| evidence_out(state, row)).collect(),
    }
}

#[derive(Debug, Object)]
#[oai(example)]
pub struct CreateTestRequest {
    /// The technique's uuid (`id` in `/techniques`).
    pub technique_id: Uuid,
    /// Required unless `atomic_guid` is given.
    #[oai(nullable)]
    pub name: Option<Text>,
    #[oai(nullable)]
    pub description: Option<Text>,
    /// One of the technique's platforms, or any ATT&CK platform (any case). Required unless
    /// `atomic_guid` is given (its first supported platform).
    #[oai(nullable)]
    pub platform: Option<Text>,
    #[oai(nullable)]
    pub procedure_text: Option<Text>,
    #[oai(nullable)]
    pub tool_used: Option<Text>,
    /// An imported Atomic Red Team test (`guid` in `/techniques/{mitre_id}/atomics`): fills the
    /// fields left out from it (name, description, procedure with argument defaults, platform,
    /// `tool_used: "Atomic Red Team"`).
    #[oai(nullable)]
    pub atomic_guid: Option<Uuid>,
}

impl poem_openapi::types::Example for CreateTestRequest {
    fn example() -> Self {
        CreateTestRequest {
            technique_id: Uuid::nil(),
            name: Some("My Test".into()),
            description: Some("Test description".into()),
            platform: Some("windows".into()),
            procedure_text: Some("Step by step...".into()),
            tool_used: Some("Atomic Red Team".into()),
            atomic_guid: None,
        }
    }
}

/// Fields left out stay as they are. Patching a rejected test makes it a draft again.
#[derive(Debug, Object)]
#[oai(example)]
pub struct UpdateTestRequest {
    #[oai(nullable)]
    pub name: Option<Text>,
    #[oai(nullable)]
    pub description: Option<Text>,
    #[oai(nullable)]
    pub platform: Option<Text>,
    #[oai(nullable)]
    pub procedure_text: Option<Text>,
    #[oai(nullable)]
    pub tool_used: Option<Text>,
}

impl poem_openapi::types::Example for UpdateTestRequest {
    fn example() -> Self {
        UpdateTestRequest {
            name: None,
            description: None,
            platform: None,
            procedure_text: Some("1. Run the encoded command\n2. Check Sysmon event 1".into()),
            tool_used: None,
        }
    }
}

#[derive(Debug, Object)]
#[oai(example)]
pub struct ValidateRequest {
    pub result: TestResult,
    #[oai(nullable)]
    pub comments: Option<Text>,
}

impl poem_openapi::types::Example for ValidateRequest {
    fn example() -> Self {
        ValidateRequest { result: TestResult::Detected, comments: Some("Optional comment".into()) }
    }
}

#[derive(Debug, Object)]
#[oai(example)]
pub struct RejectRequest {
    #[oai(nullable)]
    pub comments: Option<Text>,
}

impl poem_openapi::types::Example for RejectRequest {
    fn example() -> Self {
        RejectRequest { comments: Some("No evidence of execution attached; add the EDR timeline.".into()) }
    }
}

#[derive(Debug, Object)]
pub struct TestPage {
    pub items: Vec<TestOut>,
    pub total: i64,
    pub offset: u64,
    pub limit: u64,
}

#[derive(ApiResponse)]
pub enum CreatedTest {
    /// The test was created as a draft.
    #[oai(status = 201)]
    Created(Json<TestDetailOut>),
}

#[derive(ApiResponse)]
pub enum Deleted {
    /// Deleted.
    #[oai(status = 204)]
    NoContent,
}

#[derive(ApiResponse)]
pub enum CreatedEvidence {
    /// The evidence was stored.
    #[oai(status = 201)]
    Created(Json<EvidenceOut>),
}

fn default_limit() -> u64 {
    crate::api::audit::DEFAULT_PAGE_SIZE
}

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Tests")]
impl TestsApi {
    /// Create a test
    ///
    /// Records how the red team exercised a technique; starts as a `draft`.
    #[oai(path = "/tests", method = "post")]
    async fn create(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        body: Json<CreateTestRequest>,
    ) -> Result<CreatedTest, ApiError<{ AUTHED | NOT_FOUND | BODY }>> {
        auth.0.require(Permission::CreateTest)?;
        let Json(body) = body;
        let prefill = match body.atomic_guid {
            Some(guid) => Some(atomics::prefill(&state.db, &guid.to_string()).await?),
            None => None,
        };
        // A field the request leaves out (or empty) comes from the atomic, when one is given.
        let has_atomic = prefill.is_some();
        let given = |value: Option<Text>| value.map(Text::into_inner).filter(|v| !has_atomic || !v.trim().is_empty());
        let name = given(body.name)
            .or_else(|| prefill.as_ref().map(|p| p.name.clone()))
            .ok_or_else(|| AppError::validation("name is required (or give atomic_guid)"))?;
        let platform = given(body.platform)
            .or_else(|| prefill.as_ref().and_then(|p| p.platform.clone()))
            .ok_or_else(|| AppError::validation("platform is required (or give atomic_guid)"))?;
        let new = NewTest {
            technique_id: body.technique_id.to_string(),
            name,
            description: given(body.description).or_else(|| prefill.as_ref().map(|p| p.description.clone())),
            platform,
            procedure_text: given(body.procedure_text).or_else(|| prefill.as_ref().map(|p| p.procedure_text.clone())),
            tool_used: given(body.tool_used).or_else(|| prefill.as_ref().map(|p| p.tool_used.clone())),
        };
        let detail = tests::create(&state.db, &auth.0, new).await?;
        Ok(CreatedTest::Created(Json(detail_out(&state, detail))))
    }

    /// List tests
    ///
    /// Newest first. `technique` is a technique's uuid or ATT&CK id.
    #[oai(path = "/tests", method = "get")]
    #[allow(clippy::too_many_arguments)]
    async fn list(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        technique: Query<Option<String>>,
        #[oai(name = "state")] test_state: Query<Option<TestState>>,
        result: Query<Option<TestResult>>,
        platform: Query<Option<String>>,
        created_by: Query<Option<Uuid>>,
        #[oai(default)] offset: Query<u64>,
        #[oai(default = "default_limit", validator(minimum(value = "1"), maximum(value = "100")))] limit: Query<u64>,
    ) -> Result<Json<TestPage>, ApiError> {
        auth.0.require(Permission::Read)?;
        let query = TestQuery {
            technique: technique.0,
            state: test_state.0,
            result: result.0,
            platform: platform.0,
            created_by: created_by.0.map(|id| id.to_string()),
            offset: offset.0,
            limit: limit.0,
        };
        let (items, total) = tests::list(&state.db, query).await?;
        Ok(Json(TestPage {
            items: items.into_iter().map(TestOut::from).collect(),
            total,
            offset: offset.0,
            limit: limit.0,
        }))
    }

    /// Get a test
    ///
    /// With its evidence and fresh download links.
    #[oai(path = "/tests/:id", method = "get")]
    async fn get(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        id: Path<Uuid>,
    ) -> Result<PreparedJson<TestDetailOut>, ApiError<{ AUTHED | NOT_FOUND }>> {
        auth.0.require(Permission::Read)?;
        let detail = tests::get(&state.db, &id.0.to_string()).await?;
        Ok(PreparedJson::serialize(&detail_out(&state, detail))?)
    }

    /// Update a test
    ///
    /// By its creator or an admin, while `draft` or `rejected` (a rejected test becomes a draft again);
    /// a validated test is final (409 `INVALID_STATE`).
    #[oai(path = "/tests/:id", method = "patch")]
    async fn update(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        id: Path<Uuid>,
        body: Json<UpdateTestRequest>,
    ) -> Result<Json<TestDetailOut>, ApiError<{ AUTHED | NOT_FOUND | CONFLICT | BODY }>> {
        let Json(body) = body;
        let changes = TestChanges {
            name: body.name.map(Text::into_inner),
            description: body.description.map(Text::into_inner),
            platform: body.platform.map(Text::into_inner),
            procedure_text: body.procedure_text.map(Text::into_inner),
            tool_used: body.tool_used.map(Text::into_inner),
        };
        let detail = tests::update(&state.db, &auth.0, &id.0.to_string(), changes).await?;
        Ok(Json(detail_out(&state, detail)))
    }

    /// Delete a test
    ///
    /// By its creator or an admin, unless validated. Its evidence goes with it.
    #[oai(path = "/tests/:id", method = "delete")]
    async fn delete(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        id: Path<Uuid>,
    ) -> Result<Deleted, ApiError<{ AUTHED | NOT_FOUND | CONFLICT }>> {
        tests::delete(&state.db, &state.evidence, &auth.0, &id.0.to_string()).await?;
        Ok(Deleted::NoContent)
    }

    /// Validate a test
    ///
    /// A lead records the outcome of a draft: `detected`, `partially_detected` or `not_detected`.
    #[oai(path = "/tests/:id/validate", method = "post")]
    async fn validate(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        id: Path<Uuid>,
        body: Json<ValidateRequest>,
    ) -> Result<Json<TestDetailOut>, ApiError<{ AUTHED | NOT_FOUND | CONFLICT | BODY }>> {
        auth.0.require(Permission::ValidateTest)?;
        let verdict = Verdict::Validate { result: body.0.result, comments: body.0.comments.map(Text::into_inner) };
        let detail = tests::judge(&state.db, &auth.0, &id.0.to_string(), verdict).await?;
        Ok(Json(detail_out(&state, detail)))
    }

    /// Reject a test
    ///
    /// A lead sends a draft back; its creator can fix it, which makes it a draft again.
    #[oai(path = "/tests/:id/reject", method = "post")]
    async fn reject(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        id: Path<Uuid>,
        body: Json<RejectRequest>,
    ) -> Result<Json<TestDetailOut>, ApiError<{ AUTHED | NOT_FOUND | CONFLICT | BODY }>> {
        auth.0.require(Permission::ValidateTest)?;
        let verdict = Verdict::Reject { comments: body.0.comments.map(Text::into_inner) };
        let detail = tests::judge(&state.db, &auth.0, &id.0.to_string(), verdict).await?;
        Ok(Json(detail_out(&state, detail)))
    }

    /// Upload evidence
    ///
    /// Streams the file into the evidence store while hashing it; identical files are stored once.
    /// Refused on validated tests (409) and over `AEGIS_MAX_UPLOAD_MB` (413, nothing kept).
    #[oai(path = "/tests/:test_id/evidence", method = "post")]
    async fn upload_evidence(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        test_id: Path<Uuid>,
        upload: EvidenceUpload,
    ) -> Result<CreatedEvidence, ApiError<{ AUTHED | NOT_FOUND | CONFLICT | BODY }>> {
        let test_id = test_id.0.to_string();
        evidence::check_upload(&state.db, &auth.0, &test_id).await?;
        let field = upload.file_field().await?;
        let upload = Upload {
            file_name: field.file_name().map(str::to_owned),
            content_type: field.content_type().map(str::to_owned),
            reader: Box::pin(field.into_async_read()),
        };
        let row =
            evidence::upload(&state.db, &state.evidence, &auth.0, &test_id, upload, state.config.max_upload_bytes)
                .await?;
        Ok(CreatedEvidence::Created(Json(evidence_out(&state, row))))
    }
}
