//! Argon2id password hashing on a few dedicated threads. Each hash or verify holds ~19 MiB for a
//! moment; running them on a small fixed pool (rather than the blocking pool, whose many threads
//! would each keep a malloc arena of freed Argon2 memory) bounds both the work in flight and the
//! memory a login flood can make the process keep.

use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};

use anyhow::anyhow;
use argon2::{Argon2, PasswordHasher as _, PasswordVerifier as _};
use tokio::sync::oneshot;

use crate::error::AppError;

/// Threads that compute Argon2 hashes: at most this many run at once (≈ 19 MiB each).
pub const MAX_CONCURRENT_HASHES: usize = 2;

type Job = Box<dyn FnOnce() + Send>;

#[derive(Clone)]
pub struct PasswordHasher {
    jobs: mpsc::Sender<Job>,
}

impl Default for PasswordHasher {
    fn default() -> Self {
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for index in 0..MAX_CONCURRENT_HASHES {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("argon2-{index}"))
                .spawn(move || {
                    loop {
                        // The lock is held only to take the next job, not while it runs.
                        let next = queue.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).recv();
                        match next {
                            Ok(job) => job(),
                            Err(_) => break, // every hasher handle is gone
                        }
                    }
                })
                .expect("spawning an Argon2 thread");
        }
        PasswordHasher { jobs }
    }
}

impl PasswordHasher {
    async fn run<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> Result<T, AppError> {
        let (done, result) = oneshot::channel();
        self.jobs
            .send(Box::new(move || {
                // The caller gave up while the job queued (a client that went away): skip the work.
                if !done.is_closed() {
                    let _ = done.send(work());
                }
            }))
            .map_err(|_| AppError::Internal(anyhow!("the Argon2 threads are gone")))?;
        result.await.map_err(|_| AppError::Internal(anyhow!("an Argon2 job was dropped")))
    }

    pub async fn hash(&self, password: String) -> Result<String, AppError> {
        self.run(move || hash_blocking(&password)).await?
    }

    /// Verifies `password` against `stored`, or against a fixed dummy hash when there is no stored
    /// hash (unknown user), so both cases cost the same time.
    pub async fn verify(&self, password: String, stored: Option<String>) -> Result<bool, AppError> {
        self.run(move || {
            let matched = verify_blocking(&password, stored.as_deref().unwrap_or_else(|| dummy_hash()));
            matched && stored.is_some()
        })
        .await
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
