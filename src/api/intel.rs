//! `/intel`: the threat-intel feeds (admin) and the items they brought (everyone).

use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use uuid::Uuid;

use crate::api::ApiTags;
use crate::api::tests::Deleted;
use crate::api::text::Text;
use crate::app::AppState;
use crate::auth::{BearerAuth, Permission};
use crate::db::intel::{FeedRow, ItemFilter, ItemRow};
use crate::db::{self, catalogue};
use crate::error::{ApiError, AppError, documented::*};
use crate::service::intel::{self, FeedChanges};
use crate::time::{self, DayBound};

pub struct IntelApi;

#[derive(Debug, Object)]
pub struct FeedOut {
    pub id: String,
    pub name: String,
    /// An http(s) URL or a file path.
    pub url: String,
    pub enabled: bool,
    pub created_at: String,
    pub updated_at: String,
    #[oai(nullable)]
    pub last_fetched_at: Option<String>,
    /// `ok` or `error` after the last scan.
    #[oai(nullable)]
    pub last_status: Option<String>,
    #[oai(nullable)]
    pub last_error: Option<String>,
}

impl From<FeedRow> for FeedOut {
    fn from(feed: FeedRow) -> Self {
        FeedOut {
            id: feed.id,
            name: feed.name,
            url: feed.url,
            enabled: feed.enabled,
            created_at: feed.created_at,
            updated_at: feed.updated_at,
            last_fetched_at: feed.last_fetched_at,
            last_status: feed.last_status,
            last_error: feed.last_error,
        }
    }
}

#[derive(Debug, Object)]
#[oai(example)]
pub struct CreateFeedRequest {
    pub name: Text,
    /// An http(s) URL or a file path.
    pub url: Text,
    /// `true` when left out.
    #[oai(nullable)]
    pub enabled: Option<bool>,
}

impl poem_openapi::types::Example for CreateFeedRequest {
    fn example() -> Self {
        CreateFeedRequest {
            name: "The DFIR Report".into(),
            url: "https://thedfirreport.com/feed/".into(),
            enabled: Some(true),
        }
    }
}

/// Fields left out stay as they are.
#[derive(Debug, Object)]
#[oai(example)]
pub struct UpdateFeedRequest {
    #[oai(nullable)]
    pub name: Option<Text>,
    #[oai(nullable)]
    pub url: Option<Text>,
    #[oai(nullable)]
    pub enabled: Option<bool>,
}

impl poem_openapi::types::Example for UpdateFeedRequest {
    fn example() -> Self {
        UpdateFeedRequest { name: None, url: None, enabled: Some(false) }
    }
}

#[derive(Debug, Object, serde::Serialize)]
pub struct IntelItemOut {
    pub id: String,
    pub feed_id: String,
    pub feed_name: String,
    pub title: String,
    #[oai(nullable)]
    pub link: Option<String>,
    #[oai(nullable)]
    pub published: Option<String>,
    /// Plain text, at most 2,000 characters.
    pub summary: String,
    /// Every ATT&CK id the item names, whether the catalogue knows it or not.
    pub technique_ids: Vec<String>,
    pub fetched_at: String,
}

impl From<ItemRow> for IntelItemOut {
    fn from(item: ItemRow) -> Self {
        IntelItemOut {
            id: item.id,
            feed_id: item.feed_id,
            feed_name: item.feed_name,
            title: item.title,
            link: item.link,
            published: item.published,
            summary: item.summary,
            technique_ids: item.technique_ids,
            fetched_at: item.fetched_at,
        }
    }
}

#[derive(Debug, Object)]
pub struct IntelItemPage {
    pub items: Vec<IntelItemOut>,
    pub total: i64,
    pub offset: u64,
    pub limit: u64,
}

#[derive(ApiResponse)]
pub enum CreatedFeed {
    /// The feed was added.
    #[oai(status = 201)]
    Created(Json<FeedOut>),
}

