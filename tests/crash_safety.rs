//! Crash safety of the real binary: uploads (distinct and identical contents), evidence deletions and
//! test changes (create, patch, validate, delete) run from a few tasks while the server is killed
//! with SIGKILL at a pseudo-random moment, round after round, on the same data dir. After each
//! restart the data dir must be whole: the database passes `integrity_check` and
//! `foreign_key_check`; every evidence row's blob is there with its sha256 and size; `evidence/tmp/`
//! is empty; the audit log records exactly the changes that committed; everything the client saw
//! acknowledged is still there. A kill between a blob's move into place and its row's commit (or
//! between a deletion's commit and its blob's removal) may leave an orphan blob: those are counted,
//! tolerated, and must be reported by `aegis verify`.

mod common;

use common::binary::{Server, aegis};

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use reqwest::StatusCode;
use reqwest::multipart::{Form, Part};
use rusqlite::{Connection, OpenFlags};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const ADMIN_PASSWORD: &str = "admin-password-for-crash-tests";
const JWT_SECRET: &str = "a-jwt-secret-for-the-crash-safety-test";
const ROUNDS: u64 = 30;
/// How many contents the identical-content uploader cycles through.
const SHARED_CONTENTS: u64 = 4;

// ----- determinism ------------------------------------------------------------------------------

struct XorShift(u64);

