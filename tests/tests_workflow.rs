//! Red-team tests through HTTP: who may do what, the state machine from every state, the status
//! roll-up into the technique and the metrics, filters, and the audit trail.

mod common;

use aegis::auth::Role;
use common::{TestApp, expect_error, roles_except};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn json_of(response: reqwest::Response) -> Value {
    let status = response.status();
    let body = response.text().await.unwrap();
    serde_json::from_str(&body).unwrap_or_else(|_| panic!("{status}: {body}"))
}

async fn technique_uuid(app: &TestApp, mitre_id: &str) -> String {
    let admin = app.admin_token().await;
    let technique = json_of(app.get(&format!("/api/v1/techniques/{mitre_id}"), Some(&admin)).await).await;
    technique["id"].as_str().unwrap().to_owned()
}

/// Creates a draft on `mitre_id` as the holder of `token`; returns the test.
async fn create_test(app: &TestApp, token: &str, mitre_id: &str, name: &str) -> Value {
    let body = json!({"technique_id": technique_uuid(app, mitre_id).await, "name": name, "platform": "windows",
                      "procedure_text": "powershell -enc ...", "tool_used": "Atomic Red Team", "description": "d"});
    let response = app.send_json(Method::POST, "/api/v1/tests", Some(token), &body).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    json_of(response).await
}

async fn act(app: &TestApp, token: Option<&str>, method: Method, path: &str, body: Value) -> reqwest::Response {
    let request = app.request(method, path, token);
    let request = if body.is_null() { request } else { request.json(&body) };
    request.send().await.unwrap()
}

async fn status_of(app: &TestApp, mitre_id: &str) -> String {
    let admin = app.admin_token().await;
    let technique = json_of(app.get(&format!("/api/v1/techniques/{mitre_id}"), Some(&admin)).await).await;
    technique["status_global"].as_str().unwrap().to_owned()
}