fn default_limit() -> u64 {
    crate::api::audit::DEFAULT_PAGE_SIZE
}

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Intel")]
impl IntelApi {
    /// List threat-intel items
    ///
    /// Newest first. `technique` is an ATT&CK id or a technique uuid; `since` a date or date-time.
    #[oai(path = "/intel/items", method = "get")]
    #[allow(clippy::too_many_arguments)]
    async fn items(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        technique: Query<Option<String>>,
        feed: Query<Option<Uuid>>,
        since: Query<Option<String>>,
        #[oai(default)] offset: Query<u64>,
        #[oai(default = "default_limit", validator(minimum(value = "1"), maximum(value = "100")))] limit: Query<u64>,
    ) -> Result<Json<IntelItemPage>, ApiError> {
        auth.0.require(Permission::Read)?;
        let technique_id = match technique.0 {
            None => None,
            Some(value) => Some(resolve_technique(&state, value).await?),
        };
        let since = since
            .0
            .map(|value| {
                time::parse_filter(&value, DayBound::Start).ok_or_else(|| {
                    AppError::validation(format!("since '{value}' is not a date or an RFC 3339 date-time"))
                })
            })
            .transpose()?;
        let filter = ItemFilter {
            technique_id,
            feed_id: feed.0.map(|id| id.to_string()),
            since,
            offset: i64::try_from(offset.0).map_err(|_| AppError::validation("offset is too large"))?,
            limit: limit.0 as i64,
        };
        let (items, total) = intel::items(&state.db, filter).await?;
        Ok(Json(IntelItemPage {
            items: items.into_iter().map(Into::into).collect(),
            total,
            offset: offset.0,
            limit: limit.0,
        }))
    }

    /// List feeds
    #[oai(path = "/intel/feeds", method = "get")]
    async fn feeds(&self, auth: BearerAuth, state: Data<&AppState>) -> Result<Json<Vec<FeedOut>>, ApiError> {
        auth.0.require(Permission::ManageSystem)?;
        Ok(Json(intel::feeds(&state.db).await?.into_iter().map(Into::into).collect()))
    }

    /// Add a feed
    #[oai(path = "/intel/feeds", method = "post")]
    async fn create_feed(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        body: Json<CreateFeedRequest>,
    ) -> Result<CreatedFeed, ApiError<{ AUTHED | CONFLICT | BODY }>> {
        auth.0.require(Permission::ManageSystem)?;
        let feed =
            intel::create_feed(&state.db, (&auth.0).into(), &body.0.name, &body.0.url, body.0.enabled.unwrap_or(true))
                .await?;
        Ok(CreatedFeed::Created(Json(feed.into())))
    }

    /// Change a feed
    #[oai(path = "/intel/feeds/:id", method = "patch")]
    async fn update_feed(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        id: Path<Uuid>,
        body: Json<UpdateFeedRequest>,
    ) -> Result<Json<FeedOut>, ApiError<{ AUTHED | NOT_FOUND | CONFLICT | BODY }>> {
        auth.0.require(Permission::ManageSystem)?;
        let changes = FeedChanges {
            name: body.0.name.map(Text::into_inner),
            url: body.0.url.map(Text::into_inner),
            enabled: body.0.enabled,
        };
        Ok(Json(intel::update_feed(&state.db, (&auth.0).into(), &id.0.to_string(), changes).await?.into()))
    }

    /// Remove a feed
    ///
    /// Its items go with it; review reasons already recorded stay.
    #[oai(path = "/intel/feeds/:id", method = "delete")]
    async fn delete_feed(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        id: Path<Uuid>,
    ) -> Result<Deleted, ApiError<{ AUTHED | NOT_FOUND }>> {
        auth.0.require(Permission::ManageSystem)?;
        intel::delete_feed(&state.db, (&auth.0).into(), &id.0.to_string()).await?;
        Ok(Deleted::NoContent)
    }
}

/// A technique's uuid from an ATT&CK id or a uuid; unknown is a 400 (it is a filter value).
async fn resolve_technique(state: &AppState, value: String) -> Result<String, AppError> {
    state
        .db
        .read(move |conn| {
            let technique = match catalogue::find_technique_by_id(conn, &value)? {
                Some(technique) => Some(technique),
                None => db::catalogue::find_technique(conn, &value.trim().to_ascii_uppercase())?,
            };
            technique.map(|t| t.id).ok_or_else(|| AppError::validation(format!("unknown technique '{value}'")))
        })
        .await
}
