//! The command line: subcommands and every setting as a flag with its `AEGIS_*` environment twin.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::auth::Role;

#[derive(Debug, Parser)]
#[command(
    name = "aegis",
    version,
    about = "Aegis: prove what your defences detect (MITRE ATT&CK detection coverage)",
    long_about = "Aegis tracks a security team's detection coverage against MITRE ATT&CK: red-team tests, \
                  lead validation, evidence, and coverage metrics by tactic.\n\n\
                  With no subcommand it runs `aegis serve`."
)]
pub struct Cli {
    #[command(flatten)]
    pub settings: Settings,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Migrate the database, seed it on first start and serve HTTP (the default command).
    Serve,
    /// Manage users offline (the server may be running).
    #[command(subcommand)]
    User(UserCommand),
    /// Sync the ATT&CK catalogue once from the configured source or a local bundle, then exit.
    SyncMitre {
        /// A STIX bundle (`.json` or `.json.gz`) to sync from instead of AEGIS_MITRE_SOURCE.
        #[arg(long)]
        file: Option<PathBuf>,
    },
    /// Copy the database and evidence store to PATH, consistently, while the server may run.
    Backup {
        /// A new or empty directory to write the backup to (outside the data dir).
        path: PathBuf,
    },
    /// Check the database's integrity and that every evidence file exists and matches its sha256;
    /// exit non-zero on a problem.
    Verify,
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user. The password is read from a prompt, or from standard input with --password-stdin.
    Create {
        #[arg(long)]
        username: String,
        /// admin, red_lead, red_tech, blue_lead, blue_tech or viewer.
        #[arg(long, value_parser = parse_role)]
        role: Role,
        #[arg(long)]
        email: Option<String>,
        /// Read the password from the first line of standard input instead of prompting.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Set a new password for a user; their existing tokens stop working at once.
    ResetPassword {
        username: String,
        /// Read the password from the first line of standard input instead of prompting.
        #[arg(long)]
        password_stdin: bool,
    },
}

fn parse_role(value: &str) -> Result<Role, String> {
    value.parse()
}

/// Every runtime setting. Paths all derive from the data dir.
#[derive(Debug, Clone, Args)]
pub struct Settings {
    /// Listen address (port 0 picks a free port; the chosen address is logged).
    #[arg(long, env = "AEGIS_BIND", default_value = "127.0.0.1:8000", global = true)]
    pub bind: String,

    /// Holds aegis.db, evidence/ and secret.key; created if missing.
    #[arg(long, env = "AEGIS_DATA_DIR", default_value = "./data", global = true)]
    pub data_dir: PathBuf,

    /// Base of the download links handed out [default: http://{bind}].
    #[arg(long, env = "AEGIS_PUBLIC_URL", global = true)]
    pub public_url: Option<String>,

    /// Password of the `admin` user created on first start; if unset a random one is printed once.
    #[arg(long, env = "AEGIS_ADMIN_PASSWORD", hide_env_values = true, global = true)]
    pub admin_password: Option<String>,

    /// Raw HMAC key for tokens (at least 32 bytes); if unset one is generated into secret.key.
    #[arg(long, env = "AEGIS_JWT_SECRET", hide_env_values = true, global = true)]
    pub jwt_secret: Option<String>,

    /// Bearer token lifetime in minutes.
    #[arg(long, env = "AEGIS_TOKEN_TTL_MINUTES", default_value_t = 60,
          value_parser = clap::value_parser!(u32).range(1..=43_200), global = true)]
    pub token_ttl_minutes: u32,

    /// Evidence download link lifetime in seconds.
    #[arg(long, env = "AEGIS_DOWNLOAD_TTL_SECONDS", default_value_t = 300,
          value_parser = clap::value_parser!(u32).range(1..=604_800), global = true)]
    pub download_ttl_seconds: u32,

    /// Evidence upload size limit in MiB.
    #[arg(long, env = "AEGIS_MAX_UPLOAD_MB", default_value_t = 100,
          value_parser = clap::value_parser!(u32).range(1..=1_048_576), global = true)]
    pub max_upload_mb: u32,

    /// ATT&CK source: an http(s) URL or a local file path, `.json` or `.json.gz`.
    #[arg(long, env = "AEGIS_MITRE_SOURCE", default_value = crate::config::DEFAULT_MITRE_SOURCE, global = true)]
    pub mitre_source: String,

    /// Cron (6 fields, seconds first) of the ATT&CK sync job; empty disables it.
    #[arg(long, env = "AEGIS_MITRE_SYNC_CRON", default_value = "0 0 3 * * *", global = true)]
    pub mitre_sync_cron: String,

    /// Comma-separated RSS/Atom feed URLs or file paths for the threat-intel scan.
    #[arg(long, env = "AEGIS_INTEL_FEEDS", default_value = crate::config::DEFAULT_INTEL_FEEDS, global = true)]
    pub intel_feeds: String,

    /// Comma-separated origins allowed to call the API from a browser (CORS); empty: none.
    #[arg(long, env = "AEGIS_CORS_ORIGINS", default_value = "", global = true)]
    pub cors_origins: String,

    /// Seconds a threat-intel feed may take to answer and download.
    #[arg(long, env = "AEGIS_INTEL_TIMEOUT_SECONDS", default_value_t = 30,
          value_parser = clap::value_parser!(u32).range(1..=600), global = true)]
    pub intel_timeout_seconds: u32,

    /// Cron (6 fields, seconds first) of the threat-intel scan job; empty disables it.
    #[arg(long, env = "AEGIS_INTEL_SCAN_CRON", default_value = "0 0 */6 * * *", global = true)]
    pub intel_scan_cron: String,

    /// Cron (6 fields, seconds first) of the coverage-history snapshot job; empty disables it.
    #[arg(long, env = "AEGIS_SNAPSHOT_CRON", default_value = "0 30 0 * * *", global = true)]
    pub snapshot_cron: String,
}
