//! The embedded web UI: files from `assets/web/` compiled into the binary, `index.html` for every
//! other non-API path (the app routes in the browser), ETags with revalidation, and a strict CSP
//! (no inline scripts or styles).

use poem::http::{HeaderValue, Method, StatusCode, header};
use poem::{Endpoint, IntoResponse, Request, Response};
use rust_embed::RustEmbed;

use crate::error::ApiError;

#[derive(RustEmbed)]
#[folder = "assets/web/"]
struct WebAssets;

const UI_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; font-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; \
     form-action 'self'";

/// Serves the UI for every GET that no other route takes.
pub struct WebUi;

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or_default() {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "json" => "application/json",
        "woff2" => "font/woff2",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

impl Endpoint for WebUi {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        if req.method() != Method::GET && req.method() != Method::HEAD {
            return Err(ApiError::<0>::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "METHOD_NOT_ALLOWED",
                "the UI is read with GET",
            )
            .into());
        }
        let path = req.uri().path().trim_start_matches('/');
        // Files live under static/; a missing one there is a 404. Any other path is a route of the app
        // (dots included: `/techniques/T1059.001`).
        let (name, file) = match WebAssets::get(path) {
            Some(file) if !path.is_empty() => (path, file),
            None if path.starts_with("static/") => {
                return Err(ApiError::<0>::new(StatusCode::NOT_FOUND, "NOT_FOUND", "no such resource").into());
            }
            _ => ("index.html", WebAssets::get("index.html").expect("index.html is embedded")),
        };
        let etag = format!("\"{}\"", hex::encode(file.metadata.sha256_hash()));
        let fresh = req.header(header::IF_NONE_MATCH).is_some_and(|tags| tags.split(',').any(|tag| tag.trim() == etag));
        let mut response = if fresh {
            StatusCode::NOT_MODIFIED.into_response()
        } else {
            Response::builder().content_type(content_type(name)).body(file.data.into_owned())
        };
        let headers = response.headers_mut();
        if let Ok(etag) = HeaderValue::from_str(&etag) {
            headers.insert(header::ETAG, etag);
        }
        // Revalidated on every use (a 304 costs a round trip, never stale code after an upgrade).
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(UI_CSP));
        Ok(response)
    }
}
