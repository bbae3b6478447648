//! `/audit-logs`: access, every filter, pagination and the distinct-value endpoints.

mod common;

use aegis::auth::Role;
use aegis::db::audit::AuditRow;
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

// Paging at volume (migration 0007): newest first in the order rows were written, totals kept by a
// trigger, pages found by seq arithmetic or per-bucket counts. Each result is checked against an
// expectation that knows nothing of how `list` finds it: plain SQL over the same rows, or a model.

/// An audit row written straight to the database, as a restore or another writer could.
fn audit_row(id: &str, user_id: Option<&str>, action: &str, entity_type: &str, timestamp: &str) -> AuditRow {
    AuditRow {
        id: id.to_owned(),
        user_id: user_id.map(str::to_owned),
        username: "writer".to_owned(),
        action: action.to_owned(),
        entity_type: entity_type.to_owned(),
        entity_id: None,
        timestamp: timestamp.to_owned(),
        details: "{}".to_owned(),
    }
}

/// The ids of a page as plain `ORDER BY seq DESC LIMIT OFFSET` over the same rows gives them.
async fn plain_page(app: &TestApp, condition: &str, offset: i64, limit: i64) -> (Vec<String>, i64) {
    let condition = condition.to_owned();
    app.state
        .db
        .read(move |conn| {
            let ids = conn
                .prepare(&format!("SELECT id FROM audit_logs WHERE {condition} ORDER BY seq DESC LIMIT ?1 OFFSET ?2"))?
                .query_map([limit, offset], |row| row.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            let total =
                conn.query_row(&format!("SELECT COUNT(*) FROM audit_logs WHERE {condition}"), [], |row| row.get(0))?;
            Ok((ids, total))
        })
        .await
        .unwrap()
}

fn ids_of(page: &Value) -> Vec<String> {
    page["items"].as_array().unwrap().iter().map(|item| item["id"].as_str().unwrap().to_owned()).collect()
}

/// Every page of `limit` rows, through the API and as plain SQL, for each `(query, SQL condition)`.
async fn every_page_as_plain_sql(app: &TestApp, cases: &[(&str, &str)], limit: i64) {
    for (query, condition) in cases {
        let (_, total) = plain_page(app, condition, 0, 0).await;
        assert!(total > 0, "{query} matches rows");
        for offset in (0..=total + limit).step_by(limit as usize) {
            let page = app.audit(&format!("{query}&offset={offset}&limit={limit}")).await;
            let (expected, total) = plain_page(app, condition, offset, limit).await;
            assert_eq!(page["total"], total, "{query} offset {offset}");
            assert_eq!(ids_of(&page), expected, "{query} offset {offset}");
        }
    }
}

#[tokio::test]
async fn newest_first_in_the_order_rows_were_written() {
    let app = without_catalogue().await;
    // The clock stepped back and forward while these were written; the log keeps the order of writing.
    let times = ["2026-06-01T12:00:00.000000Z", "2026-05-01T12:00:00.000000Z", "2026-07-01T12:00:00.000000Z"];
    for (index, time) in times.into_iter().enumerate() {
        let row = audit_row(&format!("written-{index}"), None, "sync_mitre", "system", time);
        app.state.db.write(move |tx| aegis::db::audit::insert(tx, &row)).await.unwrap();
    }
    let newest = ["written-2", "written-1", "written-0"];
    for query in ["", "action=sync_mitre", "start_date=2026-04-01", "start_date=2026-04-01&end_date=2026-07-31"] {
        let page = app.audit(query).await;
        assert_eq!(ids_of(&page)[..3], newest, "{query}");
    }
    // A date range still means the timestamps, whatever the order of writing.
    assert_eq!(ids_of(&app.audit("start_date=2026-05-15&end_date=2026-06-15").await), ["written-0"]);
    assert_eq!(ids_of(&app.audit("end_date=2026-06-15&action=sync_mitre").await), ["written-1", "written-0"]);
}

#[tokio::test]
async fn totals_are_the_real_counts_with_and_without_filters_as_rows_arrive() {
    let (app, admin, me) = populated().await;
    let admin_id = me["id"].as_str().unwrap().to_owned();
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let cases = [
        (String::new(), "true".to_owned()),
        ("action=create_user".into(), "action = 'create_user'".into()),
        ("action=login_failed".into(), "action = 'login_failed'".into()),
        ("action=no_such_action".into(), "action = 'no_such_action'".into()),
        ("entity_type=user".into(), "entity_type = 'user'".into()),
        (format!("user_id={admin_id}"), format!("user_id = '{admin_id}'")),
        (
            format!("user_id={admin_id}&action=create_user"),
            format!("user_id = '{admin_id}' AND action = 'create_user'"),
        ),
        (format!("start_date={today}"), format!("timestamp >= '{today}'")),
        (format!("start_date={today}&action=login"), format!("timestamp >= '{today}' AND action = 'login'")),
        ("end_date=2000-01-01".into(), "timestamp <= '2000-01-02'".into()),
    ];
    for round in 0..3 {
        for (query, condition) in &cases {
            let (_, total) = plain_page(&app, condition, 0, 0).await;
            assert_eq!(app.audit(query).await["total"], total, "round {round}: {query}");
        }
        // More rows of every kind: users created by the admin, logins, failures.
        let body = json!({"username": format!("more-{round}"), "password": "password123", "role": "viewer"});
        assert_eq!(
            app.send_json(Method::POST, "/api/v1/users", Some(&admin), &body).await.status(),
            StatusCode::CREATED
        );
        app.login(&format!("more-{round}"), "password123").await;
        app.login(&format!("more-{round}"), "wrong-password").await;
    }
}

/// 300 rows of several kinds, timestamps increasing, written as the app writes them.
async fn three_hundred_rows(app: &TestApp) {
    app.state
        .db
        .write(|tx| {
            for index in 0..300 {
                let (action, entity_type) =
                    [("login", "user"), ("validate_test", "test"), ("create_test", "test")][index % 3];
                let user =
                    ["aaaaaaaa-0000-4000-8000-000000000001", "aaaaaaaa-0000-4000-8000-000000000002"][index % 7 % 2];
                let time =
                    format!("2026-0{}-{:02}T10:00:{:02}.000000Z", 1 + index / 60, 1 + index % 60 / 3, index % 60);
                let row = audit_row(&format!("row-{index:03}"), Some(user), action, entity_type, &time);
                aegis::db::audit::insert(tx, &row)?;
            }
            Ok(())
        })
        .await
        .unwrap();
}

const PAGED: &[(&str, &str)] = &[
    ("x=1", "true"),
    ("action=validate_test", "action = 'validate_test'"),
    ("user_id=aaaaaaaa-0000-4000-8000-000000000002", "user_id = 'aaaaaaaa-0000-4000-8000-000000000002'"),
    (
        "user_id=aaaaaaaa-0000-4000-8000-000000000001&entity_type=test",
        "user_id = 'aaaaaaaa-0000-4000-8000-000000000001' AND entity_type = 'test'",
    ),
    ("start_date=2026-02-01&end_date=2026-03-31", "timestamp BETWEEN '2026-02-01' AND '2026-03-31T23:59:59.999999Z'"),
    ("end_date=2026-02-10&action=login", "timestamp <= '2026-02-10T23:59:59.999999Z' AND action = 'login'"),
];

#[tokio::test]
async fn every_page_at_every_offset_is_what_plain_offset_gives() {
    let app = without_catalogue().await;
    three_hundred_rows(&app).await;
    every_page_as_plain_sql(&app, PAGED, 7).await;
}

#[tokio::test]
async fn pages_stay_right_when_a_seq_is_missing_and_the_clock_steps_back() {
    let app = without_catalogue().await;
    three_hundred_rows(&app).await;
    // Written by hand on the file: a row far above the newest seq, then one into the gap below it
    // with an older time, then the app writes on from the highest seq.
    let conn = rusqlite::Connection::open(app.data_dir.join("aegis.db")).unwrap();
    conn.busy_timeout(std::time::Duration::from_secs(5)).unwrap();
    let insert = "INSERT INTO audit_logs (seq, id, user_id, username, action, entity_type, timestamp)
                  VALUES ((SELECT MAX(seq) FROM audit_logs) + ?1, ?2, NULL, 'hand', 'login', 'user', ?3)";
    conn.execute(insert, rusqlite::params![20_000, "by-hand-high", "2026-02-20T00:00:00.000000Z"]).unwrap();
    conn.execute(insert, rusqlite::params![-10_000, "by-hand-in-gap", "2026-01-05T00:00:00.000000Z"]).unwrap();
    drop(conn);
    let row = audit_row("after-gap", None, "login", "user", "2026-02-15T00:00:00.000000Z");
    app.state.db.write(move |tx| aegis::db::audit::insert(tx, &row)).await.unwrap();
    let first = app.audit("limit=3").await;
    assert_eq!(ids_of(&first), ["after-gap", "by-hand-high", "by-hand-in-gap"]);
    every_page_as_plain_sql(&app, PAGED, 7).await;
}

/// Model-based checks of `db::audit::list` on a database of its own, at sizes that span many
/// count buckets, with runs of timestamps broken by a clock stepping back and seqs written by hand.
mod model {
    use aegis::db::audit::{self, AuditFilter};
    use aegis::db::migrations;
    use chrono::{DateTime, Duration, Utc};
    use rusqlite::{Connection, params};

    #[derive(Clone, Debug)]
    struct Logged {
        seq: i64,
        id: String,
        user_id: Option<String>,
        action: &'static str,
        entity_type: &'static str,
        timestamp: String,
    }

    const USERS: [&str; 3] = [
        "bbbbbbbb-0000-4000-8000-000000000001",
        "bbbbbbbb-0000-4000-8000-000000000002",
        "bbbbbbbb-0000-4000-8000-000000000003",
    ];
    const KINDS: [(&str, &str); 5] = [
        ("login", "user"),
        ("validate_test", "test"),
        ("create_test", "test"),
        ("upload_evidence", "evidence"),
        ("sync_mitre", "system"),
    ];

    /// A deterministic generator (xorshift), so a failure repeats.
    struct Rng(u64);

    impl Rng {
        fn below(&mut self, bound: u64) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0 % bound.max(1)
        }
    }

    /// The log under test and the model of it.
    struct Log {
        conn: Connection,
        rows: Vec<Logged>,
        rng: Rng,
        clock: DateTime<Utc>,
    }

    impl Log {
        /// A database with every migration, or only those up to `version`.
        fn new(version: Option<i64>) -> Log {
            let mut conn = Connection::open_in_memory().unwrap();
            match version {
                None => {
                    migrations::apply(&mut conn).unwrap();
                }
                Some(version) => {
                    conn.execute_batch("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL) STRICT;").unwrap();
                    for (number, name, sql) in migrations::MIGRATIONS.iter().filter(|(number, _, _)| *number <= version)
                    {
                        conn.execute_batch(sql).unwrap();
                        conn.execute(
                            "INSERT INTO schema_migrations VALUES (?1, ?2, '2026-01-01T00:00:00Z')",
                            params![number, name],
                        )
                        .unwrap();
                    }
                }
            }
            let clock = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z").unwrap().with_timezone(&Utc);
            Log { conn, rows: Vec::new(), rng: Rng(0x9e37_79b9_7f4a_7c15), clock }
        }

        /// Writes `count` rows, each `step` seconds after the one before, at the next seq or from `seq` up.
        fn write(&mut self, count: usize, step: i64, seq: Option<i64>) {
            let Log { conn, rows, rng, clock } = self;
            let tx = conn.transaction().unwrap();
            for index in 0..count {
                // Skewed, as real logs are: logins many, syncs few.
                let (action, entity_type) = KINDS[(rng.below(100) * rng.below(100) / 2_000) as usize];
                let user_id = match rng.below(4) {
                    3 => None,
                    user => Some(USERS[user as usize].to_owned()),
                };
                *clock += Duration::seconds(step);
                let timestamp = aegis::time::format(*clock);
                let id = format!("row-{}", rows.len());
                tx.execute(
                    "INSERT INTO audit_logs (seq, id, user_id, username, action, entity_type, timestamp)
                     VALUES (?1, ?2, ?3, 'model', ?4, ?5, ?6)",
                    params![seq.map(|seq| seq + index as i64), id, user_id, action, entity_type, timestamp],
                )
                .unwrap();
                let seq = tx.last_insert_rowid();
                rows.push(Logged { seq, id, user_id, action, entity_type, timestamp });
            }
            tx.commit().unwrap();
        }

        /// Sets the clock back (or forward) by `seconds`.
        fn clock_jump(&mut self, seconds: i64) {
            self.clock += Duration::seconds(seconds);
        }

        fn expected(&self, filter: &AuditFilter) -> Vec<&str> {
            let mut matching: Vec<&Logged> = self
                .rows
                .iter()
                .filter(|row| filter.user_id.as_ref().is_none_or(|user| row.user_id.as_ref() == Some(user)))
                .filter(|row| filter.action.as_deref().is_none_or(|action| row.action == action))
                .filter(|row| filter.entity_type.as_deref().is_none_or(|kind| row.entity_type == kind))
                .filter(|row| filter.since.as_deref().is_none_or(|since| row.timestamp.as_str() >= since))
                .filter(|row| filter.until.as_deref().is_none_or(|until| row.timestamp.as_str() <= until))
                .collect();
            matching.sort_by_key(|row| std::cmp::Reverse(row.seq));
            matching.into_iter().map(|row| row.id.as_str()).collect()
        }

        /// Filters over what the log holds: every column alone and combined, dates on row boundaries.
        fn filters(&mut self) -> Vec<AuditFilter> {
            let time = |log: &mut Log| {
                let index = log.rng.below(log.rows.len() as u64) as usize;
                log.rows[index].timestamp.clone()
            };
            let mut filters = vec![AuditFilter::default()];
            for (action, entity_type) in KINDS {
                filters.push(AuditFilter { action: Some(action.into()), ..Default::default() });
                filters.push(AuditFilter { entity_type: Some(entity_type.into()), ..Default::default() });
            }
            for user in USERS {
                filters.push(AuditFilter { user_id: Some(user.into()), ..Default::default() });
                filters.push(AuditFilter {
                    user_id: Some(user.into()),
                    action: Some("login".into()),
                    ..Default::default()
                });
            }
            filters.push(AuditFilter { action: Some("nothing".into()), ..Default::default() });
            filters.push(AuditFilter {
                user_id: Some(USERS[0].into()),
                action: Some("create_test".into()),
                entity_type: Some("test".into()),
                ..Default::default()
            });
            for _ in 0..4 {
                let (a, b) = (time(self), time(self));
                let (since, until) = if a <= b { (a, b) } else { (b, a) };
                filters.push(AuditFilter {
                    since: Some(since.clone()),
                    until: Some(until.clone()),
                    ..Default::default()
                });
                filters.push(AuditFilter { since: Some(since.clone()), ..Default::default() });
                filters.push(AuditFilter { until: Some(until.clone()), ..Default::default() });
                filters.push(AuditFilter {
                    since: Some(since.clone()),
                    until: Some(until.clone()),
                    action: Some("login".into()),
                    ..Default::default()
                });
                filters.push(AuditFilter {
                    since: Some(since),
                    until: Some(until),
                    user_id: Some(USERS[1].into()),
                    entity_type: Some("test".into()),
                    ..Default::default()
                });
            }
            filters.push(AuditFilter { since: Some("2000-01-01T00:00:00.000000Z".into()), ..Default::default() });
            filters.push(AuditFilter { since: Some("2999-01-01T00:00:00.000000Z".into()), ..Default::default() });
            filters.push(AuditFilter { until: Some("2000-01-01T00:00:00.000000Z".into()), ..Default::default() });
            filters
        }

        /// Every filter: the total, and pages of 7 at every offset (`all_pages`) or at offsets around
        /// the start, the end, the middle and at random.
        fn check(&mut self, all_pages: bool) {
            for filter in self.filters() {
                let total = self.expected(&filter).len() as i64;
                let offsets: Vec<i64> = if all_pages {
                    (0..=total + 7).step_by(7).collect()
                } else {
                    let mut offsets = vec![0, 1, 6, total / 2, total - 7, total - 1, total, total + 3];
                    offsets.extend((0..12).map(|_| self.rng.below(total as u64 + 1) as i64));
                    offsets.into_iter().filter(|offset| *offset >= 0).collect()
                };
                let expected = self.expected(&filter);
                for offset in offsets {
                    let page = AuditFilter { offset, limit: 7, ..filter.clone() };
                    let (rows, counted) = audit::list(&self.conn, &page).unwrap();
                    assert_eq!(counted, total, "{page:?}");
                    let ids: Vec<&str> = rows.iter().map(|row| row.id.as_str()).collect();
                    let want: Vec<&str> = expected.iter().skip(offset as usize).take(7).copied().collect();
                    assert_eq!(ids, want, "{page:?}");
                }
            }
        }
    }

    #[test]
    fn three_hundred_rows_every_page() {
        let mut log = Log::new(None);
        log.write(300, 7, None);
        log.check(true);
    }

    #[test]
    fn many_buckets_with_no_seq_missing() {
        let mut log = Log::new(None);
        log.write(40_000, 1, None);
        log.check(false);
    }

    #[test]
    fn clock_stepping_back() {
        let mut log = Log::new(None);
        log.write(150, 60, None);
        log.clock_jump(-3_000); // a few rows' worth: runs overlap in time
        log.write(150, 60, None);
        log.clock_jump(-400 * 86_400); // a clock set back more than a year, for a while
        log.write(20, 60, None);
        log.clock_jump(400 * 86_400);
        log.write(150, 60, None);
        log.check(true);
    }

    #[test]
    fn seqs_written_by_hand() {
        let mut log = Log::new(None);
        log.write(5_000, 5, None);
        log.write(5_000, 5, Some(30_000)); // a gap, across buckets
        log.clock_jump(-100_000);
        log.write(3_000, 5, Some(10_000)); // inside the gap, older than the row before: a run starts
        log.clock_jump(10_000_000);
        log.write(10, 5, Some(20_000)); // inside the gap, newer than the row after: a run starts there
        log.clock_jump(-10_000_000);
        log.write(5_000, 5, None);
        log.check(false);
    }

    #[test]
    fn migration_counts_the_rows_already_there() {
        let mut log = Log::new(Some(6));
        log.write(3_000, 5, None);
        log.clock_jump(-50_000);
        log.write(3_000, 5, Some(20_000));
        log.write(2_000, 5, Some(8_000));
        migrations::apply(&mut log.conn).unwrap();
        log.check(false);
        // And the trigger carries on from what the migration counted.
        log.write(2_000, 5, None);
        log.clock_jump(-500);
        log.write(2_000, 5, None);
        log.check(false);
    }
}
