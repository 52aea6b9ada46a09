//! Helpers for tests that run the real `classhub` binary (crash.rs, limits.rs, process.rs, sdks.rs, …):
//! start it on a database, find its address in its logs, stop or kill it, speak HTTP and HTTPS to
//! it, and keep what client SDKs need in a cache under the target directory.
// Each test crate including this module uses a different subset of it.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
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

    /// Sends a signal (`HUP`, `USR1`…) to the process.
    pub fn signal(&self, name: &str) {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill").args([&format!("-{name}"), &pid]).status().unwrap().success());
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

/// A response read off a raw connection: status, headers (names lowercase) and body.
#[derive(Debug, Clone)]
pub struct RawReply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl RawReply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|_| panic!("not JSON: {self:?}"))
    }
}

/// A connection to `addr` from `from`: any address of 127.0.0.0/8 is this machine, so a
/// test can be two clients at two addresses.
pub fn connect_from(from: std::net::IpAddr, addr: &str) -> std::net::TcpStream {
    let target: std::net::SocketAddr = addr.parse().unwrap();
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.bind(&std::net::SocketAddr::new(from, 0).into()).unwrap();
    socket.connect(&target.into()).unwrap();
    let tcp: std::net::TcpStream = socket.into();
    tcp.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    tcp
}

/// An HTTP/1.1 request as bytes: `headers` as given (nothing is added but `Host` and, with
/// a body, `Content-Length`).
pub fn request_bytes(method: &str, target: &str, host: &str, headers: &[(&str, &str)], body: &str) -> Vec<u8> {
    let mut head = format!("{method} {target} HTTP/1.1\r\nHost: {host}\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() {
        head.push_str(&format!("Content-Type: application/json\r\nContent-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    [head.as_bytes(), body.as_bytes()].concat()
}

/// Reads one response: its head, then a body of its `Content-Length` (without one, until
/// the server closes). `None` when the connection ended before a whole head.
pub fn read_reply(tcp: &mut std::net::TcpStream) -> Option<RawReply> {
    use std::io::Read;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match tcp.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return None,
        }
    }
    let head = String::from_utf8_lossy(&head).to_string();
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let length = headers.iter().find(|(k, _)| k == "content-length").and_then(|(_, v)| v.parse::<usize>().ok());
    let mut body = Vec::new();
    match length {
        Some(n) => {
            body.resize(n, 0);
            tcp.read_exact(&mut body).ok()?;
        }
        None => {
            let _ = tcp.read_to_end(&mut body);
        }
    }
    Some(RawReply { status, headers, body: String::from_utf8_lossy(&body).to_string() })
}

/// One request on a new connection from `from` (closed afterwards).
pub fn raw_call(from: std::net::IpAddr, addr: &str, request: &[u8]) -> RawReply {
    use std::io::Write;
    let mut tcp = connect_from(from, addr);
    tcp.write_all(request).unwrap();
    read_reply(&mut tcp).unwrap_or_else(|| panic!("no answer to {}", String::from_utf8_lossy(request)))
}

/// A `cs_sha1` Authorization header for `url` (as the client sees it) at `timestamp`.
pub fn cs_sha1_header(api_id: &str, api_key: &str, url: &str, timestamp: i64, nonce: &str) -> String {
    use sha1::Digest;
    let digest = sha1::Sha1::digest(format!("{api_key}{url}{timestamp}{nonce}").as_bytes());
    let hmac: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("cs_sha1 userapiid:{api_id};timestamp:{timestamp};token:{nonce};hmac:{hmac}")
}

/// A throwaway CA and a certificate for 127.0.0.1 and localhost signed by it; returns the
/// paths of the CA, certificate and key PEM files.
pub fn tls_files(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    };
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    ca.distinguished_name.push(DnType::CommonName, "classhub test CA");
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().unwrap();
    let mut leaf = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
    leaf.distinguished_name.push(DnType::CommonName, "localhost");
    leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf.use_authority_key_identifier_extension = true;
    let cert = leaf.signed_by(&key, &issuer).unwrap();
    let paths = (dir.join("ca.pem"), dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&paths.0, ca_cert.pem()).unwrap();
    std::fs::write(&paths.1, cert.pem()).unwrap();
    std::fs::write(&paths.2, key.serialize_pem()).unwrap();
    paths
}

/// An HTTPS client that trusts only the CA at `ca` and reports every status.
pub fn https(ca: &Path) -> ureq::Agent {
    let pem = std::fs::read(ca).unwrap();
    let root = ureq::tls::Certificate::from_pem(&pem).unwrap().to_owned();
    let tls = ureq::tls::TlsConfig::builder().root_certs(ureq::tls::RootCerts::new_with_certs(&[root])).build();
    ureq::Agent::config_builder().tls_config(tls).http_status_as_error(false).build().into()
}

/// A directory `name` under the cargo target directory, made once by `make` and kept while
/// `ready` finds it whole (a virtualenv, `node_modules`). A file lock beside it keeps tests
/// running at once (threads or nextest processes) from making it together; a directory
/// that is not ready is removed and made anew.
pub fn cached_dir(name: &str, ready: impl Fn(&Path) -> bool, make: impl FnOnce(&Path)) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let lock = std::fs::File::create(dir.with_extension("lock")).unwrap();
    lock.lock().unwrap();
    if !ready(&dir) {
        let _ = std::fs::remove_dir_all(&dir);
        make(&dir);
        assert!(ready(&dir), "{} is still not usable after it was made", dir.display());
    }
    dir
}

/// A virtualenv with the PyPI `cloudshare` package, made once per target directory.
pub fn sdk_python() -> std::path::PathBuf {
    let python = |venv: &Path| venv.join("bin/python");
    let ready = |venv: &Path| {
        std::process::Command::new(python(venv))
            .args(["-c", "import cloudshare"])
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    };
    let venv = cached_dir("cloudshare-sdk-venv", ready, |venv| {
        assert!(
            std::process::Command::new("python3").args(["-m", "venv"]).arg(venv).status().unwrap().success(),
            "python3 -m venv"
        );
        let pip = std::process::Command::new(python(venv))
            .args(["-m", "pip", "install", "--quiet", "cloudshare"])
            .output()
            .unwrap();
        assert!(pip.status.success(), "pip install cloudshare: {}", String::from_utf8_lossy(&pip.stderr));
    });
    python(&venv)
}
