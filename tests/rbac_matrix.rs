//! The RBAC matrix: every endpoint × {anonymous, admin, red_lead, red_tech, blue_lead, blue_tech,
//! viewer} with the expected status, against a live server. The test fails when the OpenAPI document
//! has an operation the table lacks (or the reverse), so no endpoint escapes it.

mod common;

use std::collections::BTreeSet;

use aegis::auth::Role;
use common::TestApp;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// Actors in column order.
const ACTORS: [Option<Role>; 7] = [
    None,
    Some(Role::Admin),
    Some(Role::RedLead),
    Some(Role::RedTech),
    Some(Role::BlueLead),
    Some(Role::BlueTech),
    Some(Role::Viewer),
];

/// What a request needs created first, fresh for every cell, so one cell's success cannot change another's answer.
#[derive(Clone, Copy)]
enum Needs {
    Nothing,
    /// A draft test created by a red tech who is none of the actors (so "creator" rights never apply).
    DraftTest,
    /// A piece of evidence uploaded by that same red tech to a draft test.
    Evidence,
    /// A threat-intel feed.
    Feed,
    /// A user to change.
    User,
    /// A unique technique id to create.
    NewTechniqueId,
}

struct Row {
    method: Method,
    /// The OpenAPI path; `{…}` is filled from what `needs` created.
    path: &'static str,
    needs: Needs,
    body: fn(&str) -> Body,
    /// Expected status per actor, in `ACTORS` order.
    expected: [u16; 7],
}

