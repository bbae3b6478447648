//! `aegis`: parse the command line and dispatch. Everything else lives in the library.

use std::process::ExitCode;

use aegis::cli::{Cli, Command};
use aegis::commands;
use aegis::config::Config;
use clap::Parser;
use tracing_subscriber::EnvFilter;

/// glibc raises its mmap threshold after the first large free, after which Argon2's 19 MiB
/// buffers (and parsed bundles) come from arenas that fragment and stay resident: measured, every
/// failed login kept ~19 MiB. A fixed threshold keeps large buffers in mmap, returned on free.
fn keep_large_allocations_returnable() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator tunable; called once before any thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1024 * 1024);
    }
}

fn main() -> ExitCode {
    keep_large_allocations_returnable();
    tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("the tokio runtime starts").block_on(run())
}

async fn run() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .with_writer(std::io::stderr)
        .init();

    let result = async {
        let config = Config::from_settings(&cli.settings)?;
        match cli.command.unwrap_or(Command::Serve) {
            Command::Serve => commands::serve(config).await,
            Command::User(command) => commands::user(config, command).await,
            Command::SyncMitre { file } => commands::sync_mitre(config, file).await,
            Command::Backup { path } => commands::backup(config, path).await,
            Command::Verify => commands::verify(config).await,
        }
    }
    .await;

    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("aegis: {err:#}");
            ExitCode::FAILURE
        }
    }
}
