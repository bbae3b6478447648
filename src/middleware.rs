//! HTTP middleware: body limits, the `Allow` header of 405 answers, and (as the API grows) the
//! other cross-cutting response rules.

use std::sync::Arc;

use poem::http::{HeaderValue, StatusCode, header};
use poem::{Endpoint, IntoResponse, Middleware, Request, Response};

use crate::error::ApiError;

/// Request bodies other than multipart uploads are read whole, so they are capped.
pub const MAX_JSON_BODY_BYTES: usize = 1024 * 1024;

/// Caps non-multipart bodies at [`MAX_JSON_BODY_BYTES`] while they stream, so a chunked body
/// without `Content-Length` is held to the same limit. Multipart uploads carry their own limits.
pub async fn limit_body<E: Endpoint>(next: E, mut req: Request) -> poem::Result<Response> {
    let is_multipart = req
        .content_type()
        .is_some_and(|content_type| content_type.trim_start().to_ascii_lowercase().starts_with("multipart/"));
    if !is_multipart {
        let too_large = || {
            poem::Error::from(ApiError::<0>::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "PAYLOAD_TOO_LARGE",
                format!("request body is over {MAX_JSON_BODY_BYTES} bytes"),
            ))
        };
        let declared = req.header("content-length").and_then(|length| length.trim().parse::<u64>().ok());
        if declared.is_some_and(|length| length > MAX_JSON_BODY_BYTES as u64) {
            return Err(too_large());
        }
        let body = req.take_body().into_bytes_limit(MAX_JSON_BODY_BYTES).await.map_err(|err| match err {
            poem::error::ReadBodyError::PayloadTooLarge => too_large(),
            other => poem::Error::from(other),
        })?;
        req.set_body(body);
    }
    next.call(req).await.map(IntoResponse::into_response)
}

/// Adds `Allow` (RFC 9110 §15.5.6) to every 405, listing the methods the OpenAPI document gives the path.
pub struct AllowHeader {
    routes: Arc<Vec<(Vec<String>, HeaderValue)>>,
}

impl AllowHeader {
    /// Reads the operations of the OpenAPI document (`/api/v1/tests/{id}` style paths).
    pub fn new(spec_json: &str) -> AllowHeader {
        let spec: serde_json::Value = serde_json::from_str(spec_json).expect("the generated OpenAPI document is JSON");
        let mut routes = Vec::new();
        for (path, item) in spec["paths"].as_object().into_iter().flatten() {
            let methods: Vec<String> =
                item.as_object().into_iter().flatten().map(|(method, _)| method.to_uppercase()).collect();
            let segments = path.split('/').map(str::to_owned).collect();
            if let Ok(allow) = HeaderValue::from_str(&methods.join(", ")) {
                routes.push((segments, allow));
            }
        }
        AllowHeader { routes: Arc::new(routes) }
    }
}

fn matches(template: &[String], path: &str) -> bool {
    let segments: Vec<&str> = path.split('/').collect();
    segments.len() == template.len()
        && template.iter().zip(segments).all(|(expected, actual)| expected.starts_with('{') || expected == actual)
}

impl<E: Endpoint> Middleware<E> for AllowHeader {
    type Output = AllowHeaderEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        AllowHeaderEndpoint { inner, routes: self.routes.clone() }
    }
}

pub struct AllowHeaderEndpoint<E> {
    inner: E,
    routes: Arc<Vec<(Vec<String>, HeaderValue)>>,
}

impl<E: Endpoint> Endpoint for AllowHeaderEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        let path = req.uri().path().to_owned();
        let mut response = self.inner.call(req).await?.into_response();
        if response.status() == StatusCode::METHOD_NOT_ALLOWED
            && let Some((_, allow)) = self.routes.iter().find(|(template, _)| matches(template, &path))
        {
            response.headers_mut().insert(header::ALLOW, allow.clone());
        }
        Ok(response)
    }
}

/// The CSP of every response that sets none of its own: nothing may load, nothing may frame it.
const DEFAULT_CSP: &str = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// Security headers on every response, and a request id: taken from a sane `X-Request-Id`
/// or made here, sent back, and on the request's log line (method, path without the query, which
/// may hold a download token, status and duration).
pub async fn security_headers_and_request_id<E: Endpoint>(next: E, req: Request) -> poem::Result<Response> {
    use tracing::Instrument;
    let request_id = req
        .header("x-request-id")
        .filter(|id| (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
    let (method, path) = (req.method().clone(), req.uri().path().to_owned());
    let span = tracing::info_span!("request", id = %request_id, %method, path = %path);
    let started = std::time::Instant::now();
    let result = next.call(req).instrument(span.clone()).await;
    let mut response = match result {
        Ok(response) => response.into_response(),
        Err(err) => err.into_response(),
    };
    let headers = response.headers_mut();
    headers.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    headers.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    headers.insert("x-frame-options", HeaderValue::from_static("DENY"));
    headers.insert("cross-origin-opener-policy", HeaderValue::from_static("same-origin"));
    headers.entry(header::CONTENT_SECURITY_POLICY).or_insert(HeaderValue::from_static(DEFAULT_CSP));
    if let Ok(id) = HeaderValue::from_str(&request_id) {
        headers.insert("x-request-id", id);
    }
    span.in_scope(|| {
        tracing::info!(status = response.status().as_u16(), ms = started.elapsed().as_millis() as u64, "handled")
    });
    Ok(response)
}

/// A CSP for a page whose scripts are all inline: each allowed by its sha256, and nothing else.
/// Styles may be inline (both doc viewers inject them); no remote fonts, frames or plugins.
pub fn inline_page_csp(html: &str) -> String {
    use base64::Engine;
    use sha2::{Digest, Sha256};
    let mut hashes = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find("<script") {
        let after_tag = &rest[start..];
        let Some(open_end) = after_tag.find('>') else { break };
        let body = &after_tag[open_end + 1..];
        let Some(close) = body.find("</script>") else { break };
        let digest = Sha256::digest(&body.as_bytes()[..close]);
        hashes.push(format!("'sha256-{}'", base64::engine::general_purpose::STANDARD.encode(digest)));
        rest = &body[close..];
    }
    format!(
        "default-src 'none'; script-src {}; style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
         font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; frame-ancestors 'none'; \
         base-uri 'none'; form-action 'self'",
        hashes.join(" ")
    )
}
