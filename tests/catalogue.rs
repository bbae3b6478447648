//! The ATT&CK catalogue through HTTP: techniques and their filters, hand-made techniques, reviews,
//! metrics, and sync semantics with small hand-written bundles and the real v18.1 data.

mod common;

use aegis::auth::Role;
use common::bundle::{self, ACTIVE};
use common::{TestApp, expect_error, roles_except};
use reqwest::{Method, StatusCode, multipart};
use serde_json::{Value, json};

async fn json_of(response: reqwest::Response) -> Value {
    let status = response.status();
    let body = response.text().await.unwrap();
    serde_json::from_str(&body).unwrap_or_else(|_| panic!("{status}: {body}"))
}

fn ids(list: &Value) -> Vec<&str> {
    list.as_array().unwrap().iter().map(|t| t["mitre_id"].as_str().unwrap()).collect()
}

async fn upload(app: &TestApp, token: &str, bytes: Vec<u8>) -> reqwest::Response {
    let form = multipart::Form::new().part("file", multipart::Part::bytes(bytes).file_name("bundle.json"));
    app.request(Method::POST, "/api/v1/system/sync-mitre", Some(token)).multipart(form).send().await.unwrap()
}

#[tokio::test]
async fn every_role_reads_only_admins_edit_leads_review() {
    let app = TestApp::start().await;
    let reads =
        ["/api/v1/techniques", "/api/v1/techniques/T1059", "/api/v1/metrics/summary", "/api/v1/metrics/by-tactic"];
    for path in reads {
        expect_error(app.get(path, None).await, StatusCode::UNAUTHORIZED, "UNAUTHORIZED").await;
        for role in Role::ALL {
            let token = app.token_for(role).await;
            assert_eq!(app.get(path, Some(&token)).await.status(), StatusCode::OK, "{role} GET {path}");
        }
    }
    // (method, path, body, roles that may)
    let writes: [(Method, &str, Value, &[Role]); 4] = [
        (
            Method::POST,
            "/api/v1/techniques",
            json!({"mitre_id": "T9999", "name": "Custom", "tactic": "execution"}),
            &[Role::Admin],
        ),
        (Method::PATCH, "/api/v1/techniques/T1059", json!({"name": "Renamed"}), &[Role::Admin]),
        (Method::PATCH, "/api/v1/techniques/T1059/review", Value::Null, &[Role::Admin, Role::RedLead, Role::BlueLead]),
        (Method::POST, "/api/v1/system/sync-mitre", Value::Null, &[Role::Admin]),
    ];
    for (method, path, body, allowed) in writes {
        let send = |token: Option<String>| {
            let request = app.request(method.clone(), path, token.as_deref());
            let request = if body.is_null() { request } else { request.json(&body) };
            async move { request.send().await.unwrap() }
        };
        expect_error(send(None).await, StatusCode::UNAUTHORIZED, "UNAUTHORIZED").await;
        for role in roles_except(allowed) {
            let token = app.token_for(role).await;
            expect_error(send(Some(token)).await, StatusCode::FORBIDDEN, "FORBIDDEN").await;
        }
        for role in allowed {
            let token = app.token_for(*role).await;
            let response = send(Some(token)).await;
            assert!(response.status().is_success(), "{role} {method} {path}: {}", response.status());
            if method == Method::POST && path == "/api/v1/techniques" {
                assert_eq!(response.status(), StatusCode::CREATED);
            }
        }
    }
    // The refused requests changed nothing: only the admin's writes are in the log.
    let admin = app.admin_token().await;
    let updates = app.audit("action=update_technique").await;
    assert_eq!(updates["total"], 1);
    let reviews = app.audit("action=review_technique").await;
    assert_eq!(reviews["total"], 3);
    let technique = json_of(app.get("/api/v1/techniques/T1059", Some(&admin)).await).await;
    assert_eq!(technique["name"], "Renamed");
}

