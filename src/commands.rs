//! What each CLI command does, on top of the services.

use std::io::BufRead;

use anyhow::{Context, bail};

use crate::app::{self, AppState};
use crate::auth::Role;
use crate::cli::UserCommand;
use crate::config::Config;
use crate::service::audit::Actor;
use crate::service::sync::{self, BundleOrigin};
use crate::service::users::{self, NewUser, UserChanges};

/// `aegis serve`: prepare the data dir, then serve until SIGINT or SIGTERM.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    // Bound first: a taken port fails fast, and a port 0 is known before links are handed out.
    let listener =
        tokio::net::TcpListener::bind(&config.bind).await.with_context(|| format!("binding {}", config.bind))?;
    let address = listener.local_addr()?;
    let prepared = app::prepare(config.listening_on(address)).await?;
    if let Some(password) = &prepared.generated_admin_password {
        println!(
            "Created the first user '{}' with password: {password}\n\
             (shown only this once; log in and change it, or set AEGIS_ADMIN_PASSWORD before first start)",
            users::FIRST_ADMIN_USERNAME
        );
    }
    println!("Aegis {} listening on http://{address} (API docs at http://{address}/docs)", crate::VERSION);
    tracing::info!(%address, "serving");
    let scheduler = prepared.state.scheduler.clone();
    app::serve(prepared.state, listener, shutdown_signal()).await?;
    if let Some(scheduler) = scheduler.get() {
        scheduler.shutdown().await;
    }
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let interrupt = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %err, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::error!(error = %err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}

/// `aegis sync-mitre [--file PATH]`: one catalogue sync, then exit.
pub async fn sync_mitre(config: Config, file: Option<std::path::PathBuf>) -> anyhow::Result<()> {
    let state = app::open_state(config)?;
    let origin = match file {
        Some(path) => BundleOrigin::File(path.to_string_lossy().into_owned()),
        None => BundleOrigin::Configured(state.config.mitre_source.clone()),
    };
    let report = sync::sync(&state.db, Actor::System("cli"), origin).await?;
    let version = report.attack_version.as_deref().map_or_else(|| "version not named".to_owned(), |v| format!("v{v}"));
    println!("ATT&CK sync from {} ({version}): {}", report.source, report.summary());
    Ok(())
}

/// `aegis user …`: manage accounts without the server.
pub async fn user(config: Config, command: UserCommand) -> anyhow::Result<()> {
    let state = app::open_state(config)?;
    match command {
        UserCommand::Create { username, role, email, password_stdin } => {
            let password = read_password(password_stdin)?;
            create_user(&state, username, role, email, password).await
        }
        UserCommand::ResetPassword { username, password_stdin } => {
            let password = read_password(password_stdin)?;
            let Some(user) = users::find_by_username(&state.db, username.clone()).await? else {
                bail!("no user named '{username}'");
            };
            let changes = UserChanges { password: Some(password), ..UserChanges::default() };
            users::update(&state.db, &state.passwords, Actor::System("cli"), user.id, changes).await?;
            println!("Password of '{}' changed; their existing sessions have ended.", user.username);
            Ok(())
        }
    }
}

async fn create_user(
    state: &AppState,
    username: String,
    role: Role,
    email: Option<String>,
    password: String,
) -> anyhow::Result<()> {
    let new = NewUser { username, email, password, role };
    let user = users::create(&state.db, &state.passwords, Actor::System("cli"), new).await?;
    println!("Created user '{}' ({}) with role {}.", user.username, user.id, user.role);
    Ok(())
}

fn read_password(from_stdin: bool) -> anyhow::Result<String> {
    let password = if from_stdin {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).context("reading the password from standard input")?;
        line.trim_end_matches(['\r', '\n']).to_owned()
    } else {
        let first = rpassword::prompt_password("Password: ").context("reading the password")?;
        let again = rpassword::prompt_password("Password again: ").context("reading the password")?;
        if first != again {
            bail!("the passwords do not match");
        }
        first
    };
    users::check_password(&password)?;
    Ok(password)
}

/// `aegis backup PATH`: a consistent copy of the database, the evidence it references and
/// `secret.key`, verified; the server may be running.
pub async fn backup(config: Config, path: std::path::PathBuf) -> anyhow::Result<()> {
    let source = crate::service::maintenance::DataPaths::from_config(&config);
    let destination = path.clone();
    let report =
        tokio::task::spawn_blocking(move || crate::service::maintenance::backup(&source, &destination)).await??;
    println!("Backed up {} to {}", config.data_dir().display(), path.display());
    println!("{report}");
    Ok(())
}

/// `aegis verify`: check the database and the evidence store; fails when anything is wrong.
pub async fn verify(config: Config) -> anyhow::Result<()> {
    let paths = crate::service::maintenance::DataPaths::from_config(&config);
    println!("Verifying {}", config.data_dir().display());
    let report = tokio::task::spawn_blocking(move || crate::service::maintenance::verify(&paths)).await??;
    println!("{report}");
    if !report.is_clean() {
        bail!(
            "verify found {} problem(s) in {}{}",
            report.problems.len(),
            config.data_dir().display(),
            if report.problems.iter().all(|p| matches!(p, crate::service::maintenance::Problem::Orphan { .. })) {
                " (only orphan blobs: harmless, but reported)"
            } else {
                ""
            }
        );
    }
    Ok(())
}
