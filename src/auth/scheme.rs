//! The security scheme every protected handler takes as a parameter: it reads the bearer token,
//! verifies it, and loads the user from the database (role, active flag and token version are
//! never trusted from the token).

use poem::Request;
use poem_openapi::{OAuthScopes, SecurityScheme, auth::Bearer};

use crate::app::AppState;
use crate::auth::CurrentUser;
use crate::error::ApiError;
use crate::service;

/// Swagger UI's Authorize button needs at least one scope to render the password flow.
#[derive(OAuthScopes)]
pub enum AegisScopes {
    /// Everything the user's role allows (roles, not scopes, decide access).
    #[oai(rename = "aegis")]
    Aegis,
}

/// OAuth2 password flow: log in at `/api/v1/auth/login`, then send `Authorization: Bearer <token>`.
#[derive(SecurityScheme)]
#[oai(
    rename = "OAuth2Password",
    ty = "oauth2",
    flows(password(token_url = "/api/v1/auth/login", scopes = "AegisScopes")),
    checker = "authenticate"
)]
pub struct BearerAuth(pub CurrentUser);

async fn authenticate(req: &Request, bearer: Bearer) -> poem::Result<CurrentUser> {
    let state = req.data::<AppState>().expect("AppState is attached to every route");
    service::auth::authenticate(state, &bearer.token).await.map_err(|err| ApiError::<0>::from(err).into())
}
