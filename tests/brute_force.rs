//! Brute force against the real binary: per-account and per-address throttling with Retry-After,
//! and a concurrent login flood that Argon2's bounded concurrency keeps from exhausting memory.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;

const BINARY: &str = env!("CARGO_BIN_EXE_aegis");

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(data_dir: &std::path::Path) -> (KillOnDrop, String) {
    let mut child = KillOnDrop(
        Command::new(BINARY)
            .env_clear()
            .env("RUST_LOG", "error")
            .env("AEGIS_DATA_DIR", data_dir)
            .env("AEGIS_BIND", "127.0.0.1:0")
            .env("AEGIS_ADMIN_PASSWORD", "the-admin-password")
            .env("AEGIS_MITRE_SOURCE", "")
            .env("AEGIS_INTEL_FEEDS", "")
            .env("AEGIS_MITRE_SYNC_CRON", "")
            .env("AEGIS_INTEL_SCAN_CRON", "")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let stdout = child.0.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let base = loop {
        let line = lines.next().expect("the server prints its address").unwrap();
        if let Some(rest) = line.split("listening on ").nth(1) {
            break rest.split_whitespace().next().unwrap().to_owned();
        }
    };
    (child, base)
}

fn rss_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

async fn login(client: &reqwest::Client, base: &str, username: &str, password: &str) -> reqwest::Response {
    client
        .post(format!("{base}/api/v1/auth/login"))
        .form(&[("username", username), ("password", password)])
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_flood_is_throttled_and_memory_stays_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let (server, base) = start(dir.path());
    let pid = server.0.id();
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let idle = rss_kib(pid, "VmRSS:");

    // 300 concurrent wrong guesses over 300 made-up accounts from one address.
    let started = Instant::now();
    let mut flood = tokio::task::JoinSet::new();
    for i in 0..300 {
        let (client, base) = (client.clone(), base.clone());
        flood.spawn(async move { login(&client, &base, &format!("guess{i}"), "wrong-password").await.status() });
    }
    let (mut unauthorized, mut throttled) = (0, 0);
    while let Some(status) = flood.join_next().await {
        match status.unwrap() {
            StatusCode::UNAUTHORIZED => unauthorized += 1,
            StatusCode::TOO_MANY_REQUESTS => throttled += 1,
            other => panic!("unexpected {other}"),
        }
    }
    let elapsed = started.elapsed();
    let peak = rss_kib(pid, "VmHWM:");
    assert!(unauthorized <= 50 + 4, "at most the per-address budget is checked: {unauthorized}");
    assert_eq!(unauthorized + throttled, 300);
    assert!(peak < 160 * 1024, "peak RSS {peak} KiB");

    // The address is locked now, the right password included, with a Retry-After.
    let locked = login(&client, &base, "admin", "the-admin-password").await;
    assert_eq!(locked.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = locked.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=61).contains(&retry), "{retry}");
    println!(
        "brute force: 300 concurrent guesses in {:.1} s: {unauthorized} checked (401), {throttled} refused (429); \
         RSS idle {} MiB, peak {} MiB",
        elapsed.as_secs_f64(),
        idle / 1024,
        peak / 1024
    );
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_account_is_locked_after_ten_failures() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, base) = start(dir.path());
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    for attempt in 1..=10 {
        assert_eq!(login(&client, &base, "admin", "wrong").await.status(), StatusCode::UNAUTHORIZED, "{attempt}");
    }
    let started = Instant::now();
    let locked = login(&client, &base, "admin", "the-admin-password").await;
    assert_eq!(locked.status(), StatusCode::TOO_MANY_REQUESTS, "the right password is refused during the lockout");
    assert!(started.elapsed() < Duration::from_secs(1), "refused without hashing");
    let body: serde_json::Value = locked.json().await.unwrap();
    assert_eq!(body["code"], "RATE_LIMITED");
}
