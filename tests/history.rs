//! Coverage history through HTTP: who may read it, a point per status-changing verdict (and none
//! when the status stays), the `coverage_snapshot` job, and the from/to filters.

mod common;

use aegis::auth::Role;
use common::{TestApp, expect_error};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const HISTORY: &str = "/api/v1/metrics/history";

async fn json_of(response: reqwest::Response) -> Value {
    let status = response.status();
    let body = response.text().await.unwrap();
    serde_json::from_str(&body).unwrap_or_else(|_| panic!("{status}: {body}"))
}

async fn points(app: &TestApp, token: &str) -> Vec<Value> {
    let response = app.get(HISTORY, Some(token)).await;
    assert_eq!(response.status(), StatusCode::OK);
    json_of(response).await["points"].as_array().unwrap().clone()
}

/// Creates a draft on `mitre_id` as `token`'s holder; returns its id.
async fn create_test(app: &TestApp, token: &str, mitre_id: &str, name: &str) -> String {
    let admin = app.admin_token().await;
    let technique = json_of(app.get(&format!("/api/v1/techniques/{mitre_id}"), Some(&admin)).await).await;
    let body = json!({"technique_id": technique["id"], "name": name, "platform": "windows",
                      "procedure_text": "p", "tool_used": "t", "description": "d"});
    let response = app.send_json(Method::POST, "/api/v1/tests", Some(token), &body).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    json_of(response).await["id"].as_str().unwrap().to_owned()
}

async fn validate(app: &TestApp, token: &str, id: &str) {
    let response = app
        .send_json(Method::POST, &format!("/api/v1/tests/{id}/validate"), Some(token), &json!({"result": "detected"}))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
}

fn tactic<'a>(point: &'a Value, shortname: &str) -> &'a Value {
    point["by_tactic"].as_array().unwrap().iter().find(|t| t["tactic"] == shortname).unwrap()
}

async fn run_snapshot_job(app: &TestApp, token: &str) -> Value {
    json_of(app.request(Method::POST, "/api/v1/system/jobs/coverage_snapshot/run", Some(token)).send().await.unwrap())
        .await
}

#[tokio::test]
async fn every_role_reads_the_history_and_anonymous_is_refused() {
    let app = TestApp::start().await;
    expect_error(app.get(HISTORY, None).await, StatusCode::UNAUTHORIZED, "UNAUTHORIZED").await;
    for role in Role::ALL {
        let token = app.token_for(role).await;
        let response = app.get(HISTORY, Some(&token)).await;
        assert_eq!(response.status(), StatusCode::OK, "{role}");
        let body = json_of(response).await;
        assert!(body["points"].is_array() && body["from"].is_string() && body["to"].is_string(), "{body}");
    }
}

#[tokio::test]
async fn a_status_changing_verdict_adds_a_point_and_a_repeat_does_not() {
    let app = TestApp::start().await;
    let red = app.token_for(Role::RedTech).await;
    let lead = app.token_for(Role::BlueLead).await;
    let admin = app.admin_token().await;
    assert!(points(&app, &admin).await.is_empty(), "no history on a fresh start");

    // Creating a draft is not a verdict: no point.
    let first = create_test(&app, &red, "T1059.001", "first").await;
    assert!(points(&app, &admin).await.is_empty());

    // A baseline (manual run of the job) to compare with.
    let run = run_snapshot_job(&app, &admin).await;
    assert_eq!(run["status"], "ok", "{run}");
    let history = points(&app, &admin).await;
    assert_eq!(history.len(), 1);
    let baseline = history[0].clone();
    assert_eq!(baseline["reason"], "manual", "a user's run of the job is recorded as manual");
    assert_eq!(baseline["in_progress"], 1);

    validate(&app, &lead, &first).await;
    let history = points(&app, &admin).await;
    assert_eq!(history.len(), 2, "{history:?}");
    let changed = &history[1];
    assert_eq!(changed["reason"], "status_change");
    assert_eq!(changed["validated"].as_u64().unwrap(), baseline["validated"].as_u64().unwrap() + 1);
    assert_eq!(changed["in_progress"].as_u64().unwrap() + 1, baseline["in_progress"].as_u64().unwrap());
    assert_eq!(changed["total"], baseline["total"]);
    assert!(changed["coverage_percentage"].as_f64().unwrap() > baseline["coverage_percentage"].as_f64().unwrap());
    let (before, after) = (tactic(&baseline, "execution"), tactic(changed, "execution"));
    assert_eq!(after["validated"].as_u64().unwrap(), before["validated"].as_u64().unwrap() + 1);
    assert_ne!(before, after);
    // The summary matches the live metrics.
    let summary = json_of(app.get("/api/v1/metrics/summary", Some(&admin)).await).await;
    assert_eq!(summary["validated"], changed["validated"]);
    // Tactics come in matrix order, like /metrics/by-tactic.
    let by_tactic = json_of(app.get("/api/v1/metrics/by-tactic", Some(&admin)).await).await;
    let order: Vec<&Value> = by_tactic.as_array().unwrap().iter().map(|t| &t["tactic"]).collect();
    let history_order: Vec<&Value> = changed["by_tactic"].as_array().unwrap().iter().map(|t| &t["tactic"]).collect();
    assert_eq!(order, history_order);

    // A second detected test on the already validated technique changes no status: no point.
    let second = create_test(&app, &red, "T1059.001", "second").await;
    validate(&app, &lead, &second).await;
    assert_eq!(points(&app, &admin).await.len(), 2);
}

