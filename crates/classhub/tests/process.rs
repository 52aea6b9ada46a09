//! The `classhub` binary as users run it: admin commands, `serve --demo` with its printed
//! curl commands, metrics, and shutdown on SIGTERM.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

mod common;
use common::{BIN, Server, http, sqlite_url as db_url, tls_files, wait_for};

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

fn get(url: &str, token: Option<&str>) -> (u16, String) {
    let mut req = http().get(url);
    if let Some(t) = token {
        req = req.header("authorization", &format!("Bearer {t}"));
    }
    let mut res = req.call().unwrap();
    (res.status().as_u16(), res.body_mut().read_to_string().unwrap())
}

/// Accounts from the command line: a password at creation, or set later (read from
/// standard input); both sign in at `POST /user/login`.
#[test]
fn account_passwords_are_set_from_the_command_line() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ada =
        run_json(d, &["partner", "create", "--name", "Ada", "--email", "Ada@example.com", "--password", "pw-one"]);
    assert_eq!(ada["email"], "Ada@example.com");
    let taken = Command::new(BIN)
        .args(["--database-url", &db_url(d), "student", "create", "--name", "A2", "--email", "ada@EXAMPLE.com"])
        .args(["--password", "pw"])
        .output()
        .unwrap();
    assert!(!taken.status.success() && String::from_utf8_lossy(&taken.stderr).contains("email already exists"));
    let bo = run_json(d, &["student", "create", "--name", "Bo", "--email", "bo@example.com"]);
    let id = bo["id"].as_i64().unwrap().to_string();
    let mut child = Command::new(BIN)
        .args(["--database-url", &db_url(d), "user", "password", "--id", &id])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"pw two\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let set: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(set, serde_json::json!({"id": bo["id"], "email": "bo@example.com", "password_set": true}));
    let nobody = Command::new(BIN)
        .args(["--database-url", &db_url(d), "user", "password", "--id", "99", "--password", "x"])
        .output()
        .unwrap();
    assert!(!nobody.status.success() && String::from_utf8_lossy(&nobody.stderr).contains("user not found"));

    let server = Server::spawn(&db_url(d), &[]);
    for (email, password) in [("ada@example.com", "pw-one"), ("bo@example.com", "pw two")] {
        let body = serde_json::json!({"email": email, "password": password}).to_string();
        let mut res = http()
            .post(&server.url("/user/login"))
            .header("content-type", "application/json")
            .send(body.as_bytes())
            .unwrap();
        assert_eq!(res.status().as_u16(), 200, "{email}");
        let tokens: Value = serde_json::from_str(&res.body_mut().read_to_string().unwrap()).unwrap();
        assert_eq!(tokens["token_type"], "bearer");
    }
    server.stop();
}

/// Users from the command line: listed (JSON, or a table for people), disabled, shown,
/// given a new token, deleted; the same shapes as the admin API's.
#[test]
fn users_are_looked_after_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ada = run_json(d, &["partner", "create", "--name", "Ada", "--email", "ada@example.com"]);
    run_json(d, &["student", "create", "--name", "Bo", "--email", "bo@example.com"]);
    let list = run_json(d, &["user", "list", "--query", "EXAMPLE"]);
    assert_eq!((list["total"].clone(), list["items"][1]["kind"].clone()), (Value::from(2), Value::from("student")));
    let partners = run_json(d, &["partner", "list"]);
    assert_eq!(partners["items"].as_array().unwrap().len(), 1, "{partners}");
    let table = run(d, &["--output", "table", "user", "list"]);
    let rows: Vec<&str> = table.lines().filter(|l| l.contains("@example.com")).collect();
    assert!(rows.len() == 2 && rows[0].contains("Ada") && rows[0].contains("partner"), "{table}");
    assert!(table.trim_end().ends_with("total: 2  limit: 100  offset: 0"), "{table}");
    let disabled = run_json(d, &["user", "disable", "--id", "1"]);
    assert!(disabled["disabled_at"].is_string(), "{disabled}");
    assert_eq!(run_json(d, &["user", "list", "--disabled", "true"])["total"], 1);
    let shown = run(d, &["--output", "table", "user", "show", "--id", "1"]);
    assert!(shown.lines().any(|l| l.contains("disabled_at") && l.contains('T')), "{shown}");
    assert!(run_json(d, &["user", "enable", "--id", "1"])["disabled_at"].is_null());
    let renamed = run_json(d, &["user", "update", "--id", "1", "--name", "Ada L"]);
    assert_eq!(renamed["name"], "Ada L");
    let rotated = run_json(d, &["user", "rotate-token", "--id", "1"]);
    assert!(rotated["token"].as_str().unwrap().starts_with("chk_") && rotated["token"] != ada["token"]);
    assert_eq!(run_json(d, &["user", "delete", "--id", "2"]), serde_json::json!({"id": 2, "deleted": true}));
    let out = Command::new(BIN).args(["--database-url", &db_url(d), "user", "show", "--id", "2"]).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stderr).trim(), "classhub: no user has id 2");
    // The catalog: courses listed, shown, archived, deleted; models listed.
    run_json(d, &["course", "create", "--partner-id", "1", "--title", "Prompting"]);
    run_json(d, &["model", "create", "--name", "gpt", "--provider", "openai", "--inactive"]);
    let courses = run_json(d, &["course", "list", "--partner-id", "1"]);
    assert_eq!(
        (courses["total"].clone(), courses["items"][0]["title"].clone()),
        (Value::from(1), Value::from("Prompting"))
    );
    let archived = run_json(d, &["course", "update", "--id", "1", "--status", "archived"]);
    assert_eq!(archived["status"], "archived");
    assert_eq!(run_json(d, &["course", "show", "--id", "1"]), archived);
    assert_eq!(run_json(d, &["course", "delete", "--id", "1"]), serde_json::json!({"id": 1, "deleted": true}));
    assert_eq!(run_json(d, &["course", "list"])["total"], 0);
    let models = run(d, &["--output", "table", "model", "list"]);
    assert!(models.lines().any(|l| l.contains("gpt") && l.contains("false")), "{models}");
    assert_eq!(run_json(d, &["model", "list", "--active"])["total"], 0);
    let enabled = run_json(d, &["model", "update", "--id", "1", "--active", "true", "--name", "gpt-2"]);
    assert_eq!((enabled["is_active"].clone(), enabled["name"].clone()), (Value::from(true), Value::from("gpt-2")));
    assert_eq!(run_json(d, &["model", "show", "--id", "1"]), enabled);
}

