//! Limits on what one client can make the server hold, against the real binary: the size
//! of request heads (`--max-header-bytes`), clients that send headers slowly
//! (`--header-timeout`), and JSON nested beyond serde_json's depth limit (128), which every
//! dialect answers with a 4xx in its own envelope.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{BIN, Server, call, http, sqlite_url};
use serde_json::{Value, json};
use sha1::{Digest, Sha1};

/// GET /healthz with a header of `bytes` bytes, over a raw connection (HTTP clients cap
/// what they send); the status of the answer.
fn get_with_header(server: &Server, bytes: usize) -> u16 {
    let mut tcp = TcpStream::connect(server.addr()).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let head =
        format!("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Padding: {}\r\nConnection: close\r\n\r\n", "a".repeat(bytes));
    // The server may answer and close before reading everything: a failed write is fine.
    let _ = tcp.write_all(head.as_bytes());
    let mut answer = Vec::new();
    let _ = tcp.read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer);
    let status = text.strip_prefix("HTTP/1.1 ").and_then(|s| s.get(..3)).and_then(|s| s.parse().ok());
    status.unwrap_or_else(|| panic!("no status in {text:?}"))
}

#[test]
fn request_heads_are_limited_by_max_header_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let default = Server::start(dir.path(), &sqlite_url(dir.path()), &[]);
    assert_eq!(get_with_header(&default, 30_000), 200);
    assert_eq!(get_with_header(&default, 70_000), 431, "the default limit is 64 KiB");
    assert_eq!(call(&http(), "GET", &default.url("/healthz"), None, None).status, 200, "the server goes on");
    default.stop();

    let larger = Server::start(dir.path(), &sqlite_url(dir.path()), &["--max-header-bytes", "131072"]);
    assert_eq!(get_with_header(&larger, 70_000), 200);
    assert_eq!(get_with_header(&larger, 140_000), 431);
    larger.stop();

    // hyper cannot work with less than 8 KiB: refused when the flag is read.
    let out = Command::new(BIN).args(["serve", "--max-header-bytes", "4096"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--max-header-bytes"), "{out:?}");
}

/// Sends the start of a request and never finishes its headers; returns how long the server
/// kept the connection open (`None`: still open after `wait`).
fn slow_client(server: &Server, wait: Duration) -> Option<Duration> {
    let mut tcp = TcpStream::connect(server.addr()).unwrap();
    let started = Instant::now();
    tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Slow: ").unwrap();
    tcp.set_read_timeout(Some(wait)).unwrap();
    let mut buf = [0u8; 1024];
    loop {
        match tcp.read(&mut buf) {
            // Closed (hyper may answer 408 first: read on until the end).
            Ok(0) => return Some(started.elapsed()),
            Ok(_) => {}
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                return None;
            }
            Err(_) => return Some(started.elapsed()),
        }
    }
}

#[test]
fn slow_clients_are_disconnected_after_header_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let quick = Server::start(dir.path(), &sqlite_url(dir.path()), &["--header-timeout", "1"]);
    let held = slow_client(&quick, Duration::from_secs(10)).expect("the connection was still open after 10 s");
    assert!(held >= Duration::from_millis(900) && held < Duration::from_secs(5), "closed after {held:?}");
    // A client that completes its request in time is served.
    assert_eq!(call(&http(), "GET", &quick.url("/healthz"), None, None).status, 200);
    quick.stop();

    let patient = Server::start(dir.path(), &sqlite_url(dir.path()), &["--header-timeout", "5"]);
    assert_eq!(slow_client(&patient, Duration::from_secs(2)), None, "closed before its 5 s");
    patient.stop();
}

fn nested(depth: usize) -> String {
    format!("{}1{}", "[".repeat(depth), "]".repeat(depth))
}

fn nested_object(depth: usize) -> String {
    format!("{}1{}", "{\"a\":".repeat(depth), "}".repeat(depth))
}

