//! The one error vocabulary: services return [`AppError`]; this module alone turns it (and the
//! framework's own errors) into an HTTP status and a `{"detail","code"}` body.
//! Causes of internal errors are logged, never sent.

use poem::http::{HeaderValue, StatusCode, header};
use poem::{IntoResponse, Response};
use poem_openapi::registry::{MetaHeader, MetaResponse, MetaResponses, Registry};
use poem_openapi::{ApiResponse, Object, ResponseContent, payload::Json, types::Type};

/// A domain error. No HTTP types here: services stay framework-free.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    Validation(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    InvalidState(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("too many attempts; retry in {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    #[error("{0}")]
    InvalidBundle(String),
    #[error("{0}")]
    UpstreamUnavailable(String),
    #[error("internal error: {0:#}")]
    Internal(#[from] anyhow::Error),
}

impl AppError {
    pub fn validation(detail: impl Into<String>) -> Self {
        AppError::Validation(detail.into())
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        AppError::NotFound(detail.into())
    }

    pub fn conflict(detail: impl Into<String>) -> Self {
        AppError::Conflict(detail.into())
    }
}

impl From<rusqlite::Error> for AppError {
    fn from(err: rusqlite::Error) -> Self {
        AppError::Internal(anyhow::Error::new(err).context("database"))
    }
}

impl From<r2d2::Error> for AppError {
    fn from(err: r2d2::Error) -> Self {
        AppError::Internal(anyhow::Error::new(err).context("database pool"))
    }
}

impl From<tokio::task::JoinError> for AppError {
    fn from(err: tokio::task::JoinError) -> Self {
        AppError::Internal(anyhow::Error::new(err).context("blocking task"))
    }
}

/// The body of every error response.
#[derive(Debug, Object)]
#[oai(example)]
pub struct ErrorBody {
    /// What went wrong, for a person.
    pub detail: String,
    /// A stable machine-readable code, e.g. `VALIDATION_ERROR`, `FORBIDDEN`, `INVALID_STATE`.
    pub code: String,
}

impl poem_openapi::types::Example for ErrorBody {
    fn example() -> Self {
        ErrorBody {
            detail: "role 'boss' is not one of admin, red_lead, red_tech, blue_lead, blue_tech, viewer".into(),
            code: "VALIDATION_ERROR".into(),
        }
    }
}

/// Sets of error statuses an endpoint documents in the OpenAPI spec (`ApiError<{ AUTHED | CONFLICT }>`).
/// Only the documentation depends on the set; any [`AppError`] is still sent with its own status.
pub mod documented {
    pub const BAD_REQUEST: u16 = 1 << 0;
    pub const UNAUTHORIZED: u16 = 1 << 1;
    pub const FORBIDDEN: u16 = 1 << 2;
    pub const NOT_FOUND: u16 = 1 << 3;
    pub const CONFLICT: u16 = 1 << 4;
    pub const PAYLOAD_TOO_LARGE: u16 = 1 << 5;
    pub const RATE_LIMITED: u16 = 1 << 6;
    pub const UPSTREAM: u16 = 1 << 7;
    pub const UNSUPPORTED_MEDIA_TYPE: u16 = 1 << 8;
    /// What every endpoint behind a security scheme can answer: bad input, no or bad token, a role that may not.
    pub const AUTHED: u16 = BAD_REQUEST | UNAUTHORIZED | FORBIDDEN;
    /// What an endpoint that takes a body adds: the wrong media type, a body over the limit.
    pub const BODY: u16 = UNSUPPORTED_MEDIA_TYPE | PAYLOAD_TOO_LARGE;
}

