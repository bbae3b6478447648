//! `/techniques`: the ATT&CK catalogue, its filters, hand-made techniques and reviews.

use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

use std::sync::Arc;

use crate::api::ApiTags;
use crate::api::intel::IntelItemOut;
use crate::api::prepared::{PreparedJson, TechniqueList};
use crate::api::tests::TestOut;
use crate::api::text::{Text, strings};
use crate::app::AppState;
use crate::auth::{BearerAuth, Permission};
use crate::db::catalogue::TechniqueRow;
use crate::error::{ApiError, AppError, documented::*};
use crate::service::catalogue::{self, NewTechnique, TechniqueChanges, TechniqueDetail, TechniqueFilter};
use crate::service::coverage::CoverageStatus;

pub struct TechniquesApi;

/// The rendered list at the catalogue `version` (or newer), rendering it if the catalogue changed.
async fn technique_list(state: &AppState, version: i64) -> Result<Arc<TechniqueList>, AppError> {
    state
        .views
        .techniques
        .get_or_derive(version, async {
            let loaded = catalogue::load(&state.db).await?;
            Ok((loaded.version, TechniqueList::render(loaded, |row| TechniqueSummary::from(row.clone()))))
        })
        .await
}

/// A technique in a list.
#[derive(Debug, Object)]
pub struct TechniqueSummary {
    pub id: String,
    /// `T1059` or `T1059.001`.
    pub mitre_id: String,
    pub name: String,
    /// The first of `tactics` (matrix order).
    #[oai(nullable)]
    pub tactic: Option<String>,
    /// Every tactic (kill-chain phase) the technique serves, in matrix order.
    pub tactics: Vec<String>,
    /// Lowercase ATT&CK platform names.
    pub platforms: Vec<String>,
    pub status_global: CoverageStatus,
    pub is_subtechnique: bool,
    #[oai(nullable)]
    pub parent_mitre_id: Option<String>,
    pub review_required: bool,
    pub revoked: bool,
    pub deprecated: bool,
}

impl From<TechniqueRow> for TechniqueSummary {
    fn from(t: TechniqueRow) -> Self {
        TechniqueSummary {
            id: t.id,
            mitre_id: t.mitre_id,
            name: t.name,
            tactic: t.tactics.first().cloned(),
            tactics: t.tactics,
            platforms: t.platforms,
            status_global: t.status_global,
            is_subtechnique: t.is_subtechnique,
            parent_mitre_id: t.parent_mitre_id,
            review_required: t.review_required,
            revoked: t.revoked,
            deprecated: t.deprecated,
        }
    }
}

/// Why a technique is flagged for review.
#[derive(Debug, Object, serde::Serialize)]
pub struct ReviewReason {
    /// `sync` (ATT&CK changed the technique) or `intel` (new reporting mentions it).
    pub source: String,
    pub reason: String,
    /// What the flag points at, e.g. an intel item id.
    #[oai(nullable)]
    pub reference: Option<String>,
    pub flagged_at: String,
}

#[derive(Debug, Object, serde::Serialize)]
pub struct ReviewInfo {
    pub required: bool,
    /// The open reasons, oldest first.
    pub reasons: Vec<ReviewReason>,
    #[oai(nullable)]
    pub last_reviewed_by: Option<String>,
    #[oai(nullable)]
    pub last_reviewed_by_id: Option<String>,
    #[oai(nullable)]
    pub last_reviewed_at: Option<String>,
}

#[derive(Debug, Object, serde::Serialize)]
pub struct SubtechniqueSummary {
    pub mitre_id: String,
    pub name: String,
    pub status_global: CoverageStatus,
}