#[tokio::test]
async fn the_catalogue_lists_active_techniques_in_matrix_order() {
    let app = TestApp::start().await;
    let token = app.token_for(Role::Viewer).await;
    let list = json_of(app.get("/api/v1/techniques", Some(&token)).await).await;
    assert_eq!(ids(&list), ["T1027", "T1055", "T1055.011", "T1059", "T1059.001", "T1566", "T1566.001"]);
    assert_eq!(list.as_array().unwrap().len(), ACTIVE);
    let injection = &list[1];
    assert_eq!(injection["tactics"], json!(["privilege-escalation", "defense-evasion"]));
    assert_eq!(injection["tactic"], "privilege-escalation");
    assert_eq!(
        list[2]["tactics"],
        json!(["privilege-escalation", "defense-evasion"]),
        "matrix order, not bundle order"
    );
    assert_eq!(list[3]["platforms"], json!(["windows", "linux", "macos", "network devices"]));
    assert_eq!(list[4]["is_subtechnique"], true);
    assert_eq!(list[4]["parent_mitre_id"], "T1059");
    assert_eq!(list[0]["status_global"], "not_evaluated");
    for key in ["id", "mitre_id", "name", "tactic", "status_global", "review_required"] {
        assert!(list[0].get(key).is_some(), "{key}");
    }

    let all = json_of(app.get("/api/v1/techniques?include_deprecated=true", Some(&token)).await).await;
    assert_eq!(all.as_array().unwrap().len(), ACTIVE + 2);
    let revoked = all.as_array().unwrap().iter().find(|t| t["mitre_id"] == "T1086").unwrap();
    assert_eq!((revoked["revoked"].as_bool(), revoked["deprecated"].as_bool()), (Some(true), Some(false)));
    let deprecated = all.as_array().unwrap().iter().find(|t| t["mitre_id"] == "T1064").unwrap();
    assert_eq!(deprecated["deprecated"], true);
}

#[tokio::test]
async fn every_filter() {
    let app = TestApp::start().await;
    let admin = app.admin_token().await;
    app.send_json(Method::PATCH, "/api/v1/techniques/T1059", Some(&admin), &json!({"status_global": "validated"}))
        .await;
    app.state
        .db
        .write(|tx| Ok(tx.execute("UPDATE techniques SET review_required = 1 WHERE mitre_id = 'T1566'", [])?))
        .await
        .unwrap();
    let table: [(&str, &[&str]); 15] = [
        ("tactic=execution", &["T1059", "T1059.001"]),
        ("tactic=TA0002", &["T1059", "T1059.001"]),
        ("tactic=Execution", &["T1059", "T1059.001"]),
        ("tactic=privilege-escalation", &["T1055", "T1055.011"]),
        ("tactic=defense-evasion", &["T1027", "T1055", "T1055.011"]),
        ("status=validated", &["T1059"]),
        ("status=partial", &[]),
        ("review_required=true", &["T1566"]),
        ("platform=NETWORK%20DEVICES", &["T1059"]),
        ("platform=macOS&tactic=initial-access", &["T1566", "T1566.001"]),
        ("platform=plan9", &[]),
        ("q=power", &["T1059.001"]),
        ("q=t1566", &["T1566", "T1566.001"]),
        ("q=.011", &["T1055.011"]),
        ("tactic=execution&include_deprecated=true", &["T1059", "T1059.001", "T1064", "T1086"]),
    ];
    for (query, expected) in table {
        let list = json_of(app.get(&format!("/api/v1/techniques?{query}"), Some(&admin)).await).await;
        assert_eq!(ids(&list), expected, "{query}");
    }
    let review_false = json_of(app.get("/api/v1/techniques?review_required=false", Some(&admin)).await).await;
    assert_eq!(review_false.as_array().unwrap().len(), ACTIVE - 1);
    for query in ["tactic=nope", "status=done", "status=Validated", "review_required=maybe", "include_deprecated=2"] {
        let response = app.get(&format!("/api/v1/techniques?{query}"), Some(&admin)).await;
        let body = expect_error(response, StatusCode::BAD_REQUEST, "VALIDATION_ERROR").await;
        assert!(!body["detail"].as_str().unwrap().is_empty(), "{query}");
    }
}

