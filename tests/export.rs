//! Exports through HTTP: the ATT&CK Navigator layer, the CSV and the printable HTML report — who may
//! read them, their shapes, filters, counts and escaping.

mod common;

use aegis::auth::Role;
use common::bundle::ACTIVE;
use common::{TestApp, expect_error};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const LAYER: &str = "/api/v1/export/navigator-layer";
const CSV: &str = "/api/v1/export/coverage.csv";
const REPORT: &str = "/api/v1/reports/coverage.html";

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

/// Creates a draft test on `mitre_id`; returns its id.
async fn create_test(app: &TestApp, token: &str, mitre_id: &str, name: &str) -> String {
    let body = json!({"technique_id": technique_uuid(app, mitre_id).await, "name": name, "platform": "windows",
                      "procedure_text": "whoami", "tool_used": "Atomic Red Team", "description": "d"});
    let response = app.send_json(Method::POST, "/api/v1/tests", Some(token), &body).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    json_of(response).await["id"].as_str().unwrap().to_owned()
}

async fn validate(app: &TestApp, token: &str, id: &str, result: &str) {
    let path = format!("/api/v1/tests/{id}/validate");
    let response = app.send_json(Method::POST, &path, Some(token), &json!({"result": result})).await;
    assert_eq!(response.status(), StatusCode::OK, "validate {id} as {result}");
}

async fn create_technique(app: &TestApp, mitre_id: &str, name: &str) {
    let admin = app.admin_token().await;
    let body = json!({"mitre_id": mitre_id, "name": name, "tactic": "execution"});
    let response = app.send_json(Method::POST, "/api/v1/techniques", Some(&admin), &body).await;
    assert_eq!(response.status(), StatusCode::CREATED, "create {mitre_id}");
}

/// A validated (detected) test on T1059.001, and on T1059 one detected, one not detected and a draft.
async fn record_tests(app: &TestApp) {
    let red = app.token_for(Role::RedTech).await;
    let lead = app.token_for(Role::BlueLead).await;
    let id = create_test(app, &red, "T1059.001", "PowerShell download cradle").await;
    validate(app, &lead, &id, "detected").await;
    let id = create_test(app, &red, "T1059", "Bash reverse shell").await;
    validate(app, &lead, &id, "detected").await;
    let id = create_test(app, &red, "T1059", "Python one-liner").await;
    validate(app, &lead, &id, "not_detected").await;
    create_test(app, &red, "T1059", "Still a draft").await;
}

fn entries(layer: &Value) -> &Vec<Value> {
    layer["techniques"].as_array().expect("techniques array")
}

fn is_attack_id(id: &str) -> bool {
    let b = id.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    match b.len() {
        5 => b[0] == b'T' && digits(1..5),
        9 => b[0] == b'T' && digits(1..5) && b[5] == b'.' && digits(6..9),
        _ => false,
    }
}

#[tokio::test]
async fn every_role_reads_every_export_anonymous_gets_401() {
    let app = TestApp::start().await;
    for path in [LAYER, CSV, REPORT] {
        expect_error(app.get(path, None).await, StatusCode::UNAUTHORIZED, "UNAUTHORIZED").await;
        expect_error(app.get(path, Some("not-a-token")).await, StatusCode::UNAUTHORIZED, "UNAUTHORIZED").await;
        for role in Role::ALL {
            let token = app.token_for(role).await;
            assert_eq!(app.get(path, Some(&token)).await.status(), StatusCode::OK, "{role} GET {path}");
        }
    }
}

