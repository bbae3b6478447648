//! `aegis verify` and `aegis backup` through the real binary: verify passes on a clean data dir and
//! names each kind of damage; a backup copies the database, the evidence it references and
//! `secret.key`; backups taken while uploads, deletions and test changes run all verify clean, and
//! a server started on a restored backup serves its tests and evidence.

mod common;

use common::binary::{Server, aegis};

use std::collections::BTreeMap;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::TestApp;
use reqwest::multipart::{Form, Part};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const ADMIN_PASSWORD: &str = "admin-password-for-backups";
const JWT_SECRET: &str = "a-jwt-secret-for-the-backup-and-verify-tests";

// ----- content ----------------------------------------------------------------------------------

/// Deterministic bytes that do not compress (xorshift64*).
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut bytes = Vec::with_capacity(len + 8);
    while bytes.len() < len {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        bytes.extend_from_slice(&state.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    bytes.truncate(len);
    bytes
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A small deterministic PRNG for the workload's choices.
struct XorShift(u64);

impl XorShift {
    fn new(seed: u64) -> XorShift {
        XorShift(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

// ----- the binary -------------------------------------------------------------------------------

/// Runs a command to its end: (success, stdout + stderr).
fn run(mut command: Command) -> (bool, String) {
    let output = command.stdin(Stdio::null()).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (output.status.success(), text)
}

fn verify(data_dir: &Path) -> (bool, String) {
    let mut command = aegis(data_dir);
    command.arg("verify");
    run(command)
}

fn backup(data_dir: &Path, destination: &Path) -> (bool, String) {
    let mut command = aegis(data_dir);
    command.arg("backup").arg(destination);
    run(command)
}

/// Kills the server however the test ends.
/// The server with this test's credentials.
fn start_server(data_dir: &Path, bundle: &Path) -> Server {
    Server::start(data_dir, ADMIN_PASSWORD, JWT_SECRET, bundle)
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(60)).build().unwrap()
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
    let technique: Value = client
        .get(format!("{base}/api/v1/techniques/{mitre_id}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    technique["id"].as_str().unwrap_or_else(|| panic!("{technique}")).to_owned()
}

// ----- the data dir -----------------------------------------------------------------------------

fn blob_path(data_dir: &Path, sha256: &str) -> PathBuf {
    data_dir.join("evidence").join(&sha256[..2]).join(sha256)
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Expects `aegis verify` to fail on `data_dir` and name `what` (and each of `also`).
fn expect_problem(data_dir: &Path, what: &str, also: &[&str]) {
    let (ok, output) = verify(data_dir);
    assert!(!ok, "verify should fail with {what}:\n{output}");
    for needle in std::iter::once(&what).chain(also) {
        assert!(output.contains(needle), "verify names {needle:?}:\n{output}");
    }
    eprintln!("--- verify with {what} ---\n{output}");
}

fn expect_clean(data_dir: &Path) -> String {
    let (ok, output) = verify(data_dir);
    assert!(ok, "verify should pass:\n{output}");
    assert!(output.contains("verify: ok, no problems"), "{output}");
    output
}

// ----- 1. verify names each problem; an offline backup ----------------------------------------------

#[tokio::test]
async fn verify_passes_on_a_clean_data_dir_and_names_each_problem() {
    // No AEGIS_JWT_SECRET: the server generates secret.key, which a backup must carry.
    let mut app = TestApp::start_with(|settings| settings.jwt_secret = None).await;
    let admin = app.admin_token().await;
    let technique = app.get("/api/v1/techniques/T1059.001", Some(&admin)).await.json::<Value>().await.unwrap();
    let body = json!({"technique_id": technique["id"], "name": "verify me", "platform": "windows"});
    let response = app.send_json(Method::POST, "/api/v1/tests", Some(&admin), &body).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let test_id = response.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    let contents = [noise(1, 3000), noise(2, 70_000), noise(1, 3000)];
    for (i, content) in contents.iter().enumerate() {
        let part = Part::bytes(content.clone()).file_name(format!("file-{i}.bin"));
        let response = app
            .request(Method::POST, &format!("/api/v1/tests/{test_id}/evidence"), Some(&admin))
            .multipart(Form::new().part("file", part))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
    }
    app.stop().await;
    let data = app.data_dir.clone();
    let (first, second) = (sha256_hex(&contents[0]), sha256_hex(&contents[1]));

    let output = expect_clean(&data);
    assert!(output.contains("3 rows, 2 blobs checked"), "each blob hashed once:\n{output}");

    // A blob deleted.
    let aside = data.join("aside");
    std::fs::rename(blob_path(&data, &first), &aside).unwrap();
    expect_problem(&data, "missing blob", &[&first]);
    std::fs::rename(&aside, blob_path(&data, &first)).unwrap();
    expect_clean(&data);

    // A blob's content changed, same size and not.
    let original = std::fs::read(blob_path(&data, &second)).unwrap();
    let mut changed = original.clone();
    changed[1234] ^= 0x01;
    std::fs::write(blob_path(&data, &second), &changed).unwrap();
    expect_problem(&data, "content mismatch", &[&second]);
    std::fs::write(blob_path(&data, &second), &original[..original.len() - 1]).unwrap();
    expect_problem(&data, "size mismatch", &[&second]);
    std::fs::write(blob_path(&data, &second), &original).unwrap();
    expect_clean(&data);

    // An orphan blob.
    let orphan = noise(3, 500);
    let orphan_path = blob_path(&data, &sha256_hex(&orphan));
    std::fs::create_dir_all(orphan_path.parent().unwrap()).unwrap();
    std::fs::write(&orphan_path, &orphan).unwrap();
    expect_problem(&data, "orphan blob", &[&sha256_hex(&orphan), "harmless", "only orphan blobs"]);
    std::fs::remove_file(&orphan_path).unwrap();

    // A leftover temp file.
    let leftover = data.join("evidence/tmp/0d8a1f4e-leftover");
    std::fs::write(&leftover, b"half an upload").unwrap();
    expect_problem(&data, "leftover temp file", &["0d8a1f4e-leftover"]);
    std::fs::remove_file(&leftover).unwrap();

    // Something else in the store.
    std::fs::write(data.join("evidence/notes.txt"), b"x").unwrap();
    expect_problem(&data, "unexpected file", &["notes.txt"]);
    std::fs::remove_file(data.join("evidence/notes.txt")).unwrap();

    // A row whose test is gone (written with foreign keys off, as a broken tool might).
    {
        let conn = rusqlite::Connection::open(data.join("aegis.db")).unwrap();
        conn.execute_batch("PRAGMA foreign_keys = OFF").unwrap();
        conn.execute(
            "INSERT INTO evidence (id, test_id, file_name, sha256, size_bytes, uploaded_by, uploaded_by_name,
                                   uploaded_at)
             VALUES ('dangling', 'no-such-test', 'x', ?1, ?2, 'u', 'u', '2024-01-01T00:00:00Z')",
            rusqlite::params![first, contents[0].len() as i64],
        )
        .unwrap();
    }
    expect_problem(&data, "foreign key violation", &["evidence", "tests"]);
    {
        let conn = rusqlite::Connection::open(data.join("aegis.db")).unwrap();
        conn.execute("DELETE FROM evidence WHERE id = 'dangling'", []).unwrap();
    }
    expect_clean(&data);

    // An offline backup: the database, the blobs, secret.key (0600), no tmp/.
    std::fs::write(data.join("evidence/tmp/in-progress"), b"x").unwrap();
    let out = tempfile::tempdir().unwrap();
    let destination = out.path().join("backup");
    let (ok, output) = backup(&data, &destination);
    assert!(ok, "{output}");
    eprintln!("--- backup ---\n{output}");
    assert!(output.contains("2 blobs") && output.contains("3 evidence rows"), "{output}");
    assert!(output.contains("secret.key: copied") && output.contains("verified"), "{output}");
    std::fs::remove_file(data.join("evidence/tmp/in-progress")).unwrap();
    let key = std::fs::read(data.join("secret.key")).unwrap();
    assert_eq!(std::fs::read(destination.join("secret.key")).unwrap(), key);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(destination.join("secret.key")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "secret.key stays private");
        let mode = std::fs::metadata(destination.join("aegis.db")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the database copy is private");
        let mode = std::fs::metadata(&destination).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700, "the backup dir is private");
    }
    assert!(!destination.join("evidence/tmp").exists(), "tmp/ is not copied");
    assert_eq!(std::fs::read(blob_path(&destination, &second)).unwrap(), original);
    expect_clean(&destination);

    // Only into a new or empty directory.
    let (ok, output) = backup(&data, &destination);
    assert!(!ok && output.contains("not empty"), "{output}");
    let file = out.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let (ok, output) = backup(&data, &file);
    assert!(!ok && output.contains("not a directory"), "{output}");
    let empty = out.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let (ok, output) = backup(&data, &empty);
    assert!(ok, "an empty directory is fine: {output}");
    let (ok, output) = verify(&out.path().join("nothing-here"));
    assert!(!ok && output.contains("no database"), "{output}");
    assert!(!out.path().join("nothing-here").exists(), "verify creates no data dir");

    // A damaged database file (in the backup copy, which has no WAL): the root page of `evidence`
    // gets an invalid page type.
    let database = destination.join("aegis.db");
    let (page_size, root): (i64, i64) = {
        let conn = rusqlite::Connection::open(&database).unwrap();
        let page_size = conn.query_row("PRAGMA page_size", [], |row| row.get(0)).unwrap();
        let root = conn.query_row("SELECT rootpage FROM sqlite_master WHERE name = 'evidence'", [], |row| row.get(0));
        (page_size, root.unwrap())
    };
    let mut bytes = std::fs::read(&database).unwrap();
    let offset = ((root - 1) * page_size) as usize;
    bytes[offset..offset + 8].copy_from_slice(&[0x42; 8]);
    std::fs::write(&database, bytes).unwrap();
    let (ok, output) = verify(&destination);
    assert!(!ok, "{output}");
    assert!(output.contains("problem: database:"), "{output}");
    eprintln!("--- verify of a damaged database ---\n{output}");
}

// ----- 2. backups under write load, and a restore -------------------------------------------------

#[derive(Default)]
struct LoadFigures {
    uploads: AtomicUsize,
    deletions: AtomicUsize,
    test_changes: AtomicUsize,
}

/// One worker: uploads (distinct or shared content), evidence deletions, test creations, patches,
/// validations and deletions, until `stop`.
async fn workload(
    worker: u64,
    client: reqwest::Client,
    base: String,
    token: String,
    techniques: Vec<String>,
    stop: Arc<AtomicBool>,
    figures: Arc<LoadFigures>,
) {
    let mut rng = XorShift::new(worker + 1);
    let mut tests: Vec<String> = Vec::new();
    let mut evidence: Vec<String> = Vec::new();
    let mut counter = 0u64;
    let check = |status: StatusCode, body: &str, what: &str| {
        assert!(!status.is_server_error(), "{what}: {status} {body}");
    };
    while !stop.load(Ordering::Relaxed) {
        counter += 1;
        let choice = rng.below(100);
        if tests.is_empty() || choice < 15 {
            let technique = &techniques[rng.below(techniques.len() as u64) as usize];
            let body = json!({"technique_id": technique, "name": format!("load {worker}-{counter}"),
                              "platform": "windows"});
            let response =
                client.post(format!("{base}/api/v1/tests")).bearer_auth(&token).json(&body).send().await.unwrap();
            assert_eq!(response.status(), StatusCode::CREATED);
            tests.push(response.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned());
            figures.test_changes.fetch_add(1, Ordering::Relaxed);
        } else if choice < 70 {
            let test = &tests[rng.below(tests.len() as u64) as usize];
            // A third of the uploads share one of four contents: stored once, deleted and stored again.
            let content = if rng.below(3) == 0 {
                noise(10_000 + rng.below(4), 20_000)
            } else {
                noise(worker * 1_000_000 + counter, 1024 + rng.below(60 * 1024) as usize)
            };
            let part = Part::bytes(content.clone()).file_name(format!("load-{counter}.bin"));
            let response = client
                .post(format!("{base}/api/v1/tests/{test}/evidence"))
                .bearer_auth(&token)
                .multipart(Form::new().part("file", part))
                .send()
                .await
                .unwrap();
            let status = response.status();
            let body = response.text().await.unwrap();
            check(status, &body, "upload");
            if status == StatusCode::CREATED {
                let row: Value = serde_json::from_str(&body).unwrap();
                assert_eq!(row["sha256_hash"], sha256_hex(&content));
                evidence.push(row["id"].as_str().unwrap().to_owned());
                figures.uploads.fetch_add(1, Ordering::Relaxed);
            }
        } else if choice < 85 && !evidence.is_empty() {
            let id = evidence.swap_remove(rng.below(evidence.len() as u64) as usize);
            let response =
                client.delete(format!("{base}/api/v1/evidence/{id}")).bearer_auth(&token).send().await.unwrap();
            let status = response.status();
            check(status, &response.text().await.unwrap(), "evidence deletion");
            figures.deletions.fetch_add(1, Ordering::Relaxed);
        } else {
            let index = rng.below(tests.len() as u64) as usize;
            let test = tests[index].clone();
            let response = match rng.below(3) {
                0 => {
                    tests.swap_remove(index);
                    client.delete(format!("{base}/api/v1/tests/{test}")).bearer_auth(&token).send().await.unwrap()
                }
                1 => {
                    tests.swap_remove(index);
                    let body = json!({"result": "detected"});
                    let url = format!("{base}/api/v1/tests/{test}/validate");
                    client.post(url).bearer_auth(&token).json(&body).send().await.unwrap()
                }
                _ => {
                    let body = json!({"name": format!("patched {worker}-{counter}")});
                    client
                        .patch(format!("{base}/api/v1/tests/{test}"))
                        .bearer_auth(&token)
                        .json(&body)
                        .send()
                        .await
                        .unwrap()
                }
            };
            let status = response.status();
            check(status, &response.text().await.unwrap(), "test change");
            figures.test_changes.fetch_add(1, Ordering::Relaxed);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backups_taken_under_write_load_verify_and_restore() {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("mini-attack.json");
    std::fs::write(&bundle, common::bundle::mini().to_string()).unwrap();
    let data = dir.path().join("data");
    let server = start_server(&data, &bundle);
    let client = client();
    let token = login(&client, &server.base).await;
    let techniques = vec![
        technique_id(&client, &server.base, &token, "T1059.001").await,
        technique_id(&client, &server.base, &token, "T1566").await,
    ];

    let stop = Arc::new(AtomicBool::new(false));
    let figures = Arc::new(LoadFigures::default());
    let workers: Vec<_> = (0..3)
        .map(|worker| {
            tokio::spawn(workload(
                worker,
                client.clone(),
                server.base.clone(),
                token.clone(),
                techniques.clone(),
                stop.clone(),
                figures.clone(),
            ))
        })
        .collect();
    // Some data before the first backup.
    while figures.uploads.load(Ordering::Relaxed) < 20 {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let mut backups = Vec::new();
    for round in 0..4 {
        let destination = dir.path().join(format!("backup-{round}"));
        let uploads_before = figures.uploads.load(Ordering::Relaxed);
        let (ok, output) = tokio::task::spawn_blocking({
            let (data, destination) = (data.clone(), destination.clone());
            move || backup(&data, &destination)
        })
        .await
        .unwrap();
        assert!(ok, "backup {round} under load:\n{output}");
        assert!(output.contains("verified:"), "{output}");
        let during = figures.uploads.load(Ordering::Relaxed) - uploads_before;
        eprintln!("--- backup {round} ({during} uploads acknowledged while it ran) ---\n{output}");
        let (ok, output) = tokio::task::spawn_blocking({
            let destination = destination.clone();
            move || verify(&destination)
        })
        .await
        .unwrap();
        assert!(ok, "backup {round} verifies clean:\n{output}");
        assert!(!destination.join("evidence/tmp").exists());
        backups.push(destination);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    stop.store(true, Ordering::Relaxed);
    for worker in workers {
        worker.await.unwrap();
    }
    eprintln!(
        "load: {} uploads, {} evidence deletions, {} test changes",
        figures.uploads.load(Ordering::Relaxed),
        figures.deletions.load(Ordering::Relaxed),
        figures.test_changes.load(Ordering::Relaxed)
    );
    // The live data dir, the server still running, verifies clean too.
    let (ok, output) = tokio::task::spawn_blocking({
        let data = data.clone();
        move || verify(&data)
    })
    .await
    .unwrap();
    assert!(ok, "the live data dir verifies clean:\n{output}");
    drop(server);

    // Restore the last backup into a fresh data dir, as the README says, and serve it.
    let backup = backups.last().unwrap();
    let expected: BTreeMap<String, String> = {
        let conn =
            rusqlite::Connection::open_with_flags(backup.join("aegis.db"), rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
                .unwrap();
        let mut stmt = conn.prepare("SELECT id, sha256 FROM evidence").unwrap();
        stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?))).unwrap().map(Result::unwrap).collect()
    };
    let expected_tests: i64 = rusqlite::Connection::open(backup.join("aegis.db"))
        .unwrap()
        .query_row("SELECT COUNT(*) FROM tests", [], |row| row.get(0))
        .unwrap();
    assert!(!expected.is_empty() && expected_tests > 0);
    let restored = dir.path().join("restored");
    std::fs::create_dir_all(&restored).unwrap();
    std::fs::copy(backup.join("aegis.db"), restored.join("aegis.db")).unwrap();
    copy_tree(&backup.join("evidence"), &restored.join("evidence"));
    let server = start_server(&restored, &bundle);
    let token = login(&client, &server.base).await;
    let mut listed = Vec::new();
    loop {
        let url = format!("{}/api/v1/tests?limit=100&offset={}", server.base, listed.len());
        let page: Value = client.get(url).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
        let items = page["items"].as_array().unwrap().clone();
        assert_eq!(page["total"], expected_tests, "{page}");
        if items.is_empty() {
            break;
        }
        listed.extend(items);
    }
    assert_eq!(listed.len() as i64, expected_tests);
    let mut downloaded = 0;
    for test in listed.iter().filter(|test| test["evidence_count"].as_i64().unwrap() > 0) {
        let url = format!("{}/api/v1/tests/{}", server.base, test["id"].as_str().unwrap());
        let detail: Value = client.get(url).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
        for evidence in detail["evidences"].as_array().unwrap() {
            let id = evidence["id"].as_str().unwrap();
            assert_eq!(Some(&evidence["sha256_hash"]), expected.get(id).map(|sha| json!(sha)).as_ref());
            let response = client.get(evidence["download_url"].as_str().unwrap()).send().await.unwrap();
            assert_eq!(response.status(), StatusCode::OK, "download of {id}");
            let bytes = response.bytes().await.unwrap();
            assert_eq!(json!(sha256_hex(&bytes)), evidence["sha256_hash"], "content of {id}");
            downloaded += 1;
        }
    }
    assert_eq!(downloaded, expected.len(), "every evidence row of the backup is served");
    eprintln!(
        "restored {}: {} tests, {downloaded} evidence files downloaded and matching; {:?} in all",
        backup.display(),
        listed.len(),
        started.elapsed()
    );
}