#[tokio::test]
async fn technique_detail() {
    let app = TestApp::start().await;
    let token = app.token_for(Role::BlueTech).await;
    let detail = json_of(app.get("/api/v1/techniques/t1059", Some(&token)).await).await;
    assert_eq!(detail["mitre_id"], "T1059");
    assert_eq!(detail["name"], "Command and Scripting Interpreter");
    assert!(detail["description"].as_str().unwrap().contains("[Citation](https://example.com)"));
    assert_eq!(detail["tactic"], "execution");
    assert_eq!(detail["platforms"], json!(["windows", "linux", "macos", "network devices"]));
    assert_eq!(detail["status_global"], "not_evaluated");
    assert_eq!(detail["review_required"], false);
    assert_eq!(
        detail["review"],
        json!({"required": false, "reasons": [], "last_reviewed_by": null, "last_reviewed_by_id": null, "last_reviewed_at": null})
    );
    assert_eq!(detail["tests"], json!([]));
    assert_eq!(detail["url"], "https://attack.mitre.org/techniques/T1059");
    assert_eq!(
        detail["subtechniques"],
        json!([{"mitre_id": "T1059.001", "name": "PowerShell", "status_global": "not_evaluated"}])
    );
    for missing in ["T4242", "T1059.999", "nonsense", "T1"] {
        expect_error(
            app.get(&format!("/api/v1/techniques/{missing}"), Some(&token)).await,
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
        )
        .await;
    }
}

