//! Safe retries of creates (the IETF httpapi `Idempotency-Key` draft): a request carrying a
//! key makes its change once; a repeat with the same key and the same request gets the first
//! answer again. A key is held for [`KEY_TTL`], per client.
//!
//! A key's record goes through three states. *Running*: claimed by a request in flight,
//! for a lease; a repeat is refused (409) until the lease ends, and a crashed request's key
//! is then taken over. *Applied*: the request's change committed (in the change's own
//! transaction), so no repeat may make it again, even after the lease. *Done*: the answer is
//! stored and replayed. A request that changed nothing (an error answer) gives its key back.
//! What an answer is (an HTTP response) is the dialects' business: here it is any `A`.

use jiff::{SignedDuration, Timestamp};

use crate::error::DomainError;

/// How long a key and its answer are kept.
pub const KEY_TTL: SignedDuration = SignedDuration::from_hours(24);
/// How long a request in flight holds its key before a repeat may take it over.
pub const LEASE: SignedDuration = SignedDuration::from_secs(60);
/// Longest key accepted (the draft sets none; UUIDs are 36).
pub const KEY_MAX: usize = 255;

/// A key as the client sent it: a Structured Field string (`"…"`, as the draft specifies)
/// or, as most clients send it, the bare text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key(String);

impl Key {
    pub fn parse(header: &str) -> Result<Key, DomainError> {
        let header = header.trim();
        let text = match header.strip_prefix('"').and_then(|h| h.strip_suffix('"')) {
            Some(inner) if inner.contains(['"', '\\']) => return Err(DomainError::IdempotencyKeyMalformed),
            Some(inner) => inner,
            None => header,
        };
        let visible = text.bytes().all(|b| (0x20..0x7f).contains(&b));
        if text.is_empty() || text.len() > KEY_MAX || !visible {
            return Err(DomainError::IdempotencyKeyMalformed);
        }
        Ok(Key(text.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State<A> {
    Running { lease_until: Timestamp },
    Applied,
    Done(A),
}

/// A key's record as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record<A> {
    /// A digest of the request (method, target, body): a repeat must match it.
    pub fingerprint: [u8; 32],
    pub state: State<A>,
    pub created_at: Timestamp,
}

/// What a request carrying a key does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim<A> {
    /// Runs, holding the key (a new one, an expired one, or one whose holder's lease ended).
    Run,
    /// Answers as the first request did.
    Replay(A),
}

/// Decides a request's claim on a key, given the key's record.
pub fn decide<A: Clone>(
    existing: Option<&Record<A>>,
    fingerprint: &[u8; 32],
    now: Timestamp,
) -> Result<Claim<A>, DomainError> {
    let Some(record) = existing.filter(|r| !expired(r, now)) else { return Ok(Claim::Run) };
    if &record.fingerprint != fingerprint {
        return Err(DomainError::IdempotencyKeyReused);
    }
    match &record.state {
        State::Done(answer) => Ok(Claim::Replay(answer.clone())),
        State::Running { lease_until } if *lease_until <= now => Ok(Claim::Run),
        State::Running { .. } | State::Applied => Err(DomainError::IdempotencyKeyInFlight),
    }
}

/// A kept key is forgotten once its time is up.
pub fn expired<A>(record: &Record<A>, now: Timestamp) -> bool {
    record.created_at.checked_add(KEY_TTL).is_ok_and(|end| end <= now)
}

/// Until when a key claimed at `now` is its request's alone.
pub fn lease_end(now: Timestamp) -> Timestamp {
    now.checked_add(LEASE).unwrap_or(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(1_000_000 + secs).unwrap()
    }

    const FP: [u8; 32] = [7; 32];

    #[test]
    fn keys_are_structured_strings_or_bare_text() {
        assert_eq!(Key::parse("\"abc-1\"").unwrap().as_str(), "abc-1");
        assert_eq!(Key::parse(" 8e03978e-40d5 ").unwrap().as_str(), "8e03978e-40d5");
        for bad in ["", "\"\"", "\"a\"b\"", "é", &"k".repeat(256)] {
            assert_eq!(Key::parse(bad), Err(DomainError::IdempotencyKeyMalformed), "{bad:?}");
        }
    }

    #[test]
    fn a_repeat_replays_waits_or_is_refused() {
        assert_eq!(decide::<&str>(None, &FP, at(0)), Ok(Claim::Run));
        let running =
            Record { fingerprint: FP, state: State::Running { lease_until: lease_end(at(0)) }, created_at: at(0) };
        assert_eq!(decide(Some(&running), &FP, at(1)), Err(DomainError::IdempotencyKeyInFlight));
        assert_eq!(decide(Some(&running), &[8; 32], at(1)), Err(DomainError::IdempotencyKeyReused));
        // A holder that went away is taken over once its lease ends...
        assert_eq!(decide(Some(&running), &FP, at(60)), Ok(Claim::Run));
        // ...but not one whose change committed.
        let applied = Record { state: State::Applied, ..running.clone() };
        assert_eq!(decide(Some(&applied), &FP, at(3600)), Err(DomainError::IdempotencyKeyInFlight));
        let done = Record { state: State::Done("the first answer"), ..running };
        assert_eq!(decide(Some(&done), &FP, at(5)), Ok(Claim::Replay("the first answer")));
        // A day later the key is free again, for any request.
        assert_eq!(decide(Some(&done), &[8; 32], at(86_400)), Ok(Claim::Run));
    }
}
