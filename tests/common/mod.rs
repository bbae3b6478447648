//! The test app: a real Aegis server on a loopback port over a fresh temp data dir, a real HTTP
//! client, and helpers that mint users and tokens (never pasted).

#![allow(dead_code)]

pub mod binary;
pub mod bundle;

use std::path::PathBuf;

use aegis::app::{self, AppState};
use aegis::auth::Role;
use aegis::cli::Settings;
use aegis::config::Config;
use aegis::service::audit::Actor;
use aegis::service::users::{self, NewUser};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::Value;
use tokio::sync::oneshot;

/// The JWT secret every test app uses, so token-attack tests can sign with the right key.
pub const TEST_SECRET: &str = "test-secret-test-secret-test-secret!";
pub const ADMIN_PASSWORD: &str = "admin-password-for-tests";
pub const USER_PASSWORD: &str = "user-password-for-tests";

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub state: AppState,
    pub data_dir: PathBuf,
    pub settings: Settings,
    /// The first admin's password when first start generated one.
    pub generated_admin_password: Option<String>,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    _dir: tempfile::TempDir,
}

/// Settings as the CLI would produce them with no flags and no environment, over `data_dir`.
pub fn default_settings(data_dir: PathBuf) -> Settings {
    Settings {
        bind: "127.0.0.1:0".into(),
        data_dir,
        public_url: None,
        admin_password: Some(ADMIN_PASSWORD.into()),
        jwt_secret: Some(TEST_SECRET.into()),
        token_ttl_minutes: 60,
        download_ttl_seconds: 300,
        max_upload_mb: 100,
        // Tests that want a catalogue point this at a bundle file (TestApp does: the mini bundle).
        mitre_source: String::new(),
        mitre_sync_cron: String::new(),
        intel_feeds: String::new(),
        intel_scan_cron: String::new(),
        snapshot_cron: String::new(),
        intel_timeout_seconds: 30,
        cors_origins: String::new(),
    }
}

impl TestApp {
    pub async fn start() -> TestApp {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(adjust: impl FnOnce(&mut Settings)) -> TestApp {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut settings = default_settings(dir.path().join("data"));
        let mini = dir.path().join("mini-attack.json");
        std::fs::write(&mini, bundle::mini().to_string()).unwrap();
        settings.mitre_source = mini.to_string_lossy().into_owned();
        adjust(&mut settings);
        Self::start_in(dir, settings).await
    }

    /// Stops this server and starts a new one over the same data dir and settings.
    pub async fn restart(mut self) -> TestApp {
        self.stop().await;
        let dir = std::mem::replace(&mut self._dir, tempfile::tempdir().unwrap());
        Self::start_in(dir, self.settings.clone()).await
    }

    async fn start_in(dir: tempfile::TempDir, settings: Settings) -> TestApp {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().unwrap();
        let base = format!("http://{address}");
        let config = Config::from_settings(&settings).expect("valid settings").listening_on(address);
        let prepared = app::prepare(config).await.expect("prepare");
        let (shutdown, signal) = oneshot::channel::<()>();
        let state = prepared.state.clone();
        let server = tokio::spawn(app::serve(prepared.state, listener, async {
            let _ = signal.await;
        }));
        TestApp {
            base,
            client: reqwest::Client::builder().no_proxy().build().unwrap(),
            state,
            data_dir: settings.data_dir.clone(),
            settings,
            generated_admin_password: prepared.generated_admin_password,
            shutdown: Some(shutdown),
            server: Some(server),
            _dir: dir,
        }
    }

    /// Stops the server and waits for it, keeping the data dir.
    pub async fn stop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.expect("server task").expect("server ran");
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn request(&self, method: Method, path: &str, token: Option<&str>) -> RequestBuilder {
        let request = self.client.request(method, self.url(path));
        match token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Response {
        self.request(Method::GET, path, token).send().await.unwrap()
    }

    pub async fn send_json(&self, method: Method, path: &str, token: Option<&str>, body: &Value) -> Response {
        self.request(method, path, token).json(body).send().await.unwrap()
    }

    pub async fn login(&self, username: &str, password: &str) -> Response {
        self.client
            .post(self.url("/api/v1/auth/login"))
            .form(&[("username", username), ("password", password)])
            .send()
            .await
            .unwrap()
    }

    /// Logs in through the API and returns the token.
    pub async fn login_token(&self, username: &str, password: &str) -> String {
        let response = self.login(username, password).await;
        assert_eq!(response.status(), StatusCode::OK, "login of {username}");
        let body: Value = response.json().await.unwrap();
        body["access_token"].as_str().unwrap().to_owned()
    }

    pub async fn admin_token(&self) -> String {
        self.token_of("admin").await
    }

    /// Creates a user with `role` (through the service, as an admin would) and returns it.
    pub async fn create_user(&self, username: &str, role: Role) -> aegis::db::users::UserRow {
        users::create(
            &self.state.db,
            &self.state.passwords,
            Actor::System("test"),
            NewUser { username: username.into(), email: None, password: USER_PASSWORD.into(), role },
        )
        .await
        .expect("create user")
    }

    /// A token for an existing user, minted with the server's keys.
    pub async fn token_of(&self, username: &str) -> String {
        let user = users::find_by_username(&self.state.db, username.into()).await.unwrap().expect("user exists");
        self.state.tokens.issue(&user.id, user.token_version).unwrap().token
    }

    /// A fresh user with `role` and a token for them.
    pub async fn token_for(&self, role: Role) -> String {
        let username = format!("{}-{}", role.as_str().replace('_', "-"), &uuid::Uuid::new_v4().to_string()[..8]);
        self.create_user(&username, role).await;
        self.token_of(&username).await
    }

    /// Audit rows as the API returns them, for the given query string.
    pub async fn audit(&self, query: &str) -> Value {
        let token = self.admin_token().await;
        let response = self.get(&format!("/api/v1/audit-logs?{query}"), Some(&token)).await;
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.unwrap()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

/// Asserts the status and that the body is exactly the error shape; returns the body.
pub async fn expect_error(response: Response, status: StatusCode, code: &str) -> Value {
    assert_eq!(response.status(), status, "status for expected {code}");
    assert_eq!(response.headers().get("x-content-type-options").map(|v| v.to_str().unwrap()), Some("nosniff"));
    let body: Value = response.json().await.expect("error body is JSON");
    assert_eq!(body["code"], code, "{body}");
    assert!(body["detail"].as_str().is_some_and(|detail| !detail.is_empty()), "{body}");
    assert_eq!(body.as_object().unwrap().len(), 2, "only detail and code: {body}");
    body
}

/// Roles other than those listed.
pub fn roles_except(allowed: &[Role]) -> Vec<Role> {
    Role::ALL.into_iter().filter(|role| !allowed.contains(role)).collect()
}
