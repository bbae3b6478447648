//! Failed-login throttling, per account and per client address, over a sliding one-minute window.
//! Once a key has used its failures, every attempt is refused until the oldest failure ages out,
//! a correct password included: otherwise the lockout would leak which guess was right.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const WINDOW: Duration = Duration::from_secs(60);
/// Failed logins per account per window.
pub const MAX_FAILURES_PER_ACCOUNT: usize = 10;
/// Failed logins per client address per window (across accounts: password spraying).
pub const MAX_FAILURES_PER_ADDRESS: usize = 50;
/// Keys tracked before stale ones are swept, bounding memory under a flood of made-up names.
const SWEEP_THRESHOLD: usize = 10_000;

#[derive(Default)]
pub struct LoginThrottle {
    accounts: Mutex<FailureLog>,
    addresses: Mutex<FailureLog>,
}

#[derive(Default)]
struct FailureLog {
    failures: HashMap<String, VecDeque<Instant>>,
}

impl FailureLog {
    /// `Some(wait)` when `key` has used its failures within the window.
    fn locked_for(&mut self, key: &str, limit: usize, now: Instant) -> Option<Duration> {
        let failures = self.failures.get_mut(key)?;
        while failures.front().is_some_and(|at| now.duration_since(*at) >= WINDOW) {
            failures.pop_front();
        }
        if failures.len() >= limit {
            failures.front().map(|oldest| WINDOW.saturating_sub(now.duration_since(*oldest)))
        } else {
            None
        }
    }

    fn record(&mut self, key: &str, now: Instant) {
        if self.failures.len() >= SWEEP_THRESHOLD {
            self.failures.retain(|_, failures| failures.back().is_some_and(|at| now.duration_since(*at) < WINDOW));
        }
        self.failures.entry(key.to_owned()).or_default().push_back(now);
    }

    fn clear(&mut self, key: &str) {
        self.failures.remove(key);
    }
}

impl LoginThrottle {
    /// `Err(seconds to wait)` when either the account or the address is locked out.
    pub fn check(&self, account: &str, address: &str) -> Result<(), u64> {
        let now = Instant::now();
        let account_wait = lock(&self.accounts).locked_for(&account.to_lowercase(), MAX_FAILURES_PER_ACCOUNT, now);
        let address_wait = lock(&self.addresses).locked_for(address, MAX_FAILURES_PER_ADDRESS, now);
        match account_wait.max(address_wait) {
            // Round up so a client that waits exactly Retry-After is let through.
            Some(wait) => Err(wait.as_secs() + 1),
            None => Ok(()),
        }
    }

    pub fn record_failure(&self, account: &str, address: &str) {
        let now = Instant::now();
        lock(&self.accounts).record(&account.to_lowercase(), now);
        lock(&self.addresses).record(address, now);
    }

    /// A successful login forgets the account's failures (not the address's).
    pub fn record_success(&self, account: &str) {
        lock(&self.accounts).clear(&account.to_lowercase());
    }
}

fn lock(log: &Mutex<FailureLog>) -> std::sync::MutexGuard<'_, FailureLog> {
    // The log holds no invariant a panic could break halfway; keep serving.
    log.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_locks_after_its_failures() {
        let throttle = LoginThrottle::default();
        for _ in 0..MAX_FAILURES_PER_ACCOUNT {
            assert!(throttle.check("Alice", "10.0.0.1").is_ok());
            throttle.record_failure("Alice", "10.0.0.1");
        }
        let wait = throttle.check("alice", "10.0.0.2").unwrap_err();
        assert!((1..=60).contains(&wait), "{wait}");
        assert!(throttle.check("bob", "10.0.0.1").is_ok());
    }

    #[test]
    fn address_locks_across_accounts() {
        let throttle = LoginThrottle::default();
        for i in 0..MAX_FAILURES_PER_ADDRESS {
            throttle.record_failure(&format!("user{i}"), "10.0.0.9");
        }
        assert!(throttle.check("someone-new", "10.0.0.9").is_err());
        assert!(throttle.check("someone-new", "10.0.0.8").is_ok());
    }

    #[test]
    fn success_clears_the_account() {
        let throttle = LoginThrottle::default();
        for _ in 0..MAX_FAILURES_PER_ACCOUNT - 1 {
            throttle.record_failure("carol", "a");
        }
        throttle.record_success("carol");
        throttle.record_failure("carol", "a");
        assert!(throttle.check("carol", "a").is_ok());
    }
}