#[tokio::test]
async fn admins_create_and_patch_techniques() {
    let app = TestApp::start().await;
    let admin = app.admin_token().await;
    let create = async |body: Value| app.send_json(Method::POST, "/api/v1/techniques", Some(&admin), &body).await;

    let response = create(json!({"mitre_id": "t1999", "name": " In-house technique ", "description": "Ours.",
                                 "tactics": ["Defense Evasion", "TA0002", "execution"], "platforms": ["Windows", "windows", "ESXi"]}))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let created = json_of(response).await;
    assert_eq!(created["mitre_id"], "T1999");
    assert_eq!(created["name"], "In-house technique");
    assert_eq!(created["tactics"], json!(["execution", "defense-evasion"]), "resolved, deduplicated, matrix order");
    assert_eq!(created["platforms"], json!(["windows", "esxi"]));
    assert_eq!(created["status_global"], "not_evaluated");
    let sub = json_of(create(json!({"mitre_id": "T1999.001", "name": "Sub", "tactic": "execution"})).await).await;
    assert_eq!((sub["is_subtechnique"].as_bool(), sub["parent_mitre_id"].as_str()), (Some(true), Some("T1999")));

    let bad = [
        (json!({"mitre_id": "T1059", "name": "Dup", "tactic": "execution"}), StatusCode::CONFLICT, "CONFLICT"),
        (json!({"mitre_id": "T1999", "name": "Dup", "tactic": "execution"}), StatusCode::CONFLICT, "CONFLICT"),
        (
            json!({"mitre_id": "X1234", "name": "Bad id", "tactic": "execution"}),
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
        ),
        (
            json!({"mitre_id": "T12345", "name": "Bad id", "tactic": "execution"}),
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
        ),
        (json!({"mitre_id": "T1234", "name": "No tactic"}), StatusCode::BAD_REQUEST, "VALIDATION_ERROR"),
        (
            json!({"mitre_id": "T1234", "name": "Unknown tactic", "tactic": "lateral-wiggling"}),
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
        ),
        (json!({"mitre_id": "T1234", "name": "", "tactic": "execution"}), StatusCode::BAD_REQUEST, "VALIDATION_ERROR"),
        (
            json!({"mitre_id": "T4321.001", "name": "Orphan", "tactic": "execution"}),
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
        ),
        (
            json!({"mitre_id": "T1234", "name": "Bad platforms", "tactic": "execution", "platforms": [""]}),
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
        ),
        (json!({"name": "No id", "tactic": "execution"}), StatusCode::BAD_REQUEST, "VALIDATION_ERROR"),
    ];
    for (body, status, code) in bad {
        expect_error(create(body.clone()).await, status, code).await;
    }
    assert_eq!(app.audit("action=create_technique").await["total"], 2, "refused creations left no trace");

    let patch = async |path: &str, body: Value| app.send_json(Method::PATCH, path, Some(&admin), &body).await;
    let patched = json_of(
        patch(
            "/api/v1/techniques/T1027",
            json!({"name": "Obfuscation", "tactic": "execution", "platforms": ["Linux"], "status_global": "partial"}),
        )
        .await,
    )
    .await;
    assert_eq!(patched["name"], "Obfuscation");
    assert_eq!(patched["tactics"], json!(["execution"]));
    assert_eq!(patched["platforms"], json!(["linux"]));
    assert_eq!(patched["status_global"], "partial");
    let audit = app.audit("action=update_technique").await;
    assert_eq!(audit["total"], 1);
    assert_eq!(audit["items"][0]["details"]["mitre_id"], "T1027");
    assert_eq!(
        audit["items"][0]["details"]["changes"]["status_global"],
        json!({"from": "not_evaluated", "to": "partial"})
    );

    expect_error(patch("/api/v1/techniques/T4242", json!({"name": "x"})).await, StatusCode::NOT_FOUND, "NOT_FOUND")
        .await;
    for body in
        [json!({"status_global": "done"}), json!({"tactic": "nope"}), json!({"name": ""}), json!({"tactics": []})]
    {
        expect_error(patch("/api/v1/techniques/T1027", body).await, StatusCode::BAD_REQUEST, "VALIDATION_ERROR").await;
    }
    let unchanged = json_of(app.get("/api/v1/techniques/T1027", Some(&admin)).await).await;
    assert_eq!(
        (unchanged["name"].as_str(), unchanged["status_global"].as_str()),
        (Some("Obfuscation"), Some("partial"))
    );
}

/// Gives a technique a test, as the tests feature will when it records one.
async fn give_tests(app: &TestApp, mitre_id: &'static str) {
    app.state
        .db
        .write(move |tx| Ok(tx.execute("UPDATE techniques SET test_count = 1 WHERE mitre_id = ?1", [mitre_id])?))
        .await
        .unwrap();
}