/// A technique with everything the detail view shows.
#[derive(Debug, Object, serde::Serialize)]
pub struct TechniqueDetailOut {
    pub id: String,
    pub mitre_id: String,
    pub name: String,
    /// ATT&CK's description (Markdown with citations).
    pub description: String,
    #[oai(nullable)]
    pub tactic: Option<String>,
    pub tactics: Vec<String>,
    pub platforms: Vec<String>,
    pub status_global: CoverageStatus,
    pub review_required: bool,
    pub review: ReviewInfo,
    pub is_subtechnique: bool,
    #[oai(nullable)]
    pub parent_mitre_id: Option<String>,
    pub subtechniques: Vec<SubtechniqueSummary>,
    /// The technique's page on attack.mitre.org.
    #[oai(nullable)]
    pub url: Option<String>,
    /// ATT&CK's `x_mitre_version` of this technique.
    #[oai(nullable)]
    pub attack_object_version: Option<String>,
    #[oai(nullable)]
    pub attack_modified: Option<String>,
    pub revoked: bool,
    pub deprecated: bool,
    /// How many tests record this technique.
    pub test_count: i64,
    /// The technique's tests, newest first.
    pub tests: Vec<TestOut>,
    /// The newest threat-intel items (up to 20) that name the technique.
    pub intel_items: Vec<IntelItemOut>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<TechniqueDetail> for TechniqueDetailOut {
    fn from(detail: TechniqueDetail) -> Self {
        let t = detail.technique;
        TechniqueDetailOut {
            review: ReviewInfo {
                required: t.review_required,
                reasons: detail
                    .review_flags
                    .into_iter()
                    .map(|flag| ReviewReason {
                        source: flag.source,
                        reason: flag.reason,
                        reference: flag.reference,
                        flagged_at: flag.flagged_at,
                    })
                    .collect(),
                last_reviewed_by: t.reviewed_by_name,
                last_reviewed_by_id: t.reviewed_by,
                last_reviewed_at: t.reviewed_at,
            },
            subtechniques: detail
                .subtechniques
                .into_iter()
                .map(|(mitre_id, name, status_global)| SubtechniqueSummary { mitre_id, name, status_global })
                .collect(),
            id: t.id,
            mitre_id: t.mitre_id,
            name: t.name,
            description: t.description,
            tactic: t.tactics.first().cloned(),
            tactics: t.tactics,
            platforms: t.platforms,
            status_global: t.status_global,
            review_required: t.review_required,
            is_subtechnique: t.is_subtechnique,
            parent_mitre_id: t.parent_mitre_id,
            url: t.url,
            attack_object_version: t.stix_version,
            attack_modified: t.stix_modified,
            revoked: t.revoked,
            deprecated: t.deprecated,
            test_count: t.test_count,
            tests: detail.tests.into_iter().map(TestOut::from).collect(),
            intel_items: detail.intel_items.into_iter().map(IntelItemOut::from).collect(),
            created_at: t.created_at,
            updated_at: t.updated_at,
        }
    }
}

#[derive(Debug, Object)]
#[oai(example)]
pub struct CreateTechniqueRequest {
    /// `T1234` or `T1234.001` (a sub-technique's parent must exist).
    pub mitre_id: Text,
    pub name: Text,
    #[oai(nullable)]
    pub description: Option<Text>,
    /// One tactic (shortname such as `execution`, id such as `TA0002`, or name).
    #[oai(nullable)]
    pub tactic: Option<Text>,
    /// Several tactics; used instead of `tactic` when given.
    #[oai(nullable)]
    pub tactics: Option<Vec<Text>>,
    #[oai(nullable)]
    pub platforms: Option<Vec<Text>>,
}

impl poem_openapi::types::Example for CreateTechniqueRequest {
    fn example() -> Self {
        CreateTechniqueRequest {
            mitre_id: "T1059".into(),
            name: "Command and Scripting Interpreter".into(),
            description: Some("...".into()),
            tactic: Some("execution".into()),
            tactics: None,
            platforms: Some(vec!["windows".into(), "linux".into()]),
        }
    }
}

/// Fields left out stay as they are.
#[derive(Debug, Object)]
#[oai(example)]
pub struct UpdateTechniqueRequest {
    #[oai(nullable)]
    pub name: Option<Text>,
    #[oai(nullable)]
    pub description: Option<Text>,
    #[oai(nullable)]
    pub tactic: Option<Text>,
    #[oai(nullable)]
    pub tactics: Option<Vec<Text>>,
    #[oai(nullable)]
    pub platforms: Option<Vec<Text>>,
    /// An explicit status; it stands until the technique's tests next change.
    #[oai(nullable)]
    pub status_global: Option<CoverageStatus>,
}

impl poem_openapi::types::Example for UpdateTechniqueRequest {
    fn example() -> Self {
        UpdateTechniqueRequest {
            name: Some("Updated Name".into()),
            description: None,
            tactic: None,
            tactics: None,
            platforms: None,
            status_global: Some(CoverageStatus::Validated),
        }
    }
}

fn tactics_of(tactic: Option<Text>, tactics: Option<Vec<Text>>) -> Option<Vec<String>> {
    tactics.map(strings).or_else(|| tactic.map(|tactic| vec![tactic.into_inner()]))
}

#[derive(ApiResponse)]
pub enum CreatedTechnique {
    /// The technique was created.
    #[oai(status = 201)]
    Created(Json<TechniqueDetailOut>),
}

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Techniques")]
impl TechniquesApi {
    /// List techniques
    ///
    /// Active techniques and sub-techniques ordered by ATT&CK id; revoked and deprecated ones only with
    /// `include_deprecated=true`. Unknown `tactic` or `status` values are refused (400).
    #[oai(path = "/techniques", method = "get")]
    #[allow(clippy::too_many_arguments)]
    async fn list(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        /// Shortname (`execution`), id (`TA0002`) or name (`Execution`).
        tactic: Query<Option<String>>,
        status: Query<Option<CoverageStatus>>,
        review_required: Query<Option<bool>>,
        /// An ATT&CK platform, any case.
        platform: Query<Option<String>>,
        /// Part of the ATT&CK id or the name, any case.
        q: Query<Option<String>>,
        #[oai(default)] include_deprecated: Query<bool>,
    ) -> Result<PreparedJson<Vec<TechniqueSummary>>, ApiError> {
        auth.0.require(Permission::Read)?;
        let filter = TechniqueFilter {
            tactic: tactic.0,
            status: status.0,
            review_required: review_required.0,
            platform: platform.0,
            q: q.0,
            include_deprecated: include_deprecated.0,
        };
        let list = technique_list(&state, auth.0.catalogue_version).await?;
        if filter.is_empty() {
            return Ok(PreparedJson::new(list.unfiltered.clone()));
        }
        Ok(PreparedJson::new(list.join(&list.catalogue.select(&filter)?)))
    }

