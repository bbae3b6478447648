//! The server's HMAC secret: from `AEGIS_JWT_SECRET`, or generated once into `secret.key` (0600).

use std::fs;
use std::io::Write;
use std::path::Path;

use anyhow::{Context, bail};

use crate::config::{Config, MIN_SECRET_BYTES};

const GENERATED_BYTES: usize = 32;

/// Returns the configured secret, or reads `secret.key`, generating it on first start.
pub fn load_or_create(config: &Config) -> anyhow::Result<Vec<u8>> {
    if let Some(secret) = &config.jwt_secret {
        return Ok(secret.clone());
    }
    let path = config.secret_key_path();
    match fs::read(&path) {
        Ok(bytes) => {
            let decoded = hex::decode(String::from_utf8_lossy(&bytes).trim())
                .with_context(|| format!("{} is not a hex-encoded key", path.display()))?;
            if decoded.len() < MIN_SECRET_BYTES {
                bail!("{} holds {} bytes; at least {MIN_SECRET_BYTES} are needed", path.display(), decoded.len());
            }
            Ok(decoded)
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => generate(&path),
        Err(err) => Err(err).with_context(|| format!("reading {}", path.display())),
    }
}

fn generate(path: &Path) -> anyhow::Result<Vec<u8>> {
    let secret: [u8; GENERATED_BYTES] = rand::random();
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).with_context(|| format!("creating {}", path.display()))?;
    file.write_all(hex::encode(secret).as_bytes())?;
    file.sync_all()?;
    tracing::info!(path = %path.display(), "generated a new token signing key");
    Ok(secret.to_vec())
}
