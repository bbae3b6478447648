//! The application: shared state, first-start preparation, the route tree with its middleware,
//! and `serve`, which the binary and the integration tests both call.

use std::future::Future;
use std::sync::{Arc, OnceLock};

use anyhow::Context;
use poem::http::StatusCode;
use poem::listener::TcpAcceptor;
use poem::middleware::{CatchPanic, SetHeader};
use poem::{Endpoint, EndpointExt, IntoEndpoint, IntoResponse, Response, Route, Server};

use crate::api;
use crate::attack::source;
use crate::auth::password::PasswordHasher;
use crate::auth::secret;
use crate::auth::throttle::LoginThrottle;
use crate::auth::tokens::TokenKeys;
use crate::config::Config;
use crate::db::Db;
use crate::error::{ApiError, render_framework_error};
use crate::evidence::store::BlobStore;
use crate::evidence::token::DownloadTokens;
use crate::middleware;
use crate::scheduler::Scheduler;
use crate::service::audit::Actor;
use crate::service::jobs::JobLocks;
use crate::service::sync::{self, BundleOrigin};
use crate::service::{catalogue, intel, users};
use crate::web;

/// Everything a request may need, cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub db: Db,
    pub tokens: Arc<TokenKeys>,
    pub passwords: PasswordHasher,
    pub login_throttle: Arc<LoginThrottle>,
    /// Each job runs one at a time, whoever starts it.
    pub job_locks: JobLocks,
    /// Set once `prepare` has started it; offline commands run without one.
    pub scheduler: Arc<OnceLock<Scheduler>>,
    pub evidence: BlobStore,
    pub downloads: Arc<DownloadTokens>,
    /// The technique list and metrics, rendered once per catalogue version.
    pub views: Arc<api::prepared::CatalogueViews>,
}

/// What first start produced that the operator must see once.
pub struct Prepared {
    pub state: AppState,
    /// The generated password of the first `admin`, when `AEGIS_ADMIN_PASSWORD` was not set.
    pub generated_admin_password: Option<String>,
}

/// Creates the data dir, opens and migrates the database, loads or creates the signing secret,
/// and creates the first admin on an empty database.
pub async fn prepare(config: Config) -> anyhow::Result<Prepared> {
    let state = open_state(config)?;
    let generated_admin_password =
        users::ensure_first_admin(&state.db, &state.passwords, state.config.admin_password.as_deref())
            .await
            .context("creating the first admin")?;
    seed_catalogue_if_empty(&state).await?;
    intel::seed_feeds_once(&state.db, state.config.intel_feeds.clone()).await.context("storing the intel feeds")?;
    let interrupted = state.db.write(|tx| crate::db::jobs::fail_interrupted(tx, &crate::time::now())).await?;
    if interrupted > 0 {
        tracing::warn!(runs = interrupted, "marked job runs interrupted by the last stop as failed");
    }
    let scheduler = Scheduler::start(state.clone()).await?;
    let _ = state.scheduler.set(scheduler);
    Ok(Prepared { state, generated_admin_password })
}

/// On an empty catalogue, loads the bundle embedded in the binary (if the build has one), else the
/// configured source. A failure is logged with what to do, and the server starts anyway.
async fn seed_catalogue_if_empty(state: &AppState) -> anyhow::Result<()> {
    if !catalogue::is_empty(&state.db).await? {
        return Ok(());
    }
    let mut origins = Vec::new();
    if let Some((name, bytes)) = source::embedded() {
        origins.push(BundleOrigin::Embedded { name, bytes });
    }
    if !state.config.mitre_source.is_empty() {
        origins.push(BundleOrigin::Configured(state.config.mitre_source.clone()));
    }
    for origin in origins {
        match sync::sync(&state.db, Actor::System("system"), origin).await {
            Ok(report) => {
                tracing::info!(
                    source = report.source,
                    techniques = report.new,
                    attack_version = report.attack_version.as_deref().unwrap_or("unnamed"),
                    "loaded the ATT&CK catalogue"
                );
                return Ok(());
            }
            Err(err) => tracing::warn!(error = %err, "could not load the ATT&CK catalogue"),
        }
    }
    tracing::warn!(
        "the ATT&CK catalogue is empty: load it with `aegis sync-mitre --file enterprise-attack.json[.gz]`, \
         or as an admin POST the bundle to /api/v1/system/sync-mitre (multipart field `file`), \
         or set AEGIS_MITRE_SOURCE to a reachable URL or file"
    );
    Ok(())
}