fn post_raw(url: &str, authorization: Option<&str>, body: &str) -> (u16, Value) {
    let agent = http();
    let mut req = agent.post(url).header("content-type", "application/json");
    if let Some(a) = authorization {
        req = req.header("authorization", a);
    }
    let mut res = req.send(body).unwrap();
    let text = res.body_mut().read_to_string().unwrap();
    (res.status().as_u16(), serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}")))
}

fn cs_sha1(server: &Server, api_id: &str, api_key: &str, path: &str, nonce: &str) -> String {
    let url = format!("http://{}{path}", server.addr());
    let ts = jiff::Timestamp::now().as_second();
    let hmac: String =
        Sha1::digest(format!("{api_key}{url}{ts}{nonce}").as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
    format!("cs_sha1 userapiid:{api_id};timestamp:{ts};token:{nonce};hmac:{hmac}")
}

#[test]
fn json_nested_too_deep_is_a_4xx_in_every_dialect() {
    let dir = tempfile::tempdir().unwrap();
    let server =
        Server::start(dir.path(), &sqlite_url(dir.path()), &["--admin-token", "adm", "--ocariot-admin-password", "pw"]);
    let agent = http();
    let partner = call(
        &agent,
        "POST",
        &server.url("/admin/v1/partners"),
        Some("adm"),
        Some(&json!({"name": "A", "email": "a@x.io"})),
    );
    let token = format!("Bearer {}", partner.body["token"].as_str().unwrap());
    let project =
        call(&agent, "POST", &server.url("/admin/v1/cloudshare/projects"), Some("adm"), Some(&json!({"name": "P"})));
    let member = call(
        &agent,
        "POST",
        &server.url("/admin/v1/cloudshare/members"),
        Some("adm"),
        Some(&json!({"name": "I", "email": "i@x.io", "project_ids": [project.body["id"]], "can_instruct": true})),
    );
    let (api_id, api_key) = (member.body["api_id"].as_str().unwrap(), member.body["api_key"].as_str().unwrap());
    let admin =
        call(&agent, "POST", &server.url("/v1/auth"), None, Some(&json!({"username": "admin", "password": "pw"})));
    let ocariot = format!("Bearer {}", admin.body["access_token"].as_str().unwrap());

    // 200 levels: past serde_json's 128; 100,000 levels: far past it, still within the body limit.
    for (n, body) in [nested(200), nested_object(200), nested(100_000), nested_object(100_000)].iter().enumerate() {
        let (status, reply) = post_raw(&server.url("/partner/1/classes"), Some(&token), body);
        assert_eq!(status, 422, "{reply}");
        assert_eq!(reply["detail"][0]["type"], "json_invalid", "{reply}");
        assert!(reply["detail"][0]["ctx"]["error"].as_str().unwrap().contains("recursion limit"), "{reply}");

        let (status, reply) = post_raw(&server.url("/admin/v1/partners"), Some("Bearer adm"), body);
        assert_eq!((status, &reply["detail"][0]["type"]), (422, &json!("json_invalid")), "{reply}");

        let (status, reply) = post_raw(&server.url("/v1/institutions"), Some(&ocariot), body);
        assert_eq!(
            (status, &reply["code"], &reply["message"]),
            (400, &json!(400), &json!("Unable to process request body!"))
        );

        let auth = cs_sha1(&server, api_id, api_key, "/api/v3/class", &format!("n{n}"));
        let (status, reply) = post_raw(&server.url("/api/v3/class"), Some(&auth), body);
        assert_eq!((status, &reply["code"]), (400, &json!("0x400")), "{reply}");
        assert!(reply["message"].as_str().unwrap().contains("recursion limit"), "{reply}");
    }
    assert_eq!(call(&agent, "GET", &server.url("/healthz"), None, None).status, 200);
    let logs = server.stop();
    assert!(!logs.contains("\"level\":\"ERROR\""), "{logs}");
}
