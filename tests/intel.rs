//! The threat-intel scan and the scheduler through HTTP, against feeds served by a local test server.

mod common;

use std::time::Duration;

use aegis::auth::Role;
use common::{TestApp, expect_error, roles_except};
use poem::http::StatusCode as PoemStatus;
use poem::web::{Path, Redirect};
use poem::{Response, Route, Server, get, handler, listener::TcpAcceptor};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const RSS: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>Advisories</title><link>https://example.com</link><description>d</description>
<item><title>Spearphishing campaign (T1566.001)</title><link>https://example.com/advisory-1</link>
<guid>advisory-1</guid><description>The actor then ran &lt;b&gt;T1059.001&lt;/b&gt; and T9999 and T12345.</description>
<pubDate>Fri, 04 Dec 2026 09:00:00 GMT</pubDate></item>
<item><title>Patch Tuesday notes</title><link>https://example.com/advisory-2</link><guid>advisory-2</guid>
<description>No techniques here.</description></item>
</channel></rss>"#;

const ATOM: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Reports</title><id>urn:reports</id><updated>2026-12-01T00:00:00Z</updated>
<entry><title>Intrusion report</title><id>urn:report:1</id><updated>2026-12-01T00:00:00Z</updated>
<link href="https://example.org/report-1"/><content type="html">Process injection (T1055) seen.</content></entry>
</feed>"#;

const JSON_FEED: &str = r#"{"version": "https://jsonfeed.org/version/1.1", "title": "Notes",
"items": [{"id": "note-1", "title": "Obfuscation notes", "content_text": "T1027 everywhere", "url": "https://example.net/1"}]}"#;

const LAUGHS: &str = r#"<?xml version="1.0"?>
<!DOCTYPE rss [<!ENTITY lol "lol"><!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
<!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
<!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
<!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
<!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
<!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
<!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">]>
<rss version="2.0"><channel><title>laughs</title><item><title>&lol9;</title><guid>l</guid></item></channel></rss>"#;

const XXE: &str = r#"<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<rss version="2.0"><channel><title>xxe</title><item><title>&xxe;</title><guid>x</guid><description>T1003</description></item></channel></rss>"#;

#[handler]
fn fixture(Path(name): Path<String>) -> Response {
    let body: Vec<u8> = match name.as_str() {
        "rss" => RSS.into(),
        "atom" => ATOM.into(),
        "json" => JSON_FEED.into(),
        "laughs" => LAUGHS.into(),
        "xxe" => XXE.into(),
        "malformed" => b"<rss><channel><item><title>unclosed".to_vec(),
        "html" => b"<!doctype html><html><body><h1>Sign in</h1></body></html>".to_vec(),
        "huge" => {
            let mut body = b"<rss version=\"2.0\"><channel><title>big</title><item><title>".to_vec();
            body.resize(20 * 1024 * 1024, b'a');
            body
        }
        _ => return Response::builder().status(PoemStatus::NOT_FOUND).body("no"),
    };
    Response::builder().body(body)
}

#[handler]
fn redirect_loop() -> Redirect {
    Redirect::temporary("/loop")
}

/// Serves the fixtures at `/feeds/{name}`, a redirect loop at `/loop`; returns the base URL.
async fn feed_server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let routes = Route::new().at("/feeds/:name", get(fixture)).at("/loop", get(redirect_loop));
    tokio::spawn(Server::new_with_acceptor(TcpAcceptor::from_tokio(listener).unwrap()).run(routes));
    base
}

/// A server that accepts connections and never answers.
async fn silent_server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    base
}

async fn json_of(response: reqwest::Response) -> Value {
    let status = response.status();
    let body = response.text().await.unwrap();
    serde_json::from_str(&body).unwrap_or_else(|_| panic!("{status}: {body}"))
}

async fn app_with_feeds(feeds: Vec<String>) -> TestApp {
    TestApp::start_with(|settings| {
        settings.intel_feeds = feeds.join(",");
        settings.intel_timeout_seconds = 1;
    })
    .await
}

