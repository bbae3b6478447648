//! The technique list and the metrics are rendered once per catalogue version: every change that
//! shows in them must show at once, whoever made it — the API, or another process writing the file.

mod common;

use aegis::auth::Role;
use common::TestApp;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn json_of(response: reqwest::Response) -> Value {
    let status = response.status();
    let body = response.text().await.unwrap();
    serde_json::from_str(&body).unwrap_or_else(|_| panic!("{status}: {body}"))
}

async fn status_in_list(app: &TestApp, token: &str, mitre_id: &str) -> String {
    let list = json_of(app.get("/api/v1/techniques", Some(token)).await).await;
    let technique = list.as_array().unwrap().iter().find(|t| t["mitre_id"] == mitre_id).unwrap();
    technique["status_global"].as_str().unwrap().to_owned()
}

async fn validated_count(app: &TestApp, token: &str) -> (u64, u64) {
    let summary = json_of(app.get("/api/v1/metrics/summary", Some(token)).await).await;
    let by_tactic = json_of(app.get("/api/v1/metrics/by-tactic", Some(token)).await).await;
    let execution = by_tactic.as_array().unwrap().iter().find(|t| t["tactic"] == "execution").unwrap();
    (summary["validated"].as_u64().unwrap(), execution["validated"].as_u64().unwrap())
}

#[tokio::test]
async fn api_changes_show_in_the_list_and_metrics_at_once() {
    let app = TestApp::start().await;
    let viewer = app.token_for(Role::Viewer).await;
    let red = app.token_for(Role::RedTech).await;
    let lead = app.token_for(Role::BlueLead).await;
    // Render everything once, so the next reads would be served from what was kept.
    assert_eq!(status_in_list(&app, &viewer, "T1059.001").await, "not_evaluated");
    assert_eq!(validated_count(&app, &viewer).await, (0, 0));

    let technique = json_of(app.get("/api/v1/techniques/T1059.001", Some(&viewer)).await).await;
    let body = json!({"technique_id": technique["id"], "name": "enc", "platform": "windows"});
    let test = json_of(app.send_json(Method::POST, "/api/v1/tests", Some(&red), &body).await).await;
    assert_eq!(status_in_list(&app, &viewer, "T1059.001").await, "in_progress");

    let path = format!("/api/v1/tests/{}/validate", test["id"].as_str().unwrap());
    let response = app.send_json(Method::POST, &path, Some(&lead), &json!({"result": "detected"})).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(status_in_list(&app, &viewer, "T1059.001").await, "validated");
    assert_eq!(validated_count(&app, &viewer).await, (1, 1));
}

#[tokio::test]
async fn another_process_writing_the_file_shows_at_once() {
    let app = TestApp::start().await;
    let viewer = app.token_for(Role::Viewer).await;
    assert_eq!(status_in_list(&app, &viewer, "T1059").await, "not_evaluated");
    assert_eq!(validated_count(&app, &viewer).await, (0, 0));

    // As `aegis sync-mitre` or a restore would: a separate connection, not through the server.
    let conn = rusqlite::Connection::open(app.data_dir.join("aegis.db")).unwrap();
    conn.execute_batch("PRAGMA busy_timeout = 5000;").unwrap();
    conn.execute("UPDATE techniques SET status_global = 'validated' WHERE mitre_id = 'T1059'", []).unwrap();
    assert_eq!(status_in_list(&app, &viewer, "T1059").await, "validated");
    assert_eq!(validated_count(&app, &viewer).await, (1, 1));

    conn.execute("UPDATE techniques SET name = 'Renamed' WHERE mitre_id = 'T1059'", []).unwrap();
    let list = json_of(app.get("/api/v1/techniques?q=renamed", Some(&viewer)).await).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_filtered_list_is_the_unfiltered_list_filtered() {
    let app = TestApp::start().await;
    let viewer = app.token_for(Role::Viewer).await;
    let all = json_of(app.get("/api/v1/techniques?include_deprecated=true", Some(&viewer)).await).await;
    let all = all.as_array().unwrap();
    let active: Vec<&Value> = all.iter().filter(|t| t["revoked"] == false && t["deprecated"] == false).collect();
    let unfiltered = json_of(app.get("/api/v1/techniques", Some(&viewer)).await).await;
    assert_eq!(unfiltered.as_array().unwrap().iter().collect::<Vec<_>>(), active);

    let execution = json_of(app.get("/api/v1/techniques?tactic=Execution", Some(&viewer)).await).await;
    let expected: Vec<&Value> =
        active.iter().copied().filter(|t| t["tactics"].as_array().unwrap().iter().any(|x| x == "execution")).collect();
    assert!(!expected.is_empty());
    assert_eq!(execution.as_array().unwrap().iter().collect::<Vec<_>>(), expected);

    // Byte for byte what the same list rendered directly would be: compact JSON, keys in order.
    let text = app.get("/api/v1/techniques", Some(&viewer)).await.text().await.unwrap();
    assert_eq!(text, serde_json::to_string(&unfiltered).unwrap());
}
