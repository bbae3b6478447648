//! Logging in (throttled, audited, the same answer for every kind of failure) and turning a
//! bearer token back into the current user.

use serde_json::json;

use crate::app::AppState;
use crate::auth::CurrentUser;
use crate::auth::tokens::IssuedToken;
use crate::db;
use crate::error::AppError;
use crate::service::audit::{self, Actor, AuditAction, AuditEvent, entity};
use crate::service::users;

const BAD_CREDENTIALS: &str = "invalid username or password";

/// Checks a username and password; `client` is the caller's address, for throttling.
pub async fn login(state: &AppState, username: &str, password: &str, client: &str) -> Result<IssuedToken, AppError> {
    let username = username.trim();
    let attempt = match state.login_throttle.begin(username, client) {
        Ok(stamp) => stamp,
        Err(retry_after_secs) => {
            tracing::warn!(username, client, "login refused: too many failed attempts");
            return Err(AppError::RateLimited { retry_after_secs });
        }
    };
    let user = if username.is_empty() || username.len() > 256 {
        None
    } else {
        users::find_by_username(&state.db, username.to_owned()).await?
    };
    let password_ok =
        state.passwords.verify(password.to_owned(), user.as_ref().map(|user| user.password_hash.clone())).await?;

    let failure = match &user {
        None => Some("unknown_user"),
        Some(_) if !password_ok => Some("wrong_password"),
        Some(user) if !user.is_active => Some("inactive_user"),
        Some(_) => None,
    };
    if let Some(reason) = failure {
        attempt.failed();
        let attempted = username.to_owned();
        let user = user.clone();
        state
            .db
            .write(move |tx| {
                let event = AuditEvent {
                    action: AuditAction::LoginFailed,
                    entity_type: entity::USER,
                    entity_id: user.as_ref().map(|user| user.id.as_str()),
                    details: json!({ "reason": reason }),
                };
                match &user {
                    Some(user) => {
                        audit::record(tx, &Actor::User { id: user.id.clone(), username: user.username.clone() }, event)
                    }
                    None => audit::record_unknown_user(tx, &attempted, event),
                }
            })
            .await?;
        return Err(AppError::Unauthorized(BAD_CREDENTIALS.into()));
    }

    let user = user.expect("a login without failure has a user");
    attempt.succeeded();
    let issued = state.tokens.issue(&user.id, user.token_version)?;
    state
        .db
        .write(move |tx| {
            audit::record(
                tx,
                &Actor::User { id: user.id.clone(), username: user.username.clone() },
                AuditEvent {
                    action: AuditAction::Login,
                    entity_type: entity::USER,
                    entity_id: Some(&user.id),
                    details: json!({}),
                },
            )
        })
        .await?;
    Ok(issued)
}

/// The user behind a bearer token, loaded fresh: a deactivated user, or a token issued before a
/// password or role change, is refused at once.
pub async fn authenticate(state: &AppState, token: &str) -> Result<CurrentUser, AppError> {
    let claims = state.tokens.verify(token)?;
    let (found, claims) = state
        .db
        .read_quick(move |conn| {
            db::users::find_by_id_with_catalogue_version(conn, &claims.sub).map(|found| (found, claims))
        })
        .await?;
    match found {
        Some((user, catalogue_version)) if user.is_active && user.token_version == claims.ver => Ok(CurrentUser {
            catalogue_version,
            id: user.id,
            username: user.username,
            email: user.email,
            role: user.role,
            created_at: user.created_at,
            updated_at: user.updated_at,
        }),
        _ => Err(AppError::Unauthorized("invalid or expired token".into())),
    }
}