#[tokio::test]
async fn sync_semantics() {
    let app = TestApp::start().await;
    let admin = app.admin_token().await;
    let before = json_of(app.get("/api/v1/techniques?include_deprecated=true", Some(&admin)).await).await;

    // The same bundle again changes nothing.
    let again =
        json_of(app.request(Method::POST, "/api/v1/system/sync-mitre", Some(&admin)).send().await.unwrap()).await;
    assert_eq!(
        (again["new"].as_u64(), again["updated"].as_u64(), again["deprecated"].as_u64()),
        (Some(0), Some(0), Some(0))
    );
    assert_eq!(again["unchanged"], 9);
    assert_eq!(again["attack_version"], "99.1");
    assert_eq!(again["message"], "MITRE sync completed");
    assert_eq!(json_of(app.get("/api/v1/techniques?include_deprecated=true", Some(&admin)).await).await, before);

    // A newer release: T1059 changed (it has tests), T1027 revoked, T1204 new, T1566 gone from the bundle.
    give_tests(&app, "T1059").await;
    let mut next = bundle::mini();
    next["objects"].as_array_mut().unwrap()[0]["x_mitre_version"] = json!("99.2");
    let t1059 = bundle::object_mut(&mut next, "T1059");
    t1059["description"] = json!("A rewritten description.");
    t1059["x_mitre_version"] = json!("1.1");
    bundle::object_mut(&mut next, "T1055.011")["description"] = json!("Changed, but no tests.");
    bundle::object_mut(&mut next, "T1027")["revoked"] = json!(true);
    bundle::push(&mut next, bundle::technique("T1204", "User Execution", &["execution"], &["Windows"]));
    next["objects"].as_array_mut().unwrap().retain(|o| o["external_references"][0]["external_id"] != "T1566");
    let report = json_of(upload(&app, &admin, next.to_string().into_bytes()).await).await;
    assert_eq!(
        (
            report["new"].as_u64(),
            report["updated"].as_u64(),
            report["deprecated"].as_u64(),
            report["flagged_for_review"].as_u64()
        ),
        (Some(1), Some(2), Some(1), Some(1)),
        "{report}"
    );
    assert_eq!(report["attack_version"], "99.2");
    assert_eq!(report["source"], "upload");

    let list = json_of(app.get("/api/v1/techniques", Some(&admin)).await).await;
    assert_eq!(
        ids(&list),
        ["T1055", "T1055.011", "T1059", "T1059.001", "T1204", "T1566", "T1566.001"],
        "T1566 kept, T1027 hidden"
    );
    let new = list.as_array().unwrap().iter().find(|t| t["mitre_id"] == "T1204").unwrap();
    assert_eq!(new["status_global"], "not_evaluated");
    let revoked = json_of(app.get("/api/v1/techniques/T1027", Some(&admin)).await).await;
    assert_eq!(revoked["revoked"], true, "marked, not deleted");

    let changed = json_of(app.get("/api/v1/techniques/T1059", Some(&admin)).await).await;
    assert_eq!(changed["description"], "A rewritten description.");
    assert_eq!(changed["review_required"], true);
    let reasons = changed["review"]["reasons"].as_array().unwrap();
    assert_eq!(reasons.len(), 1);
    assert_eq!(reasons[0]["source"], "sync");
    assert!(
        reasons[0]["reason"].as_str().unwrap().contains("v99.2")
            && reasons[0]["reason"].as_str().unwrap().contains("1.0 → 1.1"),
        "{reasons:?}"
    );
    let untested = json_of(app.get("/api/v1/techniques/T1055.011", Some(&admin)).await).await;
    assert_eq!(untested["review_required"], false, "no tests, no review needed");
    let flagged = json_of(app.get("/api/v1/techniques?review_required=true", Some(&admin)).await).await;
    assert_eq!(ids(&flagged), ["T1059"]);

    // A lead reviews it: the flag and reasons clear, who and when are recorded.
    let lead = app.token_for(Role::BlueLead).await;
    let reviewed =
        json_of(app.request(Method::PATCH, "/api/v1/techniques/T1059/review", Some(&lead)).send().await.unwrap()).await;
    assert_eq!(reviewed["review_required"], false);
    assert_eq!(reviewed["review"]["reasons"], json!([]));
    assert!(reviewed["review"]["last_reviewed_by"].as_str().unwrap().starts_with("blue-lead"));
    assert!(reviewed["review"]["last_reviewed_at"].is_string());
    let audit = app.audit("action=review_technique").await;
    assert_eq!(audit["items"][0]["details"], json!({"mitre_id": "T1059", "was_flagged": true, "flags_cleared": 1}));

    // The same newer bundle again: nothing to do.
    let again = json_of(upload(&app, &admin, next.to_string().into_bytes()).await).await;
    assert_eq!(
        (again["new"].as_u64(), again["updated"].as_u64(), again["deprecated"].as_u64()),
        (Some(0), Some(0), Some(0))
    );
    let syncs = app.audit("action=sync_mitre").await;
    assert_eq!(syncs["total"], 4, "first start, three syncs");
    assert_eq!(syncs["items"][0]["details"]["outcome"], "ok");
}