const DOCUMENTED_STATUSES: [(u16, u16, &str); 9] = [
    (documented::BAD_REQUEST, 400, "Invalid input (`VALIDATION_ERROR`, `INVALID_BUNDLE`)"),
    (documented::UNAUTHORIZED, 401, "Missing, invalid or expired token; inactive user (`UNAUTHORIZED`)"),
    (documented::FORBIDDEN, 403, "The user's role may not do this (`FORBIDDEN`)"),
    (documented::NOT_FOUND, 404, "No such resource (`NOT_FOUND`)"),
    (documented::CONFLICT, 409, "Conflicts with the current state (`CONFLICT`, `INVALID_STATE`)"),
    (documented::PAYLOAD_TOO_LARGE, 413, "Body over the size limit (`PAYLOAD_TOO_LARGE`)"),
    (documented::RATE_LIMITED, 429, "Too many attempts; see `Retry-After` (`RATE_LIMITED`)"),
    (
        documented::UNSUPPORTED_MEDIA_TYPE,
        415,
        "The body is not of the documented media type (`UNSUPPORTED_MEDIA_TYPE`)",
    ),
    (documented::UPSTREAM, 502, "An upstream source could not be reached (`UPSTREAM_UNAVAILABLE`)"),
];

/// An error on its way out as HTTP. `DOCUMENTED` only shapes the OpenAPI spec.
#[derive(Debug)]
pub struct ApiError<const DOCUMENTED: u16 = { documented::AUTHED }> {
    status: StatusCode,
    code: &'static str,
    detail: String,
    retry_after_secs: Option<u64>,
}

impl<const D: u16> ApiError<D> {
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        ApiError { status, code, detail: detail.into(), retry_after_secs: None }
    }
}

impl<const D: u16> From<AppError> for ApiError<D> {
    fn from(err: AppError) -> Self {
        let (status, code) = match &err {
            AppError::Validation(_) => (StatusCode::BAD_REQUEST, "VALIDATION_ERROR"),
            AppError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "UNAUTHORIZED"),
            AppError::Forbidden(_) => (StatusCode::FORBIDDEN, "FORBIDDEN"),
            AppError::NotFound(_) => (StatusCode::NOT_FOUND, "NOT_FOUND"),
            AppError::Conflict(_) => (StatusCode::CONFLICT, "CONFLICT"),
            AppError::InvalidState(_) => (StatusCode::CONFLICT, "INVALID_STATE"),
            AppError::PayloadTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE"),
            AppError::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED"),
            AppError::InvalidBundle(_) => (StatusCode::BAD_REQUEST, "INVALID_BUNDLE"),
            AppError::UpstreamUnavailable(_) => (StatusCode::BAD_GATEWAY, "UPSTREAM_UNAVAILABLE"),
            AppError::Internal(cause) => {
                tracing::error!(error = format!("{cause:#}"), "internal error");
                return ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_ERROR", "internal server error");
            }
        };
        let retry_after_secs = match err {
            AppError::RateLimited { retry_after_secs } => Some(retry_after_secs),
            _ => None,
        };
        ApiError { status, code, detail: err.to_string(), retry_after_secs }
    }
}

