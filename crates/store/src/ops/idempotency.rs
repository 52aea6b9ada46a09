//! `Idempotency-Key` claims (rules in [`classhub_core::idempotency`]). A request claims its
//! key before it runs; every write it makes while [`holding`] the key also marks the key
//! applied in the write's own transaction, refused if the key was taken over meanwhile; its
//! answer is then kept for replay ([`FinishKey`]) or the key given back ([`ReleaseKey`]).

use std::future::Future;

use classhub_core::DomainError;
use classhub_core::idempotency::{self, Claim};
use jiff::Timestamp;

pub use crate::engine::Answer;
use crate::engine::Tx;
use crate::{Result, StoreError, WriteOp};

/// A claimed key: the hash of the client and its key, and the request holding it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeldKey {
    pub key: [u8; 32],
    pub holder: [u8; 16],
}

tokio::task_local! {
    static HELD: HeldKey;
}

/// Runs a request's work holding `key`: each of its writes commits only while the key is
/// still its own, and marks it applied.
pub async fn holding<F: Future>(key: HeldKey, work: F) -> F::Output {
    HELD.scope(key, work).await
}

/// The key the current request holds, if any.
pub(crate) fn held() -> Option<HeldKey> {
    HELD.try_with(|k| *k).ok()
}

/// A write made while holding a key.
pub(crate) struct Held<O> {
    pub(crate) op: O,
    pub(crate) key: HeldKey,
}

impl<O: WriteOp> WriteOp for Held<O> {
    type Out = O::Out;

    fn made_change(out: &O::Out) -> bool {
        O::made_change(out)
    }

    async fn run<T: Tx>(&self, tx: &mut T) -> Result<O::Out> {
        let out = self.op.run(tx).await?;
        // Taken over by a repeat after the lease: this request's change must not happen too.
        if O::made_change(&out) && !tx.settle_idempotency_key(&self.key.key, &self.key.holder, None).await? {
            return Err(StoreError::Domain(DomainError::IdempotencyKeyInFlight));
        }
        Ok(out)
    }
}

/// A request claims its key: it runs, or replays the first answer, or is refused.
pub struct ClaimKey {
    pub key: HeldKey,
    pub fingerprint: [u8; 32],
    pub now: Timestamp,
}

impl WriteOp for ClaimKey {
    type Out = Claim<Answer>;
    async fn run<T: Tx>(&self, tx: &mut T) -> Result<Claim<Answer>> {
        let existing = tx.idempotency_key_for_update(&self.key.key).await?;
        let claim = idempotency::decide(existing.as_ref().map(|(r, _)| r), &self.fingerprint, self.now)?;
        if claim == Claim::Run {
            let (key, holder, now) = (&self.key.key, &self.key.holder, self.now);
            let replacing = existing.as_ref().map(|(_, holder)| holder);
            let lease = idempotency::lease_end(now);
            if !tx.claim_idempotency_key(key, &self.fingerprint, holder, lease, now, replacing).await? {
                return Err(StoreError::Retry("an idempotency key was claimed meanwhile".into()));
            }
        }
        Ok(claim)
    }
}

/// Keeps the answer of a request that made its change, for repeats to replay.
pub struct FinishKey {
    pub key: HeldKey,
    pub answer: Answer,
}

impl WriteOp for FinishKey {
    /// False when the key is no longer this request's.
    type Out = bool;
    async fn run<T: Tx>(&self, tx: &mut T) -> Result<bool> {
        tx.settle_idempotency_key(&self.key.key, &self.key.holder, Some(&self.answer)).await
    }
}

/// Gives back the key of a request whose answer is not kept (it changed nothing).
pub struct ReleaseKey {
    pub key: HeldKey,
}

impl WriteOp for ReleaseKey {
    type Out = ();
    async fn run<T: Tx>(&self, tx: &mut T) -> Result<()> {
        tx.release_idempotency_key(&self.key.key, &self.key.holder).await
    }
}
