//! Rate limits on failures (guessing invite codes, passwords, signatures). Counters live
//! in this process: with several processes each keeps its own (documented in the README).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Keys tracked before expired ones are swept out.
const SWEEP_AT: usize = 100_000;

/// At most `limit` failures per key within a sliding `window`.
pub struct FailureLimiter {
    limit: usize,
    window: Duration,
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl FailureLimiter {
    pub fn new(limit: u32, window: Duration) -> FailureLimiter {
        FailureLimiter { limit: limit as usize, window, failures: Mutex::new(HashMap::new()) }
    }

    /// `Err(wait)` when `key` has used up its failures: retry after `wait`.
    pub fn check(&self, key: &str) -> Result<(), Duration> {
        let now = Instant::now();
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let Some(times) = map.get_mut(key) else { return Ok(()) };
        while times.front().is_some_and(|t| now.duration_since(*t) >= self.window) {
            times.pop_front();
        }
        match times.front() {
            Some(oldest) if times.len() >= self.limit => Err(self.window - now.duration_since(*oldest)),
            _ => Ok(()),
        }
    }

    /// Records a failure of `key`.
    pub fn failed(&self, key: &str) {
        let now = Instant::now();
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= SWEEP_AT {
            map.retain(|_, times| times.back().is_some_and(|t| now.duration_since(*t) < self.window));
        }
        let times = map.entry(key.to_string()).or_default();
        times.push_back(now);
        while times.len() > self.limit {
            times.pop_front();
        }
    }
}

/// Keys seen within a window (nonces of signed requests). Per process.
pub struct SeenCache {
    window: Duration,
    seen: Mutex<HashMap<String, Instant>>,
}

impl SeenCache {
    pub fn new(window: Duration) -> SeenCache {
        SeenCache { window, seen: Mutex::new(HashMap::new()) }
    }

    pub fn contains(&self, key: &str) -> bool {
        let now = Instant::now();
        let seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        seen.get(key).is_some_and(|at| now.duration_since(*at) < self.window)
    }

    /// Records `key`; entries older than the window are swept out now and then.
    pub fn insert(&self, key: String) {
        let now = Instant::now();
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if seen.len() >= SWEEP_AT {
            seen.retain(|_, at| now.duration_since(*at) < self.window);
        }
        seen.insert(key, now);
    }
}

/// `Retry-After` seconds for a wait: rounded up, at least 1.
pub fn retry_after_secs(wait: Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_failures_per_key() {
        let l = FailureLimiter::new(2, Duration::from_secs(60));
        assert!(l.check("a").is_ok());
        l.failed("a");
        assert!(l.check("a").is_ok());
        l.failed("a");
        let wait = l.check("a").unwrap_err();
        assert!(wait <= Duration::from_secs(60) && wait > Duration::from_secs(58));
        assert!(l.check("b").is_ok());
    }

    #[test]
    fn failures_expire() {
        let l = FailureLimiter::new(1, Duration::from_millis(30));
        l.failed("a");
        assert!(l.check("a").is_err());
        std::thread::sleep(Duration::from_millis(40));
        assert!(l.check("a").is_ok());
    }

    #[test]
    fn seen_keys_expire() {
        let c = SeenCache::new(Duration::from_millis(30));
        assert!(!c.contains("a"));
        c.insert("a".into());
        assert!(c.contains("a") && !c.contains("b"));
        std::thread::sleep(Duration::from_millis(40));
        assert!(!c.contains("a"));
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(retry_after_secs(Duration::from_millis(1500)), 2);
        assert_eq!(retry_after_secs(Duration::from_secs(3)), 3);
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
    }
}
