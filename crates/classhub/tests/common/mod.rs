//! Helpers for tests that run the real `classhub` binary (crash.rs, limits.rs, process.rs): start it on
//! a database, find its address in its logs, stop or kill it, and speak HTTP to it.
// Each test crate including this module uses a different subset of it.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_classhub");

/// A SQLite database in `dir`.
pub fn sqlite_url(dir: &Path) -> String {
    format!("sqlite://{}", dir.join("classhub.db").display())
}

pub struct Server {
    child: Child,
    pub base: String,
    pub stdout: Arc<Mutex<String>>,
    pub stderr: Arc<Mutex<String>>,
}

impl Server {
    /// `classhub serve` on `database_url` and a port of the kernel's choosing, with `args`;
    /// returns once it listens. Secrets (key, mail) are kept beside a SQLite database, else
    /// in `dir`.
    pub fn start(dir: &Path, database_url: &str, args: &[&str]) -> Server {
        let (key, mail) = (dir.join("secret.key"), dir.join("mail"));
        let files = ["--secret-key-file", key.to_str().unwrap(), "--mail-dir", mail.to_str().unwrap()];
        Server::spawn(database_url, &[&files[..], args].concat())
    }

    /// `classhub serve` on `database_url` with only `args` (keys and mail at their defaults).
    pub fn spawn(database_url: &str, args: &[&str]) -> Server {
        let mut child = Command::new(BIN)
            .args(["--database-url", database_url, "--log-format", "json", "serve", "--listen", "127.0.0.1:0"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = collect(child.stdout.take().unwrap());
        let stderr = collect(child.stderr.take().unwrap());
        let base = wait_for(&stderr, "classhub listening on ");
        Server { child, base, stdout, stderr }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `host:port` of the listener.
    pub fn addr(&self) -> String {
        self.base.trim_start_matches("http://").trim_start_matches("https://").to_string()
    }

    /// SIGKILL (the process gets no chance to finish anything), while clients may still be
    /// using this value; `Drop` reaps the process.
    pub fn sigkill(&self) {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill").args(["-KILL", &pid]).status().unwrap().success());
    }

    /// SIGTERM, then waits for a clean exit; returns the logs.
    pub fn stop(mut self) -> String {
        Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "exit status {status}");
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(15), "did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
        self.stderr.lock().unwrap().clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn collect(pipe: impl std::io::Read + Send + 'static) -> Arc<Mutex<String>> {
    let text = Arc::new(Mutex::new(String::new()));
    let sink = text.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            let mut t = sink.lock().unwrap();
            t.push_str(&line);
            t.push('\n');
        }
    });
    text
}

/// Waits for `marker` in the output; returns the word that follows it.
pub fn wait_for(text: &Arc<Mutex<String>>, marker: &str) -> String {
    let started = Instant::now();
    loop {
        {
            let t = text.lock().unwrap();
            if let Some(i) = t.find(marker) {
                let rest = &t[i + marker.len()..];
                let end = rest.find(|c: char| c == '"' || c.is_whitespace()).unwrap_or(rest.len());
                return rest[..end].to_string();
            }
        }
        assert!(started.elapsed() < Duration::from_secs(30), "no {marker:?} in:\n{}", text.lock().unwrap());
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// An HTTP client that reports every status (no error for 4xx/5xx), with a timeout so a
/// request to a killed server ends.
pub fn http() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

/// A response: status, headers of interest, and the body as JSON (`Null` if it is not).
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub etag: Option<String>,
    pub content_type: Option<String>,
    pub text: String,
    pub body: Value,
}

/// Sends `method path` with an optional bearer token, request id and JSON body. `Err` when
/// no response came (connection refused or dropped).
pub fn send(
    agent: &ureq::Agent,
    method: &str,
    url: &str,
    token: Option<&str>,
    request_id: Option<&str>,
    body: Option<&Value>,
) -> Result<Reply, ureq::Error> {
    let mut req = http::Request::builder().method(method).uri(url);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    if let Some(id) = request_id {
        req = req.header("x-request-id", id);
    }
    let payload = match body {
        Some(b) => {
            req = req.header("content-type", "application/json");
            b.to_string()
        }
        None => String::new(),
    };
    let mut res = agent.run(req.body(payload).unwrap())?;
    let header = |name: &str| res.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    let (etag, content_type) = (header("etag"), header("content-type"));
    let status = res.status().as_u16();
    let text = res.body_mut().read_to_string()?;
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Ok(Reply { status, etag, content_type, text, body })
}

/// `send` that must get an answer.
pub fn call(agent: &ureq::Agent, method: &str, url: &str, token: Option<&str>, body: Option<&Value>) -> Reply {
    send(agent, method, url, token, None, body).unwrap_or_else(|e| panic!("{method} {url}: {e}"))
}
