//! Argon2id password hashing, bounded: each hash or verify holds ~19 MiB for a moment, so only a
//! few run at once and a login flood queues instead of exhausting memory.

use std::sync::{Arc, OnceLock};

use anyhow::anyhow;
use argon2::{Argon2, PasswordHasher as _, PasswordVerifier as _};
use tokio::sync::Semaphore;

use crate::error::AppError;

/// Concurrent Argon2 computations allowed (≈ 19 MiB each with the default parameters).
pub const MAX_CONCURRENT_HASHES: usize = 4;

#[derive(Clone)]
pub struct PasswordHasher {
    permits: Arc<Semaphore>,
}

impl Default for PasswordHasher {
    fn default() -> Self {
        PasswordHasher { permits: Arc::new(Semaphore::new(MAX_CONCURRENT_HASHES)) }
    }
}

impl PasswordHasher {
    pub async fn hash(&self, password: String) -> Result<String, AppError> {
        let _permit = self.permits.acquire().await.map_err(|err| anyhow!(err))?;
        tokio::task::spawn_blocking(move || hash_blocking(&password)).await?
    }

    /// Verifies `password` against `stored`, or against a fixed dummy hash when there is no stored
    /// hash (unknown user), so both cases cost the same time.
    pub async fn verify(&self, password: String, stored: Option<String>) -> Result<bool, AppError> {
        let _permit = self.permits.acquire().await.map_err(|err| anyhow!(err))?;
        tokio::task::spawn_blocking(move || {
            let matched = verify_blocking(&password, stored.as_deref().unwrap_or_else(|| dummy_hash()));
            Ok(matched && stored.is_some())
        })
        .await?
    }
}

pub fn hash_blocking(password: &str) -> Result<String, AppError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|err| AppError::Internal(anyhow!("argon2 hash: {err}")))
}

pub fn verify_blocking(password: &str, stored: &str) -> bool {
    Argon2::default().verify_password(password.as_bytes(), stored).is_ok()
}

fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash_blocking("aegis-dummy-password-for-unknown-users").expect("argon2 works"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_argon2id_and_verifies() {
        let hash = hash_blocking("correct horse").unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(verify_blocking("correct horse", &hash));
        assert!(!verify_blocking("wrong horse", &hash));
        assert!(!verify_blocking("anything", "not a phc string"));
    }

    #[tokio::test]
    async fn unknown_user_never_verifies() {
        let hasher = PasswordHasher::default();
        assert!(!hasher.verify("aegis-dummy-password-for-unknown-users".into(), None).await.unwrap());
    }
}
