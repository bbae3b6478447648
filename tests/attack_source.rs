//! Syncing from an http(s) source: a real HTTP client against a local test server on loopback.

mod common;

use std::io::Write;

use common::bundle::{self, ACTIVE};
use common::{TestApp, expect_error};
use poem::http::StatusCode as PoemStatus;
use poem::web::Redirect;
use poem::{Response, Route, Server, get, handler, listener::TcpAcceptor};
use reqwest::{Method, StatusCode};
use serde_json::Value;

#[handler]
fn plain() -> Response {
    Response::builder().content_type("application/json").body(bundle::mini().to_string())
}

#[handler]
fn gzipped() -> Response {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(bundle::mini().to_string().as_bytes()).unwrap();
    Response::builder().content_type("application/gzip").body(gz.finish().unwrap())
}

#[handler]
fn missing() -> Response {
    Response::builder().status(PoemStatus::NOT_FOUND).body("not here")
}

#[handler]
fn html() -> Response {
    Response::builder().content_type("text/html").body("<!doctype html><title>Portal login</title>")
}

#[handler]
fn redirect_loop() -> Redirect {
    Redirect::temporary("/loop")
}

#[handler]
fn one_hop() -> Redirect {
    Redirect::temporary("/bundle.json")
}

/// Serves the fixtures on a free loopback port; returns its base URL.
async fn fixture_server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let routes = Route::new()
        .at("/bundle.json", get(plain))
        .at("/bundle.json.gz", get(gzipped))
        .at("/missing", get(missing))
        .at("/portal", get(html))
        .at("/loop", get(redirect_loop))
        .at("/hop", get(one_hop));
    tokio::spawn(Server::new_with_acceptor(TcpAcceptor::from_tokio(listener).unwrap()).run(routes));
    base
}

async fn sync_from(url: String) -> (StatusCode, Value) {
    let app = TestApp::start_with(|settings| settings.mitre_source = url).await;
    let admin = app.admin_token().await;
    let response = app.request(Method::POST, "/api/v1/system/sync-mitre", Some(&admin)).send().await.unwrap();
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    (status, body)
}

#[tokio::test]
async fn a_url_source_seeds_and_syncs() {
    let base = fixture_server().await;
    for path in ["/bundle.json", "/bundle.json.gz", "/hop"] {
        let app = TestApp::start_with(|settings| settings.mitre_source = format!("{base}{path}")).await;
        let admin = app.admin_token().await;
        let list: Value = app.get("/api/v1/techniques", Some(&admin)).await.json().await.unwrap();
        assert_eq!(list.as_array().unwrap().len(), ACTIVE, "first start seeded from {path}");
        let (status, report) = sync_from(format!("{base}{path}")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!((report["new"].as_u64(), report["updated"].as_u64()), (Some(0), Some(0)), "{path}: {report}");
        assert_eq!(report["source"], format!("{base}{path}"));
    }
}

#[tokio::test]
async fn unreachable_or_wrong_sources() {
    let base = fixture_server().await;
    // (source, status, code)
    let table = [
        (format!("{base}/missing"), StatusCode::BAD_GATEWAY, "UPSTREAM_UNAVAILABLE"),
        (format!("{base}/loop"), StatusCode::BAD_GATEWAY, "UPSTREAM_UNAVAILABLE"),
        ("http://127.0.0.1:9/closed-port.json".to_owned(), StatusCode::BAD_GATEWAY, "UPSTREAM_UNAVAILABLE"),
        (format!("{base}/portal"), StatusCode::BAD_REQUEST, "INVALID_BUNDLE"),
    ];
    for (source, status, code) in table {
        let app = TestApp::start_with(|settings| settings.mitre_source = source.clone()).await;
        let admin = app.admin_token().await;
        let list: Value = app.get("/api/v1/techniques", Some(&admin)).await.json().await.unwrap();
        assert_eq!(list, serde_json::json!([]), "{source}: the server started with an empty catalogue");
        let response = app.request(Method::POST, "/api/v1/system/sync-mitre", Some(&admin)).send().await.unwrap();
        expect_error(response, status, code).await;
        let runs = app.audit("action=sync_mitre").await;
        assert_eq!(runs["total"], 2, "{source}: the first-start attempt and this one are recorded");
        assert!(runs["items"].as_array().unwrap().iter().all(|run| run["details"]["outcome"] == "failed"));
    }
}
