//! Delivery against a real SMTP conversation with a sink this test runs, and to files;
//! failed attempts are retried; a restart loses nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use classhub_core::lab::Email;
use classhub_mail::{Delivery, Sender};
use classhub_store::engine::Tx;
use classhub_store::{Store, StoreOptions, WriteOp};
use jiff::SignedDuration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// Puts one message in the outbox, as an invitation would.
struct Enqueue(&'static str);

impl WriteOp for Enqueue {
    type Out = ();
    async fn run<T: Tx>(&self, tx: &mut T) -> classhub_store::Result<()> {
        let email = Email {
            to: self.0.into(),
            subject: "Lab - Virtual Lab Access".into(),
            text: "You have been invited.\nSign in: https://labs.example/Class/ab12c?token=t".into(),
            html: Some("<p>You have been <b>invited</b>.</p>".into()),
        };
        tx.insert_outbox(&email, jiff::Timestamp::now()).await.map(drop)
    }
}

/// A minimal SMTP server that records every message's DATA.
async fn smtp_sink(listener: TcpListener) -> Arc<Mutex<Vec<String>>> {
    let received = Arc::new(Mutex::new(Vec::new()));
    let sink = received.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let sink = sink.clone();
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut lines = BufReader::new(read).lines();
                write.write_all(b"220 sink ESMTP\r\n").await.unwrap();
                let mut data: Option<String> = None;
                while let Ok(Some(line)) = lines.next_line().await {
                    if let Some(d) = data.as_mut() {
                        if line == "." {
                            sink.lock().unwrap().push(data.take().unwrap());
                            write.write_all(b"250 queued\r\n").await.unwrap();
                        } else {
                            d.push_str(&line);
                            d.push('\n');
                        }
                        continue;
                    }
                    let verb = line.split_whitespace().next().unwrap_or("").to_ascii_uppercase();
                    let reply: &[u8] = match verb.as_str() {
                        "EHLO" | "HELO" => b"250 sink\r\n",
                        "DATA" => {
                            data = Some(String::new());
                            b"354 go ahead\r\n"
                        }
                        "QUIT" => {
                            write.write_all(b"221 bye\r\n").await.unwrap();
                            break;
                        }
                        _ => b"250 OK\r\n",
                    };
                    write.write_all(reply).await.unwrap();
                }
            });
        }
    });
    received
}

async fn open(path: &Path) -> Arc<Store> {
    Arc::new(Store::open(&StoreOptions::new(format!("sqlite://{}", path.display()))).await.unwrap())
}

fn sender(store: Arc<Store>, delivery: Delivery) -> Sender {
    Sender {
        store,
        delivery,
        from: "classhub <noreply@example.com>".parse().unwrap(),
        poll: Duration::from_millis(20),
        retry_after: SignedDuration::from_millis(200),
    }
}

#[tokio::test]
async fn smtp_delivery_is_retried_and_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("mail.db");
    // A port with nobody listening yet.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let url = format!("smtp://127.0.0.1:{port}");

    let store = open(&db).await;
    store.write(Enqueue("ann@example.com")).await.unwrap();
    let first = sender(store.clone(), Delivery::new(Some(&url), dir.path()).unwrap());
    assert_eq!(first.round().await.unwrap(), 1, "tried once, failed");
    assert_eq!(first.round().await.unwrap(), 0, "not due again before the backoff");
    // The process stops; the message waits in the database.
    store.close().await;

    let sink = smtp_sink(TcpListener::bind(("127.0.0.1", port)).await.unwrap()).await;
    let store = open(&db).await;
    let second = sender(store.clone(), Delivery::new(Some(&url), dir.path()).unwrap());
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(second.round().await.unwrap(), 1);
    let received = sink.lock().unwrap().clone();
    assert_eq!(received.len(), 1);
    let message = &received[0];
    assert!(message.contains("To: ann@example.com"), "{message}");
    assert!(message.contains("Subject: Lab - Virtual Lab Access"), "{message}");
    assert!(message.contains("You have been invited."), "{message}");
    // Delivered once: nothing is left.
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(second.round().await.unwrap(), 0);
    assert_eq!(sink.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn files_are_written_by_the_running_sender() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("mail.db")).await;
    let out = dir.path().join("out");
    let s = sender(store.clone(), Delivery::new(None, &out).unwrap());
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(s.run(stopped));
    store.write(Enqueue("bo@example.com")).await.unwrap();
    let file = out.join("1.eml");
    for _ in 0..100 {
        if file.exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // A MIME parser no one here wrote reads it as a text and an HTML alternative.
    let raw = std::fs::read(&file).unwrap();
    let message = mail_parser::MessageParser::default().parse(&raw).expect("a MIME message");
    assert_eq!(message.to().and_then(|to| to.first()).and_then(|a| a.address()), Some("bo@example.com"));
    assert_eq!(message.subject(), Some("Lab - Virtual Lab Access"));
    // MIME text travels with CRLF line ends.
    assert_eq!(
        message.body_text(0).map(|t| t.replace("\r\n", "\n")).as_deref(),
        Some("You have been invited.\nSign in: https://labs.example/Class/ab12c?token=t")
    );
    assert_eq!(message.body_html(0).as_deref(), Some("<p>You have been <b>invited</b>.</p>"));
    stop.send(true).unwrap();
    task.await.unwrap();
}
