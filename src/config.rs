//! Config: the command-line/environment settings turned into one checked struct.
//! Every path is derived from the data dir, so moving the data dir moves everything.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};

use crate::cli::Settings;

pub const DEFAULT_MITRE_SOURCE: &str =
    "https://raw.githubusercontent.com/mitre-attack/attack-stix-data/master/enterprise-attack/enterprise-attack.json";

pub const DEFAULT_INTEL_FEEDS: &str = "https://www.cisa.gov/cybersecurity-advisories/all.xml,\
https://thedfirreport.com/feed/,\
https://unit42.paloaltonetworks.com/feed/,\
https://www.microsoft.com/en-us/security/blog/feed/";

/// The shortest HMAC key accepted from `AEGIS_JWT_SECRET` (RFC 7518 §3.2: at least the hash size).
pub const MIN_SECRET_BYTES: usize = 32;

#[derive(Debug, Clone)]
pub struct Config {
    pub bind: String,
    pub data_dir: PathBuf,
    /// Without a trailing slash.
    pub public_url: String,
    /// Whether `public_url` came from `AEGIS_PUBLIC_URL` (else it follows the listening address).
    pub public_url_configured: bool,
    pub admin_password: Option<String>,
    pub jwt_secret: Option<Vec<u8>>,
    pub token_ttl: Duration,
    pub download_ttl: Duration,
    pub max_upload_bytes: u64,
    pub mitre_source: String,
    /// `None` when the job is disabled.
    pub mitre_sync_cron: Option<String>,
    pub intel_feeds: Vec<String>,
    /// `None` when the job is disabled.
    pub intel_scan_cron: Option<String>,
    /// `None` when the job is disabled.
    pub snapshot_cron: Option<String>,
    pub intel_timeout: Duration,
    /// Origins allowed cross-origin access; empty: CORS off.
    pub cors_origins: Vec<String>,
}

impl Config {
    pub fn from_settings(settings: &Settings) -> anyhow::Result<Config> {
        let jwt_secret = match &settings.jwt_secret {
            Some(secret) if secret.len() < MIN_SECRET_BYTES => bail!(
                "AEGIS_JWT_SECRET is {} bytes; it must be at least {MIN_SECRET_BYTES} bytes \
                 (or leave it unset and Aegis generates {}/secret.key)",
                secret.len(),
                settings.data_dir.display()
            ),
            Some(secret) => Some(secret.as_bytes().to_vec()),
            None => None,
        };
        let public_url = settings.public_url.clone().unwrap_or_else(|| format!("http://{}", settings.bind));
        if !(public_url.starts_with("http://") || public_url.starts_with("https://")) {
            bail!("AEGIS_PUBLIC_URL must start with http:// or https:// (got {public_url:?})");
        }
        if let Some(password) = &settings.admin_password {
            crate::service::users::check_password(password).context("AEGIS_ADMIN_PASSWORD is not acceptable")?;
        }
        for (setting, cron) in [
            ("AEGIS_MITRE_SYNC_CRON", &settings.mitre_sync_cron),
            ("AEGIS_INTEL_SCAN_CRON", &settings.intel_scan_cron),
            ("AEGIS_SNAPSHOT_CRON", &settings.snapshot_cron),
        ] {
            if let Some(cron) = non_empty(cron) {
                crate::scheduler::check_cron(setting, &cron)?;
            }
        }
        Ok(Config {
            bind: settings.bind.clone(),
            data_dir: settings.data_dir.clone(),
            public_url: public_url.trim_end_matches('/').to_owned(),
            public_url_configured: settings.public_url.is_some(),
            admin_password: settings.admin_password.clone(),
            jwt_secret,
            token_ttl: Duration::from_secs(u64::from(settings.token_ttl_minutes) * 60),
            download_ttl: Duration::from_secs(u64::from(settings.download_ttl_seconds)),
            max_upload_bytes: u64::from(settings.max_upload_mb) * 1024 * 1024,
            mitre_source: settings.mitre_source.trim().to_owned(),
            mitre_sync_cron: non_empty(&settings.mitre_sync_cron),
            intel_feeds: settings
                .intel_feeds
                .split(',')
                .map(str::trim)
                .filter(|feed| !feed.is_empty())
                .map(str::to_owned)
                .collect(),
            intel_scan_cron: non_empty(&settings.intel_scan_cron),
            snapshot_cron: non_empty(&settings.snapshot_cron),
            intel_timeout: Duration::from_secs(u64::from(settings.intel_timeout_seconds)),
            cors_origins: settings
                .cors_origins
                .split(',')
                .map(|origin| origin.trim().trim_end_matches('/'))
                .filter(|origin| !origin.is_empty())
                .map(str::to_owned)
                .collect(),
        })
    }

    /// Points links at the address actually listened on (port 0 picks one) unless
    /// `AEGIS_PUBLIC_URL` names the public address.
    pub fn listening_on(mut self, address: std::net::SocketAddr) -> Config {
        if !self.public_url_configured {
            let mut address = address;
            if address.ip().is_unspecified() {
                tracing::warn!(
                    %address,
                    "listening on all interfaces: download links point at localhost; set AEGIS_PUBLIC_URL for other machines"
                );
                address.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
            }
            self.public_url = format!("http://{address}");
        }
        self
    }

    pub fn database_path(&self) -> PathBuf {
        self.data_dir.join("aegis.db")
    }

    pub fn secret_key_path(&self) -> PathBuf {
        self.data_dir.join("secret.key")
    }

    pub fn evidence_dir(&self) -> PathBuf {
        self.data_dir.join("evidence")
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }
}

fn non_empty(value: &str) -> Option<String> {
    let value = value.trim();
    (!value.is_empty()).then(|| value.to_owned())
}