    /// Get a technique
    ///
    /// With its review reasons, sub-techniques and tests.
    #[oai(path = "/techniques/:mitre_id", method = "get")]
    async fn get(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        mitre_id: Path<String>,
    ) -> Result<PreparedJson<TechniqueDetailOut>, ApiError<{ AUTHED | NOT_FOUND }>> {
        auth.0.require(Permission::Read)?;
        // Up to hundreds of tests: written straight to JSON, not through a `Value` tree.
        let detail: TechniqueDetailOut = catalogue::get(&state.db, &mitre_id.0).await?.into();
        Ok(PreparedJson::serialize(&detail)?)
    }

    /// Create a technique
    #[oai(path = "/techniques", method = "post")]
    async fn create(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        body: Json<CreateTechniqueRequest>,
    ) -> Result<CreatedTechnique, ApiError<{ AUTHED | CONFLICT | BODY }>> {
        auth.0.require(Permission::ManageTechniques)?;
        let Json(body) = body;
        let new = NewTechnique {
            mitre_id: body.mitre_id.into(),
            name: body.name.into(),
            description: body.description.map(Text::into_inner),
            tactics: tactics_of(body.tactic, body.tactics).unwrap_or_default(),
            platforms: body.platforms.map(strings).unwrap_or_default(),
        };
        let detail = catalogue::create(&state.db, &auth.0, new).await?;
        Ok(CreatedTechnique::Created(Json(detail.into())))
    }

    /// Update a technique
    #[oai(path = "/techniques/:mitre_id", method = "patch")]
    async fn update(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        mitre_id: Path<String>,
        body: Json<UpdateTechniqueRequest>,
    ) -> Result<Json<TechniqueDetailOut>, ApiError<{ AUTHED | NOT_FOUND | BODY }>> {
        auth.0.require(Permission::ManageTechniques)?;
        let Json(body) = body;
        let changes = TechniqueChanges {
            name: body.name.map(Text::into_inner),
            description: body.description.map(Text::into_inner),
            tactics: tactics_of(body.tactic, body.tactics),
            platforms: body.platforms.map(strings),
            status_global: body.status_global,
        };
        Ok(Json(catalogue::update(&state.db, &auth.0, &mitre_id.0, changes).await?.into()))
    }

    /// Mark a technique reviewed
    ///
    /// Clears its review flag and open reasons, and records who reviewed it and when.
    #[oai(path = "/techniques/:mitre_id/review", method = "patch")]
    async fn review(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        mitre_id: Path<String>,
    ) -> Result<Json<TechniqueDetailOut>, ApiError<{ AUTHED | NOT_FOUND }>> {
        auth.0.require(Permission::ReviewTechnique)?;
        Ok(Json(catalogue::mark_reviewed(&state.db, &auth.0, &mitre_id.0).await?.into()))
    }
}
