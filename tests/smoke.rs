//! Runs the real `aegis` binary: help, first start on an empty data dir, the offline user
//! commands against a running server, and a graceful stop on SIGTERM.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

const BINARY: &str = env!("CARGO_BIN_EXE_aegis");

fn aegis(data_dir: &std::path::Path) -> Command {
    let mut command = Command::new(BINARY);
    command
        .env_clear()
        .env("RUST_LOG", "warn")
        .env("AEGIS_DATA_DIR", data_dir)
        .env("AEGIS_BIND", "127.0.0.1:0")
        // No outside traffic from tests: no default ATT&CK URL, no default feeds.
        .env("AEGIS_MITRE_SOURCE", "")
        .env("AEGIS_INTEL_FEEDS", "")
        .env("AEGIS_MITRE_SYNC_CRON", "")
        .env("AEGIS_INTEL_SCAN_CRON", "");
    command
}

/// Runs an offline command with `input` on standard input; returns (success, stdout + stderr).
fn run_with_input(mut command: Command, input: &str) -> (bool, String) {
    let mut child = command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (output.status.success(), text)
}

/// Kills the server if the test fails before stopping it.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Server {
    child: KillOnDrop,
    base: String,
    admin_password: String,
}

/// Starts `aegis` (no subcommand: serve) and reads the generated password and address from stdout.
fn start(data_dir: &std::path::Path) -> Server {
    let mut child = KillOnDrop(aegis(data_dir).stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn().unwrap());
    let stdout = child.0.stdout.take().unwrap();
    let (lines_tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut admin_password = None;
    loop {
        let line = lines.recv_timeout(Duration::from_secs(60)).expect("the server prints its address");
        if let Some(password) = line.split("with password: ").nth(1) {
            admin_password = Some(password.trim().to_owned());
        }
        if let Some(rest) = line.split("listening on ").nth(1) {
            let base = rest.split_whitespace().next().unwrap().to_owned();
            return Server {
                child,
                base,
                admin_password: admin_password.expect("password printed before the address"),
            };
        }
    }
}

async fn login(client: &reqwest::Client, base: &str, username: &str, password: &str) -> reqwest::Response {
    client
        .post(format!("{base}/api/v1/auth/login"))
        .form(&[("username", username), ("password", password)])
        .send()
        .await
        .unwrap()
}

#[test]
fn help_lists_every_setting() {
    let output = Command::new(BINARY).arg("--help").output().unwrap();
    assert!(output.status.success());
    let help = String::from_utf8(output.stdout).unwrap();
    for variable in [
        "AEGIS_BIND",
        "AEGIS_DATA_DIR",
        "AEGIS_PUBLIC_URL",
        "AEGIS_ADMIN_PASSWORD",
        "AEGIS_JWT_SECRET",
        "AEGIS_TOKEN_TTL_MINUTES",
        "AEGIS_DOWNLOAD_TTL_SECONDS",
        "AEGIS_MAX_UPLOAD_MB",
        "AEGIS_MITRE_SOURCE",
        "AEGIS_MITRE_SYNC_CRON",
        "AEGIS_INTEL_FEEDS",
        "AEGIS_INTEL_SCAN_CRON",
        "AEGIS_SNAPSHOT_CRON",
    ] {
        assert!(help.contains(variable), "--help names {variable}");
    }
    for command in ["serve", "user", "sync-mitre"] {
        assert!(help.contains(command), "--help lists {command}");
    }
}

#[test]
fn a_short_jwt_secret_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let output = aegis(dir.path()).env("AEGIS_JWT_SECRET", "short").output().unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("at least 32 bytes"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_real_binary_serves_and_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let mut server = start(&data_dir);
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let base = server.base.clone();

    for path in ["/api/v1/health", "/docs", "/redoc", "/openapi.json"] {
        let response = client.get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
    }
    let response = login(&client, &base, "admin", &server.admin_password).await;
    assert_eq!(response.status(), StatusCode::OK);
    let token = response.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned();
    let me: Value =
        client.get(format!("{base}/api/v1/auth/me")).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
    assert_eq!(me["role"], "admin");

    // Offline commands work beside the running server.
    let mut create = aegis(&data_dir);
    create.args([
        "user",
        "create",
        "--username",
        "operator",
        "--role",
        "red_tech",
        "--email",
        "op@example.com",
        "--password-stdin",
    ]);
    let (ok, output) = run_with_input(create, "operator-password\n");
    assert!(ok, "{output}");
    let response = login(&client, &base, "operator", "operator-password").await;
    assert_eq!(response.status(), StatusCode::OK);
    let operator_token = response.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned();

    let mut bad_role = aegis(&data_dir);
    bad_role.args(["user", "create", "--username", "x", "--role", "boss", "--password-stdin"]);
    assert!(!run_with_input(bad_role, "password123\n").0);
    let mut duplicate = aegis(&data_dir);
    duplicate.args(["user", "create", "--username", "OPERATOR", "--role", "viewer", "--password-stdin"]);
    let (ok, output) = run_with_input(duplicate, "password123\n");
    assert!(!ok && output.contains("already taken"), "{output}");

    let mut reset = aegis(&data_dir);
    reset.args(["user", "reset-password", "operator", "--password-stdin"]);
    let (ok, output) = run_with_input(reset, "a-new-operator-password\n");
    assert!(ok, "{output}");
    let me = client.get(format!("{base}/api/v1/auth/me")).bearer_auth(&operator_token).send().await.unwrap();
    assert_eq!(me.status(), StatusCode::UNAUTHORIZED, "the reset ended the old session");
    assert_eq!(login(&client, &base, "operator", "a-new-operator-password").await.status(), StatusCode::OK);

    let audit: Value = client
        .get(format!("{base}/api/v1/audit-logs?action=update_user"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(audit["total"], 1, "{audit}");
    assert_eq!(audit["items"][0]["username"], "cli", "the CLI is the actor");
    assert_eq!(audit["items"][0]["details"]["changes"]["password_changed"], true);

    // The catalogue was empty (no source configured); `aegis sync-mitre --file` loads it.
    let techniques = |token: String| {
        let client = client.clone();
        let url = format!("{base}/api/v1/techniques");
        async move { client.get(url).bearer_auth(token).send().await.unwrap().json::<Value>().await.unwrap() }
    };
    assert_eq!(techniques(token.clone()).await, serde_json::json!([]));
    let bundle_path = dir.path().join("mini.json");
    std::fs::write(&bundle_path, common::bundle::mini().to_string()).unwrap();
    let mut sync = aegis(&data_dir);
    sync.args(["sync-mitre", "--file", bundle_path.to_str().unwrap()]);
    let (ok, output) = run_with_input(sync, "");
    assert!(ok, "{output}");
    assert!(output.contains("7 new") && output.contains("v99.1"), "{output}");
    assert_eq!(techniques(token.clone()).await.as_array().unwrap().len(), common::bundle::ACTIVE);
    let mut broken = aegis(&data_dir);
    broken.args(["sync-mitre", "--file", "/nonexistent.json"]);
    let (ok, output) = run_with_input(broken, "");
    assert!(!ok && output.contains("cannot read"), "{output}");

    // SIGTERM: a graceful stop with exit code 0.
    let status = Command::new("kill").args(["-TERM", &server.child.0.id().to_string()]).status().unwrap();
    assert!(status.success());
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let exit = loop {
        if let Some(exit) = server.child.0.try_wait().unwrap() {
            break exit;
        }
        assert!(std::time::Instant::now() < deadline, "the server stops within 20 s of SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "{exit:?}");
}
