//! `/audit-logs`: access, every filter, pagination and the distinct-value endpoints.

mod common;

use aegis::auth::Role;
use common::{TestApp, expect_error, roles_except};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

#[tokio::test]
async fn only_admins_read_the_audit_log() {
    let app = TestApp::start().await;
    for path in ["/api/v1/audit-logs", "/api/v1/audit-logs/actions", "/api/v1/audit-logs/entity-types"] {
        expect_error(app.get(path, None).await, StatusCode::UNAUTHORIZED, "UNAUTHORIZED").await;
        for role in roles_except(&[Role::Admin]) {
            let token = app.token_for(role).await;
            expect_error(app.get(path, Some(&token)).await, StatusCode::FORBIDDEN, "FORBIDDEN").await;
        }
        let admin = app.admin_token().await;
        assert_eq!(app.get(path, Some(&admin)).await.status(), StatusCode::OK, "{path}");
    }
}

#[tokio::test]
async fn no_endpoint_changes_or_deletes_audit_rows() {
    let app = TestApp::start().await;
    let admin = app.admin_token().await;
    for method in [Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
        let response =
            app.request(method.clone(), "/api/v1/audit-logs", Some(&admin)).json(&json!({})).send().await.unwrap();
        expect_error(response, StatusCode::METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED").await;
    }
    // Even direct SQL cannot change history: the schema refuses it.
    let outcome = app
        .state
        .db
        .write(|tx| Ok(tx.execute("DELETE FROM audit_logs", []).map_err(|err| err.to_string())))
        .await
        .unwrap();
    assert!(outcome.unwrap_err().contains("cannot be deleted"));
    let outcome = app
        .state
        .db
        .write(|tx| Ok(tx.execute("UPDATE audit_logs SET action = 'x'", []).map_err(|err| err.to_string())))
        .await
        .unwrap();
    assert!(outcome.unwrap_err().contains("cannot be changed"));
}

/// A server whose first start loads no catalogue, so the log holds only what a test does.
async fn without_catalogue() -> TestApp {
    TestApp::start_with(|settings| settings.mitre_source = String::new()).await
}

/// Builds a log with known rows: a user creation per role, logins and failures.
async fn populated() -> (TestApp, String, Value) {
    let app = without_catalogue().await;
    let admin = app.admin_token().await;
    for role in ["red_tech", "blue_lead", "viewer"] {
        let body = json!({"username": format!("user-{role}"), "password": "password123", "role": role});
        assert_eq!(
            app.send_json(Method::POST, "/api/v1/users", Some(&admin), &body).await.status(),
            StatusCode::CREATED
        );
    }
    app.login("user-viewer", "password123").await;
    app.login("user-viewer", "wrong-password").await;
    app.login("ghost", "whatever-password").await;
    let me: Value = app.get("/api/v1/auth/me", Some(&admin)).await.json().await.unwrap();
    (app, admin, me)
}

#[tokio::test]
async fn every_filter_narrows_the_log() {
    let (app, admin, me) = populated().await;
    let admin_id = me["id"].as_str().unwrap();
    // Rows: create_user(admin, system), 3 × create_user by admin, login(viewer), login_failed(viewer), login_failed(ghost).
    let all = app.audit("").await;
    assert_eq!(all["total"], 7, "{all}");
    assert_eq!(all["items"][0]["action"], "login_failed", "newest first");
    assert_eq!(all["items"][0]["username"], "ghost");
    assert!(all["items"][0]["user_id"].is_null());

    let table: Vec<(String, u64)> = vec![
        (format!("user_id={admin_id}"), 3),
        ("action=create_user".into(), 4),
        ("action=login_failed".into(), 2),
        ("action=no_such_action".into(), 0),
        ("entity_type=user".into(), 7),
        ("entity_type=technique".into(), 0),
        (format!("action=create_user&user_id={admin_id}"), 3),
        (format!("user_id={}", uuid::Uuid::new_v4()), 0),
        ("start_date=2000-01-01".into(), 7),
        ("end_date=2000-01-01".into(), 0),
        ("start_date=2999-01-01".into(), 0),
        (format!("start_date={}", chrono::Utc::now().format("%Y-%m-%d")), 7),
        (format!("end_date={}", chrono::Utc::now().format("%Y-%m-%d")), 7),
        ("start_date=2000-01-01T00:00:00Z&end_date=2999-12-31T23:59:59%2B02:00".into(), 7),
    ];
    for (query, expected) in table {
        let page = app.audit(&query).await;
        assert_eq!(page["total"], expected, "{query}: {page}");
        assert_eq!(page["items"].as_array().unwrap().len() as u64, expected.min(50), "{query}");
    }

    // A date-time filter splits the log exactly where a row was written.
    let items = all["items"].as_array().unwrap();
    let cut = items[3]["timestamp"].as_str().unwrap().replace('+', "%2B");
    assert_eq!(app.audit(&format!("start_date={cut}")).await["total"], 4);
    assert_eq!(app.audit(&format!("end_date={cut}")).await["total"], 4);
    let _ = admin;
}

#[tokio::test]
async fn pages_and_their_limits() {
    let (app, admin, _) = populated().await;
    let all = app.audit("").await;
    assert_eq!((all["offset"].as_u64(), all["limit"].as_u64()), (Some(0), Some(50)), "defaults");
    let ids: Vec<&str> = all["items"].as_array().unwrap().iter().map(|i| i["id"].as_str().unwrap()).collect();

    let mut paged = Vec::new();
    for offset in (0..7).step_by(3) {
        let page = app.audit(&format!("offset={offset}&limit=3")).await;
        assert_eq!(page["total"], 7);
        assert_eq!((page["offset"].as_u64(), page["limit"].as_u64()), (Some(offset), Some(3)));
        paged.extend(page["items"].as_array().unwrap().iter().map(|i| i["id"].as_str().unwrap().to_owned()));
    }
    assert_eq!(paged, ids, "pages tile the log in order");
    assert_eq!(app.audit("offset=1000").await["items"], json!([]));
    assert_eq!(app.audit("limit=100").await["limit"], 100);

    for query in [
        "limit=0",
        "limit=101",
        "limit=-1",
        "offset=-1",
        "limit=abc",
        "offset=99999999999999999999999",
        "offset=18446744073709551615",
        "user_id=not-a-uuid",
        "start_date=yesterday",
        "end_date=2026-13-45",
        "start_date=2026-12-05&end_date=2026-12-04",
    ] {
        let response = app.get(&format!("/api/v1/audit-logs?{query}"), Some(&admin)).await;
        expect_error(response, StatusCode::BAD_REQUEST, "VALIDATION_ERROR").await;
    }
}

#[tokio::test]
async fn distinct_actions_and_entity_types() {
    let (app, admin, _) = populated().await;
    let actions: Value = app.get("/api/v1/audit-logs/actions", Some(&admin)).await.json().await.unwrap();
    assert_eq!(actions, json!(["create_user", "login", "login_failed"]));
    let types: Value = app.get("/api/v1/audit-logs/entity-types", Some(&admin)).await.json().await.unwrap();
    assert_eq!(types, json!(["user"]));

    let fresh = without_catalogue().await;
    let admin = fresh.admin_token().await;
    let actions: Value = fresh.get("/api/v1/audit-logs/actions", Some(&admin)).await.json().await.unwrap();
    assert_eq!(actions, json!(["create_user"]), "first start records the admin's creation");
}