#[tokio::test]
async fn bad_bundles_change_nothing() {
    let app = TestApp::start().await;
    let admin = app.admin_token().await;
    let before = json_of(app.get("/api/v1/techniques?include_deprecated=true", Some(&admin)).await).await;
    let valid = bundle::mini().to_string();
    let mut wrong_type = bundle::mini();
    bundle::object_mut(&mut wrong_type, "T1059")["name"] = json!(42);
    let mut no_techniques = bundle::mini();
    no_techniques["objects"].as_array_mut().unwrap().retain(|o| o["type"] != "attack-pattern");
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("truncated", valid.as_bytes()[..valid.len() / 2].to_vec()),
        ("wrong types", wrong_type.to_string().into_bytes()),
        ("not a bundle", br#"{"type": "report", "objects": []}"#.to_vec()),
        ("an array", b"[1, 2, 3]".to_vec()),
        ("no techniques", no_techniques.to_string().into_bytes()),
        ("empty", Vec::new()),
        ("binary", vec![0x1f, 0x8b, 0x08, 0x00, 0xde, 0xad]),
        ("html", b"<!doctype html><html><body>Not found</body></html>".to_vec()),
    ];
    for (name, bytes) in cases {
        let response = upload(&app, &admin, bytes).await;
        let body = expect_error(response, StatusCode::BAD_REQUEST, "INVALID_BUNDLE").await;
        assert!(body["detail"].as_str().unwrap().len() < 600, "{name}: a short message");
    }
    // A multipart body without `file`.
    let form = multipart::Form::new().text("other", "x");
    let response =
        app.request(Method::POST, "/api/v1/system/sync-mitre", Some(&admin)).multipart(form).send().await.unwrap();
    expect_error(response, StatusCode::BAD_REQUEST, "VALIDATION_ERROR").await;

    assert_eq!(json_of(app.get("/api/v1/techniques?include_deprecated=true", Some(&admin)).await).await, before);
    let syncs = app.audit("action=sync_mitre").await;
    let failed = syncs["items"].as_array().unwrap().iter().filter(|i| i["details"]["outcome"] == "failed").count();
    assert_eq!(failed, 8, "every failed run is recorded");
}

#[tokio::test]
async fn gzip_and_stix_2_0_bundles_sync_alike() {
    use std::io::Write;
    let app = TestApp::start_with(|settings| settings.mitre_source = String::new()).await;
    let admin = app.admin_token().await;
    assert_eq!(json_of(app.get("/api/v1/techniques", Some(&admin)).await).await, json!([]), "no source, no catalogue");

    // STIX 2.0: spec_version on the bundle, none on the objects, no collection.
    let mut stix20 = bundle::mini();
    stix20["spec_version"] = json!("2.0");
    for object in stix20["objects"].as_array_mut().unwrap() {
        object.as_object_mut().unwrap().remove("spec_version");
    }
    stix20["objects"].as_array_mut().unwrap().remove(0);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(stix20.to_string().as_bytes()).unwrap();
    let report = json_of(upload(&app, &admin, gz.finish().unwrap()).await).await;
    assert_eq!((report["new"].as_u64(), report["deprecated"].as_u64()), (Some(ACTIVE as u64), Some(2)));
    assert_eq!(report["attack_version"], Value::Null);
    // The 2.1 form of the same content is the same techniques: only the release name differs.
    let report = json_of(upload(&app, &admin, bundle::mini().to_string().into_bytes()).await).await;
    assert_eq!((report["new"].as_u64(), report["updated"].as_u64()), (Some(0), Some(0)), "{report}");
}