enum Body {
    None,
    Json(Value),
    Form(Vec<(&'static str, String)>),
    File,
}

fn none(_: &str) -> Body {
    Body::None
}

const ALL_200: [u16; 7] = [401, 200, 200, 200, 200, 200, 200];
const ADMIN_200: [u16; 7] = [401, 200, 403, 403, 403, 403, 403];
const LEADS_200: [u16; 7] = [401, 200, 200, 403, 200, 403, 403];

fn table() -> Vec<Row> {
    vec![
        Row { method: Method::GET, path: "/api/v1/health", needs: Needs::Nothing, body: none, expected: [200; 7] },
        Row {
            method: Method::POST,
            path: "/api/v1/auth/login",
            needs: Needs::Nothing,
            body: |_| Body::Form(vec![("username", "admin".into()), ("password", common::ADMIN_PASSWORD.into())]),
            expected: [200; 7],
        },
        Row { method: Method::GET, path: "/api/v1/auth/me", needs: Needs::Nothing, body: none, expected: ALL_200 },
        Row { method: Method::GET, path: "/api/v1/techniques", needs: Needs::Nothing, body: none, expected: ALL_200 },
        Row {
            method: Method::POST,
            path: "/api/v1/techniques",
            needs: Needs::NewTechniqueId,
            body: |id| Body::Json(json!({"mitre_id": id, "name": "Custom", "tactic": "execution"})),
            expected: [401, 201, 403, 403, 403, 403, 403],
        },
        Row {
            method: Method::GET,
            path: "/api/v1/techniques/{mitre_id}",
            needs: Needs::Nothing,
            body: none,
            expected: ALL_200,
        },
        Row {
            method: Method::PATCH,
            path: "/api/v1/techniques/{mitre_id}",
            needs: Needs::Nothing,
            body: |_| Body::Json(json!({"platforms": ["windows", "linux"]})),
            expected: ADMIN_200,
        },
        Row {
            method: Method::PATCH,
            path: "/api/v1/techniques/{mitre_id}/review",
            needs: Needs::Nothing,
            body: none,
            expected: LEADS_200,
        },
        Row {
            method: Method::POST,
            path: "/api/v1/tests",
            needs: Needs::Nothing,
            body: |technique| Body::Json(json!({"technique_id": technique, "name": "t", "platform": "windows"})),
            expected: [401, 201, 201, 201, 403, 403, 403],
        },
        Row { method: Method::GET, path: "/api/v1/tests", needs: Needs::Nothing, body: none, expected: ALL_200 },
        Row { method: Method::GET, path: "/api/v1/tests/{id}", needs: Needs::DraftTest, body: none, expected: ALL_200 },
        Row {
            method: Method::PATCH,
            path: "/api/v1/tests/{id}",
            needs: Needs::DraftTest,
            body: |_| Body::Json(json!({"name": "renamed"})),
            expected: ADMIN_200,
        },
        Row {
            method: Method::DELETE,
            path: "/api/v1/tests/{id}",
            needs: Needs::DraftTest,
            body: none,
            expected: [401, 204, 403, 403, 403, 403, 403],
        },
        Row {
            method: Method::POST,
            path: "/api/v1/tests/{id}/validate",
            needs: Needs::DraftTest,
            body: |_| Body::Json(json!({"result": "detected"})),
            expected: LEADS_200,
        },
        Row {
            method: Method::POST,
            path: "/api/v1/tests/{id}/reject",
            needs: Needs::DraftTest,
            body: |_| Body::Json(json!({"comments": "no"})),
            expected: LEADS_200,
        },
        Row {
            method: Method::POST,
            path: "/api/v1/tests/{test_id}/evidence",
            needs: Needs::DraftTest,
            body: |_| Body::File,
            expected: [401, 201, 201, 403, 201, 201, 403],
        },
        Row {
            method: Method::GET,
            path: "/api/v1/evidence/{id}",
            needs: Needs::Evidence,
            body: none,
            expected: ALL_200,
        },
        Row {
            method: Method::DELETE,
            path: "/api/v1/evidence/{id}",
            needs: Needs::Evidence,
            body: none,
            expected: [401, 204, 403, 403, 403, 403, 403],
        },
        // The signed link is the credential; a bearer token neither helps nor hurts.
        Row {
            method: Method::GET,
            path: "/api/v1/evidence/{id}/download",
            needs: Needs::Evidence,
            body: none,
            expected: [200; 7],
        },
        Row {
            method: Method::GET,
            path: "/api/v1/metrics/summary",
            needs: Needs::Nothing,
            body: none,
            expected: ALL_200,
        },
        Row {
            method: Method::GET,
            path: "/api/v1/metrics/by-tactic",
            needs: Needs::Nothing,
            body: none,
            expected: ALL_200,
        },
        Row {
            method: Method::GET,
            path: "/api/v1/metrics/history",
            needs: Needs::Nothing,
            body: none,
            expected: ALL_200,
        },
        Row { method: Method::GET, path: "/api/v1/intel/items", needs: Needs::Nothing, body: none, expected: ALL_200 },
        Row {
            method: Method::GET,
            path: "/api/v1/export/navigator-layer",
            needs: Needs::Nothing,
            body: none,
            expected: ALL_200,
        },
        Row {
            method: Method::GET,
            path: "/api/v1/export/coverage.csv",
            needs: Needs::Nothing,
            body: none,
            expected: ALL_200,
        },
        Row {
            method: Method::GET,
            path: "/api/v1/reports/coverage.html",
            needs: Needs::Nothing,
            body: none,
            expected: ALL_200,
        },
        // A file that is no Atomic Red Team YAML is reported in the answer's errors, not refused.
        Row {
            method: Method::POST,
            path: "/api/v1/import/atomic-red-team",
            needs: Needs::Nothing,
            body: |_| Body::File,
            expected: [401, 200, 200, 403, 403, 403, 403],
        },
        Row {
            method: Method::GET,
            path: "/api/v1/techniques/{mitre_id}/atomics",
            needs: Needs::Nothing,
            body: none,
            expected: ALL_200,
        },
        Row {
            method: Method::GET,
            path: "/api/v1/intel/feeds",
            needs: Needs::Nothing,
            body: none,
            expected: ADMIN_200,
        },
        Row {
            method: Method::POST,
            path: "/api/v1/intel/feeds",
            needs: Needs::NewTechniqueId,
            body: |unique| Body::Json(json!({"name": "n", "url": format!("/srv/feeds/{unique}.xml")})),
            expected: [401, 201, 403, 403, 403, 403, 403],
        },
        Row {
            method: Method::PATCH,
            path: "/api/v1/intel/feeds/{id}",
            needs: Needs::Feed,
            body: |_| Body::Json(json!({"enabled": false})),
            expected: ADMIN_200,
        },
        Row {
            method: Method::DELETE,
            path: "/api/v1/intel/feeds/{id}",
            needs: Needs::Feed,
            body: none,
            expected: [401, 204, 403, 403, 403, 403, 403],
        },
        Row { method: Method::GET, path: "/api/v1/users", needs: Needs::Nothing, body: none, expected: ADMIN_200 },
        Row {
            method: Method::POST,
            path: "/api/v1/users",
            needs: Needs::NewTechniqueId,
            body: |unique| {
                Body::Json(json!({"username": format!("u{unique}"), "password": "password123", "role": "viewer"}))
            },
            expected: [401, 201, 403, 403, 403, 403, 403],
        },
        Row {
            method: Method::PATCH,
            path: "/api/v1/users/{id}",
            needs: Needs::User,
            body: |_| Body::Json(json!({"email": "changed@example.com"})),
            expected: ADMIN_200,
        },
        Row { method: Method::GET, path: "/api/v1/audit-logs", needs: Needs::Nothing, body: none, expected: ADMIN_200 },
        Row {
            method: Method::GET,
            path: "/api/v1/audit-logs/actions",
            needs: Needs::Nothing,
            body: none,
            expected: ADMIN_200,
        },
        Row {
            method: Method::GET,
            path: "/api/v1/audit-logs/entity-types",
            needs: Needs::Nothing,
            body: none,
            expected: ADMIN_200,
        },
        Row {
            method: Method::POST,
            path: "/api/v1/system/sync-mitre",
            needs: Needs::Nothing,
            body: none,
            expected: ADMIN_200,
        },
        Row {
            method: Method::POST,
            path: "/api/v1/system/run-intel-scan",
            needs: Needs::Nothing,
            body: none,
            expected: ADMIN_200,
        },
        Row {
            method: Method::GET,
            path: "/api/v1/system/scheduler-status",
            needs: Needs::Nothing,
            body: none,
            expected: ADMIN_200,
        },
        Row {
            method: Method::POST,
            path: "/api/v1/system/jobs/{id}/run",
            needs: Needs::Nothing,
            body: none,
            expected: ADMIN_200,
        },
    ]
}

struct Fixture {
    owner: String,
    technique_uuid: String,
    counter: std::sync::atomic::AtomicUsize,
}

impl Fixture {
    fn unique(&self) -> usize {
        self.counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    }
}

async fn json_of(response: reqwest::Response) -> Value {
    response.json().await.unwrap()
}

async fn draft_test(app: &TestApp, fixture: &Fixture) -> String {
    let body = json!({"technique_id": fixture.technique_uuid, "name": "fixture", "platform": "windows"});
    let response = app.send_json(Method::POST, "/api/v1/tests", Some(&fixture.owner), &body).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    json_of(response).await["id"].as_str().unwrap().to_owned()
}

fn file_form() -> reqwest::multipart::Form {
    reqwest::multipart::Form::new()
        .part("file", reqwest::multipart::Part::bytes(b"evidence bytes".to_vec()).file_name("e.txt"))
}

/// Creates what `row` needs and returns the concrete path (and the value some bodies use).
async fn prepare(app: &TestApp, fixture: &Fixture, row: &Row) -> (String, String) {
    let admin = app.admin_token().await;
    let path = row.path.replace("{mitre_id}", "T1059").replace("{id}/run", "intel_scan/run");
    match row.needs {
        Needs::Nothing => (path, fixture.technique_uuid.clone()),
        Needs::NewTechniqueId => (path, format!("T{}", 5000 + fixture.unique())),
        Needs::DraftTest => {
            let id = draft_test(app, fixture).await;
            (path.replace("{id}", &id).replace("{test_id}", &id), id)
        }
        Needs::Evidence => {
            let test = draft_test(app, fixture).await;
            let response = app
                .request(Method::POST, &format!("/api/v1/tests/{test}/evidence"), Some(&fixture.owner))
                .multipart(file_form())
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::CREATED);
            let evidence = json_of(response).await;
            let id = evidence["id"].as_str().unwrap().to_owned();
            let mut path = path.replace("{id}", &id);
            if path.ends_with("/download") {
                let link = evidence["download_url"].as_str().unwrap();
                path = link[link.find("/api/v1").unwrap()..].to_owned();
            }
            (path, id)
        }
        Needs::Feed => {
            let body = json!({"name": "f", "url": format!("/srv/feed-{}.xml", fixture.unique())});
            let feed = json_of(app.send_json(Method::POST, "/api/v1/intel/feeds", Some(&admin), &body).await).await;
            (path.replace("{id}", feed["id"].as_str().unwrap()), String::new())
        }
        Needs::User => {
            let user = app.create_user(&format!("target{}", fixture.unique()), Role::Viewer).await;
            (path.replace("{id}", &user.id), String::new())
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint_for_every_actor() {
    let app = TestApp::start().await;
    app.create_user("owner", Role::RedTech).await;
    let admin = app.admin_token().await;
    let technique = json_of(app.get("/api/v1/techniques/T1059", Some(&admin)).await).await;
    let fixture = Fixture {
        owner: app.token_of("owner").await,
        technique_uuid: technique["id"].as_str().unwrap().to_owned(),
        counter: Default::default(),
    };
    let table = table();

    // The table covers exactly the operations of the OpenAPI document.
    let spec = json_of(app.get("/openapi.json", None).await).await;
    let documented: BTreeSet<(String, String)> = spec["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object().unwrap().keys().map(move |method| (method.to_uppercase(), path.clone()))
        })
        .collect();
    let tabled: BTreeSet<(String, String)> =
        table.iter().map(|row| (row.method.to_string(), row.path.to_owned())).collect();
    assert_eq!(
        documented.difference(&tabled).collect::<Vec<_>>(),
        Vec::<&(String, String)>::new(),
        "operations missing from the table"
    );
    assert_eq!(
        tabled.difference(&documented).collect::<Vec<_>>(),
        Vec::<&(String, String)>::new(),
        "rows for no operation"
    );

    // One token per role, each for its own user (no actor is the fixtures' owner).
    let mut tokens = Vec::new();
    for actor in ACTORS {
        tokens.push(match actor {
            None => None,
            Some(role) => Some(app.token_for(role).await),
        });
    }
    let mut cells = 0;
    let mut failures = Vec::new();
    for row in &table {
        for (column, token) in tokens.iter().enumerate() {
            let (path, value) = prepare(&app, &fixture, row).await;
            let request = app.request(row.method.clone(), &path, token.as_deref());
            let request = match (row.body)(&value) {
                Body::None => request,
                Body::Json(body) => request.json(&body),
                Body::Form(fields) => request.form(&fields),
                Body::File => request.multipart(file_form()),
            };
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            cells += 1;
            if status != row.expected[column] {
                let body = response.text().await.unwrap_or_default();
                failures.push(format!(
                    "{} {} as {:?}: {status}, expected {} ({body})",
                    row.method, row.path, ACTORS[column], row.expected[column]
                ));
            } else if status >= 400 {
                let body: Value = response.json().await.unwrap();
                assert!(body["detail"].is_string() && body["code"].is_string(), "{} {}: {body}", row.method, row.path);
            }
        }
    }
    assert!(failures.is_empty(), "{} of {cells} cells differ:\n{}", failures.len(), failures.join("\n"));
    println!("rbac matrix: {} operations x {} actors = {cells} cells, all as expected", table.len(), ACTORS.len());
}
