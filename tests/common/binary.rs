//! The real `aegis` binary for the tests that need a process of their own: the command with a
//! quiet, offline environment, and a server that is killed however the test ends.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub const BINARY: &str = env!("CARGO_BIN_EXE_aegis");

/// `aegis` over `data_dir`, with no outside traffic and no scheduled jobs.
pub fn aegis(data_dir: &Path) -> Command {
    let mut command = Command::new(BINARY);
    command
        .env_clear()
        .env("RUST_LOG", "warn")
        .env("AEGIS_DATA_DIR", data_dir)
        .env("AEGIS_MITRE_SOURCE", "")
        .env("AEGIS_INTEL_FEEDS", "")
        .env("AEGIS_MITRE_SYNC_CRON", "")
        .env("AEGIS_INTEL_SCAN_CRON", "")
        .env("AEGIS_SNAPSHOT_CRON", "");
    command
}

/// A running `aegis serve`, killed however the test ends.
pub struct Server {
    pub child: Child,
    pub base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Starts `aegis serve` on a free loopback port and reads its address from stdout.
    pub fn start(data_dir: &Path, admin_password: &str, jwt_secret: &str, bundle: &Path) -> Server {
        let mut command = aegis(data_dir);
        command
            .env("AEGIS_BIND", "127.0.0.1:0")
            .env("AEGIS_ADMIN_PASSWORD", admin_password)
            .env("AEGIS_JWT_SECRET", jwt_secret)
            .env("AEGIS_MITRE_SOURCE", bundle);
        let mut child = command.stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (lines_tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if lines_tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut server = Server { child, base: String::new() };
        loop {
            let line = lines.recv_timeout(Duration::from_secs(60)).expect("the server prints its address");
            if let Some(rest) = line.split("listening on ").nth(1) {
                server.base = rest.split_whitespace().next().unwrap().to_owned();
                return server;
            }
        }
    }

    /// SIGKILL: no shutdown code runs.
    pub fn kill(mut self) {
        let status = Command::new("kill").args(["-KILL", &self.child.id().to_string()]).status().unwrap();
        assert!(status.success(), "kill -KILL");
        let exit = self.child.wait().unwrap();
        assert!(!exit.success(), "killed: {exit:?}");
    }

    /// SIGTERM, and wait for a clean exit.
    pub fn stop(mut self) {
        let status = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        assert!(status.success(), "kill -TERM");
        assert!(self.child.wait().unwrap().success(), "a clean stop on SIGTERM");
    }
}