/// [`prepare`] without the first admin: what offline commands need.
pub fn open_state(config: Config) -> anyhow::Result<AppState> {
    create_data_dir(&config)?;
    let db = Db::open(&config.database_path())?;
    let secret = secret::load_or_create(&config)?;
    let tokens = TokenKeys::new(&secret, config.token_ttl)?;
    let evidence = BlobStore::open(&config.evidence_dir())
        .with_context(|| format!("opening the evidence store {}", config.evidence_dir().display()))?;
    let downloads = DownloadTokens::new(&secret, config.download_ttl);
    Ok(AppState {
        config: Arc::new(config),
        db,
        tokens: Arc::new(tokens),
        passwords: PasswordHasher::default(),
        login_throttle: Arc::new(LoginThrottle::default()),
        job_locks: JobLocks::default(),
        scheduler: Arc::new(OnceLock::new()),
        evidence,
        downloads: Arc::new(downloads),
        views: Arc::default(),
    })
}

fn create_data_dir(config: &Config) -> anyhow::Result<()> {
    let dir = config.data_dir();
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating data dir {}", dir.display()))?;
    // The data dir holds the signing key and the evidence: keep it to this user.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// The whole HTTP surface: API under `/api/v1`, Swagger UI at `/docs`, ReDoc at `/redoc`,
/// the spec at `/openapi.json`.
pub fn routes(state: AppState) -> impl Endpoint<Output = Response> {
    let api = api::service();
    let spec_json = api.spec();
    let spec = api.spec_endpoint();
    let csp = |html: String| {
        SetHeader::new().overriding(poem::http::header::CONTENT_SECURITY_POLICY, middleware::inline_page_csp(&html))
    };
    let swagger = api.swagger_ui().with(csp(api.swagger_ui_html()));
    let redoc = api.redoc().with(csp(api.redoc_html()));
    // Cross-origin browser access is off unless AEGIS_CORS_ORIGINS names the origins allowed.
    let cors_origins = state.config.cors_origins.clone();
    let cors = poem::middleware::Cors::new()
        .allow_origins(cors_origins.iter().map(String::as_str))
        .allow_methods(["GET", "POST", "PATCH", "DELETE"])
        .allow_headers(["authorization", "content-type"])
        .allow_credentials(false);
    Route::new()
        .at("/openapi.json", spec)
        .nest("/docs", swagger)
        .nest("/redoc", redoc)
        .nest_no_strip("/api/v1", api)
        .at("/*path", web::WebUi)
        .at("/", web::WebUi)
        .around(middleware::limit_body)
        .data(state)
        .with_if(!cors_origins.is_empty(), cors)
        .catch_all_error(render_framework_error)
        .with(middleware::AllowHeader::new(&spec_json))
        .with(CatchPanic::new().with_handler(|_| {
            ApiError::<0>::new(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_ERROR", "internal server error")
                .into_response()
        }))
        .around(middleware::security_headers_and_request_id)
        .map_to_response()
}

/// Serves until `shutdown` resolves, then lets in-flight requests finish.
pub async fn serve(
    state: AppState,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let acceptor = TcpAcceptor::from_tokio(listener)?;
    Server::new_with_acceptor(acceptor)
        .run_with_graceful_shutdown(routes(state).into_endpoint(), shutdown, Some(std::time::Duration::from_secs(10)))
        .await
}
