//! `/users`: accounts and roles, admin only.

use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::types::MaybeUndefined;
use poem_openapi::{ApiResponse, Object, OpenApi};
use uuid::Uuid;

use crate::api::ApiTags;
use crate::api::text::Text;
use crate::app::AppState;
use crate::auth::{BearerAuth, Permission, Role};
use crate::db::users::UserRow;
use crate::error::{ApiError, documented::*};
use crate::service::users::{self, NewUser, UserChanges};

pub struct UsersApi;

/// A user as the API shows it. The password hash is never sent.
#[derive(Debug, Object)]
#[oai(example)]
pub struct UserOut {
    pub id: String,
    pub username: String,
    #[oai(nullable)]
    pub email: Option<String>,
    pub role: Role,
    pub is_active: bool,
    pub created_at: String,
    pub updated_at: String,
}

impl poem_openapi::types::Example for UserOut {
    fn example() -> Self {
        UserOut {
            id: "0b3c8f52-3f0e-4d4e-9a57-1f0f5a3c9b11".into(),
            username: "red.tech".into(),
            email: Some("red.tech@example.com".into()),
            role: Role::RedTech,
            is_active: true,
            created_at: "2026-12-04T09:30:00.000000Z".into(),
            updated_at: "2026-12-04T09:30:00.000000Z".into(),
        }
    }
}

impl From<UserRow> for UserOut {
    fn from(user: UserRow) -> Self {
        UserOut {
            id: user.id,
            username: user.username,
            email: user.email,
            role: user.role,
            is_active: user.is_active,
            created_at: user.created_at,
            updated_at: user.updated_at,
        }
    }
}

#[derive(Debug, Object)]
#[oai(example)]
pub struct CreateUserRequest {
    /// 1–64 letters, digits, `.`, `_`, `-` or `@`; unique regardless of case.
    pub username: Text,
    #[oai(nullable)]
    pub email: Option<Text>,
    /// At least 8 characters.
    #[oai(write_only)]
    pub password: Text,
    pub role: Role,
}

impl poem_openapi::types::Example for CreateUserRequest {
    fn example() -> Self {
        CreateUserRequest {
            username: "newuser".into(),
            email: Some("user@example.com".into()),
            password: "securepassword".into(),
            role: Role::RedTech,
        }
    }
}

/// Fields left out stay as they are. A role change, deactivation or new password ends the
/// user's current sessions.
#[derive(Debug, Object)]
#[oai(example)]
pub struct UpdateUserRequest {
    /// `null` clears the email.
    #[oai(nullable)]
    pub email: MaybeUndefined<Text>,
    #[oai(nullable)]
    pub role: Option<Role>,
    #[oai(nullable)]
    pub is_active: Option<bool>,
    #[oai(nullable, write_only)]
    pub password: Option<Text>,
}

impl poem_openapi::types::Example for UpdateUserRequest {
    fn example() -> Self {
        UpdateUserRequest {
            email: MaybeUndefined::Value("new@email.com".into()),
            role: Some(Role::BlueTech),
            is_active: Some(false),
            password: Some("newpassword".into()),
        }
    }
}

#[derive(ApiResponse)]
pub enum CreatedUser {
    /// The user was created.
    #[oai(status = 201)]
    Created(Json<UserOut>),
}

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Users")]
impl UsersApi {
    /// List users
    #[oai(path = "/users", method = "get")]
    async fn list(&self, auth: BearerAuth, state: Data<&AppState>) -> Result<Json<Vec<UserOut>>, ApiError> {
        auth.0.require(Permission::ManageUsers)?;
        let users = users::list(&state.db).await?;
        Ok(Json(users.into_iter().map(UserOut::from).collect()))
    }

    /// Create a user
    #[oai(path = "/users", method = "post")]
    async fn create(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        body: Json<CreateUserRequest>,
    ) -> Result<CreatedUser, ApiError<{ AUTHED | CONFLICT | BODY }>> {
        auth.0.require(Permission::ManageUsers)?;
        let Json(body) = body;
        let new = NewUser {
            username: body.username.into(),
            email: body.email.map(Text::into_inner),
            password: body.password.into(),
            role: body.role,
        };
        let user = users::create(&state.db, &state.passwords, (&auth.0).into(), new).await?;
        Ok(CreatedUser::Created(Json(user.into())))
    }

    /// Update a user
    ///
    /// The last active admin cannot be demoted or deactivated (409).
    #[oai(path = "/users/:id", method = "patch")]
    async fn update(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        id: Path<Uuid>,
        body: Json<UpdateUserRequest>,
    ) -> Result<Json<UserOut>, ApiError<{ AUTHED | NOT_FOUND | CONFLICT | BODY }>> {
        auth.0.require(Permission::ManageUsers)?;
        let Json(body) = body;
        let changes = UserChanges {
            email: match body.email {
                MaybeUndefined::Undefined => None,
                MaybeUndefined::Null => Some(None),
                MaybeUndefined::Value(email) => Some(Some(email.into_inner())),
            },
            role: body.role,
            is_active: body.is_active,
            password: body.password.map(Text::into_inner),
        };
        let user = users::update(&state.db, &state.passwords, (&auth.0).into(), id.0.to_string(), changes).await?;
        Ok(Json(user.into()))
    }
}