/// The per-technique counts the triggers keep (migration 0009) equal a count of the tests themselves.
fn assert_tally_matches_the_tests(app: &TestApp) {
    let conn = rusqlite::Connection::open(app.data_dir.join("aegis.db")).unwrap();
    let read = |sql: &str| -> Vec<(String, i64, i64, i64, i64)> {
        conn.prepare(sql)
            .unwrap()
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    let kept = read(
        "SELECT technique_id, total, detected, partially_detected, not_detected FROM technique_test_tally
         WHERE total > 0 ORDER BY technique_id",
    );
    let counted = read(
        "SELECT technique_id, COUNT(*), SUM(result IS 'detected'), SUM(result IS 'partially_detected'),
                SUM(result IS 'not_detected')
         FROM tests GROUP BY technique_id ORDER BY technique_id",
    );
    assert!(!counted.is_empty());
    assert_eq!(kept, counted);
    let negative: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM technique_test_tally
             WHERE total < 0 OR detected < 0 OR partially_detected < 0 OR not_detected < 0",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(negative, 0);
}

#[tokio::test]
async fn a_red_tech_records_a_test_and_a_lead_validates_it() {
    let app = TestApp::start().await;
    app.create_user("rt", Role::RedTech).await;
    let red = app.token_of("rt").await;
    let lead = app.token_for(Role::BlueLead).await;
    assert_eq!(status_of(&app, "T1059.001").await, "not_evaluated");

    let test = create_test(&app, &red, "t1059.001", "PowerShell download cradle").await;
    assert_eq!(test["state"], "draft");
    assert_eq!(test["result"], Value::Null);
    assert_eq!(test["platform"], "windows");
    assert_eq!(test["technique_mitre_id"], "T1059.001");
    assert_eq!(test["created_by_username"], "rt");
    assert_eq!(test["evidences"], json!([]));
    assert_eq!(status_of(&app, "T1059.001").await, "in_progress");
    let id = test["id"].as_str().unwrap();

    let validated = json_of(
        act(
            &app,
            Some(&lead),
            Method::POST,
            &format!("/api/v1/tests/{id}/validate"),
            json!({"result": "detected", "comments": "EDR alert 4624"}),
        )
        .await,
    )
    .await;
    assert_eq!(validated["state"], "validated");
    assert_eq!(validated["result"], "detected");
    assert_eq!(validated["validation_comments"], "EDR alert 4624");
    assert!(validated["validated_by_username"].as_str().unwrap().starts_with("blue-lead"));
    assert!(validated["validated_at"].is_string());
    assert_eq!(status_of(&app, "T1059.001").await, "validated");

    let technique = json_of(app.get("/api/v1/techniques/T1059.001", Some(&red)).await).await;
    assert_eq!(technique["tests"][0]["id"], id);
    assert_eq!(technique["test_count"], 1);
    let summary = json_of(app.get("/api/v1/metrics/summary", Some(&red)).await).await;
    assert_eq!(summary["validated"], 1);
    assert_eq!(summary["coverage_percentage"], 14.29);
    let by_tactic = json_of(app.get("/api/v1/metrics/by-tactic", Some(&red)).await).await;
    let execution = by_tactic.as_array().unwrap().iter().find(|t| t["tactic"] == "execution").unwrap();
    assert_eq!((execution["validated"].as_u64(), execution["coverage_percentage"].as_f64()), (Some(1), Some(50.0)));

    // Validated is final.
    let response = act(&app, Some(&red), Method::PATCH, &format!("/api/v1/tests/{id}"), json!({"name": "x"})).await;
    expect_error(response, StatusCode::CONFLICT, "INVALID_STATE").await;

    let actions: Vec<String> = app.audit("entity_type=test").await["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["action"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(actions, ["validate_test", "create_test"]);
}

#[tokio::test]
async fn who_may_do_what() {
    let app = TestApp::start().await;
    app.create_user("owner", Role::RedTech).await;
    let owner = app.token_of("owner").await;
    let fresh = async || create_test(&app, &owner, "T1059.001", "t").await["id"].as_str().unwrap().to_owned();

    // Create: red roles and admin.
    let technique_id = technique_uuid(&app, "T1059").await;
    let body = json!({"technique_id": technique_id, "name": "n", "platform": "linux"});
    expect_error(
        act(&app, None, Method::POST, "/api/v1/tests", body.clone()).await,
        StatusCode::UNAUTHORIZED,
        "UNAUTHORIZED",
    )
    .await;
    for role in Role::ALL {
        let token = app.token_for(role).await;
        let response = act(&app, Some(&token), Method::POST, "/api/v1/tests", body.clone()).await;
        if [Role::Admin, Role::RedLead, Role::RedTech].contains(&role) {
            assert_eq!(response.status(), StatusCode::CREATED, "{role}");
        } else {
            expect_error(response, StatusCode::FORBIDDEN, "FORBIDDEN").await;
        }
    }

    // Read: everyone.
    let id = fresh().await;
    for role in Role::ALL {
        let token = app.token_for(role).await;
        for path in [format!("/api/v1/tests/{id}"), "/api/v1/tests".to_owned()] {
            assert_eq!(app.get(&path, Some(&token)).await.status(), StatusCode::OK, "{role} {path}");
        }
    }
    expect_error(app.get(&format!("/api/v1/tests/{id}"), None).await, StatusCode::UNAUTHORIZED, "UNAUTHORIZED").await;

    // Patch and delete: the creator or an admin; another red tech or a lead may not.
    let other_red = app.token_for(Role::RedTech).await;
    for (method, body) in [(Method::PATCH, json!({"name": "renamed"})), (Method::DELETE, Value::Null)] {
        let id = fresh().await;
        let path = format!("/api/v1/tests/{id}");
        expect_error(
            act(&app, None, method.clone(), &path, body.clone()).await,
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED",
        )
        .await;
        let mut refused = vec![other_red.clone()];
        for role in roles_except(&[Role::Admin, Role::RedTech]) {
            refused.push(app.token_for(role).await);
        }
        for token in &refused {
            expect_error(
                act(&app, Some(token), method.clone(), &path, body.clone()).await,
                StatusCode::FORBIDDEN,
                "FORBIDDEN",
            )
            .await;
        }
        let response = act(&app, Some(&owner), method.clone(), &path, body.clone()).await;
        assert!(response.status().is_success(), "owner {method}: {}", response.status());
        let id = fresh().await;
        let admin = app.admin_token().await;
        let response = act(&app, Some(&admin), method.clone(), &format!("/api/v1/tests/{id}"), body.clone()).await;
        assert!(response.status().is_success(), "admin {method}: {}", response.status());
    }

    // Validate and reject: leads and admin.
    for (verb, body) in [("validate", json!({"result": "not_detected"})), ("reject", json!({"comments": "redo"}))] {
        let allowed = [Role::Admin, Role::RedLead, Role::BlueLead];
        for role in roles_except(&allowed) {
            let id = fresh().await;
            let token = app.token_for(role).await;
            let response =
                act(&app, Some(&token), Method::POST, &format!("/api/v1/tests/{id}/{verb}"), body.clone()).await;
            expect_error(response, StatusCode::FORBIDDEN, "FORBIDDEN").await;
        }
        for role in allowed {
            let id = fresh().await;
            let token = app.token_for(role).await;
            let response =
                act(&app, Some(&token), Method::POST, &format!("/api/v1/tests/{id}/{verb}"), body.clone()).await;
            assert_eq!(response.status(), StatusCode::OK, "{role} {verb}");
        }
        let id = fresh().await;
        expect_error(
            act(&app, None, Method::POST, &format!("/api/v1/tests/{id}/{verb}"), body.clone()).await,
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED",
        )
        .await;
    }
}

#[tokio::test]
async fn every_action_from_every_state() {
    let app = TestApp::start().await;
    app.create_user("owner", Role::RedLead).await;
    let owner = app.token_of("owner").await;
    // Brings a new test to `state` and returns its id.
    let in_state = async |state: &str| {
        let id = create_test(&app, &owner, "T1059.001", "t").await["id"].as_str().unwrap().to_owned();
        match state {
            "validated" => {
                act(
                    &app,
                    Some(&owner),
                    Method::POST,
                    &format!("/api/v1/tests/{id}/validate"),
                    json!({"result": "detected"}),
                )
                .await;
            }
            "rejected" => {
                act(&app, Some(&owner), Method::POST, &format!("/api/v1/tests/{id}/reject"), json!({"comments": "no"}))
                    .await;
            }
            _ => {}
        }
        id
    };
    // (from, action, expected status, state afterwards)
    let table = [
        ("draft", "patch", StatusCode::OK, Some("draft")),
        ("draft", "validate", StatusCode::OK, Some("validated")),
        ("draft", "reject", StatusCode::OK, Some("rejected")),
        ("draft", "delete", StatusCode::NO_CONTENT, None),
        ("rejected", "patch", StatusCode::OK, Some("draft")),
        ("rejected", "validate", StatusCode::CONFLICT, Some("rejected")),
        ("rejected", "reject", StatusCode::CONFLICT, Some("rejected")),
        ("rejected", "delete", StatusCode::NO_CONTENT, None),
        ("validated", "patch", StatusCode::CONFLICT, Some("validated")),
        ("validated", "validate", StatusCode::CONFLICT, Some("validated")),
        ("validated", "reject", StatusCode::CONFLICT, Some("validated")),
        ("validated", "delete", StatusCode::CONFLICT, Some("validated")),
    ];
    for (from, action, expected, after) in table {
        let id = in_state(from).await;
        let path = format!("/api/v1/tests/{id}");
        let response = match action {
            "patch" => act(&app, Some(&owner), Method::PATCH, &path, json!({"procedure_text": "step 2"})).await,
            "validate" => {
                act(
                    &app,
                    Some(&owner),
                    Method::POST,
                    &format!("{path}/validate"),
                    json!({"result": "partially_detected"}),
                )
                .await
            }
            "reject" => act(&app, Some(&owner), Method::POST, &format!("{path}/reject"), json!({})).await,
            _ => act(&app, Some(&owner), Method::DELETE, &path, Value::Null).await,
        };
        assert_eq!(response.status(), expected, "{action} from {from}");
        if expected == StatusCode::CONFLICT {
            expect_error(response, StatusCode::CONFLICT, "INVALID_STATE").await;
        }
        let now = app.get(&path, Some(&owner)).await;
        match after {
            Some(state) => assert_eq!(json_of(now).await["state"], state, "{action} from {from}"),
            None => assert_eq!(now.status(), StatusCode::NOT_FOUND, "{action} from {from}"),
        }
    }
    // A rejected test keeps its last rejection when reopened.
    let id = in_state("rejected").await;
    let reopened =
        json_of(act(&app, Some(&owner), Method::PATCH, &format!("/api/v1/tests/{id}"), json!({"name": "fixed"})).await)
            .await;
    assert_eq!((reopened["state"].as_str(), reopened["rejection_comments"].as_str()), (Some("draft"), Some("no")));
    assert_tally_matches_the_tests(&app);
}

#[tokio::test]
async fn the_status_rolls_up_from_the_tests() {
    let app = TestApp::start().await;
    let red = app.token_for(Role::RedTech).await;
    let lead = app.token_for(Role::RedLead).await;
    let validate = async |mitre_id: &str, result: &str| {
        let id = create_test(&app, &red, mitre_id, "t").await["id"].as_str().unwrap().to_owned();
        let response =
            act(&app, Some(&lead), Method::POST, &format!("/api/v1/tests/{id}/validate"), json!({"result": result}))
                .await;
        assert_eq!(response.status(), StatusCode::OK);
        id
    };
    // T1059: detected → validated. T1055: detected + not detected → partial. T1027: all not detected → not_covered.
    // T1566: drafts only → in_progress. T1566.001: partially detected → partial.
    validate("T1059", "detected").await;
    validate("T1059", "detected").await;
    validate("T1055", "detected").await;
    validate("T1055", "not_detected").await;
    validate("T1027", "not_detected").await;
    validate("T1027", "not_detected").await;
    create_test(&app, &red, "T1566", "draft").await;
    let draft = create_test(&app, &red, "T1566", "another draft").await;
    validate("T1566.001", "partially_detected").await;
    for (mitre_id, expected) in [
        ("T1059", "validated"),
        ("T1055", "partial"),
        ("T1027", "not_covered"),
        ("T1566", "in_progress"),
        ("T1566.001", "partial"),
        ("T1059.001", "not_evaluated"),
    ] {
        assert_eq!(status_of(&app, mitre_id).await, expected, "{mitre_id}");
    }
    let summary = json_of(app.get("/api/v1/metrics/summary", Some(&red)).await).await;
    assert_eq!(
        summary,
        json!({"total_techniques": 7, "validated": 1, "partial": 2, "not_covered": 1, "in_progress": 1, "not_evaluated": 2, "coverage_percentage": 42.86})
    );
    // An admin's explicit status stands until the technique's tests next change.
    let admin = app.admin_token().await;
    app.send_json(Method::PATCH, "/api/v1/techniques/T1566", Some(&admin), &json!({"status_global": "validated"}))
        .await;
    assert_eq!(status_of(&app, "T1566").await, "validated");
    let id = draft["id"].as_str().unwrap();
    act(&app, Some(&red), Method::DELETE, &format!("/api/v1/tests/{id}"), Value::Null).await;
    assert_eq!(status_of(&app, "T1566").await, "in_progress", "recomputed on the next test change");
    assert_tally_matches_the_tests(&app);
}

#[tokio::test]
async fn bad_input_is_refused_and_changes_nothing() {
    let app = TestApp::start().await;
    let red = app.token_for(Role::RedTech).await;
    let technique_id = technique_uuid(&app, "T1059.001").await;
    let good = json!({"technique_id": technique_id, "name": "n", "platform": "Windows"});
    let with = |key: &str, value: Value| {
        let mut body = good.clone();
        body[key] = value;
        body
    };
    let table = [
        (with("technique_id", json!(uuid::Uuid::new_v4().to_string())), StatusCode::NOT_FOUND, "NOT_FOUND"),
        (with("technique_id", json!("T1059")), StatusCode::BAD_REQUEST, "VALIDATION_ERROR"),
        (with("platform", json!("plan9")), StatusCode::BAD_REQUEST, "VALIDATION_ERROR"),
        (with("platform", json!("")), StatusCode::BAD_REQUEST, "VALIDATION_ERROR"),
        (with("name", json!("")), StatusCode::BAD_REQUEST, "VALIDATION_ERROR"),
        (with("name", json!("x".repeat(201))), StatusCode::BAD_REQUEST, "VALIDATION_ERROR"),
        (json!({"technique_id": technique_id, "platform": "windows"}), StatusCode::BAD_REQUEST, "VALIDATION_ERROR"),
    ];
    for (body, status, code) in table {
        expect_error(act(&app, Some(&red), Method::POST, "/api/v1/tests", body.clone()).await, status, code).await;
    }
    // A platform the technique lacks but ATT&CK knows is accepted (the team tested it there).
    let response = act(&app, Some(&red), Method::POST, "/api/v1/tests", with("platform", json!("LINUX"))).await;
    assert_eq!(json_of(response).await["platform"], "linux");

    let lead = app.token_for(Role::BlueLead).await;
    let id = create_test(&app, &red, "T1059.001", "t").await["id"].as_str().unwrap().to_owned();
    for body in [json!({"result": "caught"}), json!({}), json!({"result": "detected", "comments": "x".repeat(10_001)})]
    {
        let response = act(&app, Some(&lead), Method::POST, &format!("/api/v1/tests/{id}/validate"), body).await;
        expect_error(response, StatusCode::BAD_REQUEST, "VALIDATION_ERROR").await;
    }
    for path in ["/api/v1/tests/not-a-uuid", "/api/v1/tests/not-a-uuid/validate"] {
        let response = act(&app, Some(&lead), Method::POST, path, json!({"result": "detected"})).await;
        assert!(response.status().is_client_error());
    }
    let unknown = uuid::Uuid::new_v4();
    let response = act(
        &app,
        Some(&lead),
        Method::POST,
        &format!("/api/v1/tests/{unknown}/validate"),
        json!({"result": "detected"}),
    )
    .await;
    expect_error(response, StatusCode::NOT_FOUND, "NOT_FOUND").await;
    expect_error(app.get(&format!("/api/v1/tests/{unknown}"), Some(&lead)).await, StatusCode::NOT_FOUND, "NOT_FOUND")
        .await;
    assert_eq!(status_of(&app, "T1059.001").await, "in_progress");
    assert_eq!(app.audit("action=validate_test").await["total"], 0);
}

#[tokio::test]
async fn list_filters_and_pages() {
    let app = TestApp::start().await;
    let red = app.create_user("red-one", Role::RedTech).await;
    let red_token = app.token_of("red-one").await;
    let lead = app.token_for(Role::RedLead).await;
    let mut ids = Vec::new();
    for (mitre_id, name) in [("T1059", "a"), ("T1059", "b"), ("T1055", "c"), ("T1027", "d")] {
        ids.push(create_test(&app, &red_token, mitre_id, name).await["id"].as_str().unwrap().to_owned());
    }
    create_test(&app, &lead, "T1059", "by lead").await;
    act(&app, Some(&lead), Method::POST, &format!("/api/v1/tests/{}/validate", ids[0]), json!({"result": "detected"}))
        .await;
    act(&app, Some(&lead), Method::POST, &format!("/api/v1/tests/{}/reject", ids[2]), json!({})).await;
    let t1059 = technique_uuid(&app, "T1059").await;
    let table = [
        (String::new(), 5),
        ("technique=T1059".to_owned(), 3),
        (format!("technique={t1059}"), 3),
        ("state=draft".to_owned(), 3),
        ("state=validated".to_owned(), 1),
        ("state=rejected".to_owned(), 1),
        ("result=detected".to_owned(), 1),
        ("result=not_detected".to_owned(), 0),
        ("platform=WINDOWS".to_owned(), 5),
        ("platform=linux".to_owned(), 0),
        (format!("created_by={}", red.id), 4),
        ("technique=T1059&state=draft".to_owned(), 2),
    ];
    for (query, expected) in table {
        let page = json_of(app.get(&format!("/api/v1/tests?{query}"), Some(&lead)).await).await;
        assert_eq!(page["total"], expected, "{query}: {page}");
        assert_eq!(page["items"].as_array().unwrap().len(), expected, "{query}");
    }
    let first = json_of(app.get("/api/v1/tests?limit=2", Some(&lead)).await).await;
    let second = json_of(app.get("/api/v1/tests?limit=2&offset=2", Some(&lead)).await).await;
    assert_eq!(
        (first["limit"].as_u64(), second["offset"].as_u64(), first["total"].as_u64()),
        (Some(2), Some(2), Some(5))
    );
    assert_ne!(first["items"][0]["id"], second["items"][0]["id"]);
    for query in ["state=done", "result=caught", "limit=0", "limit=101", "offset=-1", "created_by=x", "technique=T9999"]
    {
        expect_error(
            app.get(&format!("/api/v1/tests?{query}"), Some(&lead)).await,
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
        )
        .await;
    }
}