impl<const D: u16> IntoResponse for ApiError<D> {
    fn into_response(self) -> Response {
        let mut response = Json(ErrorBody { detail: self.detail, code: self.code.to_owned() })
            .with_status(self.status)
            .into_response();
        if let Some(secs) = self.retry_after_secs {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl<const D: u16> From<ApiError<D>> for poem::Error {
    fn from(err: ApiError<D>) -> Self {
        // Carrying a finished response marks it for `render_framework_error` to pass through as is.
        poem::Error::from_response(err.into_response())
    }
}

impl<const D: u16> ApiResponse for ApiError<D> {
    fn meta() -> MetaResponses {
        let mut responses: Vec<MetaResponse> = DOCUMENTED_STATUSES
            .iter()
            .filter(|(bit, _, _)| D & bit != 0)
            .map(|&(bit, status, description)| MetaResponse {
                description,
                status: Some(status),
                status_range: None,
                content: <Json<ErrorBody> as ResponseContent>::media_types(),
                headers: if bit == documented::RATE_LIMITED {
                    vec![MetaHeader {
                        name: "Retry-After".into(),
                        description: Some("Seconds until a new attempt is allowed".into()),
                        required: true,
                        deprecated: false,
                        schema: <u64 as Type>::schema_ref(),
                    }]
                } else {
                    Vec::new()
                },
            })
            .collect();
        responses.push(MetaResponse {
            description: "A bug: the cause is logged, never sent (`INTERNAL_ERROR`)",
            status: Some(500),
            status_range: None,
            content: <Json<ErrorBody> as ResponseContent>::media_types(),
            headers: Vec::new(),
        });
        MetaResponses { responses }
    }

    fn register(registry: &mut Registry) {
        <Json<ErrorBody> as ResponseContent>::register(registry);
    }
}

/// Turns every error that reaches the top of the route tree into `{"detail","code"}`: the
/// framework's parse and validation errors, unknown routes, wrong methods, missing credentials.
/// Errors that already carry a finished response (ours, or a file endpoint's 304) pass through.
pub async fn render_framework_error(err: poem::Error) -> Response {
    if err.is_from_response() {
        return err.into_response();
    }
    let status = err.status();
    let (code, detail) = match status {
        StatusCode::BAD_REQUEST => ("VALIDATION_ERROR", err.to_string()),
        StatusCode::UNAUTHORIZED => ("UNAUTHORIZED", "a valid bearer token is required".to_owned()),
        StatusCode::FORBIDDEN => ("FORBIDDEN", err.to_string()),
        StatusCode::NOT_FOUND => ("NOT_FOUND", "no such resource".to_owned()),
        StatusCode::METHOD_NOT_ALLOWED => ("METHOD_NOT_ALLOWED", "method not allowed on this path".to_owned()),
        StatusCode::PAYLOAD_TOO_LARGE => ("PAYLOAD_TOO_LARGE", "request body too large".to_owned()),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ("UNSUPPORTED_MEDIA_TYPE", err.to_string()),
        StatusCode::LENGTH_REQUIRED => ("LENGTH_REQUIRED", err.to_string()),
        status if status.is_server_error() => {
            tracing::error!(error = %err, %status, "framework error");
            ("INTERNAL_ERROR", "internal server error".to_owned())
        }
        _ => ("VALIDATION_ERROR", err.to_string()),
    };
    let status = if status.is_server_error() { StatusCode::INTERNAL_SERVER_ERROR } else { status };
    ApiError::<0>::new(status, code, detail).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_errors_send_no_cause() {
        let err = AppError::Internal(anyhow::anyhow!("disk I/O error at /secret/path/aegis.db"));
        let api: ApiError = err.into();
        assert_eq!(api.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!((api.code, api.detail.as_str()), ("INTERNAL_ERROR", "internal server error"));
    }

    #[test]
    fn domain_errors_map_to_their_status_and_code() {
        let table: [(AppError, u16, &str); 10] = [
            (AppError::validation("x"), 400, "VALIDATION_ERROR"),
            (AppError::InvalidBundle("x".into()), 400, "INVALID_BUNDLE"),
            (AppError::Unauthorized("x".into()), 401, "UNAUTHORIZED"),
            (AppError::Forbidden("x".into()), 403, "FORBIDDEN"),
            (AppError::not_found("x"), 404, "NOT_FOUND"),
            (AppError::conflict("x"), 409, "CONFLICT"),
            (AppError::InvalidState("x".into()), 409, "INVALID_STATE"),
            (AppError::PayloadTooLarge("x".into()), 413, "PAYLOAD_TOO_LARGE"),
            (AppError::RateLimited { retry_after_secs: 5 }, 429, "RATE_LIMITED"),
            (AppError::UpstreamUnavailable("x".into()), 502, "UPSTREAM_UNAVAILABLE"),
        ];
        for (err, status, code) in table {
            let api: ApiError = err.into();
            assert_eq!((api.status.as_u16(), api.code), (status, code));
        }
    }
}