#[test]
fn admin_commands_work_on_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Migrations say what they did, logged once, without the migration library's own lines.
    let out = Command::new(BIN).args(["--database-url", &db_url(d), "migrate"]).output().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(stdout.starts_with("applied 12 migration(s): V1__initial, V2__cloudshare,"), "{stdout}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("migrated the database") && !stderr.contains("refinery"), "{stderr}");
    assert_eq!(run(d, &["migrate"]).trim(), "the database was already up to date");
    // A command's error is printed once, on stderr.
    let out = Command::new(BIN)
        .args(["--database-url", &db_url(d), "token", "revoke", "--token", "chk_none"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.lines().count() == 1 && stderr.starts_with("classhub: "), "{stderr}");
    // Start-up errors name the file and the cause.
    let missing = format!("sqlite://{}/no/such/folder/x.db", d.display());
    let out = Command::new(BIN).args(["--database-url", &missing, "migrate"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no/such/folder/x.db: No such file or directory"), "{stderr}");
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
        serde_json::json!({"id": 1, "name": "gpt", "provider": "openai", "modality": "chat",
                           "supports_parallel": false, "default_pricing": null, "is_active": true})
    );
    assert_eq!(
        run_json(d, &["course", "create", "--partner-id", "1", "--title", "T"]),
        serde_json::json!({"id": 1, "partner_id": 1, "title": "T", "course_key": "course-1", "status": "draft"})
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
    let projects = run_json(d, &["cloudshare", "project", "list"]);
    assert_eq!(
        (projects["total"].clone(), projects["items"][0]["id"].clone()),
        (Value::from(1), Value::from(pr.as_str()))
    );
    let shown = run_json(d, &["cloudshare", "project", "show", "--id", &pr]);
    assert_eq!(shown["members"][0]["vup_id"], member["vup_ids"][&pr], "{shown}");
    let members = run_json(d, &["user", "list", "--kind", "project_member"]);
    let id = members["items"][0]["id"].as_i64().unwrap().to_string();
    let rotated = run_json(d, &["cloudshare", "member", "rotate-key", "--id", &id]);
    assert!(rotated["api_id"] != member["api_id"] && rotated["api_key"].as_str().unwrap().len() == 32, "{rotated}");
    // Each entry changed and deleted; the project disabled, renamed, deleted.
    let po = policy["id"].as_str().unwrap();
    let changed = run_json(
        d,
        &["cloudshare", "policy", "update", "--project", &pr, "--id", po, "--default-duration-minutes", "45"],
    );
    assert_eq!(changed["default_duration_minutes"], 45, "{changed}");
    let bp_id = bp["id"].as_str().unwrap();
    let changed =
        run_json(d, &["cloudshare", "blueprint", "update", "--project", &pr, "--id", bp_id, "--description", "Ubuntu"]);
    assert_eq!(changed["description"], "Ubuntu", "{changed}");
    let tf = field["id"].as_str().unwrap();
    let changed = run_json(d, &["cloudshare", "custom-field", "update", "--project", &pr, "--id", tf, "--regex", ""]);
    assert_eq!((changed["regex"].clone(), changed["is_required"].clone()), (Value::Null, Value::from(true)));
    let vup = member["vup_ids"][&pr].as_str().unwrap();
    let changed =
        run_json(d, &["cloudshare", "member", "update", "--project", &pr, "--id", vup, "--can-manage", "true"]);
    assert_eq!((changed["can_manage"].clone(), changed["name"].clone()), (Value::from(true), Value::from("Ida")));
    let changed =
        run_json(d, &["cloudshare", "project", "update", "--id", &pr, "--name", "Old labs", "--active", "false"]);
    assert_eq!(changed, serde_json::json!({"id": pr, "name": "Old labs", "is_active": false}));
    for (kind, id) in [("custom-field", tf), ("blueprint", bp_id), ("policy", po)] {
        let deleted = run_json(d, &["cloudshare", kind, "delete", "--project", &pr, "--id", id]);
        assert_eq!(deleted, serde_json::json!({"deleted": true}), "{kind}");
    }
    run_json(d, &["cloudshare", "member", "remove", "--project", &pr, "--id", vup]);
    let shown = run_json(d, &["cloudshare", "project", "show", "--id", &pr]);
    assert_eq!(
        [&shown["policies"], &shown["blueprints"], &shown["custom_fields"], &shown["members"]],
        [&Value::Array(vec![]); 4],
        "{shown}"
    );
    run_json(d, &["cloudshare", "project", "delete", "--id", &pr]);
    assert_eq!(run_json(d, &["cloudshare", "project", "list"])["total"], 0);
    let model = run_json(d, &["model", "create", "--name", "gone", "--provider", "openai"]);
    let model_id = model["id"].to_string();
    assert_eq!(run_json(d, &["model", "delete", "--id", &model_id])["deleted"], true);

    let server = Server::spawn(&db_url(d), &[]);
    assert_eq!(get(&server.url("/partner/1/classes"), Some(&token)).0, 200);

    let student_token = student["token"].as_str().unwrap();
    assert_eq!(run_json(d, &["token", "revoke", "--token", student_token]), serde_json::json!({"revoked": true}));
    assert_eq!(get(&server.url("/partner/1/classes"), Some(student_token)).0, 401);
    server.stop();
}

/// A self-signed certificate for 127.0.0.1, made as README.md makes one: (cert, key).
fn self_signed(dir: &Path) -> (String, String) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let out = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30", "-subj", "/CN=localhost", "-addext"])
        .arg("subjectAltName=DNS:localhost,IP:127.0.0.1")
        .args(["-keyout", key.to_str().unwrap(), "-out", cert.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    (cert.to_str().unwrap().to_string(), key.to_str().unwrap().to_string())
}

/// README.md's partner quickstart, every shell block of its section in order, as pasted
/// into a new folder: the only changes are the binary for `cargo run --release --` and a free
/// port for 8080 (and, over HTTPS, the two the README names).
fn readme_quickstart_works(tls: bool) {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    let section = readme.split("## Quickstart (partner API)").nth(1).unwrap().split("\n## ").next().unwrap();
    let blocks: Vec<&str> = section.split("```sh\n").skip(1).map(|b| b.split("```").next().unwrap()).collect();
    assert!(blocks.len() >= 5, "{section}");
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut script = format!("{}\nkill %1; wait\n", blocks.join("\n"));
    if tls {
        self_signed(dir.path());
        let export = "export CLASSHUB=http://127.0.0.1:8080";
        assert!(script.contains(export) && script.contains("--admin-token \"$ADMIN_TOKEN\" &"));
        script = script.replace(export, "export CLASSHUB=https://127.0.0.1:8080 CURL_CA_BUNDLE=$PWD/cert.pem").replace(
            "--admin-token \"$ADMIN_TOKEN\" &",
            "--admin-token \"$ADMIN_TOKEN\" --tls-cert cert.pem --tls-key key.pem &",
        );
    }
    let script = script.replace("cargo run --release --", BIN).replace("127.0.0.1:8080", &format!("127.0.0.1:{port}"));
    let out = Command::new("bash")
        .args(["-eu", "-c", &script])
        .current_dir(dir.path())
        .env("CLASSHUB_LISTEN", format!("127.0.0.1:{port}"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{script}\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    for expected in [
        "\"token_type\":\"bearer\"",
        "\"default_role\":\"partner\"",
        "\"name\":\"Evening cohort\"",
        "etag: \"1\"",
        "idempotent-replayed: true",
        "\"action\":\"class.update\"",
        "\"status\":\"active\",\"enrolled_at\"",
        "\"completed_at\":null} 201\n{\"id\":1,",
        "\"completed_at\":null} 200\n",
        "\"class_title\":\"Evening cohort\"",
        "\"status\":\"disabled\"",
        "\"email_verified_token\":\"che_",
        "\"revoked\":true",
        "\"default_role\":\"member\"",
        "total: 1  limit: 100  offset: 0",
        "{\"id\":2,\"deleted\":true}",
    ] {
        assert!(stdout.contains(expected), "{expected} missing from:\n{stdout}");
    }
    // Leaving and the removal answer 204; the redeems and the sign-up 201.
    assert_eq!((stdout.matches("204\n").count(), stdout.matches(" 201\n").count()), (2, 3), "{stdout}");
}

#[test]
fn readme_quickstart_pastes_over_http() {
    readme_quickstart_works(false);
}

#[test]
fn readme_quickstart_pastes_over_https() {
    readme_quickstart_works(true);
}

#[test]
fn demo_prints_curl_commands_that_work() {
    demo_commands_work(false);
}

/// With a self-signed certificate, the printed commands name it as the CA to trust.
#[test]
fn demo_prints_curl_commands_that_work_over_https() {
    demo_commands_work(true);
}

fn demo_commands_work(tls: bool) {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = if tls { self_signed(dir.path()) } else { Default::default() };
    let args: &[&str] = if tls { &["--demo", "--tls-cert", &cert, "--tls-key", &key] } else { &["--demo"] };
    let server = Server::spawn(&db_url(dir.path()), args);
    assert_eq!(server.base.starts_with("https://"), tls);
    let printed = server.stdout.lock().unwrap().clone();
    assert_eq!(printed.contains(&format!("CURL_CA_BUNDLE={cert} SSL_CERT_FILE={cert}")), tls, "{printed}");
    // First the admin token --demo made (none was given): the admin API works with it.
    let start = printed.find("  export CLASSHUB=").expect(&printed);
    let end = printed.find("classhub demo data is ready").unwrap();
    let script = &printed[start..end];
    assert!(script.contains("ADMIN_TOKEN=adm_"), "{script}");
    let out = Command::new("bash").args(["-euo", "pipefail", "-c", script]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success() && stdout.contains("\"name\":\"o3-mini\""), "{script}\n{stdout}");

    let start = end + printed[end..].find("  export CLASSHUB=").expect(&printed);
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
    let again = Server::spawn(&db_url(dir.path()), &["--demo"]);
    wait_for(&again.stdout, "already holds data");
    again.stop();
}

#[test]
fn metrics_count_requests_by_route_and_status() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::spawn(&db_url(dir.path()), &["--metrics-listen", "127.0.0.1:0"]);
    let metrics = wait_for(&server.stderr, "metrics on ");
    for _ in 0..3 {
        assert_eq!(get(&server.url("/healthz"), None).0, 200);
    }
    assert_eq!(get(&server.url("/partner/1/classes"), None).0, 401);
    // Wrong passwords for one email until the throttle refuses: one identity at this
    // address and the address are counted; the first is blocked.
    let login = serde_json::json!({"email": "nobody@example.com", "password": "wrong"});
    let refused = (0..30).map(|_| post(&server.url("/user/login"), "", login.clone()).0).find(|s| *s == 429);
    assert_eq!(refused, Some(429));
    let (status, text) = get(&metrics, None);
    assert_eq!(status, 200);
    for line in [
        "classhub_http_requests_total{method=\"GET\",route=\"/healthz\",status=\"200\"} 3",
        "classhub_http_requests_total{method=\"GET\",route=\"/partner/{partner_id}/classes\",status=\"401\"} 1",
        "classhub_http_request_duration_seconds_bucket{method=\"GET\",route=\"/healthz\",le=\"0.005\"}",
        "classhub_store_queued_writes 0",
        "classhub_store_readers_open",
        "# HELP classhub_http_requests_total Requests answered, by method, route template and status.",
        "# TYPE classhub_http_requests_total counter",
        "# HELP classhub_http_request_duration_seconds ",
        "# TYPE classhub_mail_outbox_pending gauge",
        "classhub_mail_outbox_pending 0",
        "classhub_mail_outbox_oldest_age_seconds 0",
        "classhub_throttle_keys 2",
        "classhub_throttle_blocked 1",
        &format!("classhub_build_info{{version=\"{}\",engine=\"sqlite\"}} 1", env!("CARGO_PKG_VERSION")),
        "# TYPE process_cpu_seconds_total counter",
        "process_resident_memory_bytes ",
        "process_open_fds ",
    ] {
        assert!(text.contains(line), "{line} missing from:\n{text}");
    }
    // Every metric is described.
    for name in
        text.lines().filter(|l| !l.starts_with('#') && !l.is_empty()).map(|l| l.split(['{', ' ']).next().unwrap())
    {
        let family = ["_bucket", "_sum", "_count"].iter().fold(name, |n, s| n.strip_suffix(s).unwrap_or(n));
        assert!(text.contains(&format!("# HELP {family} ")), "no HELP for {family}:\n{text}");
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
        let a = s.spawn(|| Server::start(dir.path(), &db, &args));
        let b = s.spawn(|| Server::start(dir.path(), &db, &args));
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

/// The CloudShare snippet `serve --demo` prints runs as printed with the SDK.
#[test]
fn demo_cloudshare_snippet_works() {
    let python = common::sdk_python();
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = tls_files(dir.path());
    let server = Server::spawn(
        &db_url(dir.path()),
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

/// Sends a request with JSON in and out and the given headers.
fn send(method: &str, url: &str, headers: &[(&str, &str)], body: Option<&Value>) -> (u16, Value) {
    let agent = http();
    let mut res = match body {
        Some(b) => {
            let mut req = match method {
                "POST" => agent.post(url),
                "PUT" => agent.put(url),
                "PATCH" => agent.patch(url),
                other => panic!("{other} with a body"),
            };
            for (k, v) in headers {
                req = req.header(*k, *v);
            }
            req.header("content-type", "application/json").send(b.to_string()).unwrap()
        }
        None => {
            let mut req = match method {
                "GET" => agent.get(url),
                "DELETE" => agent.delete(url),
                other => panic!("{other} without a body"),
            };
            for (k, v) in headers {
                req = req.header(*k, *v);
            }
            req.call().unwrap()
        }
    };
    let text = res.body_mut().read_to_string().unwrap();
    (res.status().as_u16(), serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// A random secret of `len` letters and digits, recognisable in logs.
fn random_secret(prefix: &str, len: usize) -> String {
    use rand::Rng;
    let tail: String = (0..len).map(|_| rand::rng().sample(rand::distr::Alphanumeric) as char).collect();
    format!("{prefix}{tail}")
}

/// Every dialect's credentials in use, at the most verbose log level and with the database
/// driver's traces asked for by name: none of them — nor the server's keys, the invite
/// codes or the passphrases — may appear in what the process writes.
fn secrets_stay_out_of_the_logs(database_url: &str, dir: &Path) {
    use sha1::Digest;
    let admin_token = random_secret("adm-", 32);
    let oc_admin_password = random_secret("ocpw-", 24);
    let jwt_key = random_secret("jwtkey-", 48);
    let (jwt_file, key_file) = (dir.join("jwt.key"), dir.join("server.key"));
    std::fs::write(&jwt_file, &jwt_key).unwrap();
    let server = Server::spawn(
        database_url,
        &[
            "--log",
            "trace,tokio_postgres=trace",
            "--secret-key-file",
            key_file.to_str().unwrap(),
            "--admin-token",
            &admin_token,
            "--ocariot-admin-password",
            &oc_admin_password,
            "--jwt-key-file",
            jwt_file.to_str().unwrap(),
            "--mail-dir",
            dir.join("mail").to_str().unwrap(),
        ],
    );
    let mut secrets: Vec<(&str, String)> = vec![
        ("admin token", admin_token.clone()),
        ("OCARIoT admin password", oc_admin_password.clone()),
        ("JWT key", jwt_key),
        ("server key", std::fs::read_to_string(&key_file).unwrap().trim().to_string()),
    ];
    let url = |p: &str| server.url(p);
    let bearer = |t: &str| format!("Bearer {t}");
    let admin = bearer(&admin_token);
    let admin_post = |path: &str, body: Value| {
        let (status, body) = send("POST", &url(path), &[("authorization", &admin)], Some(&body));
        assert!(status == 201 || status == 204, "{path}: {status} {body}");
        body
    };

    // Admin API and partner dialect.
    let partner = admin_post("/admin/v1/partners", serde_json::json!({"name": "Ada", "email": "ada@example.com"}));
    let student = admin_post("/admin/v1/students", serde_json::json!({"name": "Bo", "email": "bo@example.com"}));
    let revoked = admin_post("/admin/v1/students", serde_json::json!({"name": "Cy", "email": "cy@example.com"}));
    let (pid, partner_token) = (partner["id"].as_i64().unwrap(), partner["token"].as_str().unwrap().to_string());
    let student_token = student["token"].as_str().unwrap().to_string();
    let revoked_token = revoked["token"].as_str().unwrap().to_string();
    admin_post("/admin/v1/tokens/revoke", serde_json::json!({"token": revoked_token}));
    let (pb, sb) = (bearer(&partner_token), bearer(&student_token));
    let (status, class) = send(
        "POST",
        &url(&format!("/partner/{pid}/classes")),
        &[("authorization", &pb)],
        Some(&serde_json::json!({"name": "Secretive", "capacity": 5})),
    );
    assert_eq!(status, 201, "{class}");
    let code = class["invite_codes"][0]["code"].as_str().unwrap().to_string();
    let classes = url(&format!("/partner/{pid}/classes/{}", class["id"]));
    let patch = serde_json::json!({"description": "changed"});
    assert_eq!(send("PATCH", &classes, &[("authorization", &pb)], Some(&patch)).0, 200);
    assert_eq!(send("GET", &format!("{classes}/invite-codes"), &[("authorization", &pb)], None).0, 200);
    let redeem = url("/user/class/invites/redeem");
    let wrong_code = serde_json::json!({"code": "WRONGCODE"});
    assert_eq!(send("POST", &redeem, &[("authorization", &sb)], Some(&wrong_code)).0, 400);
    let body = serde_json::json!({"code": code.to_lowercase()});
    assert_eq!(send("POST", &redeem, &[("authorization", &sb)], Some(&body)).0, 201);
    assert_eq!(send("GET", &url("/user/classes"), &[("authorization", &sb)], None).0, 200);
    assert_eq!(send("GET", &url("/user/classes"), &[("authorization", &bearer(&revoked_token))], None).0, 401);
    assert_eq!(send("GET", &format!("{classes}/students"), &[("authorization", &pb)], None).0, 200);
    // A token in the query string, where a careless client might put it.
    assert_eq!(send("GET", &format!("{}?access_token={partner_token}", url("/user/classes")), &[], None).0, 401);

    // CloudShare: an API key, signed requests (good, stale and wrong), a sponsored link.
    let project = admin_post("/admin/v1/cloudshare/projects", serde_json::json!({"name": "Labs"}))["id"]
        .as_str()
        .unwrap()
        .to_string();
    let policy = admin_post(
        &format!("/admin/v1/cloudshare/projects/{project}/policies"),
        serde_json::json!({"name": "2h", "default_duration_minutes": 120}),
    )["id"]
        .as_str()
        .unwrap()
        .to_string();
    let blueprint = admin_post(
        &format!("/admin/v1/cloudshare/projects/{project}/blueprints"),
        serde_json::json!({"name": "L"}),
    )["id"]
        .as_str()
        .unwrap()
        .to_string();
    let member = admin_post(
        "/admin/v1/cloudshare/members",
        serde_json::json!({"name": "Ida", "email": "ida@example.com", "project_ids": [project], "can_instruct": true}),
    );
    let (api_id, api_key) = (member["api_id"].as_str().unwrap(), member["api_key"].as_str().unwrap().to_string());
    let vup = member["vup_ids"][&project].as_str().unwrap().to_string();
    let signed = |method: &str, path: &str, body: Option<&Value>, key: &str, skew: i64| {
        let target = url(path);
        let timestamp = jiff::Timestamp::now().as_second() + skew;
        let nonce = random_secret("", 10);
        let digest = sha1::Sha1::digest(format!("{key}{target}{timestamp}{nonce}").as_bytes());
        let hmac: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        let auth = format!("cs_sha1 userapiid:{api_id};timestamp:{timestamp};token:{nonce};hmac:{hmac}");
        send(method, &target, &[("authorization", &auth)], body)
    };
    let passphrase = random_secret("pass-", 12);
    let lab = serde_json::json!({"name": "Lab", "projectId": project, "blueprintId": blueprint, "policyId": policy,
        "instructorVupId": vup, "startDate": "03/02/2031 09:00 AM", "timeZoneId": "Eastern Standard Time",
        "studentPassphrase": passphrase, "limitEarlyAccess": 0, "maxStudents": 10});
    let (status, lab) = signed("POST", "/api/v3/class", Some(&lab), &api_key, 0);
    assert_eq!(status, 200, "{lab}");
    let lab_id = lab["id"].as_str().unwrap().to_string();
    assert_eq!(signed("GET", &format!("/api/v3/class/{lab_id}"), None, &api_key, 0).0, 200);
    assert_eq!(signed("GET", "/api/v3/class", None, &api_key, -3600).0, 401, "stale");
    assert_eq!(signed("GET", "/api/v3/class", None, "wrong-key", 0).0, 401, "wrong key");
    let add = serde_json::json!({"email": "ann@example.com"});
    assert_eq!(signed("POST", &format!("/api/v3/class/{lab_id}/students"), Some(&add), &api_key, 0).0, 200);
    let link = serde_json::json!({"classId": lab_id, "studentEmail": "lin@example.com", "preRegisterStudent": true});
    let (status, link) = signed("POST", "/api/v3/class/sponsoredlink", Some(&link), &api_key, 0);
    assert_eq!(status, 200, "{link}");
    let login_url = link["loginUrl"].as_str().unwrap().to_string();
    let link_token = login_url.split("token=").nth(1).unwrap().to_string();
    let page = &login_url[login_url.find("/Class/").unwrap()..];
    assert_eq!(send("GET", &url(page), &[], None).0, 200);

    // OCARIoT: passwords, right and wrong, and the JWTs they buy.
    let sign_in = |user: &str, password: &str| {
        send("POST", &url("/v1/auth"), &[], Some(&serde_json::json!({"username": user, "password": password})))
    };
    let (status, t) = sign_in("admin", &oc_admin_password);
    assert_eq!(status, 200, "{t}");
    let oc_admin = t["access_token"].as_str().unwrap().to_string();
    let ob = bearer(&oc_admin);
    let (_, inst) = send(
        "POST",
        &url("/v1/institutions"),
        &[("authorization", &ob)],
        Some(&serde_json::json!({"type": "School", "name": "E"})),
    );
    let (edu_password, child_password, wrong_password) =
        (random_secret("edupw-", 16), random_secret("kidpw-", 16), random_secret("nope-", 16));
    let (status, edu) = send(
        "POST",
        &url("/v1/educators"),
        &[("authorization", &ob)],
        Some(&serde_json::json!({"username": "teacher", "password": edu_password, "institution_id": inst["id"]})),
    );
    assert_eq!(status, 201, "{edu}");
    let (status, child) = send(
        "POST",
        &url("/v1/children"),
        &[("authorization", &ob)],
        Some(
            &serde_json::json!({"username": "BR1", "password": child_password, "institution_id": inst["id"], "gender": "male", "age": 10}),
        ),
    );
    assert_eq!(status, 201, "{child}");
    assert_eq!(sign_in("teacher", &wrong_password).0, 401);
    let (status, t) = sign_in("teacher", &edu_password);
    assert_eq!(status, 200, "{t}");
    let edu_token = t["access_token"].as_str().unwrap().to_string();
    let groups = url(&format!("/v1/educators/{}/children/groups", edu["id"].as_str().unwrap()));
    let group = serde_json::json!({"name": "G", "children": [child["id"]]});
    assert_eq!(send("POST", &groups, &[("authorization", &bearer(&edu_token))], Some(&group)).0, 201);
    assert_eq!(send("GET", &groups, &[("authorization", &bearer(&edu_token))], None).0, 200);
    let expired_like = format!("{edu_token}x");
    assert_eq!(send("GET", &groups, &[("authorization", &bearer(&expired_like))], None).0, 401);

    // Let the mail sender pick the outbox up too (it logs what it delivers).
    std::thread::sleep(Duration::from_millis(1500));
    let stdout = server.stdout.clone();
    let stderr = server.stop();
    let logs = format!("{}{stderr}", stdout.lock().unwrap());
    assert!(
        logs.contains("\"level\":\"TRACE\"") || logs.contains("\"level\":\"DEBUG\""),
        "verbose logs expected:\n{logs}"
    );
    assert!(logs.contains("\"route\":\"/api/v3/{*rest}\""), "JSON request logs expected:\n{logs}");
    secrets.extend([
        ("partner token", partner_token),
        ("student token", student_token),
        ("revoked token", revoked_token),
        ("CloudShare API key", api_key),
        ("sponsored link token", link_token),
        ("student passphrase", passphrase),
        ("OCARIoT admin JWT", oc_admin),
        ("educator JWT", edu_token.clone()),
        ("educator JWT signature", edu_token.rsplit('.').next().unwrap().to_string()),
        ("educator password", edu_password),
        ("child password", child_password),
        ("a wrong password", wrong_password),
        ("invite code", code),
    ]);
    let leaked: Vec<String> = secrets
        .iter()
        .filter_map(|(name, s)| logs.lines().find(|l| l.contains(s.as_str())).map(|line| format!("{name} in {line}")))
        .collect();
    assert!(leaked.is_empty(), "secrets in the logs:\n{}", leaked.join("\n"));
}

#[test]
fn secrets_stay_out_of_the_logs_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    secrets_stay_out_of_the_logs(&db_url(dir.path()), dir.path());
}

#[test]
#[cfg_attr(not(classhub_pg), ignore = "set CLASSHUB_TEST_POSTGRES_URL to run on PostgreSQL")]
fn secrets_stay_out_of_the_logs_on_postgres() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let schema = rt.block_on(classhub_testkit::PgSchema::create());
    let dir = tempfile::tempdir().unwrap();
    secrets_stay_out_of_the_logs(&schema.url, dir.path());
}

/// Every line logged while a request is handled carries the request's id: here the outage
/// the request meets, logged by the dialect's error mapping inside the request's span.
#[test]
#[cfg_attr(not(classhub_pg), ignore = "set CLASSHUB_TEST_POSTGRES_URL to run on PostgreSQL")]
fn every_log_line_of_a_request_carries_its_request_id() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = rt.block_on(classhub_testkit::PgDatabase::create());
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &db.url, &["--admin-token", "adm"]);
    let person = serde_json::json!({"name": "Ada", "email": "ada@example.com"});
    assert_eq!(post(&server.url("/admin/v1/partners"), "adm", person.clone()).0, 201);
    rt.block_on(db.refuse_connections());
    let url = server.url("/admin/v1/partners");
    let reply = common::send(&http(), "POST", &url, Some("adm"), Some("span-check-1"), Some(&person)).unwrap();
    assert_eq!(reply.status, 503, "{}", reply.text);
    let logs = server.stop();
    let lines: Vec<Value> = logs.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    let ours: Vec<&Value> = lines.iter().filter(|l| l["span"]["request_id"] == "span-check-1").collect();
    let messages: Vec<&str> = ours.iter().filter_map(|l| l["fields"]["message"].as_str()).collect();
    assert!(messages.contains(&"store unavailable") && messages.contains(&"request"), "{messages:?}\n{logs}");
    for line in lines.iter().filter(|l| l.get("span").is_some()) {
        assert!(line["span"]["request_id"].is_string(), "a line in a span without a request id: {line}");
    }
}

/// Containers start before their database: classhub keeps trying to reach PostgreSQL for
/// `--database-wait` seconds, logging why, and starts once it answers; when it never does,
/// the error names the server and the cause.
#[test]
#[cfg_attr(not(classhub_pg), ignore = "set CLASSHUB_TEST_POSTGRES_URL to run on PostgreSQL")]
fn start_up_waits_for_postgres() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let schema = rt.block_on(classhub_testkit::PgSchema::create());
    let upstream = regex::Regex::new(r"@([^/]+)/").unwrap().captures(&schema.url).unwrap()[1].to_string();
    let free_port = || std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let via = |port: u16| {
        regex::Regex::new(r"@[^/]+/").unwrap().replace(&schema.url, format!("@127.0.0.1:{port}/")).to_string()
    };

    // Nothing ever listens there: refused, retried, then an error naming the server.
    let port = free_port();
    let started = std::time::Instant::now();
    let out =
        Command::new(BIN).args(["--database-url", &via(port), "--database-wait", "1", "migrate"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && started.elapsed() >= Duration::from_secs(1), "{stderr}");
    assert!(stderr.contains("PostgreSQL is not reachable yet"), "{stderr}");
    assert!(stderr.contains(&format!("cannot connect to PostgreSQL at 127.0.0.1:{port}/")), "{stderr}");
    assert!(stderr.contains("Connection refused"), "{stderr}");

    // The server comes up (a forwarder starts listening) a second after classhub starts.
    let port = free_port();
    let forwarder = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(1500));
        let listener = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
        for client in listener.incoming().flatten() {
            let Ok(server) = std::net::TcpStream::connect(&upstream) else { continue };
            let pipe = |mut from: std::net::TcpStream, mut to: std::net::TcpStream| {
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut from, &mut to);
                    let _ = to.shutdown(std::net::Shutdown::Write);
                })
            };
            pipe(client.try_clone().unwrap(), server.try_clone().unwrap());
            pipe(server, client);
        }
    });
    let out =
        Command::new(BIN).args(["--database-url", &via(port), "--database-wait", "30", "migrate"]).output().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.starts_with("applied 12 migration(s)"), "{stdout}");
    assert!(
        stderr.contains("PostgreSQL is not reachable yet") && stderr.contains(&format!("127.0.0.1:{port}/")),
        "{stderr}"
    );
    drop(forwarder);
}