impl XorShift {
    fn new(seed: u64) -> XorShift {
        let mut rng = XorShift(seed.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        rng.next();
        rng
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Deterministic bytes that do not compress.
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut rng = XorShift::new(seed);
    let mut bytes = Vec::with_capacity(len + 8);
    while bytes.len() < len {
        bytes.extend_from_slice(&rng.next().wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    bytes.truncate(len);
    bytes
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

// ----- the server -------------------------------------------------------------------------------

/// The server with this test's credentials.
fn start_server(data_dir: &Path, bundle: &Path) -> Server {
    Server::start(data_dir, ADMIN_PASSWORD, JWT_SECRET, bundle)
}

// ----- what the client saw ----------------------------------------------------------------------

/// Every request's outcome as the client saw it. "Attempted" changes without an answer may or may
/// not have committed; after the restart the database says which, and that is final.
#[derive(Default)]
struct Ledger {
    /// Draft tests the uploaders pick from.
    drafts: Vec<String>,
    next_seed: u64,
    sent_shas: BTreeSet<String>,
    /// evidence id → (test id, sha256), for every 201.
    acked_uploads: BTreeMap<String, (String, String)>,
    acked_tests: BTreeSet<String>,
    acked_validated: BTreeSet<String>,
    /// test id → (the name last sent, acknowledged).
    last_patch: BTreeMap<String, (String, bool)>,
    /// Deletions sent and not (yet) known to have committed or not.
    pending_test_deletes: BTreeSet<String>,
    pending_evidence_deletes: BTreeSet<String>,
    acked_test_deletes: BTreeSet<String>,
    acked_evidence_deletes: BTreeSet<String>,
    /// Deletions known to have committed.
    gone_tests: BTreeSet<String>,
    gone_evidence: BTreeSet<String>,
}

/// Per-round request counts.
#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    uploads_sent: u64,
    uploads_acked: u64,
    uploads_refused: u64,
    cut: u64,
    tests_created: u64,
    patches: u64,
    validations: u64,
    test_deletes: u64,
    evidence_deletes: u64,
}

impl std::ops::AddAssign for Counts {
    fn add_assign(&mut self, other: Counts) {
        self.uploads_sent += other.uploads_sent;
        self.uploads_acked += other.uploads_acked;
        self.uploads_refused += other.uploads_refused;
        self.cut += other.cut;
        self.tests_created += other.tests_created;
        self.patches += other.patches;
        self.validations += other.validations;
        self.test_deletes += other.test_deletes;
        self.evidence_deletes += other.evidence_deletes;
    }
}

struct Ctx {
    client: reqwest::Client,
    base: String,
    token: String,
    techniques: Vec<String>,
    round: u64,
    ledger: Arc<Mutex<Ledger>>,
    /// Set once the server is killed: the tasks end even when they have nothing to send.
    killed: AtomicBool,
}

impl Ctx {
    fn killed(&self) -> bool {
        self.killed.load(Ordering::Relaxed)
    }

    fn url(&self, path: &str) -> String {
        format!("{}/api/v1{path}", self.base)
    }

    /// Sends and reads the whole answer; `None` once the server is gone.
    async fn exchange(&self, request: reqwest::RequestBuilder) -> Option<(StatusCode, String)> {
        let response = request.bearer_auth(&self.token).send().await.ok()?;
        let status = response.status();
        let body = response.text().await.ok()?;
        assert!(!status.is_server_error(), "no 5xx while the server runs: {status} {body}");
        Some((status, body))
    }
}

fn id_of(body: &str) -> String {
    let value: Value = serde_json::from_str(body).unwrap_or_else(|_| panic!("JSON: {body}"));
    value["id"].as_str().unwrap().to_owned()
}

/// Uploads to random draft tests until the server dies, now and then deleting one of its own
/// uploads. `shared`: cycles through a few identical contents instead of distinct ones.
async fn uploader(ctx: Arc<Ctx>, worker: u64, shared: bool) -> Counts {
    let mut counts = Counts::default();
    let mut rng = XorShift::new(ctx.round * 100 + worker);
    let mut own: Vec<String> = Vec::new();
    while !ctx.killed() {
        if !own.is_empty() && rng.below(8) == 0 {
            let id = own.swap_remove(rng.below(own.len() as u64) as usize);
            ctx.ledger.lock().unwrap().pending_evidence_deletes.insert(id.clone());
            counts.evidence_deletes += 1;
            let Some((status, body)) = ctx.exchange(ctx.client.delete(ctx.url(&format!("/evidence/{id}")))).await
            else {
                counts.cut += 1;
                return counts;
            };
            let mut ledger = ctx.ledger.lock().unwrap();
            match status {
                StatusCode::NO_CONTENT => {
                    ledger.pending_evidence_deletes.remove(&id);
                    ledger.acked_evidence_deletes.insert(id);
                }
                // Gone with its test, or its test was validated: nothing was deleted.
                StatusCode::NOT_FOUND | StatusCode::CONFLICT => {
                    ledger.pending_evidence_deletes.remove(&id);
                }
                other => panic!("evidence deletion: {other} {body}"),
            }
            continue;
        }
        let (test, seed) = {
            let mut ledger = ctx.ledger.lock().unwrap();
            ledger.next_seed += 1;
            let test = (!ledger.drafts.is_empty())
                .then(|| ledger.drafts[rng.below(ledger.drafts.len() as u64) as usize].clone());
            (test, ledger.next_seed)
        };
        let Some(test) = test else {
            tokio::time::sleep(Duration::from_millis(5)).await;
            continue;
        };
        let content = if shared {
            let which = rng.below(SHARED_CONTENTS);
            noise(1_000_000 + which, 1024 + which as usize * 50_000)
        } else {
            noise((ctx.round << 32) | seed, 1024 + rng.below(199 * 1024) as usize)
        };
        let sha = sha256_hex(&content);
        ctx.ledger.lock().unwrap().sent_shas.insert(sha.clone());
        counts.uploads_sent += 1;
        let part = Part::bytes(content).file_name(format!("r{}-{seed}.bin", ctx.round));
        let request =
            ctx.client.post(ctx.url(&format!("/tests/{test}/evidence"))).multipart(Form::new().part("file", part));
        let Some((status, body)) = ctx.exchange(request).await else {
            counts.cut += 1;
            return counts;
        };
        match status {
            StatusCode::CREATED => {
                let row: Value = serde_json::from_str(&body).unwrap();
                assert_eq!(row["sha256_hash"], sha.as_str(), "{body}");
                assert_eq!(row["test_id"], test.as_str(), "{body}");
                let id = row["id"].as_str().unwrap().to_owned();
                ctx.ledger.lock().unwrap().acked_uploads.insert(id.clone(), (test, sha));
                own.push(id);
                counts.uploads_acked += 1;
            }
            // The test was deleted or validated meanwhile.
            StatusCode::NOT_FOUND | StatusCode::CONFLICT => counts.uploads_refused += 1,
            other => panic!("upload: {other} {body}"),
        }
    }
    counts
}

/// Creates, patches, validates and deletes its own tests until the server dies. Each test has one
/// changer, so the last change sent to a test is well defined.
async fn changer(ctx: Arc<Ctx>, worker: u64, mut own: Vec<String>) -> Counts {
    let mut counts = Counts::default();
    let mut rng = XorShift::new(ctx.round * 100 + 50 + worker);
    let mut n = 0;
    while !ctx.killed() {
        n += 1;
        let choice = rng.below(100);
        if own.len() < 2 || choice < 30 {
            let technique = &ctx.techniques[rng.below(ctx.techniques.len() as u64) as usize];
            let body = json!({"technique_id": technique, "name": format!("r{} w{worker} n{n}", ctx.round),
                              "platform": "windows", "tool_used": "crash test"});
            counts.tests_created += 1;
            let Some((status, body)) = ctx.exchange(ctx.client.post(ctx.url("/tests")).json(&body)).await else {
                counts.cut += 1;
                return counts;
            };
            assert_eq!(status, StatusCode::CREATED, "{body}");
            let id = id_of(&body);
            let mut ledger = ctx.ledger.lock().unwrap();
            ledger.acked_tests.insert(id.clone());
            ledger.drafts.push(id.clone());
            own.push(id);
            continue;
        }
        let index = rng.below(own.len() as u64) as usize;
        let test = own[index].clone();
        if choice < 60 {
            let name = format!("patched r{} w{worker} n{n}", ctx.round);
            ctx.ledger.lock().unwrap().last_patch.insert(test.clone(), (name.clone(), false));
            counts.patches += 1;
            let request = ctx.client.patch(ctx.url(&format!("/tests/{test}"))).json(&json!({"name": name}));
            let Some((status, body)) = ctx.exchange(request).await else {
                counts.cut += 1;
                return counts;
            };
            assert_eq!(status, StatusCode::OK, "{body}");
            ctx.ledger.lock().unwrap().last_patch.insert(test, (name, true));
        } else if choice < 75 {
            own.swap_remove(index);
            ctx.ledger.lock().unwrap().drafts.retain(|draft| *draft != test);
            counts.validations += 1;
            let request =
                ctx.client.post(ctx.url(&format!("/tests/{test}/validate"))).json(&json!({"result": "detected"}));
            let Some((status, body)) = ctx.exchange(request).await else {
                counts.cut += 1;
                return counts;
            };
            assert_eq!(status, StatusCode::OK, "{body}");
            ctx.ledger.lock().unwrap().acked_validated.insert(test);
        } else {
            own.swap_remove(index);
            {
                let mut ledger = ctx.ledger.lock().unwrap();
                ledger.drafts.retain(|draft| *draft != test);
                ledger.pending_test_deletes.insert(test.clone());
            }
            counts.test_deletes += 1;
            let Some((status, body)) = ctx.exchange(ctx.client.delete(ctx.url(&format!("/tests/{test}")))).await else {
                counts.cut += 1;
                return counts;
            };
            assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
            let mut ledger = ctx.ledger.lock().unwrap();
            ledger.pending_test_deletes.remove(&test);
            ledger.acked_test_deletes.insert(test);
        }
    }
    counts
}

// ----- the checks after a restart ---------------------------------------------------------------

struct Figures {
    tests: usize,
    evidence_rows: usize,
    blobs: usize,
    hashed: usize,
    orphans: BTreeSet<String>,
}

fn read_only(data_dir: &Path) -> Connection {
    let conn = Connection::open_with_flags(data_dir.join("aegis.db"), OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    conn
}

fn strings(conn: &Connection, sql: &str) -> Vec<String> {
    let mut stmt = conn.prepare(sql).unwrap();
    stmt.query_map([], |row| row.get(0)).unwrap().map(Result::unwrap).collect()
}

fn number(conn: &Connection, sql: &str) -> i64 {
    conn.query_row(sql, [], |row| row.get(0)).unwrap()
}

fn blob_path(data_dir: &Path, sha256: &str) -> PathBuf {
    data_dir.join("evidence").join(&sha256[..2]).join(sha256)
}

/// Blobs stored under `evidence/<ab>/`.
fn stored_blobs(data_dir: &Path) -> BTreeSet<String> {
    let mut blobs = BTreeSet::new();
    for dir in std::fs::read_dir(data_dir.join("evidence")).unwrap() {
        let dir = dir.unwrap();
        if dir.file_name() == "tmp" {
            continue;
        }
        for blob in std::fs::read_dir(dir.path()).unwrap() {
            let name = blob.unwrap().file_name().into_string().unwrap();
            assert!(name.len() == 64 && name.starts_with(dir.file_name().to_str().unwrap()), "a blob: {name}");
            blobs.insert(name);
        }
    }
    blobs
}

/// Checks the data dir of a server that has just restarted (and runs no requests yet). `hashed`
/// remembers blobs already hashed, by size and modification time: each is hashed once.
fn check_after_restart(
    data_dir: &Path,
    ledger: &mut Ledger,
    hashed: &mut BTreeMap<String, (u64, SystemTime)>,
) -> Figures {
    let conn = read_only(data_dir);
    assert_eq!(strings(&conn, "PRAGMA integrity_check"), ["ok"], "integrity_check");
    assert_eq!(number(&conn, "SELECT COUNT(*) FROM pragma_foreign_key_check"), 0, "foreign_key_check");

    // The store cleaned what interrupted uploads left.
    let tmp: Vec<_> = std::fs::read_dir(data_dir.join("evidence/tmp")).unwrap().collect();
    assert!(tmp.is_empty(), "evidence/tmp/ is empty after the restart: {tmp:?}");

    // Every row's blob, with its sha256 and size.
    let mut rows: BTreeMap<String, (String, String, u64)> = BTreeMap::new();
    {
        let mut stmt = conn.prepare("SELECT id, test_id, sha256, size_bytes FROM evidence").unwrap();
        let mut cursor = stmt.query([]).unwrap();
        while let Some(row) = cursor.next().unwrap() {
            rows.insert(
                row.get(0).unwrap(),
                (row.get(1).unwrap(), row.get(2).unwrap(), row.get::<_, i64>(3).unwrap() as u64),
            );
        }
    }
    let referenced: BTreeSet<String> = rows.values().map(|(_, sha, _)| sha.clone()).collect();
    let mut newly_hashed = 0;
    for (id, (_, sha, size)) in &rows {
        let path = blob_path(data_dir, sha);
        let metadata = std::fs::metadata(&path).unwrap_or_else(|_| panic!("the blob of evidence {id} exists"));
        assert_eq!(metadata.len(), *size, "size of the blob of evidence {id}");
        let stamp = (metadata.len(), metadata.modified().unwrap());
        if hashed.get(sha) != Some(&stamp) {
            assert_eq!(&sha256_hex(&std::fs::read(&path).unwrap()), sha, "content of the blob of evidence {id}");
            hashed.insert(sha.clone(), stamp);
            newly_hashed += 1;
        }
    }
    let stored = stored_blobs(data_dir);
    let orphans: BTreeSet<String> = stored.difference(&referenced).cloned().collect();
    for orphan in &orphans {
        assert!(ledger.sent_shas.contains(orphan), "an orphan blob is content a client sent: {orphan}");
    }

    // The audit log records exactly what committed.
    let tests: BTreeSet<String> = strings(&conn, "SELECT id FROM tests").into_iter().collect();
    let unaudited = |sql: &str| strings(&conn, sql);
    assert_eq!(
        unaudited(
            "SELECT id FROM evidence e WHERE (SELECT COUNT(*) FROM audit_logs a
                 WHERE a.action = 'upload_evidence' AND a.entity_id = e.id) != 1"
        ),
        Vec::<String>::new(),
        "every evidence row has exactly one upload_evidence audit row"
    );
    assert_eq!(
        unaudited(
            "SELECT id FROM tests t WHERE (SELECT COUNT(*) FROM audit_logs a
                 WHERE a.action = 'create_test' AND a.entity_id = t.id) != 1"
        ),
        Vec::<String>::new(),
        "every test has exactly one create_test audit row"
    );
    for action in ["create_test", "upload_evidence", "delete_test", "delete_evidence", "validate_test"] {
        let sql = format!(
            "SELECT entity_id FROM audit_logs WHERE action = '{action}' GROUP BY entity_id HAVING COUNT(*) > 1"
        );
        assert_eq!(strings(&conn, &sql), Vec::<String>::new(), "one {action} per entity");
    }
    let count = |action: &str| number(&conn, &format!("SELECT COUNT(*) FROM audit_logs WHERE action = '{action}'"));
    assert_eq!(count("create_test"), tests.len() as i64 + count("delete_test"), "created = present + deleted");
    let removed_with_tests = number(
        &conn,
        "SELECT COALESCE(SUM(json_extract(details, '$.evidence_removed')), 0) FROM audit_logs
         WHERE action = 'delete_test'",
    );
    assert_eq!(
        count("upload_evidence"),
        rows.len() as i64 + count("delete_evidence") + removed_with_tests,
        "uploaded = present + deleted one by one + deleted with their test"
    );
    assert_eq!(
        count("validate_test"),
        number(&conn, "SELECT COUNT(*) FROM tests WHERE state = 'validated'"),
        "validated tests = validate_test audit rows"
    );
    assert_eq!(
        number(
            &conn,
            "SELECT COUNT(*) FROM audit_logs a WHERE a.action = 'delete_test'
             AND EXISTS (SELECT 1 FROM tests t WHERE t.id = a.entity_id)"
        ),
        0,
        "an audited test deletion committed"
    );
    assert_eq!(
        number(
            &conn,
            "SELECT COUNT(*) FROM audit_logs a WHERE a.action = 'delete_evidence'
             AND EXISTS (SELECT 1 FROM evidence e WHERE e.id = a.entity_id)"
        ),
        0,
        "an audited evidence deletion committed"
    );
    assert_eq!(
        number(
            &conn,
            "SELECT COUNT(*) FROM techniques t
             WHERE t.test_count != (SELECT COUNT(*) FROM tests WHERE technique_id = t.id)"
        ),
        0,
        "each technique's test_count matches its tests"
    );

    // Deletions without an answer: the database now says whether they committed, for good.
    for test in std::mem::take(&mut ledger.pending_test_deletes) {
        if !tests.contains(&test) {
            ledger.gone_tests.insert(test);
        }
    }
    for id in std::mem::take(&mut ledger.pending_evidence_deletes) {
        if !rows.contains_key(&id) {
            ledger.gone_evidence.insert(id);
        }
    }
    let acked_test_deletes = ledger.acked_test_deletes.clone();
    let acked_evidence_deletes = ledger.acked_evidence_deletes.clone();
    ledger.gone_tests.extend(acked_test_deletes);
    ledger.gone_evidence.extend(acked_evidence_deletes);

    // Durability: what the client saw acknowledged is there (unless since deleted).
    for (id, (test, sha)) in &ledger.acked_uploads {
        if ledger.gone_tests.contains(test) || ledger.gone_evidence.contains(id) {
            assert!(!rows.contains_key(id), "deleted evidence {id} stays deleted");
            continue;
        }
        let row = rows.get(id).unwrap_or_else(|| panic!("acknowledged upload {id} survives the kill"));
        assert_eq!((&row.0, &row.1), (test, sha), "evidence {id}");
    }
    for test in &ledger.acked_tests {
        assert_eq!(tests.contains(test), !ledger.gone_tests.contains(test), "acknowledged test {test}");
    }
    for test in &ledger.acked_test_deletes {
        assert!(!tests.contains(test), "acknowledged deletion of test {test}");
    }
    for id in &ledger.acked_evidence_deletes {
        assert!(!rows.contains_key(id), "acknowledged deletion of evidence {id}");
    }
    for test in &ledger.acked_validated {
        let state: String = conn.query_row("SELECT state FROM tests WHERE id = ?1", [test], |row| row.get(0)).unwrap();
        assert_eq!(state, "validated", "acknowledged validation of {test}");
    }
    for (test, (name, acked)) in &ledger.last_patch {
        if *acked && !ledger.gone_tests.contains(test) {
            let stored: String =
                conn.query_row("SELECT name FROM tests WHERE id = ?1", [test], |row| row.get(0)).unwrap();
            assert_eq!(&stored, name, "acknowledged patch of {test}");
        }
    }

    Figures { tests: tests.len(), evidence_rows: rows.len(), blobs: stored.len(), hashed: newly_hashed, orphans }
}

/// `aegis verify` on a data dir: (success, stdout + stderr).
fn run_verify(data_dir: &Path) -> (bool, String) {
    let mut verify = aegis(data_dir);
    verify.arg("verify");
    let output = verify.output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (output.status.success(), text)
}

async fn login(client: &reqwest::Client, base: &str) -> String {
    let response = client
        .post(format!("{base}/api/v1/auth/login"))
        .form(&[("username", "admin"), ("password", ADMIN_PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "login");
    response.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned()
}

async fn technique_id(client: &reqwest::Client, base: &str, token: &str, mitre_id: &str) -> String {
    let response = client.get(format!("{base}/api/v1/techniques/{mitre_id}")).bearer_auth(token).send().await;
    let technique: Value = response.unwrap().json().await.unwrap();
    technique["id"].as_str().unwrap_or_else(|| panic!("{technique}")).to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_at_random_moments_the_data_dir_stays_whole() {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("mini-attack.json");
    std::fs::write(&bundle, common::bundle::mini().to_string()).unwrap();
    let data = dir.path().join("data");
    let client = reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(30)).build().unwrap();
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let mut hashed = BTreeMap::new();
    let mut techniques = Vec::new();
    let mut total = Counts::default();
    let mut orphans_seen: BTreeSet<String> = BTreeSet::new();
    let mut last = None;
    let mut temp_left_by_kills = 0;

    for round in 0..=ROUNDS {
        let server = start_server(&data, &bundle);
        let figures = check_after_restart(&data, &mut ledger.lock().unwrap(), &mut hashed);
        let new_orphans = figures.orphans.difference(&orphans_seen).count();
        orphans_seen.extend(figures.orphans.iter().cloned());
        if round > 0 {
            eprintln!(
                "  after restart: {} tests, {} evidence rows, {} blobs ({} newly hashed), {} orphan blob(s) ({} new)",
                figures.tests,
                figures.evidence_rows,
                figures.blobs,
                figures.hashed,
                figures.orphans.len(),
                new_orphans
            );
        }
        if round == ROUNDS {
            last = Some((server, figures));
            break;
        }

        let token = login(&client, &server.base).await;
        if techniques.is_empty() {
            for mitre_id in ["T1059.001", "T1566", "T1055"] {
                techniques.push(technique_id(&client, &server.base, &token, mitre_id).await);
            }
        }
        // The drafts, as the database has them, shared out between the two changers.
        let drafts = strings(&read_only(&data), "SELECT id FROM tests WHERE state = 'draft' ORDER BY id");
        ledger.lock().unwrap().drafts = drafts.clone();
        let ctx = Arc::new(Ctx {
            client: client.clone(),
            base: server.base.clone(),
            token,
            techniques: techniques.clone(),
            round,
            ledger: ledger.clone(),
            killed: AtomicBool::new(false),
        });
        let mut tasks = vec![
            tokio::spawn(uploader(ctx.clone(), 0, false)),
            tokio::spawn(uploader(ctx.clone(), 1, false)),
            tokio::spawn(uploader(ctx.clone(), 2, true)),
        ];
        for worker in 0..2 {
            let own = drafts.iter().skip(worker).step_by(2).cloned().collect();
            tasks.push(tokio::spawn(changer(ctx.clone(), worker as u64, own)));
        }
        let delay = Duration::from_millis(50 + XorShift::new(round).below(751));
        tokio::time::sleep(delay).await;
        server.kill();
        ctx.killed.store(true, Ordering::Relaxed);
        let mut counts = Counts::default();
        for task in tasks {
            counts += tokio::time::timeout(Duration::from_secs(30), task).await.expect("tasks end").unwrap();
        }
        total += counts;
        eprintln!(
            "round {round:>2}: killed after {:>3} ms; uploads {} sent, {} acknowledged, {} refused; {} tests created, \
             {} patches, {} validations, {} test and {} evidence deletions; {} requests unanswered",
            delay.as_millis(),
            counts.uploads_sent,
            counts.uploads_acked,
            counts.uploads_refused,
            counts.tests_created,
            counts.patches,
            counts.validations,
            counts.test_deletes,
            counts.evidence_deletes,
            counts.cut
        );

        // Every few rounds, `aegis verify` on the data dir as the kill left it: the database and
        // every row's blob are fine; only orphan blobs and interrupted uploads may be reported.
        if round % 4 == 3 {
            let (ok, text) = run_verify(&data);
            let problems: Vec<&str> = text.lines().filter(|line| line.starts_with("problem: ")).collect();
            for problem in &problems {
                assert!(
                    problem.starts_with("problem: orphan blob") || problem.starts_with("problem: leftover temp file"),
                    "only orphans and interrupted uploads after a kill: {text}"
                );
            }
            assert_eq!(ok, problems.is_empty(), "{text}");
            let temp = problems.iter().filter(|problem| problem.starts_with("problem: leftover temp file")).count();
            temp_left_by_kills += temp;
            eprintln!("  aegis verify before the restart: {} problem(s), {temp} interrupted upload(s)", problems.len());
        }
    }

    // A clean stop, then `aegis verify` agrees: only the orphan blobs the kills left, if any.
    let (server, figures) = last.unwrap();
    server.stop();
    let (ok, text) = run_verify(&data);
    let orphans_now = figures.orphans.len();
    assert_eq!(text.matches("problem: orphan blob").count(), orphans_now, "{text}");
    assert_eq!(text.matches("problem: ").count(), orphans_now, "nothing but orphans: {text}");
    assert_eq!(ok, orphans_now == 0, "{text}");
    eprintln!("aegis verify after a clean stop:\n{text}");
    assert!(total.uploads_acked > 0 && total.tests_created > 0, "the workload ran: {total:?}");

    eprintln!(
        "crash safety: {ROUNDS} rounds, {} uploads acknowledged, {} rows, {} orphan blobs tolerated",
        total.uploads_acked,
        figures.evidence_rows + figures.tests,
        orphans_seen.len()
    );
    eprintln!(
        "  ({} uploads sent, {} refused as their test changed; {} tests created, {} patches, {} validations, \
         {} test and {} evidence deletions; {} requests unanswered; {} interrupted uploads seen in tmp/ before \
         a restart; at the end {} evidence rows, {} tests, {} blobs, {} orphan blobs; {:?})",
        total.uploads_sent,
        total.uploads_refused,
        total.tests_created,
        total.patches,
        total.validations,
        total.test_deletes,
        total.evidence_deletes,
        total.cut,
        temp_left_by_kills,
        figures.evidence_rows,
        figures.tests,
        figures.blobs,
        orphans_now,
        started.elapsed()
    );
}
