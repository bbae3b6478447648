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

    fn forget(&mut self, key: &str, stamp: Instant) {
        if let Some(failures) = self.failures.get_mut(key)
            && let Some(position) = failures.iter().position(|at| *at == stamp)
        {
            failures.remove(position);
        }
    }
}

impl LoginThrottle {
    /// Counts an attempt against the account and the address before the password is checked, so
    /// a burst of concurrent guesses cannot all slip in while the first ones are being hashed.
    /// `Err(seconds to wait)` when either is locked out.
    pub fn begin(&self, account: &str, address: &str) -> Result<Attempt<'_>, u64> {
        let now = Instant::now();
        let account = account.to_lowercase();
        let mut accounts = lock(&self.accounts);
        let mut addresses = lock(&self.addresses);
        let account_wait = accounts.locked_for(&account, MAX_FAILURES_PER_ACCOUNT, now);
        let address_wait = addresses.locked_for(address, MAX_FAILURES_PER_ADDRESS, now);
        if let Some(wait) = account_wait.max(address_wait) {
            // Round up so a client that waits exactly Retry-After is let through.
            return Err(wait.as_secs() + 1);
        }
        accounts.record(&account, now);
        addresses.record(address, now);
        Ok(Attempt { throttle: self, account, address: address.to_owned(), stamp: now, settled: false })
    }
}

/// A login attempt in flight, counted as a failure of its account and address until it ends.
/// Dropped without an outcome — the client went away mid-check, or an error ended it — it is
/// forgotten: no answer was sent, so nothing was learned from it, and a user whose browser gave
/// up on a slow login must not find the account locked by attempts that never finished.
#[must_use = "an attempt dropped without an outcome is forgotten"]
pub struct Attempt<'a> {
    throttle: &'a LoginThrottle,
    account: String,
    address: String,
    stamp: Instant,
    settled: bool,
}

impl Attempt<'_> {
    /// The password was wrong (or the account unknown or inactive): the attempt stays counted.
    pub fn failed(mut self) {
        self.settled = true;
    }

    /// The account's failures are forgotten, and the address no longer counts this attempt (its
    /// earlier failures stay).
    pub fn succeeded(mut self) {
        self.settled = true;
        lock(&self.throttle.accounts).clear(&self.account);
        lock(&self.throttle.addresses).forget(&self.address, self.stamp);
    }
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        if !self.settled {
            lock(&self.throttle.accounts).forget(&self.account, self.stamp);
            lock(&self.throttle.addresses).forget(&self.address, self.stamp);
        }
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
            throttle.begin("Alice", "10.0.0.1").unwrap().failed();
        }
        let wait = throttle.begin("alice", "10.0.0.2").err().expect("locked out");
        assert!((1..=61).contains(&wait), "{wait}");
        assert!(throttle.begin("bob", "10.0.0.1").is_ok());
    }

    #[test]
    fn attempts_in_flight_count_and_abandoned_ones_are_forgotten() {
        let throttle = LoginThrottle::default();
        let in_flight: Vec<_> =
            (0..MAX_FAILURES_PER_ACCOUNT).map(|_| throttle.begin("dave", "10.0.0.3").unwrap()).collect();
        assert!(throttle.begin("dave", "10.0.0.4").is_err());
        drop(in_flight);
        for _ in 0..MAX_FAILURES_PER_ACCOUNT {
            throttle.begin("dave", "10.0.0.3").unwrap().failed();
        }
        assert!(throttle.begin("dave", "10.0.0.3").is_err());
    }

    #[test]
    fn address_locks_across_accounts() {
        let throttle = LoginThrottle::default();
        for i in 0..MAX_FAILURES_PER_ADDRESS {
            throttle.begin(&format!("user{i}"), "10.0.0.9").unwrap().failed();
        }
        assert!(throttle.begin("someone-new", "10.0.0.9").is_err());
        assert!(throttle.begin("someone-new", "10.0.0.8").is_ok());
    }

    #[test]
    fn success_clears_the_account_and_its_own_attempt() {
        let throttle = LoginThrottle::default();
        for _ in 0..MAX_FAILURES_PER_ACCOUNT - 1 {
            throttle.begin("carol", "a").unwrap().failed();
        }
        throttle.begin("carol", "a").unwrap().succeeded();
        for _ in 0..MAX_FAILURES_PER_ACCOUNT {
            throttle.begin("carol", "a").unwrap().failed();
        }
        assert!(throttle.begin("carol", "a").is_err());
        // The address kept its 9 + 10 failures, not the successful attempt.
        assert_eq!(lock(&throttle.addresses).failures["a"].len(), 2 * MAX_FAILURES_PER_ACCOUNT - 1);
    }
}