#[tokio::test]
async fn the_snapshot_job_is_listed_and_the_scheduler_records_scheduled_points() {
    let app = TestApp::start_with(|settings| settings.snapshot_cron = "* * * * * *".into()).await;
    let admin = app.admin_token().await;
    let status = json_of(app.get("/api/v1/system/scheduler-status", Some(&admin)).await).await;
    let job = status["jobs"].as_array().unwrap().iter().find(|j| j["id"] == "coverage_snapshot").unwrap().clone();
    assert_eq!(job["name"], "Coverage Snapshot");
    assert_eq!(job["enabled"], true);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        if points(&app, &admin).await.iter().any(|p| p["reason"] == "scheduled") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "a scheduled snapshot within 20 s");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    // Only admins run jobs.
    let viewer = app.token_for(Role::Viewer).await;
    let response =
        app.request(Method::POST, "/api/v1/system/jobs/coverage_snapshot/run", Some(&viewer)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn from_and_to_filter_and_bad_dates_are_refused() {
    let app = TestApp::start().await;
    let admin = app.admin_token().await;
    assert_eq!(run_snapshot_job(&app, &admin).await["status"], "ok");
    let history = points(&app, &admin).await;
    assert_eq!(history.len(), 1);
    let taken_at = history[0]["taken_at"].as_str().unwrap().to_owned();
    let day = &taken_at[..10];

    let get = |query: String| {
        let (app, admin) = (&app, &admin);
        async move { json_of(app.get(&format!("{HISTORY}?{query}"), Some(admin)).await).await }
    };
    let today = get(format!("from={day}&to={day}")).await;
    assert_eq!(today["points"].as_array().unwrap().len(), 1, "{today}");
    assert_eq!(today["from"], format!("{day}T00:00:00.000000Z"));
    assert_eq!(today["to"], format!("{day}T23:59:59.999999Z"));
    let exact = get(format!("from={taken_at}&to={taken_at}")).await;
    assert_eq!(exact["points"].as_array().unwrap().len(), 1, "{exact}");
    let past = get("from=2000-01-01&to=2000-12-31".into()).await;
    assert_eq!(past["points"], json!([]));
    let future = get("from=2999-01-01&to=2999-12-31".into()).await;
    assert_eq!(future["points"], json!([]));
    let until_past = get("to=2000-01-01".into()).await;
    assert_eq!(until_past["points"], json!([]));

    for query in ["from=yesterday", "to=2026-13-01", "from=12/04/2026", "from=2030-01-02&to=2030-01-01"] {
        let response = app.get(&format!("{HISTORY}?{query}"), Some(&admin)).await;
        expect_error(response, StatusCode::BAD_REQUEST, "VALIDATION_ERROR").await;
    }
}