#[tokio::test]
async fn source_failures() {
    // Unreachable source at first start: the server still starts, with an empty catalogue.
    let app = TestApp::start_with(|settings| settings.mitre_source = "http://127.0.0.1:9/attack.json".into()).await;
    let admin = app.admin_token().await;
    assert_eq!(json_of(app.get("/api/v1/techniques", Some(&admin)).await).await, json!([]));
    let response = app.request(Method::POST, "/api/v1/system/sync-mitre", Some(&admin)).send().await.unwrap();
    expect_error(response, StatusCode::BAD_GATEWAY, "UPSTREAM_UNAVAILABLE").await;

    let app = TestApp::start_with(|settings| settings.mitre_source = "/nonexistent/attack.json".into()).await;
    let admin = app.admin_token().await;
    let response = app.request(Method::POST, "/api/v1/system/sync-mitre", Some(&admin)).send().await.unwrap();
    let body = expect_error(response, StatusCode::BAD_GATEWAY, "UPSTREAM_UNAVAILABLE").await;
    assert!(body["detail"].as_str().unwrap().contains("cannot read"));

    let app = TestApp::start_with(|settings| settings.mitre_source = String::new()).await;
    let admin = app.admin_token().await;
    let response = app.request(Method::POST, "/api/v1/system/sync-mitre", Some(&admin)).send().await.unwrap();
    expect_error(response, StatusCode::BAD_REQUEST, "VALIDATION_ERROR").await;
}

#[tokio::test]
async fn an_oversized_upload_is_refused() {
    let app = TestApp::start().await;
    let admin = app.admin_token().await;
    let huge = vec![b' '; (aegis::attack::source::MAX_SOURCE_BYTES + 1024) as usize];
    let response = upload(&app, &admin, huge).await;
    expect_error(response, StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE").await;
    let list = json_of(app.get("/api/v1/techniques", Some(&admin)).await).await;
    assert_eq!(list.as_array().unwrap().len(), ACTIVE);
}

#[tokio::test]
async fn metrics_match_a_hand_computed_fixture() {
    let app = TestApp::start().await;
    let admin = app.admin_token().await;
    // Statuses: T1059 validated, T1055 partial (two tactics), T1027 not_covered, T1566 in_progress; 3 not evaluated.
    for (id, status) in
        [("T1059", "validated"), ("T1055", "partial"), ("T1027", "not_covered"), ("T1566", "in_progress")]
    {
        let response = app
            .send_json(
                Method::PATCH,
                &format!("/api/v1/techniques/{id}"),
                Some(&admin),
                &json!({"status_global": status}),
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK);
    }
    // A deprecated technique's status never counts.
    app.state
        .db
        .write(|tx| Ok(tx.execute("UPDATE techniques SET status_global = 'validated' WHERE mitre_id = 'T1064'", [])?))
        .await
        .unwrap();

    let summary = json_of(app.get("/api/v1/metrics/summary", Some(&admin)).await).await;
    assert_eq!(
        summary,
        json!({"total_techniques": 7, "validated": 1, "partial": 1, "not_covered": 1, "in_progress": 1, "not_evaluated": 3,
               "coverage_percentage": 28.57})
    );
    let by_tactic = json_of(app.get("/api/v1/metrics/by-tactic", Some(&admin)).await).await;
    /// (tactic, total, validated, partial, not_covered, in_progress, not_evaluated, coverage)
    type Row<'a> = (&'a str, u64, u64, u64, u64, u64, u64, f64);
    let rows: Vec<Row> = by_tactic
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["tactic"].as_str().unwrap(),
                r["total"].as_u64().unwrap(),
                r["validated"].as_u64().unwrap(),
                r["partial"].as_u64().unwrap(),
                r["not_covered"].as_u64().unwrap(),
                r["in_progress"].as_u64().unwrap(),
                r["not_evaluated"].as_u64().unwrap(),
                r["coverage_percentage"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("initial-access", 2, 0, 0, 0, 1, 1, 0.0),
            ("execution", 2, 1, 0, 0, 0, 1, 50.0),
            ("privilege-escalation", 2, 0, 1, 0, 0, 1, 50.0),
            ("defense-evasion", 3, 0, 1, 1, 0, 1, 33.33),
        ]
    );
    assert_eq!(by_tactic[1]["name"], "Execution");
    assert_eq!(by_tactic[1]["mitre_id"], "TA0002");
}