/// A renewed certificate is picked up on SIGHUP without a restart: handshakes after it
/// present the new certificate; a reload that fails keeps the current one and says so; the
/// process lives on and stops cleanly.
#[test]
fn sighup_reloads_the_tls_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let (old, new) = (dir.path().join("old"), dir.path().join("new"));
    std::fs::create_dir_all(&old).unwrap();
    std::fs::create_dir_all(&new).unwrap();
    let (old_ca, old_cert, old_key) = tls_files(&old);
    let (new_ca, new_cert, new_key) = tls_files(&new);
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::copy(&old_cert, &cert).unwrap();
    std::fs::copy(&old_key, &key).unwrap();
    let server = Server::start(
        dir.path(),
        &db_url(dir.path()),
        &["--tls-cert", cert.to_str().unwrap(), "--tls-key", key.to_str().unwrap()],
    );
    let url = server.url("/healthz").replace("https://127.0.0.1", "https://localhost");
    // Whether a client trusting only `ca` completes a request (a fresh agent: a new handshake).
    let trusts = |ca: &Path| common::https(ca).get(&url).call().is_ok_and(|r| r.status() == 200);
    assert!(trusts(&old_ca) && !trusts(&new_ca));

    std::fs::copy(&new_cert, &cert).unwrap();
    std::fs::copy(&new_key, &key).unwrap();
    server.signal("HUP");
    wait_for(&server.stderr, "SIGHUP: reloaded the TLS certificate and key");
    assert!(trusts(&new_ca) && !trusts(&old_ca));

    std::fs::write(&cert, "not a certificate").unwrap();
    server.signal("HUP");
    wait_for(&server.stderr, "SIGHUP: kept the current TLS certificate");
    assert!(trusts(&new_ca));
    server.stop();
}

