//! Security state every process shares: throttles on guessing and the `cs_sha1` nonces
//! already accepted. Both live in the database, so neither bursts nor extra processes
//! raise a budget or let a signed request through twice.

use classhub_core::DomainError;
use classhub_core::secret::SecretBox;
use classhub_core::throttle::{self, Counter, Policy};
use jiff::Timestamp;
use sha2::{Digest, Sha256};

use crate::engine::{ApiCredential, Read, ThrottleStats, Tx};
use crate::{ReadOp, Result, StoreError, WriteOp};

/// One throttled key: a policy and what it counts (an identity at an address, an address).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThrottleKey {
    pub key: [u8; 32],
    pub policy: Policy,
    /// Whether attempts checked inside one transaction (a redemption, a signature) take
    /// turns at this key, so that a burst gets exactly its budget. A shared key — an
    /// address, which a whole school may sit behind — is not held for every attempt, or
    /// every attempt from that address would wait on every other: it is read first and
    /// counted only when an attempt fails, so a burst may pass it by the attempts in flight.
    pub exact: bool,
}

impl ThrottleKey {
    /// The key of `parts` under `policy` (stored only as a hash: no names or addresses).
    pub fn new(policy: Policy, parts: &[&str]) -> ThrottleKey {
        let mut h = Sha256::new();
        h.update(policy.name.as_bytes());
        for p in parts {
            h.update([0]);
            h.update(p.as_bytes());
        }
        ThrottleKey { key: h.finalize().into(), policy, exact: true }
    }

    /// A key counted without holding it for every attempt (see [`ThrottleKey::exact`]).
    pub fn shared(self) -> ThrottleKey {
        ThrottleKey { exact: false, ..self }
    }
}

/// Keys sorted (and each once), so that every transaction locks them in one order.
fn sorted(keys: &[ThrottleKey]) -> Vec<ThrottleKey> {
    let mut v = keys.to_vec();
    v.sort_by_key(|k| k.key);
    v.dedup_by_key(|k| k.key);
    v
}

/// Reserves an attempt at every key, all or none (a refusal writes nothing).
pub(crate) async fn reserve<T: Tx>(tx: &mut T, keys: &[ThrottleKey], now: Timestamp) -> Result<()> {
    let keys = sorted(keys);
    let hashes: Vec<[u8; 32]> = keys.iter().map(|k| k.key).collect();
    let counters = tx.throttles_for_update(&hashes, now).await?;
    let mut next = Vec::with_capacity(keys.len());
    for (k, c) in keys.iter().zip(counters) {
        next.push(throttle::reserve(Some(c), &k.policy, now)?);
    }
    for (k, c) in keys.iter().zip(&next) {
        tx.put_throttle(&k.key, c, now).await?;
    }
    Ok(())
}

/// Settles the reserved attempt at every key.
pub(crate) async fn settle<T: Tx>(tx: &mut T, keys: &[ThrottleKey], ok: bool, now: Timestamp) -> Result<()> {
    let keys = sorted(keys);
    let hashes: Vec<[u8; 32]> = keys.iter().map(|k| k.key).collect();
    let counters = tx.throttles_for_update(&hashes, now).await?;
    for (k, c) in keys.iter().zip(counters) {
        tx.put_throttle(&k.key, &throttle::settle(c, ok, &k.policy, now), now).await?;
    }
    Ok(())
}

/// The counters of an attempt's exact keys, locked for the rest of its transaction, once
/// it is known that every key may still try.
pub(crate) struct Locked {
    keys: Vec<ThrottleKey>,
    counters: Vec<Counter>,
    shared: Vec<ThrottleKey>,
}

/// Locks the exact keys' counters (in key order) for an attempt checked inside the same
/// transaction: concurrent attempts at such a key take turns, so each sees the others'
/// outcome and no burst exceeds the budget. Shared keys are only read. Refused, writing
/// nothing, when a key is exhausted.
pub(crate) async fn lock<T: Tx>(tx: &mut T, keys: &[ThrottleKey], now: Timestamp) -> Result<Locked> {
    let (exact, shared): (Vec<ThrottleKey>, Vec<ThrottleKey>) = sorted(keys).into_iter().partition(|k| k.exact);
    let hashes: Vec<[u8; 32]> = shared.iter().map(|k| k.key).collect();
    for (k, c) in shared.iter().zip(tx.throttles(&hashes).await?) {
        throttle::reserve(c, &k.policy, now)?;
    }
    let hashes: Vec<[u8; 32]> = exact.iter().map(|k| k.key).collect();
    let counters = tx.throttles_for_update(&hashes, now).await?;
    for (k, c) in exact.iter().zip(&counters) {
        throttle::reserve(Some(*c), &k.policy, now)?;
    }
    Ok(Locked { keys: exact, counters, shared })
}

