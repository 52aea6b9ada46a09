//! The outbox sender. Emails are written to the outbox in the transaction that causes
//! them; this task delivers them afterwards. A message is claimed for a while before it is
//! sent, so several processes can share an outbox without sending twice; a failed attempt
//! is tried again later with backoff; nothing is lost when the process stops, since the
//! outbox is in the database.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use classhub_store::Store;
use classhub_store::engine::OutboxMessage;
use classhub_store::ops::outbox::{ClaimOutbox, OutboxOutcome};
use jiff::{SignedDuration, Timestamp};
use lettre::message::Mailbox;
use lettre::message::{MultiPart, SinglePart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use tokio::sync::watch;

/// Where messages go.
pub enum Delivery {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    /// One `.eml` file per message, named by its outbox id.
    Directory(PathBuf),
}

impl Delivery {
    /// SMTP when a URL is given (`smtp://host:port`, `smtps://user:pass@host`), else files in
    /// `dir` (created if missing).
    pub fn new(smtp_url: Option<&str>, dir: &Path) -> Result<Delivery, String> {
        match smtp_url {
            Some(url) => AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                .map(|b| Delivery::Smtp(b.timeout(Some(Duration::from_secs(30))).build()))
                .map_err(|e| format!("invalid --smtp-url: {e}")),
            None => {
                std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
                Ok(Delivery::Directory(dir.to_path_buf()))
            }
        }
    }

    async fn deliver(&self, id: i64, message: &Message) -> Result<(), String> {
        match self {
            Delivery::Smtp(t) => t.send(message.clone()).await.map(drop).map_err(|e| e.to_string()),
            Delivery::Directory(dir) => {
                // Written whole under a temporary name, then renamed: a reader never sees half
                // a message, and a retry overwrites rather than duplicates.
                let tmp = dir.join(format!(".{id}.eml.tmp"));
                let path = dir.join(format!("{id}.eml"));
                tokio::fs::write(&tmp, message.formatted()).await.map_err(|e| e.to_string())?;
                tokio::fs::rename(&tmp, &path).await.map_err(|e| e.to_string())
            }
        }
    }
}

/// How the sender runs.
pub struct Sender {
    pub store: Arc<Store>,
    pub delivery: Delivery,
    pub from: Mailbox,
    /// How often to look for due messages when the outbox is quiet.
    pub poll: Duration,
    /// The wait after a first failed attempt; it doubles with each further one, up to an hour.
    pub retry_after: SignedDuration,
}

/// Messages taken per round.
const BATCH: u32 = 20;
/// How long a claim lasts: longer than any one delivery takes.
const HOLD: SignedDuration = SignedDuration::from_secs(120);
/// Longest wait between attempts.
const BACKOFF_MAX: SignedDuration = SignedDuration::from_secs(3600);

/// The wait after a message's `attempts`-th failure: `first` doubling, at most an hour.
pub fn backoff(first: SignedDuration, attempts: u32) -> SignedDuration {
    first.checked_mul(1i32 << attempts.min(20)).unwrap_or(BACKOFF_MAX).min(BACKOFF_MAX)
}

/// The message of an outbox entry: plain text, or plain text and HTML as alternatives.
fn build(from: &Mailbox, m: &OutboxMessage) -> Result<Message, String> {
    let e = &m.email;
    let to: Mailbox = e.to.parse().map_err(|err| format!("recipient {:?}: {err}", e.to))?;
    let builder = Message::builder().from(from.clone()).to(to).subject(e.subject.clone());
    match &e.html {
        Some(html) => builder.multipart(MultiPart::alternative_plain_html(e.text.clone(), html.clone())),
        None => builder.singlepart(SinglePart::plain(e.text.clone())),
    }
    .map_err(|err| err.to_string())
}

impl Sender {
    /// Delivers until `stop` turns true.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        loop {
            let busy = match self.round().await {
                Ok(n) => n == BATCH as usize,
                Err(e) => {
                    tracing::warn!(error = %e, "outbox round failed");
                    false
                }
            };
            if *stop.borrow() {
                return;
            }
            if !busy {
                tokio::select! {
                    _ = tokio::time::sleep(self.poll) => {}
                    _ = stop.changed() => return,
                }
            }
        }
    }

    /// Claims due messages and tries each once; returns how many it took.
    pub async fn round(&self) -> Result<usize, String> {
        let now = Timestamp::now();
        let claim = ClaimOutbox { now, hold_until: now + HOLD, limit: BATCH };
        let batch = self.store.write(claim).await.map_err(|e| e.to_string())?;
        for m in &batch {
            let outcome = match build(&self.from, m) {
                Ok(message) => self.delivery.deliver(m.id.0, &message).await,
                Err(e) => Err(e),
            };
            let now = Timestamp::now();
            let failure = outcome.err().map(|e| {
                tracing::warn!(outbox_id = m.id.0, attempts = m.attempts + 1, error = %e, "email not delivered; will retry");
                (e, now + backoff(self.retry_after, m.attempts))
            });
            if failure.is_none() {
                tracing::info!(outbox_id = m.id.0, "email delivered");
            }
            let record = OutboxOutcome { id: m.id, now, failure };
            self.store.write(record).await.map_err(|e| e.to_string())?;
        }
        Ok(batch.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_an_hour() {
        let five = SignedDuration::from_secs(5);
        assert_eq!(backoff(five, 0), SignedDuration::from_secs(5));
        assert_eq!(backoff(five, 1), SignedDuration::from_secs(10));
        assert_eq!(backoff(five, 5), SignedDuration::from_secs(160));
        assert_eq!(backoff(five, 40), SignedDuration::from_secs(3600));
    }
}