/// `classhub backup` copies a database while it serves, with its key; `classhub restore`
/// makes a fresh folder's database of the copy; every dialect works against the copy with
/// the credentials made before the backup (CloudShare's API keys are sealed with the key:
/// they only work because the key came along). Neither ever overwrites a file.
#[test]
fn backup_while_serving_and_restore() {
    let (live, kept, fresh) =
        (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let server =
        Server::start(live.path(), &db_url(live.path()), &["--admin-token", "adm", "--ocariot-admin-password", "ocpw"]);
    // A partner's class, a CloudShare member's API key, an OCARIoT educator's password.
    let admin = |path: &str, body: Value| {
        let (status, out) = post(&server.url(path), "adm", body);
        assert!(status == 201, "{path}: {status} {out}");
        out
    };
    let partner = admin("/admin/v1/partners", serde_json::json!({"name": "Ada", "email": "ada@example.com"}));
    let (pid, ptoken) = (partner["id"].as_i64().unwrap(), partner["token"].as_str().unwrap().to_string());
    let (status, class) =
        post(&server.url(&format!("/partner/{pid}/classes")), &ptoken, serde_json::json!({"name": "Kept"}));
    assert_eq!(status, 201);
    let project =
        admin("/admin/v1/cloudshare/projects", serde_json::json!({"name": "Labs"}))["id"].as_str().unwrap().to_string();
    let member = admin(
        "/admin/v1/cloudshare/members",
        serde_json::json!({"name": "Ida", "email": "ida@example.com", "project_ids": [project], "can_instruct": true}),
    );
    let oc = |base: &str, path: &str, token: Option<&str>, body: Value| {
        let mut req = http().post(&format!("{base}{path}")).header("content-type", "application/json");
        if let Some(t) = token {
            req = req.header("authorization", &format!("Bearer {t}"));
        }
        let mut res = req.send(body.to_string()).unwrap();
        let text = res.body_mut().read_to_string().unwrap();
        (res.status().as_u16(), serde_json::from_str::<Value>(&text).unwrap_or(Value::Null))
    };
    let (_, login) = oc(&server.base, "/v1/auth", None, serde_json::json!({"username": "admin", "password": "ocpw"}));
    let oc_admin = login["access_token"].as_str().unwrap().to_string();
    let (_, inst) =
        oc(&server.base, "/v1/institutions", Some(&oc_admin), serde_json::json!({"type": "School", "name": "E"}));
    let body = serde_json::json!({"username": "teacher", "password": "teacherpw", "institution_id": inst["id"]});
    assert_eq!(oc(&server.base, "/v1/educators", Some(&oc_admin), body).0, 201);

    // The backup, while the server serves.
    let copy = kept.path().join("backup.db");
    let live_key = live.path().join("secret.key");
    let args = ["--secret-key-file", live_key.to_str().unwrap(), "backup", copy.to_str().unwrap()];
    let printed = run_json(live.path(), &args);
    assert_eq!(printed, serde_json::json!({"database": copy, "key": kept.path().join("backup.db.key")}));
    assert_eq!(get(&server.url(&format!("/partner/{pid}/classes")), Some(&ptoken)).0, 200);
    // Never over an existing file.
    let again = Command::new(BIN).args(["--database-url", &db_url(live.path())]).args(args).output().unwrap();
    assert!(!again.status.success() && String::from_utf8_lossy(&again.stderr).contains("never overwrites"));
    server.stop();

    // The restore, into a fresh folder; the key goes beside the new database.
    let restored = run_json(fresh.path(), &["restore", copy.to_str().unwrap()]);
    assert_eq!(restored["key"], serde_json::json!(fresh.path().join("classhub.db.key")));
    let again = Command::new(BIN)
        .args(["--database-url", &db_url(fresh.path()), "restore", copy.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!again.status.success(), "a restore over a database");
    let mail = fresh.path().join("mail");
    let copy_server = Server::spawn(&db_url(fresh.path()), &["--mail-dir", mail.to_str().unwrap()]);

    // Partner: the same token reads the same class.
    let (status, body) = get(&copy_server.url(&format!("/partner/{pid}/classes/{}", class["id"])), Some(&ptoken));
    assert_eq!((status, serde_json::from_str::<Value>(&body).unwrap()["name"].clone()), (200, Value::from("Kept")));
    // CloudShare: the API key made before the backup signs requests.
    let url = copy_server.url("/api/v3/projects");
    let header = common::cs_sha1_header(
        member["api_id"].as_str().unwrap(),
        member["api_key"].as_str().unwrap(),
        &url,
        jiff::Timestamp::now().as_second(),
        "restorenon",
    );
    let mut res = http().get(&url).header("authorization", &header).call().unwrap();
    let text = res.body_mut().read_to_string().unwrap();
    assert!(res.status() == 200 && text.contains("\"name\":\"Labs\""), "{text}");
    // OCARIoT: the educator signs in with the password set before the backup.
    let (status, _) =
        oc(&copy_server.base, "/v1/auth", None, serde_json::json!({"username": "teacher", "password": "teacherpw"}));
    assert_eq!(status, 200);
    copy_server.stop();
}

/// A request's log lines carry the W3C trace id its `traceparent` names, or one of its own.
#[test]
fn log_lines_carry_the_callers_trace_id() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &db_url(dir.path()), &[]);
    let traced = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let res = http().get(&server.url("/healthz")).header("traceparent", traced).call().unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(get(&server.url("/readyz"), None).0, 200);
    let logs = server.stop();
    let line = |route: &str| logs.lines().find(|l| l.contains(&format!("\"route\":\"{route}\""))).unwrap().to_string();
    assert!(line("/healthz").contains("\"trace_id\":\"4bf92f3577b34da6a3ce929d0e0e4736\""), "{logs}");
    let own = regex::Regex::new(r#""trace_id":"[0-9a-f]{32}""#).unwrap();
    assert!(own.is_match(&line("/readyz")) && !line("/readyz").contains("4bf92f35"), "{logs}");
}

/// An OTLP/HTTP receiver on a port of the kernel's choosing: answers every request 200 and
/// hands over each body it received.
fn otlp_receiver() -> (String, std::sync::mpsc::Receiver<Vec<u8>>) {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let tx = tx.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut stream = stream;
                loop {
                    let mut length = 0;
                    let mut line = String::new();
                    while reader.read_line(&mut line).unwrap_or(0) > 0 && line != "\r\n" {
                        if let Some((name, value)) = line.split_once(':')
                            && name.eq_ignore_ascii_case("content-length")
                        {
                            length = value.trim().parse().unwrap();
                        }
                        line.clear();
                    }
                    if line != "\r\n" {
                        return;
                    }
                    let mut body = vec![0; length];
                    reader.read_exact(&mut body).unwrap();
                    let _ = tx.send(body);
                    stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").unwrap();
                }
            });
        }
    });
    (base, rx)
}

