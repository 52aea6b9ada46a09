//! The `classhub` binary as users run it: admin commands, `serve --demo` with its printed
//! curl commands, metrics, and shutdown on SIGTERM.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_classhub");

fn db_url(dir: &Path) -> String {
    format!("sqlite://{}", dir.join("classhub.db").display())
}

/// `db_url` for SQLite; a PostgreSQL URL is used as it is.
fn database(dir: &Path, url: Option<&str>) -> String {
    url.map_or_else(|| db_url(dir), str::to_string)
}

/// Runs a command to completion; returns stdout, asserting success.
fn run(dir: &Path, args: &[&str]) -> String {
    let out = Command::new(BIN).args(["--database-url", &db_url(dir)]).args(args).output().unwrap();
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn run_json(dir: &Path, args: &[&str]) -> Value {
    serde_json::from_str(&run(dir, args)).unwrap()
}

struct Server {
    child: Child,
    base: String,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
}

impl Server {
    fn start(dir: &Path, args: &[&str]) -> Server {
        Server::start_on(&db_url(dir), args)
    }

    fn start_on(database_url: &str, args: &[&str]) -> Server {
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

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends SIGTERM and waits for a clean exit.
    fn stop(mut self) -> String {
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

/// Waits for `marker` in the output; returns the URL that follows it.
fn wait_for(text: &Arc<Mutex<String>>, marker: &str) -> String {
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

fn http() -> ureq::Agent {
    ureq::Agent::config_builder().http_status_as_error(false).build().into()
}

fn get(url: &str, token: Option<&str>) -> (u16, String) {
    let mut req = http().get(url);
    if let Some(t) = token {
        req = req.header("authorization", &format!("Bearer {t}"));
    }
    let mut res = req.call().unwrap();
    (res.status().as_u16(), res.body_mut().read_to_string().unwrap())
}

#[test]
fn admin_commands_work_on_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    assert_eq!(run(d, &["migrate"]).trim(), "database is up to date");
    let partner = run_json(d, &["partner", "create", "--name", "Ada", "--email", "ada@example.com"]);
    assert_eq!(
        (&partner["id"], &partner["name"], &partner["email"]),
        (&Value::from(1), &Value::from("Ada"), &Value::from("ada@example.com"))
    );
    let token = partner["token"].as_str().unwrap().to_string();
    let student = run_json(d, &["student", "create", "--name", "Bo", "--email", "bo@example.com"]);
    assert_eq!(student["id"], 2);
    assert_eq!(
        run_json(d, &["model", "create", "--name", "gpt", "--provider", "openai"]),
        serde_json::json!({"id": 1, "name": "gpt", "provider": "openai"})
    );
    assert_eq!(
        run_json(d, &["course", "create", "--partner-id", "1", "--title", "T"]),
        serde_json::json!({"id": 1, "partner_id": 1, "title": "T"})
    );
    let out = Command::new(BIN)
        .args(["--database-url", &db_url(d), "course", "create", "--partner-id", "2", "--title", "T"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("partner not found"));

    // CloudShare catalogs: ids CloudShare-style; a pattern that does not compile is refused.
    let project = run_json(d, &["cloudshare", "project", "create", "--name", "Labs"]);
    let pr = project["id"].as_str().unwrap().to_string();
    assert!(pr.starts_with("PR") && pr.len() == 25, "{project}");
    let policy = run_json(
        d,
        &["cloudshare", "policy", "create", "--project", &pr, "--name", "2h", "--default-duration-minutes", "120"],
    );
    assert!(policy["id"].as_str().unwrap().starts_with("PO"));
    let bp = run_json(d, &["cloudshare", "blueprint", "create", "--project", &pr, "--name", "Linux"]);
    assert!(bp["token"].as_str().unwrap().len() == 6);
    let field = run_json(
        d,
        &[
            "cloudshare",
            "custom-field",
            "create",
            "--project",
            &pr,
            "--name",
            "clientId",
            "--required",
            "--regex",
            "^[0-9]+$",
        ],
    );
    assert!(field["id"].as_str().unwrap().starts_with("TF"));
    let bad = Command::new(BIN)
        .args([
            "--database-url",
            &db_url(d),
            "cloudshare",
            "custom-field",
            "create",
            "--project",
            &pr,
            "--name",
            "x",
            "--regex",
            "(",
        ])
        .output()
        .unwrap();
    assert!(!bad.status.success() && String::from_utf8_lossy(&bad.stderr).contains("regex does not compile"));
    let member = run_json(
        d,
        &[
            "cloudshare",
            "member",
            "create",
            "--name",
            "Ida",
            "--email",
            "ida@example.com",
            "--project",
            &pr,
            "--can-instruct",
        ],
    );
    assert!(
        member["vup_ids"][&pr].as_str().unwrap().starts_with("VP") && member["api_key"].as_str().unwrap().len() == 32
    );
    assert!(d.join("classhub.db.key").exists(), "the server key was made beside the database");

    let server = Server::start(d, &[]);
    assert_eq!(get(&server.url("/partner/1/classes"), Some(&token)).0, 200);

    let student_token = student["token"].as_str().unwrap();
    assert_eq!(run_json(d, &["token", "revoke", "--token", student_token]), serde_json::json!({"revoked": true}));
    assert_eq!(get(&server.url("/partner/1/classes"), Some(student_token)).0, 401);
    server.stop();
}

#[test]
fn demo_prints_curl_commands_that_work() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--demo"]);
    let printed = server.stdout.lock().unwrap().clone();
    let start = printed.find("  export CLASSHUB=").expect(&printed);
    let end = printed.find("CloudShare v3 API").unwrap();

    let script = &printed[start..end];
    let out = Command::new("bash").args(["-euo", "pipefail", "-c", script]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{script}\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    for expected in [
        "\"name\":\"Evening cohort\"",
        "\"status\":\"active\"",
        "etag: \"1\"",
        "\"total\":2",
        "\"action\":\"class.update\"",
    ] {
        assert!(stdout.contains(expected), "{expected} missing from:\n{stdout}");
    }
    // The OCARIoT walk-through, from sign-in to a patched group.
    let start = printed.find("  export CLASSHUB=").and_then(|_| printed.find(" EDU=")).expect(&printed);
    let start = printed[..start].rfind("  export").unwrap();
    let end = printed.find("API documentation").unwrap();
    let script = &printed[start..end];
    let out = Command::new("bash").args(["-euo", "pipefail", "-c", script]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{script}\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    for expected in
        ["\"name\":\"Group One\"", "x-total-count: 1", "\"name\":\"Group One (patched)\"", "\"username\":\"BR0002\""]
    {
        assert!(stdout.contains(expected), "{expected} missing from:\n{stdout}");
    }
    let logs = server.stop();
    assert!(logs.contains("shutting down"), "{logs}");

    // Tokens appear once, on stdout, never in the logs.
    for token in printed.split_whitespace().filter(|w| w.contains("chk_")) {
        let token = &token[token.find("chk_").unwrap()..].trim_end_matches(')');
        assert!(!logs.contains(token), "a token leaked into the logs");
    }
    // A second --demo on the same database seeds nothing and says so.
    let again = Server::start(dir.path(), &["--demo"]);
    wait_for(&again.stdout, "already holds data");
    again.stop();
}

#[test]
fn metrics_count_requests_by_route_and_status() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--metrics-listen", "127.0.0.1:0"]);
    let metrics = wait_for(&server.stderr, "metrics on ");
    for _ in 0..3 {
        assert_eq!(get(&server.url("/healthz"), None).0, 200);
    }
    assert_eq!(get(&server.url("/partner/1/classes"), None).0, 401);
    let (status, text) = get(&metrics, None);
    assert_eq!(status, 200);
    for line in [
        "classhub_http_requests_total{method=\"GET\",route=\"/healthz\",status=\"200\"} 3",
        "classhub_http_requests_total{method=\"GET\",route=\"/partner/{partner_id}/classes\",status=\"401\"} 1",
        "classhub_http_request_duration_seconds_bucket{method=\"GET\",route=\"/healthz\",le=\"0.005\"}",
        "classhub_store_queued_writes 0",
        "classhub_store_readers_open",
    ] {
        assert!(text.contains(line), "{line} missing from:\n{text}");
    }
    server.stop();
}

fn post(url: &str, token: &str, body: Value) -> (u16, Value) {
    let mut res = http()
        .post(url)
        .header("authorization", &format!("Bearer {token}"))
        .header("content-type", "application/json")
        .send(body.to_string())
        .unwrap();
    let text = res.body_mut().read_to_string().unwrap();
    (res.status().as_u16(), serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Two processes on one PostgreSQL database; students race through both for the last
/// seats of a class. Exactly the capacity is filled, every use made a member, no 5xx.
#[test]
#[cfg_attr(not(classhub_pg), ignore = "set CLASSHUB_TEST_POSTGRES_URL to run on PostgreSQL")]
fn two_processes_on_one_postgres_never_oversell() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let schema = rt.block_on(classhub_testkit::PgSchema::create());
    let dir = tempfile::tempdir().unwrap();
    let db = database(dir.path(), Some(&schema.url));
    // Both start at once: migrations take an advisory lock, so one migrates, the other waits.
    let args = ["--admin-token", "adm", "--redeem-failure-limit", "100000", "--pg-pool-size", "8"];
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| Server::start_on(&db, &args));
        let b = s.spawn(|| Server::start_on(&db, &args));
        (a.join().unwrap(), b.join().unwrap())
    });
    let admin = |server: &Server, kind: &str, i: usize| {
        let (status, body) = post(
            &server.url(&format!("/admin/v1/{kind}")),
            "adm",
            serde_json::json!({"name": format!("{kind}{i}"), "email": format!("{kind}{i}@example.com")}),
        );
        assert_eq!(status, 201, "{body}");
        (body["id"].as_i64().unwrap(), body["token"].as_str().unwrap().to_string())
    };
    let (partner, partner_token) = admin(&a, "partners", 0);
    let (status, class) = post(
        &a.url(&format!("/partner/{partner}/classes")),
        &partner_token,
        serde_json::json!({"name": "race", "capacity": 30}),
    );
    assert_eq!(status, 201);
    let code = class["invite_codes"][0]["code"].as_str().unwrap().to_string();
    let class_id = class["id"].as_i64().unwrap();
    // Ten seats are taken beforehand, through either process.
    for i in 0..10 {
        let server = if i % 2 == 0 { &a } else { &b };
        let (_, token) = admin(server, "students", i);
        assert_eq!(post(&server.url("/user/class/invites/redeem"), &token, serde_json::json!({"code": code})).0, 201);
    }
    let students: Vec<String> = (10..130).map(|i| admin(if i % 2 == 0 { &a } else { &b }, "students", i).1).collect();
    let barrier = std::sync::Barrier::new(students.len());
    let statuses: Vec<u16> = std::thread::scope(|s| {
        let handles: Vec<_> = students
            .iter()
            .enumerate()
            .map(|(i, token)| {
                let (server, barrier, code) = (if i % 2 == 0 { &a } else { &b }, &barrier, &code);
                s.spawn(move || {
                    barrier.wait();
                    post(&server.url("/user/class/invites/redeem"), token, serde_json::json!({"code": code})).0
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(statuses.iter().all(|s| *s == 201 || *s == 409), "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 20);
    let (status, body) = get(&b.url(&format!("/partner/{partner}/classes/{class_id}")), Some(&partner_token));
    assert_eq!(status, 200);
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["invite_codes"][0]["used_count"], 30);
    let (_, roster) =
        get(&a.url(&format!("/partner/{partner}/classes/{class_id}/students?limit=1")), Some(&partner_token));
    assert_eq!(serde_json::from_str::<Value>(&roster).unwrap()["total"], 30);
    a.stop();
    b.stop();
}

/// A throwaway CA and a certificate for 127.0.0.1 and localhost signed by it; returns the
/// paths of the CA, certificate and key PEM files.
fn tls_files(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
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

fn https(ca: &Path) -> ureq::Agent {
    let pem = std::fs::read(ca).unwrap();
    let root = ureq::tls::Certificate::from_pem(&pem).unwrap().to_owned();
    let tls = ureq::tls::TlsConfig::builder().root_certs(ureq::tls::RootCerts::new_with_certs(&[root])).build();
    ureq::Agent::config_builder().tls_config(tls).http_status_as_error(false).build().into()
}

/// A virtualenv with the PyPI `cloudshare` package, made once per target directory. A file
/// lock keeps tests running at once (threads or nextest processes) from building it together.
fn sdk_python() -> std::path::PathBuf {
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cloudshare-sdk-venv");
    let python = venv.join("bin/python");
    let lock = std::fs::File::create(venv.with_extension("lock")).unwrap();
    lock.lock().unwrap();

    let ready = python.exists()
        && Command::new(&python).args(["-c", "import cloudshare"]).status().map(|s| s.success()).unwrap_or(false);
    if !ready {
        let _ = std::fs::remove_dir_all(&venv);
        assert!(Command::new("python3").args(["-m", "venv"]).arg(&venv).status().unwrap().success(), "python3 -m venv");
        let pip = Command::new(&python).args(["-m", "pip", "install", "--quiet", "cloudshare"]).output().unwrap();
        assert!(pip.status.success(), "pip install cloudshare: {}", String::from_utf8_lossy(&pip.stderr));
    }
    python
}

/// The real CloudShare SDK drives every endpoint over HTTPS; invitations reach the mail
/// directory.
#[test]
fn cloudshare_sdk_drives_classhub_over_https() {
    let python = sdk_python();
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = tls_files(dir.path());
    let mail = dir.path().join("mail");
    let server = Server::start(
        dir.path(),
        &[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
            "--admin-token",
            "adm",
            "--mail-dir",
            mail.to_str().unwrap(),
        ],
    );
    assert!(server.base.starts_with("https://"), "{}", server.base);
    let agent = https(&ca);
    let admin = |path: &str, body: Value| -> Value {
        let mut res = agent
            .post(&server.url(path))
            .header("authorization", "Bearer adm")
            .header("content-type", "application/json")
            .send(body.to_string())
            .unwrap();
        let text = res.body_mut().read_to_string().unwrap();
        assert_eq!(res.status().as_u16(), 201, "{path}: {text}");
        serde_json::from_str(&text).unwrap()
    };
    let project =
        admin("/admin/v1/cloudshare/projects", serde_json::json!({"name": "SDK"}))["id"].as_str().unwrap().to_string();
    let policy = admin(
        &format!("/admin/v1/cloudshare/projects/{project}/policies"),
        serde_json::json!({"name": "2h", "default_duration_minutes": 120}),
    );
    let blueprint =
        admin(&format!("/admin/v1/cloudshare/projects/{project}/blueprints"), serde_json::json!({"name": "Linux"}));
    let field = admin(
        &format!("/admin/v1/cloudshare/projects/{project}/custom-fields"),
        serde_json::json!({"name": "clientId", "order": 1, "type": 0, "is_required": true, "regex": "^[0-9]+$"}),
    );
    let member = |name: &str, email: &str| {
        admin(
            "/admin/v1/cloudshare/members",
            serde_json::json!({"name": name, "email": email, "project_ids": [project], "can_instruct": true}),
        )
    };
    let (one, two) = (member("Ida", "ida@example.com"), member("Sam", "sam@example.com"));
    let host = server.base.trim_start_matches("https://").to_string();
    let out = Command::new(&python)
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sdk/cloudshare_sdk.py"))
        .env("SSL_CERT_FILE", &ca)
        .env("CS_HOST", &host)
        .env("CS_API_ID", one["api_id"].as_str().unwrap())
        .env("CS_API_KEY", one["api_key"].as_str().unwrap())
        .env("CS_PROJECT", &project)
        .env("CS_POLICY", policy["id"].as_str().unwrap())
        .env("CS_BLUEPRINT", blueprint["id"].as_str().unwrap())
        .env("CS_FIELD", field["id"].as_str().unwrap())
        .env("CS_VUP", one["vup_ids"][&project].as_str().unwrap())
        .env("CS_VUP2", two["vup_ids"][&project].as_str().unwrap())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("all SDK checks passed"), "{stdout}");
    println!("{stdout}");
    // The invitation was delivered to the mail directory by the running sender.
    let started = Instant::now();
    let eml = loop {
        let found = std::fs::read_dir(&mail)
            .ok()
            .and_then(|d| d.flatten().map(|e| e.path()).find(|p| p.extension().is_some_and(|x| x == "eml")));
        if let Some(p) = found {
            break p;
        }
        assert!(started.elapsed() < Duration::from_secs(15), "no invitation email in {}", mail.display());
        std::thread::sleep(Duration::from_millis(100));
    };
    let text = std::fs::read_to_string(eml).unwrap();
    assert!(
        text.contains("To: ann@example.com") && text.contains("Subject: SDK class, renamed - Virtual Lab Access"),
        "{text}"
    );
    // Plain HTTP to the TLS port is refused rather than answered.
    assert!(ureq::get(&server.url("/healthz").replace("https://", "http://")).call().is_err());
    server.stop();
}

/// The CloudShare snippet `serve --demo` prints runs as printed with the SDK.
#[test]
fn demo_cloudshare_snippet_works() {
    let python = sdk_python();
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = tls_files(dir.path());
    let server = Server::start(
        dir.path(),
        &["--demo", "--tls-cert", cert.to_str().unwrap(), "--tls-key", key.to_str().unwrap()],
    );
    let printed = server.stdout.lock().unwrap().clone();
    let start = printed.find("<<'PY'\n").expect(&printed) + "<<'PY'\n".len();
    let end = start + printed[start..].find("\nPY\n").unwrap();
    let out = Command::new(&python).args(["-c", &printed[start..end]]).env("SSL_CERT_FILE", &ca).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("03/02/2031 09:00 AM 03/02/2031 11:00 AM upcoming"), "{stdout}");
    assert!(stdout.contains("Demo lab, renamed") && stdout.contains("'studentId': 'SD"), "{stdout}");
    let logs = server.stop();
    let api_key = printed.split("API key ").nth(1).and_then(|s| s.split_whitespace().next()).unwrap();
    assert!(!logs.contains(api_key), "the API key leaked into the logs");
}