#[tokio::test]
async fn the_layer_is_a_navigator_layer_of_the_coverage() {
    let app = TestApp::start().await;
    record_tests(&app).await;
    let token = app.token_for(Role::Viewer).await;
    let response = app.get(LAYER, Some(&token)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("application/json"));
    let layer = json_of(response).await;

    assert_eq!(layer["name"], "Aegis coverage");
    assert_eq!(layer["domain"], "enterprise-attack");
    assert!(layer["description"].is_string());
    assert_eq!(layer["versions"]["layer"], "4.5");
    assert_eq!(layer["versions"]["navigator"], "5.1.0");
    // The mini bundle names release 99.1.
    assert_eq!(layer["versions"]["attack"], "99.1");
    assert_eq!(layer["sorting"], 0);
    assert_eq!(layer["layout"], json!({"layout": "side", "showID": true, "showName": true}));
    assert_eq!(layer["hideDisabled"], false);
    assert_eq!(layer["gradient"], json!({"colors": ["#e6550d", "#fdae6b", "#31a354"], "minValue": 0, "maxValue": 3}));
    assert_eq!(layer["metadata"][0]["name"], "generated");
    let generated = layer["metadata"][0]["value"].as_str().unwrap();
    assert!(chrono::DateTime::parse_from_rfc3339(generated).is_ok(), "{generated}");

    let legend = layer["legendItems"].as_array().unwrap();
    assert_eq!(legend.len(), 5);
    assert!(legend.iter().all(|item| item["label"].is_string() && item["color"].is_string()));

    let techniques = entries(&layer);
    for entry in techniques {
        assert!(is_attack_id(entry["techniqueID"].as_str().unwrap()), "{entry}");
        assert!(entry["tactic"].is_string(), "{entry}");
        assert!(entry["color"].is_string(), "{entry}");
        assert_eq!(entry["enabled"], true, "{entry}");
        assert_eq!(entry["showSubtechniques"], false, "{entry}");
        assert!(entry["comment"].is_string(), "{entry}");
        assert_eq!(entry["metadata"][0]["name"], "status", "{entry}");
    }
    // 7 techniques, of which T1055 and T1055.011 have two tactics each.
    assert_eq!(techniques.len(), ACTIVE + 2);
    let of = |id: &str| techniques.iter().filter(|e| e["techniqueID"] == id).collect::<Vec<_>>();
    let mut tactics: Vec<&str> = of("T1055").iter().map(|e| e["tactic"].as_str().unwrap()).collect();
    tactics.sort();
    assert_eq!(tactics, ["defense-evasion", "privilege-escalation"]);

    // (technique, score, color, status, comment)
    let table: [(&str, Option<u64>, &str, &str, &str); 3] = [
        ("T1059.001", Some(3), "#31a354", "validated", "1 test: 1 detected"),
        ("T1059", Some(2), "#fdae6b", "partial", "3 tests: 1 detected, 1 not detected; 1 draft"),
        ("T1027", None, "", "not_evaluated", "No tests"),
    ];
    for (id, score, color, status, comment) in table {
        let entry = of(id)[0];
        assert_eq!(entry["score"].as_u64(), score, "{entry}");
        assert_eq!(entry["color"], color, "{entry}");
        assert_eq!(entry["metadata"][0]["value"], status, "{entry}");
        assert_eq!(entry["comment"], comment, "{entry}");
    }
}

#[tokio::test]
async fn the_layer_filters_like_the_technique_list() {
    let app = TestApp::start().await;
    record_tests(&app).await;
    let token = app.token_for(Role::RedTech).await;
    // (query, expected technique ids in order)
    let table: [(&str, &[&str]); 4] = [
        ("tactic=execution", &["T1059", "T1059.001"]),
        ("tactic=TA0002", &["T1059", "T1059.001"]),
        ("status=validated", &["T1059.001"]),
        ("platform=network%20devices", &["T1059"]),
    ];
    for (query, expected) in table {
        let layer = json_of(app.get(&format!("{LAYER}?{query}"), Some(&token)).await).await;
        let ids: Vec<&str> = entries(&layer).iter().map(|e| e["techniqueID"].as_str().unwrap()).collect();
        assert_eq!(ids, expected, "{query}");
        if query.starts_with("tactic") {
            assert!(entries(&layer).iter().all(|e| e["tactic"] == "execution"), "{query}");
        }
    }
    let layer = json_of(app.get(&format!("{LAYER}?tactic=defense-evasion"), Some(&token)).await).await;
    assert!(entries(&layer).iter().all(|e| e["tactic"] == "defense-evasion"));
    assert_eq!(entries(&layer).len(), 3);
    expect_error(
        app.get(&format!("{LAYER}?tactic=nope"), Some(&token)).await,
        StatusCode::BAD_REQUEST,
        "VALIDATION_ERROR",
    )
    .await;
    expect_error(
        app.get(&format!("{LAYER}?status=nope"), Some(&token)).await,
        StatusCode::BAD_REQUEST,
        "VALIDATION_ERROR",
    )
    .await;
}

fn parse_csv(body: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let mut reader = csv::Reader::from_reader(body.as_bytes());
    let header = reader.headers().unwrap().iter().map(str::to_owned).collect();
    let rows = reader.records().map(|r| r.unwrap().iter().map(str::to_owned).collect()).collect();
    (header, rows)
}