async fn scan(app: &TestApp) -> Value {
    let admin = app.admin_token().await;
    let response = app.request(Method::POST, "/api/v1/system/run-intel-scan", Some(&admin)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    json_of(response).await
}

#[tokio::test]
async fn a_scan_flags_the_techniques_new_reporting_names() {
    let base = feed_server().await;
    let app =
        app_with_feeds(vec![format!("{base}/feeds/rss"), format!("{base}/feeds/atom"), format!("{base}/feeds/json")])
            .await;
    let report = scan(&app).await;
    assert_eq!(report["message"], "Intel scan completed");
    assert_eq!(report["new_items"], 4, "{report}");
    assert_eq!(report["flagged_techniques"], 4, "T1566.001, T1059.001, T1055, T1027");
    assert!(report["feeds"].as_array().unwrap().iter().all(|feed| feed["status"] == "ok"));

    let admin = app.admin_token().await;
    let flagged = json_of(app.get("/api/v1/techniques?review_required=true", Some(&admin)).await).await;
    let ids: Vec<&str> = flagged.as_array().unwrap().iter().map(|t| t["mitre_id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["T1027", "T1055", "T1059.001", "T1566.001"]);

    let technique = json_of(app.get("/api/v1/techniques/T1059.001", Some(&admin)).await).await;
    let reasons = technique["review"]["reasons"].as_array().unwrap();
    assert_eq!(reasons.len(), 1);
    assert_eq!(reasons[0]["source"], "intel");
    assert!(reasons[0]["reason"].as_str().unwrap().contains("Spearphishing campaign (T1566.001)"), "{reasons:?}");
    let item = &technique["intel_items"][0];
    assert_eq!(reasons[0]["reference"], item["id"], "the item is the reason");
    assert_eq!(item["technique_ids"], json!(["T1566.001", "T1059.001", "T9999"]), "unknown ids kept, T12345 is none");
    assert_eq!(item["summary"], "The actor then ran T1059.001 and T9999 and T12345.");
    assert_eq!(item["published"], "2026-12-04T09:00:00.000000Z");

    // A second scan finds nothing new and flags nothing again.
    let lead = app.token_for(Role::RedLead).await;
    app.request(Method::PATCH, "/api/v1/techniques/T1059.001/review", Some(&lead)).send().await.unwrap();
    let again = scan(&app).await;
    assert_eq!((again["new_items"].as_u64(), again["flagged_techniques"].as_u64()), (Some(0), Some(0)));
    let technique = json_of(app.get("/api/v1/techniques/T1059.001", Some(&admin)).await).await;
    assert_eq!(technique["review_required"], false);

    // Items are listed for every role, with filters.
    let viewer = app.token_for(Role::Viewer).await;
    let table = [
        ("", 4),
        ("technique=T1059.001", 1),
        ("technique=t1055", 1),
        ("technique=T1566", 0),
        // Items without a date count from when they were fetched (now); the Atom entry is of 2026-12-01.
        ("since=2026-12-02", 3),
        ("since=2000-01-01&limit=2", 4),
    ];
    for (query, total) in table {
        let page = json_of(app.get(&format!("/api/v1/intel/items?{query}"), Some(&viewer)).await).await;
        assert_eq!(page["total"], total, "{query}: {page}");
    }
    let feeds = json_of(app.get("/api/v1/intel/feeds", Some(&admin)).await).await;
    let rss_feed = feeds.as_array().unwrap().iter().find(|f| f["url"].as_str().unwrap().ends_with("/rss")).unwrap();
    let by_feed = json_of(
        app.get(&format!("/api/v1/intel/items?feed={}", rss_feed["id"].as_str().unwrap()), Some(&viewer)).await,
    )
    .await;
    assert_eq!(by_feed["total"], 2);
    for query in ["technique=T4242", "since=yesterday", "feed=x", "limit=101"] {
        expect_error(
            app.get(&format!("/api/v1/intel/items?{query}"), Some(&viewer)).await,
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
        )
        .await;
    }
    let scans = app.audit("action=intel_scan").await;
    assert_eq!(scans["total"], 2);
    assert_eq!(scans["items"][1]["details"]["new_items"], 4);
}

#[tokio::test]
async fn a_failing_feed_never_fails_the_others() {
    let base = feed_server().await;
    let silent = silent_server().await;
    let broken = [
        format!("{base}/feeds/malformed"),
        format!("{base}/feeds/html"),
        format!("{base}/feeds/missing"),
        format!("{base}/feeds/huge"),
        format!("{base}/loop"),
        format!("{silent}/feed"),
        "http://127.0.0.1:9/closed".to_owned(),
        "/nonexistent/feed.xml".to_owned(),
    ];
    let mut feeds = broken.to_vec();
    feeds.push(format!("{base}/feeds/rss"));
    feeds.push(format!("{base}/feeds/laughs"));
    feeds.push(format!("{base}/feeds/xxe"));
    let app = app_with_feeds(feeds).await;
    let started = std::time::Instant::now();
    let report = scan(&app).await;
    assert!(started.elapsed() < Duration::from_secs(20), "bounded by the feed timeout, not the silent server");
    let admin = app.admin_token().await;
    let stored = json_of(app.get("/api/v1/intel/feeds", Some(&admin)).await).await;
    let url_of = |id: &Value| {
        stored.as_array().unwrap().iter().find(|f| &f["id"] == id).unwrap()["url"].as_str().unwrap().to_owned()
    };
    for feed in report["feeds"].as_array().unwrap() {
        let url = url_of(&feed["feed_id"]);
        let expected_ok = url.ends_with("/rss") || url.ends_with("/laughs") || url.ends_with("/xxe");
        assert_eq!(feed["status"] == "ok", expected_ok, "{url}: {feed}");
        if !expected_ok {
            assert!(!feed["error"].as_str().unwrap().is_empty());
        }
    }
    let errors: Vec<String> =
        report["feeds"].as_array().unwrap().iter().filter_map(|f| f["error"].as_str().map(str::to_owned)).collect();
    assert!(errors.iter().any(|e| e.contains("larger than 10 MiB")), "{errors:?}");
    assert!(errors.iter().any(|e| e.contains("no answer within 1 s")), "{errors:?}");
    assert!(errors.iter().any(|e| e.contains("404")), "{errors:?}");
    assert!(errors.iter().any(|e| e.contains("redirect")), "{errors:?}");
    assert!(report["new_items"].as_u64().unwrap() >= 2, "the good feed's items are kept: {report}");
    // The entity feeds were read harmlessly: no expansion, no file read.
    let items = json_of(app.get("/api/v1/intel/items?limit=100", Some(&admin)).await).await;
    for item in items["items"].as_array().unwrap() {
        let title = item["title"].as_str().unwrap();
        assert!(title.len() < 1000 && !title.contains("root:"), "{title}");
    }
    // The feeds' last status is kept for the system page.
    let failed = stored.as_array().unwrap().iter().filter(|f| f["last_status"] == "error").count();
    assert_eq!(failed, broken.len());
    let status = json_of(app.get("/api/v1/system/scheduler-status", Some(&admin)).await).await;
    let intel_job = status["jobs"].as_array().unwrap().iter().find(|j| j["id"] == "intel_scan").unwrap();
    assert_eq!(intel_job["last_status"], "ok");
    assert!(intel_job["last_message"].as_str().unwrap().contains("failed:"), "{intel_job}");
}

#[tokio::test]
async fn feeds_are_managed_by_admins() {
    let app = app_with_feeds(vec!["https://advisories.example/feed.xml".into()]).await;
    let admin = app.admin_token().await;
    let seeded = json_of(app.get("/api/v1/intel/feeds", Some(&admin)).await).await;
    assert_eq!(seeded.as_array().unwrap().len(), 1);
    assert_eq!(seeded[0]["name"], "advisories.example");
    assert_eq!(seeded[0]["enabled"], true);

    let created = app
        .send_json(
            Method::POST,
            "/api/v1/intel/feeds",
            Some(&admin),
            &json!({"name": "Local notes", "url": "/srv/notes.xml", "enabled": false}),
        )
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let created = json_of(created).await;
    let path = format!("/api/v1/intel/feeds/{}", created["id"].as_str().unwrap());
    let patched =
        json_of(app.send_json(Method::PATCH, &path, Some(&admin), &json!({"enabled": true, "name": "Notes"})).await)
            .await;
    assert_eq!((patched["enabled"].as_bool(), patched["name"].as_str()), (Some(true), Some("Notes")));

    for (body, status, code) in [
        (json!({"name": "Dup", "url": "https://advisories.example/feed.xml"}), StatusCode::CONFLICT, "CONFLICT"),
        (json!({"name": "", "url": "https://x.example/"}), StatusCode::BAD_REQUEST, "VALIDATION_ERROR"),
        (json!({"name": "FTP", "url": "ftp://x.example/feed"}), StatusCode::BAD_REQUEST, "VALIDATION_ERROR"),
        (json!({"name": "Spaces", "url": "http://x.example/a b"}), StatusCode::BAD_REQUEST, "VALIDATION_ERROR"),
        (json!({"name": "No url"}), StatusCode::BAD_REQUEST, "VALIDATION_ERROR"),
    ] {
        expect_error(app.send_json(Method::POST, "/api/v1/intel/feeds", Some(&admin), &body).await, status, code).await;
    }
    let unknown = format!("/api/v1/intel/feeds/{}", uuid::Uuid::new_v4());
    expect_error(
        app.send_json(Method::PATCH, &unknown, Some(&admin), &json!({"enabled": false})).await,
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    )
    .await;
    assert_eq!(app.request(Method::DELETE, &path, Some(&admin)).send().await.unwrap().status(), StatusCode::NO_CONTENT);
    expect_error(
        app.request(Method::DELETE, &path, Some(&admin)).send().await.unwrap(),
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    )
    .await;

    // A removed seeded feed stays removed across restarts.
    let seeded_path = format!("/api/v1/intel/feeds/{}", seeded[0]["id"].as_str().unwrap());
    app.request(Method::DELETE, &seeded_path, Some(&admin)).send().await.unwrap();
    let app = app.restart().await;
    let admin = app.admin_token().await;
    assert_eq!(json_of(app.get("/api/v1/intel/feeds", Some(&admin)).await).await, json!([]));
    assert_eq!(app.audit("action=update_intel_feeds").await["total"], 4);
}

#[tokio::test]
async fn only_admins_run_the_system_every_role_reads_items() {
    let app = app_with_feeds(Vec::new()).await;
    let admin_only: [(Method, &str, Value); 6] = [
        (Method::POST, "/api/v1/system/run-intel-scan", Value::Null),
        (Method::GET, "/api/v1/system/scheduler-status", Value::Null),
        (Method::POST, "/api/v1/system/jobs/intel_scan/run", Value::Null),
        (Method::GET, "/api/v1/intel/feeds", Value::Null),
        (Method::POST, "/api/v1/intel/feeds", json!({"name": "n", "url": "/tmp/nothing.xml"})),
        (Method::POST, "/api/v1/system/sync-mitre", Value::Null),
    ];
    for (method, path, body) in admin_only {
        let send = async |token: Option<&str>| {
            let request = app.request(method.clone(), path, token);
            let request = if body.is_null() { request } else { request.json(&body) };
            request.send().await.unwrap()
        };
        expect_error(send(None).await, StatusCode::UNAUTHORIZED, "UNAUTHORIZED").await;
        for role in roles_except(&[Role::Admin]) {
            let token = app.token_for(role).await;
            expect_error(send(Some(&token)).await, StatusCode::FORBIDDEN, "FORBIDDEN").await;
        }
        let admin = app.admin_token().await;
        assert!(send(Some(&admin)).await.status().is_success(), "admin {method} {path}");
    }
    expect_error(app.get("/api/v1/intel/items", None).await, StatusCode::UNAUTHORIZED, "UNAUTHORIZED").await;
    for role in Role::ALL {
        let token = app.token_for(role).await;
        assert_eq!(app.get("/api/v1/intel/items", Some(&token)).await.status(), StatusCode::OK, "{role}");
    }
    let admin = app.admin_token().await;
    let response = app.request(Method::POST, "/api/v1/system/jobs/backup/run", Some(&admin)).send().await.unwrap();
    expect_error(response, StatusCode::BAD_REQUEST, "VALIDATION_ERROR").await;
}

#[tokio::test]
async fn the_scheduler_runs_jobs_on_their_schedules() {
    let base = feed_server().await;
    let app = TestApp::start_with(|settings| {
        settings.intel_feeds = format!("{base}/feeds/rss");
        settings.intel_scan_cron = "* * * * * *".into();
        settings.mitre_sync_cron = String::new();
    })
    .await;
    let admin = app.admin_token().await;
    let status = json_of(app.get("/api/v1/system/scheduler-status", Some(&admin)).await).await;
    assert_eq!(status["running"], true);
    let jobs = status["jobs"].as_array().unwrap();
    assert_eq!(jobs.len(), 3, "mitre_sync, intel_scan, coverage_snapshot");
    let sync = &jobs[0];
    assert_eq!((sync["id"].as_str(), sync["name"].as_str()), (Some("mitre_sync"), Some("MITRE ATT&CK Sync")));
    assert_eq!((sync["enabled"].as_bool(), sync["next_run_time"].clone()), (Some(false), Value::Null));
    assert_eq!(jobs[1]["schedule"], "* * * * * *");
    assert!(jobs[1]["next_run_time"].is_string(), "{status}");

    // The every-second scan really runs and records its run.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let last = loop {
        let status = json_of(app.get("/api/v1/system/scheduler-status", Some(&admin)).await).await;
        let job = status["jobs"][1].clone();
        if job["last_status"] == "ok" {
            break job;
        }
        assert!(std::time::Instant::now() < deadline, "the scheduled scan ran within 20 s: {status}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(last["last_triggered_by"], "scheduler");
    assert!(last["last_run_at"].is_string() && last["last_finished_at"].is_string());
    let items = json_of(app.get("/api/v1/intel/items", Some(&admin)).await).await;
    assert_eq!(items["total"], 2);
    let scans = app.audit("action=intel_scan").await;
    assert_eq!(scans["items"][0]["username"], "scheduler");
    // The disabled sync never ran.
    assert_eq!(app.audit("action=sync_mitre").await["total"], 1, "only the first-start load");
}

#[tokio::test]
async fn the_status_shows_both_jobs_with_their_next_and_last_runs() {
    let base = feed_server().await;
    let app = TestApp::start_with(|settings| {
        settings.intel_feeds = format!("{base}/feeds/rss");
        settings.mitre_sync_cron = "0 0 3 * * *".into();
        settings.intel_scan_cron = "0 0 */6 * * *".into();
    })
    .await;
    let admin = app.admin_token().await;
    for job in ["mitre_sync", "intel_scan"] {
        let run = json_of(
            app.request(Method::POST, &format!("/api/v1/system/jobs/{job}/run"), Some(&admin)).send().await.unwrap(),
        )
        .await;
        assert_eq!(run["status"], "ok", "{run}");
    }
    let status = json_of(app.get("/api/v1/system/scheduler-status", Some(&admin)).await).await;
    assert_eq!(status["running"], true);
    for (job, schedule) in status["jobs"].as_array().unwrap().iter().zip(["0 0 3 * * *", "0 0 */6 * * *"]) {
        assert_eq!(job["schedule"], schedule);
        assert_eq!(job["enabled"], true);
        let next = chrono::DateTime::parse_from_rfc3339(job["next_run_time"].as_str().unwrap()).unwrap();
        assert!(next > chrono::Utc::now(), "{job}");
        assert_eq!(job["last_status"], "ok");
        assert!(job["last_triggered_by"].as_str().unwrap() == "admin");
    }
    // Bad schedules stop the start with a clear message.
    for cron in ["0 3 * * *", "not a cron", "99 * * * * *"] {
        let dir = tempfile::tempdir().unwrap();
        let mut settings = common::default_settings(dir.path().join("data"));
        settings.intel_scan_cron = cron.into();
        let err = aegis::config::Config::from_settings(&settings).unwrap_err().to_string();
        assert!(err.contains("AEGIS_INTEL_SCAN_CRON"), "{cron}: {err}");
    }
}

#[tokio::test]
async fn manual_runs_of_one_job_never_overlap() {
    let silent = silent_server().await;
    let app = TestApp::start_with(|settings| {
        settings.intel_feeds = format!("{silent}/slow");
        settings.intel_timeout_seconds = 2;
    })
    .await;
    let admin = app.admin_token().await;
    let first = {
        let request = app.request(Method::POST, "/api/v1/system/run-intel-scan", Some(&admin));
        tokio::spawn(async move { request.send().await.unwrap().status() })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let second = app.request(Method::POST, "/api/v1/system/jobs/intel_scan/run", Some(&admin)).send().await.unwrap();
    expect_error(second, StatusCode::CONFLICT, "CONFLICT").await;
    // Another job is not blocked by it.
    let sync = app.request(Method::POST, "/api/v1/system/jobs/mitre_sync/run", Some(&admin)).send().await.unwrap();
    assert_eq!(sync.status(), StatusCode::OK);
    assert_eq!(first.await.unwrap(), StatusCode::OK, "the first run finishes (its feed times out)");
    let again = app.request(Method::POST, "/api/v1/system/jobs/intel_scan/run", Some(&admin)).send().await.unwrap();
    let again = json_of(again).await;
    assert_eq!(again["id"], "intel_scan");
    assert_eq!(again["status"], "ok");
    assert_eq!(app.audit("action=intel_scan").await["total"], 2, "two runs, never two at once");
}
