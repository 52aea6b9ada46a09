//! Throttles on guessing: failed sign-ins, redemptions and signatures. A throttle counts per
//! key (an identity at an address, or an address) and holds its counter in the store, so
//! that every process shares it.
//!
//! An attempt is *reserved* before the check it guards: it counts as a failure at once, and
//! is given back when the check succeeds. So a burst of concurrent guesses, from any number
//! of processes, gets no more evaluations than the budget. When a key's failures reach the
//! budget within the window, the key is blocked for a back-off that doubles with every
//! further exhaustion (a strike), up to a day; a success at that key clears its strikes.

use jiff::{SignedDuration, Timestamp};

use crate::error::{DomainError, Throttled};

/// Longest back-off.
pub const BACKOFF_MAX: SignedDuration = SignedDuration::from_hours(24);

/// A throttle's budget: `limit` failures per `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// What is throttled, as `RateLimit-Policy` names it (`login`, `redeem`, `signature`).
    pub name: &'static str,
    pub limit: u32,
    pub window: SignedDuration,
}

/// A key's counter as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counter {
    /// Failures in the window, attempts in flight included.
    pub failures: u32,
    pub window_start: Timestamp,
    /// Times the budget was exhausted since the last success.
    pub strikes: u32,
    pub blocked_until: Option<Timestamp>,
}

impl Counter {
    pub fn fresh(now: Timestamp) -> Counter {
        Counter { failures: 0, window_start: now, strikes: 0, blocked_until: None }
    }

    fn window_end(&self, policy: &Policy) -> Timestamp {
        self.window_start.checked_add(policy.window).unwrap_or(self.window_start)
    }
}

/// The back-off after the `strikes`-th exhaustion: the window, doubled per strike before it.
pub fn backoff(policy: &Policy, strikes: u32) -> SignedDuration {
    policy.window.checked_mul(1i32 << strikes.min(16)).unwrap_or(BACKOFF_MAX).min(BACKOFF_MAX)
}

fn wait(until: Timestamp, now: Timestamp) -> SignedDuration {
    until.duration_since(now).max(SignedDuration::from_secs(1))
}

/// Reserves one attempt at a key: refused while the key is blocked or its budget is taken
/// (by failures or by attempts still in flight); a window that has passed starts anew.
pub fn reserve(current: Option<Counter>, policy: &Policy, now: Timestamp) -> Result<Counter, DomainError> {
    let mut c = current.unwrap_or_else(|| Counter::fresh(now));
    if let Some(until) = c.blocked_until {
        if until > now {
            return Err(refused(policy, wait(until, now)));
        }
        c.blocked_until = None;
        c.failures = 0;
        c.window_start = now;
    }
    if now >= c.window_end(policy) {
        c.failures = 0;
        c.window_start = now;
    }
    if c.failures >= policy.limit {
        return Err(refused(policy, wait(c.window_end(policy), now)));
    }
    c.failures += 1;
    Ok(c)
}

/// Settles a reserved attempt: a success gives it back and clears the key's strikes; a
/// failure stays counted, and blocks the key when it exhausts the budget.
pub fn settle(mut c: Counter, ok: bool, policy: &Policy, now: Timestamp) -> Counter {
    if ok {
        c.failures = c.failures.saturating_sub(1);
        c.strikes = 0;
    } else if c.failures >= policy.limit {
        c.blocked_until = now.checked_add(backoff(policy, c.strikes)).ok();
        c.strikes = c.strikes.saturating_add(1);
        c.failures = 0;
        c.window_start = now;
    }
    c
}

/// What is left of a key's budget, for the `RateLimit` header.
pub fn remaining(c: &Counter, policy: &Policy, now: Timestamp) -> (u32, SignedDuration) {
    match c.blocked_until {
        Some(until) if until > now => (0, wait(until, now)),
        _ => (policy.limit.saturating_sub(c.failures), wait(c.window_end(policy), now)),
    }
}

fn refused(policy: &Policy, retry_after: SignedDuration) -> DomainError {
    DomainError::Throttled(Throttled {
        policy: policy.name,
        limit: policy.limit,
        window_secs: policy.window.as_secs().max(1) as u64,
        retry_after_secs: retry_after.as_secs().max(1) as u64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Policy {
        Policy { name: "login", limit: 3, window: SignedDuration::from_mins(10) }
    }

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(1_000_000 + secs).unwrap()
    }

    #[test]
    fn reservations_fill_the_budget_before_any_check_ends() {
        let p = policy();
        let mut c = None;
        for _ in 0..3 {
            c = Some(reserve(c, &p, at(0)).unwrap());
        }
        let Err(DomainError::Throttled(t)) = reserve(c, &p, at(1)) else { panic!("a fourth attempt in flight") };
        assert_eq!((t.limit, t.retry_after_secs), (3, 599));
        // One succeeds and gives its reservation back: one more may try.
        let c = settle(c.unwrap(), true, &p, at(2));
        assert!(reserve(Some(c), &p, at(2)).is_ok());
    }

    #[test]
    fn exhaustion_blocks_with_a_growing_backoff_and_success_clears_it() {
        let p = policy();
        let mut c = Counter::fresh(at(0));
        for round in 0..3u32 {
            let start = c.blocked_until.unwrap_or(at(0));
            for i in 0..3 {
                c = reserve(Some(c), &p, start).unwrap();
                c = settle(c, false, &p, start);
                if i < 2 {
                    assert_eq!(c.blocked_until, None);
                }
            }
            let blocked = c.blocked_until.unwrap().duration_since(start);
            assert_eq!(blocked, SignedDuration::from_mins(10 << round), "round {round}");
            assert!(reserve(Some(c), &p, start).is_err(), "blocked");
        }
        let after = c.blocked_until.unwrap();
        c = reserve(Some(c), &p, after).unwrap();
        c = settle(c, true, &p, after);
        assert_eq!((c.strikes, c.failures), (0, 0));
    }

    #[test]
    fn windows_pass_and_backoff_is_capped() {
        let p = policy();
        let c = Counter { failures: 3, window_start: at(0), strikes: 0, blocked_until: None };
        assert!(reserve(Some(c), &p, at(599)).is_err());
        assert_eq!(reserve(Some(c), &p, at(600)).unwrap().failures, 1);
        assert_eq!(backoff(&p, 30), BACKOFF_MAX);
        assert_eq!(remaining(&c, &p, at(100)), (0, SignedDuration::from_secs(500)));
    }
}