#[tokio::test]
async fn the_csv_has_one_row_per_technique_with_its_counts() {
    let app = TestApp::start().await;
    let token = app.token_for(Role::BlueTech).await;
    let response = app.get(CSV, Some(&token)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/csv; charset=utf-8");
    assert_eq!(response.headers()["content-disposition"], "attachment; filename=\"aegis-coverage.csv\"");
    let (header, rows) = parse_csv(&response.text().await.unwrap());
    assert_eq!(
        header,
        [
            "mitre_id",
            "name",
            "tactics",
            "platforms",
            "status",
            "tests",
            "detected",
            "partially_detected",
            "not_detected",
            "drafts",
            "rejected",
            "last_validated_at",
            "review_required"
        ]
    );
    assert_eq!(rows.len(), ACTIVE);
    let ids: Vec<&str> = rows.iter().map(|r| r[0].as_str()).collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted, "ordered by id");
    assert!(!ids.contains(&"T1086") && !ids.contains(&"T1064"), "no revoked or deprecated");

    record_tests(&app).await;
    create_technique(&app, "T9001", r#"Quote "and", comma"#).await;
    let (_, rows) = parse_csv(&app.get(CSV, Some(&token)).await.text().await.unwrap());
    assert_eq!(rows.len(), ACTIVE + 1);
    let row = |id: &str| rows.iter().find(|r| r[0] == id).unwrap_or_else(|| panic!("{id} in CSV")).clone();

    let t1059 = row("T1059");
    assert_eq!(t1059[1], "Command and Scripting Interpreter");
    assert_eq!(t1059[2], "execution");
    assert_eq!(t1059[3], "windows; linux; macos; network devices");
    assert_eq!(&t1059[4..11], ["partial", "3", "1", "0", "1", "1", "0"]);
    assert!(chrono::DateTime::parse_from_rfc3339(&t1059[11]).is_ok(), "{}", t1059[11]);
    assert_eq!(t1059[12], "false");

    let t1055 = row("T1055");
    assert_eq!(t1055[2], "privilege-escalation; defense-evasion");
    assert_eq!(&t1055[4..12], ["not_evaluated", "0", "0", "0", "0", "0", "0", ""]);

    let custom = row("T9001");
    assert_eq!(custom[1], r#"Quote "and", comma"#);
    assert_eq!(custom[2], "execution");
}

#[tokio::test]
async fn the_report_is_one_escaped_self_contained_page() {
    let app = TestApp::start().await;
    record_tests(&app).await;
    create_technique(&app, "T9002", "<script>alert('x')</script> & co").await;
    let token = app.token_for(Role::Viewer).await;
    let summary = json_of(app.get("/api/v1/metrics/summary", Some(&token)).await).await;
    assert_eq!(summary["total_techniques"], ACTIVE as u64 + 1);

    let response = app.get(REPORT, Some(&token)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/html; charset=utf-8");
    assert_eq!(
        response.headers()["content-security-policy"],
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
    );
    let page = response.text().await.unwrap();
    assert!(page.starts_with("<!DOCTYPE html>"));
    assert!(page.contains("Aegis coverage report"));
    assert!(page.contains("@media print"));

    // The summary numbers: 8 techniques, 1 validated, 1 partial, 6 not evaluated, 25%.
    for (label, value) in [
        ("Total techniques", summary["total_techniques"].to_string()),
        ("Validated", summary["validated"].to_string()),
        ("Partial", summary["partial"].to_string()),
        ("Not evaluated", summary["not_evaluated"].to_string()),
    ] {
        let row = page.lines().find(|l| l.contains(&format!(">{label}<")) && l.contains("<tr>")).unwrap();
        assert!(row.contains(&format!(">{value}</td>")), "{label}: {row}");
    }
    assert!(page.contains("25.00%"), "coverage percentage");
    // The by-tactic table and the matrix.
    assert!(page.contains("Execution (TA0002)"));
    assert!(page.contains("class=\"t s-validated\""));
    // Validated tests, not drafts.
    assert!(page.contains("PowerShell download cradle"));
    assert!(page.contains("Python one-liner"));
    assert!(page.contains("not detected"));
    assert!(!page.contains("Still a draft"));
    // Escaped, and nothing that runs or loads.
    assert!(!page.contains("<script"), "no raw script tag");
    assert!(page.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; co"));
    assert!(!page.contains("src="));
    assert!(!page.contains("<link"));
}
