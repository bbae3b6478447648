//! Hostile input: each a clear 4xx or a correct 2xx, never a 500, and a refused request changes nothing.

mod common;

use aegis::auth::Role;
use common::{TestApp, expect_error};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn json_of(response: reqwest::Response) -> Value {
    let status = response.status();
    let body = response.text().await.unwrap();
    serde_json::from_str(&body).unwrap_or_else(|_| panic!("{status}: {body}"))
}

#[tokio::test]
async fn strings_are_stored_verbatim() {
    let app = TestApp::start().await;
    let red = app.token_for(Role::RedTech).await;
    let admin = app.admin_token().await;
    let technique = json_of(app.get("/api/v1/techniques/T1059", Some(&admin)).await).await;
    let samples = [
        "'; DROP TABLE tests; --",
        "\" OR 1=1 --",
        "Robert'); DELETE FROM audit_logs WHERE ('1'='1",
        "<script>alert(1)</script>",
        "{{7*7}} ${7*7} %s %n",
        "Ünïcödé ✓ 漢字 العربية 🛡️🔥",
        "\u{202E}gnp.exe",
        "tab\tand\nnewline",
    ];
    for sample in samples {
        let body = json!({"technique_id": technique["id"], "name": sample, "platform": "windows",
                          "procedure_text": sample, "description": sample, "tool_used": sample});
        let created = app.send_json(Method::POST, "/api/v1/tests", Some(&red), &body).await;
        assert_eq!(created.status(), StatusCode::CREATED, "{sample:?}");
        let created = json_of(created).await;
        let fetched =
            json_of(app.get(&format!("/api/v1/tests/{}", created["id"].as_str().unwrap()), Some(&red)).await).await;
        assert_eq!(fetched["procedure_text"], sample, "procedure kept verbatim");
        assert_eq!(fetched["description"], sample);
        assert_eq!(fetched["name"], sample.trim(), "names are trimmed, nothing else");
    }
    // The tables the samples name are all still there.
    let tests = json_of(app.get("/api/v1/tests?limit=100", Some(&red)).await).await;
    assert_eq!(tests["total"], samples.len());
    assert!(app.audit("action=create_test").await["total"].as_u64().unwrap() >= samples.len() as u64);
    let listed = json_of(app.get("/api/v1/techniques?q=%27%3B%20DROP", Some(&red)).await).await;
    assert_eq!(listed, json!([]), "a search is a search");
}

#[tokio::test]
async fn oversized_and_malformed_requests_are_4xx() {
    let app = TestApp::start().await;
    let admin = app.admin_token().await;
    let long = "a".repeat(60 * 1024);
    let cases: Vec<(String, &str)> = vec![
        (format!("/api/v1/techniques?q={long}"), "huge query value"),
        (format!("/api/v1/audit-logs?action={long}"), "huge filter"),
        (format!("/api/v1/techniques/{long}"), "huge path segment"),
        (format!("/api/v1/audit-logs?{}", "x=1&".repeat(5000)), "many parameters"),
        ("/api/v1/audit-logs?limit=99999999999999999999".into(), "limit out of range"),
        ("/api/v1/audit-logs?offset=-5".into(), "negative offset"),
        ("/api/v1/audit-logs?start_date=2026-02-30".into(), "impossible date"),
        ("/api/v1/audit-logs?user_id=00000000-0000-0000-0000-00000000000G".into(), "malformed uuid"),
        ("/api/v1/tests/%00%01".into(), "control bytes in a path"),
        ("/api/v1/techniques?tactic=%FF%FE".into(), "invalid UTF-8 in a query"),
        ("/api/v1/tests?limit=1e3".into(), "float as integer"),
    ];
    for (path, name) in cases {
        let response = app.get(&path, Some(&admin)).await;
        let status = response.status();
        assert!(status.is_client_error() || status.is_success(), "{name}: {status}");
        assert_ne!(status, StatusCode::INTERNAL_SERVER_ERROR, "{name}");
        if status.is_client_error() && status != StatusCode::URI_TOO_LONG {
            let body = response.text().await.unwrap();
            let body: Value = serde_json::from_str(&body).unwrap_or_else(|_| panic!("{name}: {body}"));
            assert!(body["detail"].is_string() && body["code"].is_string(), "{name}: {body}");
        }
    }
    // Refused writes change nothing.
    let before = json_of(app.get("/api/v1/users", Some(&admin)).await).await;
    let refused = [
        json!({"username": "x".repeat(100_000), "password": "password123", "role": "viewer"}),
        json!({"username": "ok", "password": "password123", "role": "viewer", "email": {"nested": [1, 2, 3]}}),
        json!({"username": "ok", "password": "p".repeat(2000), "role": "viewer"}),
        json!({"username": "ok", "password": "password123", "role": ["admin"]}),
    ];
    for body in refused {
        let response = app.send_json(Method::POST, "/api/v1/users", Some(&admin), &body).await;
        assert!(response.status().is_client_error(), "{}", response.status());
    }
    let nested = format!("{{\"username\": {}1{}}}", "[".repeat(200), "]".repeat(200));
    let response = app
        .request(Method::POST, "/api/v1/users", Some(&admin))
        .header("content-type", "application/json")
        .body(nested)
        .send()
        .await
        .unwrap();
    expect_error(response, StatusCode::BAD_REQUEST, "VALIDATION_ERROR").await;
    assert_eq!(json_of(app.get("/api/v1/users", Some(&admin)).await).await, before);
    assert_eq!(app.audit("action=create_user").await["total"], 1, "only the first admin");
}
