//! Throttles as the dialects apply them: the keys an attempt counts against, and the
//! headers of an answer about them. The counters themselves are in the store
//! (`classhub_store::ops::security`), shared by every process.
//!
//! An attempt counts against its identity at its address, and against its address with a
//! budget ten times larger: someone failing from one address cannot lock an account out
//! from another, and a school behind one address is not locked out by one pupil.

use std::net::IpAddr;

use classhub_core::error::Throttled;
use classhub_core::throttle::Policy;
use classhub_store::ops::security::ThrottleKey;
use http::header::{HeaderName, HeaderValue, RETRY_AFTER};

/// How much larger an address's budget is than an identity's at that address.
pub const ADDRESS_FACTOR: u32 = 10;

pub const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
pub const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");

/// The policy of an address, for a policy of identities.
pub fn address_policy(p: Policy) -> Policy {
    let name = match p.name {
        "login" => "login-address",
        "redeem" => "redeem-address",
        "signature" => "signature-address",
        "account-login" => "account-login-address",
        "email-code" => "email-code-address",
        _ => "address",
    };
    Policy { name, limit: p.limit.saturating_mul(ADDRESS_FACTOR), ..p }
}

/// The keys of an attempt by `identity` (none when it could not be told) from `peer`.
pub fn keys(policy: Policy, identity: Option<&str>, peer: Option<IpAddr>) -> Vec<ThrottleKey> {
    let address = peer.map_or_else(|| "unknown".to_string(), |a| a.to_string());
    let mut keys = vec![ThrottleKey::new(address_policy(policy), &[&address]).shared()];
    if let Some(id) = identity {
        keys.push(ThrottleKey::new(policy, &[id, &address]));
    }
    keys
}

/// `Retry-After`, `RateLimit-Policy` and `RateLimit` of a refusal (IETF httpapi
/// ratelimit-headers draft: `"login";q=10;w=600` and `"login";r=0;t=540`).
pub fn refusal_headers(t: &Throttled) -> [(HeaderName, HeaderValue); 3] {
    let policy = format!("\"{}\";q={};w={}", t.policy, t.limit, t.window_secs);
    let state = format!("\"{}\";r=0;t={}", t.policy, t.retry_after_secs);
    let value = |s: String| HeaderValue::from_str(&s).unwrap_or(HeaderValue::from_static("\"throttle\""));
    [(RETRY_AFTER, HeaderValue::from(t.retry_after_secs)), (RATELIMIT_POLICY, value(policy)), (RATELIMIT, value(state))]
}

/// `Retry-After` seconds for a wait: rounded up, at least 1.
pub fn retry_after_secs(wait: std::time::Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::SignedDuration;

    #[test]
    fn identities_are_keyed_at_their_address_and_addresses_alone() {
        let p = Policy { name: "login", limit: 10, window: SignedDuration::from_mins(10) };
        let peer: IpAddr = "10.0.0.1".parse().unwrap();
        let other: IpAddr = "10.0.0.2".parse().unwrap();
        let a = keys(p, Some("user:ann"), Some(peer));
        let b = keys(p, Some("user:ann"), Some(other));
        assert_eq!(a.len(), 2);
        assert_ne!(a[1].key, b[1].key, "one identity at two addresses: two keys");
        assert_eq!(a[0].policy.limit, 100);
        assert_eq!(keys(p, None, Some(peer)), a[..1]);
        let h = refusal_headers(&Throttled { policy: "login", limit: 10, window_secs: 600, retry_after_secs: 42 });
        assert_eq!(h[1].1, "\"login\";q=10;w=600");
        assert_eq!(h[2].1, "\"login\";r=0;t=42");
        assert_eq!(h[0].1, "42");
    }
}
