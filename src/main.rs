//! `aegis`: parse the command line and dispatch. Everything else lives in the library.

use std::process::ExitCode;

use aegis::cli::{Cli, Command};
use aegis::commands;
use aegis::config::Config;
use clap::Parser;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> ExitCode {
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
