//! The mail outbox: emails are written in the transaction that causes them (see
//! `lab::SendInvitations`); senders claim due messages, deliver them, and record the outcome.

use classhub_core::OutboxId;
use jiff::Timestamp;

use crate::engine::{OutboxMessage, OutboxStats, Read, Tx};
use crate::{ReadOp, Result, WriteOp};

/// The outbox's backlog, for monitoring.
pub struct OutboxBacklog;

impl ReadOp for OutboxBacklog {
    type Out = OutboxStats;
    async fn run<R: Read>(&self, r: &R) -> Result<OutboxStats> {
        r.outbox_stats().await
    }
}

/// Takes due messages for a sender, holding them until `hold_until`.
pub struct ClaimOutbox {
    pub now: Timestamp,
    pub hold_until: Timestamp,
    pub limit: u32,
}

impl WriteOp for ClaimOutbox {
    type Out = Vec<OutboxMessage>;
    async fn run<T: Tx>(&self, tx: &mut T) -> Result<Vec<OutboxMessage>> {
        tx.claim_outbox(self.now, self.hold_until, self.limit).await
    }
}

/// Records the outcome of one delivery attempt.
pub struct OutboxOutcome {
    pub id: OutboxId,
    pub now: Timestamp,
    /// `Some((error, next attempt))` when delivery failed.
    pub failure: Option<(String, Timestamp)>,
}

impl WriteOp for OutboxOutcome {
    type Out = ();
    async fn run<T: Tx>(&self, tx: &mut T) -> Result<()> {
        match &self.failure {
            None => tx.outbox_sent(self.id, self.now).await,
            Some((error, next)) => tx.outbox_failed(self.id, error, *next).await,
        }
    }
}
