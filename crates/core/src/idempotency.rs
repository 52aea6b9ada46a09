//! Safe retries of creates (the IETF httpapi `Idempotency-Key` draft): a request carrying a
//! key makes its change once; a repeat with the same key and the same request gets the first
//! answer again. A key is held for [`KEY_TTL`], per client.
//!
//! A key's record goes through three states. *Running*: claimed by a request in flight,
//! for a lease; a repeat is refused (409) until the lease ends, and a crashed request's key
//! is then taken over. *Applied*: the request's change committed (in the change's own
//! transaction), so no repeat may make it again, even after the lease. *Done*: the answer is
//! stored and replayed. A request that changed nothing (an error answer) gives its key back.

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

/// An answer as it was sent: status, headers (those worth replaying) and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    Running { lease_until: Timestamp },
    Applied,
    Done(Answer),
}

/// A key's record as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// A digest of the request (method, target, body): a repeat must match it.
    pub fingerprint: [u8; 32],
    pub state: State,
    pub created_at: Timestamp,
}

/// What a request carrying a key does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// Runs, holding the key (a new one, an expired one, or one whose holder's lease ended).
    Run,
    /// Answers as the first request did.
    Replay(Answer),
}

/// Decides a request's claim on a key, given the key's record.
pub fn decide(existing: Option<&Record>, fingerprint: &[u8; 32], now: Timestamp) -> Result<Claim, DomainError> {
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
pub fn expired(record: &Record, now: Timestamp) -> bool {
    record.created_at.checked_add(KEY_TTL).is_ok_and(|end| end <= now)
}

/// The record of a key claimed now.
pub fn claimed(fingerprint: [u8; 32], now: Timestamp) -> Record {
    Record {
        fingerprint,
        state: State::Running { lease_until: now.checked_add(LEASE).unwrap_or(now) },
        created_at: now,
    }
}

/// Whether an answer is kept for replay: only one that made the change. Any other answer
/// (a refusal, an outage) changed nothing, so the key is given back and a repeat runs anew.
pub fn keeps(status: u16) -> bool {
    (200..300).contains(&status)
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
        assert_eq!(decide(None, &FP, at(0)), Ok(Claim::Run));
        let running = claimed(FP, at(0));
        assert_eq!(decide(Some(&running), &FP, at(1)), Err(DomainError::IdempotencyKeyInFlight));
        assert_eq!(decide(Some(&running), &[8; 32], at(1)), Err(DomainError::IdempotencyKeyReused));
        // A holder that went away is taken over once its lease ends...
        assert_eq!(decide(Some(&running), &FP, at(60)), Ok(Claim::Run));
        // ...but not one whose change committed.
        let applied = Record { state: State::Applied, ..running.clone() };
        assert_eq!(decide(Some(&applied), &FP, at(3600)), Err(DomainError::IdempotencyKeyInFlight));
        let answer = Answer { status: 201, headers: vec![("location".into(), "/x/1".into())], body: b"{}".to_vec() };
        let done = Record { state: State::Done(answer.clone()), ..running };
        assert_eq!(decide(Some(&done), &FP, at(5)), Ok(Claim::Replay(answer)));
        // A day later the key is free again, for any request.
        assert_eq!(decide(Some(&done), &[8; 32], at(86_400)), Ok(Claim::Run));
    }

    #[test]
    fn only_answers_that_made_the_change_are_kept() {
        assert!(keeps(201) && keeps(200));
        assert!(!keeps(409) && !keeps(422) && !keeps(503));
    }
}
