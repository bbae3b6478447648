//! `POST /auth/login` and `GET /auth/me`.

use poem::Request;
use poem::web::Data;
use poem_openapi::payload::{Form, Json};
use poem_openapi::{Object, OpenApi};
use serde::Deserialize;

use crate::api::ApiTags;
use crate::api::users::UserOut;
use crate::app::AppState;
use crate::auth::BearerAuth;
use crate::error::{ApiError, AppError, documented::*};
use crate::service;

pub struct AuthApi;

/// The OAuth2 password grant form (RFC 6749 §4.3.2).
#[derive(Debug, Deserialize, Object)]
pub struct LoginForm {
    pub username: String,
    #[oai(write_only)]
    pub password: String,
    /// `password` when sent; Swagger UI always sends it.
    #[oai(nullable)]
    pub grant_type: Option<String>,
    /// Ignored: roles decide access.
    #[oai(nullable)]
    pub scope: Option<String>,
}

#[derive(Debug, Object)]
#[oai(example)]
pub struct TokenResponse {
    pub access_token: String,
    /// Always `bearer`.
    pub token_type: String,
    /// Seconds until the token expires.
    pub expires_in: u64,
}

impl poem_openapi::types::Example for TokenResponse {
    fn example() -> Self {
        TokenResponse { access_token: "eyJhbGciOiJIUzI1NiJ9...".into(), token_type: "bearer".into(), expires_in: 3600 }
    }
}

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Auth")]
impl AuthApi {
    /// Log in
    ///
    /// Takes the OAuth2 password form (`username`, `password`) and returns a bearer token.
    /// Unknown users and wrong passwords get the same answer. After 10 failures for an account
    /// within a minute every attempt is refused with 429 and `Retry-After`, a correct one included.
    #[oai(path = "/auth/login", method = "post")]
    async fn login(
        &self,
        state: Data<&AppState>,
        req: &Request,
        form: Form<LoginForm>,
    ) -> Result<Json<TokenResponse>, ApiError<{ BAD_REQUEST | UNAUTHORIZED | RATE_LIMITED | BODY }>> {
        if form.grant_type.as_deref().is_some_and(|grant| grant != "password") {
            return Err(AppError::validation("grant_type must be 'password'").into());
        }
        let client =
            req.remote_addr().as_socket_addr().map(|addr| addr.ip().to_string()).unwrap_or_else(|| "unknown".into());
        let issued = service::auth::login(&state, &form.username, &form.password, &client).await?;
        Ok(Json(TokenResponse {
            access_token: issued.token,
            token_type: "bearer".into(),
            expires_in: issued.expires_in,
        }))
    }

    /// Who am I
    ///
    /// The user behind the bearer token, as stored now.
    #[oai(path = "/auth/me", method = "get")]
    async fn me(&self, auth: BearerAuth) -> Result<Json<UserOut>, ApiError<{ UNAUTHORIZED }>> {
        let user = auth.0;
        Ok(Json(UserOut {
            id: user.id,
            username: user.username,
            email: user.email,
            role: user.role,
            is_active: true,
            created_at: user.created_at,
            updated_at: user.updated_at,
        }))
    }
}