/// Counts the outcome of an attempt made under [`lock`], writing only the counters it
/// changes: a success at a key without failures changes nothing, and a success leaves
/// shared keys alone; a failure is counted at shared keys too (locking them only then).
pub(crate) async fn count<T: Tx>(tx: &mut T, locked: Locked, ok: bool, now: Timestamp) -> Result<()> {
    for (k, c) in locked.keys.iter().zip(locked.counters) {
        let next = throttle::settle(throttle::reserve(Some(c), &k.policy, now)?, ok, &k.policy, now);
        if next != c {
            tx.put_throttle(&k.key, &next, now).await?;
        }
    }
    if !ok && !locked.shared.is_empty() {
        // Locked last, after the exact keys, as every transaction does: no cycle of waits.
        let hashes: Vec<[u8; 32]> = locked.shared.iter().map(|k| k.key).collect();
        let counters = tx.throttles_for_update(&hashes, now).await?;
        for (k, c) in locked.shared.iter().zip(counters) {
            // Exhausted meanwhile by attempts in flight: blocked already, nothing to add.
            if let Ok(reserved) = throttle::reserve(Some(c), &k.policy, now) {
                tx.put_throttle(&k.key, &throttle::settle(reserved, false, &k.policy, now), now).await?;
            }
        }
    }
    Ok(())
}

/// Reserves an attempt before an expensive check made outside any transaction (a
/// password's Argon2): the reservation is committed, so concurrent checks see it.
pub struct ReserveAttempt {
    pub keys: Vec<ThrottleKey>,
    pub now: Timestamp,
}

impl WriteOp for ReserveAttempt {
    type Out = ();
    async fn run<T: Tx>(&self, tx: &mut T) -> Result<()> {
        reserve(tx, &self.keys, self.now).await
    }
}

/// Settles a reserved attempt once the check is done.
pub struct SettleAttempt {
    pub keys: Vec<ThrottleKey>,
    pub ok: bool,
    pub now: Timestamp,
}

impl WriteOp for SettleAttempt {
    type Out = ();
    async fn run<T: Tx>(&self, tx: &mut T) -> Result<()> {
        settle(tx, &self.keys, self.ok, self.now).await
    }
}

/// What a signed request needs before its signature is checked: the credentials of its API
/// id, and whether its keys may still try.
pub struct SignatureGate<'a> {
    pub api_id: &'a str,
    pub keys: Vec<ThrottleKey>,
    pub now: Timestamp,
}

impl ReadOp for SignatureGate<'_> {
    type Out = (Option<ApiCredential>, std::result::Result<(), DomainError>);
    async fn run<R: Read>(&self, r: &R) -> Result<Self::Out> {
        let hashes: Vec<[u8; 32]> = self.keys.iter().map(|k| k.key).collect();
        let counters = r.throttles(&hashes).await?;
        let open =
            self.keys.iter().zip(counters).try_for_each(|(k, c)| throttle::reserve(c, &k.policy, self.now).map(drop));
        let credential = if open.is_ok() { r.api_credential(self.api_id).await? } else { None };
        Ok((credential, open))
    }
}

/// How a signed request was admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Admitted,
    /// Its nonce was already used: a replay, counted as a failure.
    Replayed,
    /// It failed a check; the failure is counted.
    Failed,
}

/// Admits a signed request once its signature is checked: a verified one records its
/// nonce (atomically, once for the whole deployment); a failed one (or a replay) counts
/// against its keys. HMAC checks cost nothing and reveal nothing, so they are not reserved
/// beforehand as Argon2 checks are: the count is exact, and refuses once exhausted.
pub struct AdmitSignature {
    pub keys: Vec<ThrottleKey>,
    /// The nonce, when the signature verified.
    pub nonce: Option<([u8; 32], Timestamp)>,
    pub now: Timestamp,
}

impl WriteOp for AdmitSignature {
    type Out = Admission;
    async fn run<T: Tx>(&self, tx: &mut T) -> Result<Admission> {
        let admission = match &self.nonce {
            Some((nonce, expires_at)) if tx.insert_nonce(nonce, *expires_at).await? => return Ok(Admission::Admitted),
            Some(_) => Admission::Replayed,
            None => Admission::Failed,
        };
        let locked = lock(tx, &self.keys, self.now).await?;
        count(tx, locked, false, self.now).await?;
        Ok(admission)
    }
}

/// Forgets what no check needs any more: expired nonces, throttle counters idle for a day
/// and not blocking, idempotency keys a day old, and email codes, used or expired refresh tokens and ended sign-in
/// sessions a day old.
pub struct PruneSecurityState {
    pub now: Timestamp,
}