/// With `--otlp-endpoint`, each request's span reaches the collector, continuing the
/// caller's W3C trace; without a `traceparent`, the exported trace id is the one logged.
#[test]
fn request_spans_are_exported_over_otlp() {
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use prost::Message as _;
    let (endpoint, bodies) = otlp_receiver();
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &db_url(dir.path()), &["--otlp-endpoint", &endpoint]);
    let (trace, parent) = ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7");
    let traced = format!("00-{trace}-{parent}-01");
    let res = http().get(&server.url("/models")).header("traceparent", &traced).call().unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(get(&server.url("/readyz"), None).0, 200);
    // Stopping flushes what is left to send.
    let logs = server.stop();
    let mut spans = Vec::new();
    while let Ok(body) = bodies.recv_timeout(Duration::from_secs(10)) {
        let request = ExportTraceServiceRequest::decode(body.as_slice()).unwrap();
        for resource in request.resource_spans {
            let service = resource.resource.as_ref().unwrap().attributes.iter().find(|a| a.key == "service.name");
            let service = format!("{:?}", service.and_then(|a| a.value.clone()));
            for scope in resource.scope_spans {
                spans.extend(scope.spans.into_iter().map(|s| (service.clone(), s)));
            }
        }
        if spans.iter().filter(|(_, s)| s.name.starts_with("GET ")).count() >= 2 {
            break;
        }
    }
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let span = |name: &str| spans.iter().find(|(_, s)| s.name == name).unwrap_or_else(|| panic!("{name}: {spans:?}"));
    let (service, models) = span("GET /models");
    assert!(service.contains("classhub"), "{service}");
    assert_eq!((hex(&models.trace_id), hex(&models.parent_span_id)), (trace.to_string(), parent.to_string()));
    let attribute = |s: &opentelemetry_proto::tonic::trace::v1::Span, key: &str| {
        s.attributes.iter().find(|a| a.key == key).map(|a| format!("{:?}", a.value))
    };
    assert!(attribute(models, "route").is_some_and(|v| v.contains("/models")), "{models:?}");
    assert!(attribute(models, "http.response.status_code").is_some_and(|v| v.contains("200")), "{models:?}");
    assert_eq!(models.kind, 2, "a server span");
    let (_, ready) = span("GET /readyz");
    assert!(ready.parent_span_id.is_empty(), "a trace of its own: {ready:?}");
    let line = logs.lines().find(|l| l.contains("\"route\":\"/readyz\"")).unwrap();
    assert!(line.contains(&format!("\"trace_id\":\"{}\"", hex(&ready.trace_id))), "{line}");
}