#[tokio::test]
async fn the_real_enterprise_bundle() {
    let Some(path) = bundle::real_data("enterprise-attack.json.gz") else { return };
    let app = TestApp::start_with(|settings| settings.mitre_source = path.to_string_lossy().into_owned()).await;
    let token = app.token_for(Role::Viewer).await;
    let list = json_of(app.get("/api/v1/techniques", Some(&token)).await).await;
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 691);
    assert_eq!(list.iter().filter(|t| t["is_subtechnique"] == false).count(), 216);
    assert_eq!(list.iter().filter(|t| t["is_subtechnique"] == true).count(), 475);
    let by_tactic = json_of(app.get("/api/v1/metrics/by-tactic", Some(&token)).await).await;
    let tactics: Vec<&str> = by_tactic.as_array().unwrap().iter().map(|t| t["tactic"].as_str().unwrap()).collect();
    assert_eq!(tactics.len(), 14);
    assert_eq!((tactics[0], tactics[13]), ("reconnaissance", "impact"));
    let summary = json_of(app.get("/api/v1/metrics/summary", Some(&token)).await).await;
    assert_eq!(summary["total_techniques"], 691);
    assert_eq!(summary["not_evaluated"], 691);
    let all = json_of(app.get("/api/v1/techniques?include_deprecated=true", Some(&token)).await).await;
    assert_eq!(all.as_array().unwrap().len(), 835);

    let admin = app.admin_token().await;
    let again =
        json_of(app.request(Method::POST, "/api/v1/system/sync-mitre", Some(&admin)).send().await.unwrap()).await;
    assert_eq!(
        (again["new"].as_u64(), again["updated"].as_u64(), again["deprecated"].as_u64()),
        (Some(0), Some(0), Some(0))
    );
    assert_eq!(again["unchanged"], 835);

    let t1055_011 = json_of(app.get("/api/v1/techniques/T1055.011", Some(&token)).await).await;
    assert_eq!(t1055_011["tactics"], json!(["privilege-escalation", "defense-evasion"]));
    assert_eq!(t1055_011["parent_mitre_id"], "T1055");
}

#[tokio::test]
async fn a_bundle_from_another_domain_is_refused() {
    let Some(path) = bundle::real_data("ics-attack.json.gz") else { return };
    let app = TestApp::start().await;
    let admin = app.admin_token().await;
    let before = json_of(app.get("/api/v1/metrics/by-tactic", Some(&admin)).await).await;
    let response = upload(&app, &admin, std::fs::read(path).unwrap()).await;
    let body = expect_error(response, StatusCode::BAD_REQUEST, "INVALID_BUNDLE").await;
    assert!(body["detail"].as_str().unwrap().contains("another ATT&CK domain"), "{body}");
    assert_eq!(json_of(app.get("/api/v1/metrics/by-tactic", Some(&admin)).await).await, before);
}

#[tokio::test]
async fn the_real_ics_bundle_names_its_release() {
    let Some(path) = bundle::real_data("ics-attack.json.gz") else { return };
    let app = TestApp::start_with(|settings| settings.mitre_source = String::new()).await;
    let admin = app.admin_token().await;
    let report = json_of(upload(&app, &admin, std::fs::read(path).unwrap()).await).await;
    assert_eq!(report["attack_version"], "18.1");
    assert!(report["new"].as_u64().unwrap() > 70, "{report}");
    let by_tactic = json_of(app.get("/api/v1/metrics/by-tactic", Some(&admin)).await).await;
    assert_eq!(by_tactic.as_array().unwrap().len(), 12);
}