impl WriteOp for PruneSecurityState {
    type Out = (u64, u64);
    async fn run<T: Tx>(&self, tx: &mut T) -> Result<(u64, u64)> {
        let idle_before = self.now.checked_sub(throttle::BACKOFF_MAX).unwrap_or(self.now);
        // Email codes, refresh tokens and sessions no check needs any more (accounts).
        let forget_before = self.now.checked_sub(classhub_core::account::FORGET_AFTER).unwrap_or(self.now);
        tx.prune_accounts(forget_before).await?;
        let keys_before = self.now.checked_sub(classhub_core::idempotency::KEY_TTL).unwrap_or(self.now);
        tx.prune_idempotency_keys(keys_before).await?;
        tx.prune_security(self.now, idle_before).await
    }
}

/// A throttle's counters, for tests and operators.
pub struct ThrottleCounters {
    pub keys: Vec<ThrottleKey>,
}

impl ReadOp for ThrottleCounters {
    type Out = Vec<Option<Counter>>;
    async fn run<R: Read>(&self, r: &R) -> Result<Vec<Option<Counter>>> {
        let hashes: Vec<[u8; 32]> = self.keys.iter().map(|k| k.key).collect();
        r.throttles(&hashes).await
    }
}

/// The setting that proves which server key a database's secrets are sealed with.
const KEY_CHECK: &str = "secret_key_check";
const KEY_CHECK_TEXT: &[u8] = b"classhub: secrets sealed with this key";

/// Whether the database holds anything sealed with a server key (then that key, and no
/// new one, must open it).
pub struct HoldsSealedSecrets;

impl ReadOp for HoldsSealedSecrets {
    type Out = bool;
    async fn run<R: Read>(&self, r: &R) -> Result<bool> {
        Ok(r.setting(KEY_CHECK).await?.is_some() || r.any_sealed_api_key().await?.is_some())
    }
}

/// Whether `secrets` is the key the database's secrets are sealed with; a database without
/// any is marked as sealed with it from now on.
pub struct CheckServerKey {
    pub secrets: SecretBox,
}

impl WriteOp for CheckServerKey {
    type Out = bool;
    async fn run<T: Tx>(&self, tx: &mut T) -> Result<bool> {
        let opens = |sealed: &[u8]| self.secrets.open(sealed).is_some_and(|p| p == KEY_CHECK_TEXT);
        if let Some(sealed) = tx.setting(KEY_CHECK).await? {
            return Ok(opens(&sealed));
        }
        // Sealed before this check existed: the stored API keys tell.
        if let Some(key) = tx.any_sealed_api_key().await?
            && self.secrets.open(&key).is_none()
        {
            return Ok(false);
        }
        let stored = tx.setting_or_insert(KEY_CHECK, &self.secrets.seal(KEY_CHECK_TEXT)).await?;
        Ok(opens(&stored))
    }
}

/// A secret kept in the database sealed with the server key: the stored one, opened, or
/// `fresh` (made by the caller, outside any transaction) sealed and stored when there is
/// none. Several processes starting at once agree on the first stored.
pub struct SealedSetting {
    pub name: &'static str,
    pub secrets: SecretBox,
    pub fresh: Option<Vec<u8>>,
}

impl WriteOp for SealedSetting {
    type Out = Option<Vec<u8>>;
    async fn run<T: Tx>(&self, tx: &mut T) -> Result<Option<Vec<u8>>> {
        let stored = match (tx.setting(self.name).await?, &self.fresh) {
            (Some(sealed), _) => sealed,
            (None, Some(fresh)) => tx.setting_or_insert(self.name, &self.secrets.seal(fresh)).await?,
            (None, None) => return Ok(None),
        };
        self.secrets
            .open(&stored)
            .map(Some)
            .ok_or_else(|| StoreError::Internal(format!("setting {} is sealed with another server key", self.name)))
    }
}

/// Deletes a setting (the OCARIoT key that older versions kept in clear).
pub struct DeleteSetting {
    pub name: &'static str,
}

impl WriteOp for DeleteSetting {
    type Out = bool;
    async fn run<T: Tx>(&self, tx: &mut T) -> Result<bool> {
        let existed = tx.setting(self.name).await?.is_some();
        tx.delete_setting(self.name).await?;
        Ok(existed)
    }
}

/// How many throttle counters are kept, and how many refuse attempts at `now`.
pub struct ThrottleState {
    pub now: Timestamp,
}

impl ReadOp for ThrottleState {
    type Out = ThrottleStats;
    async fn run<R: Read>(&self, r: &R) -> Result<ThrottleStats> {
        r.throttle_stats(self.now).await
    }
}
