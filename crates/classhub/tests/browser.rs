//! CORS in a real browser: Debian's headless Chromium loads a page from another origin than
//! classhub's, whose script calls the partner API with `fetch` — a conditional PATCH with a
//! bearer token, so the browser sends a preflight first — and writes what it saw into the
//! page, which Chromium prints (`--dump-dom`). From an origin given to `--cors-origin` the
//! call succeeds and the script can read the exposed `ETag` and `X-Request-Id`; from any
//! other origin the browser blocks it, and the class is unchanged.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::Command;

use common::{Server, call, http, sqlite_url};
use serde_json::{Value, json};

const ADMIN: &str = "browser-admin-token";

/// Serves `page` to every request on `listener`; returns its origin.
fn serve(listener: TcpListener, page: String) -> String {
    let origin = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut request = Vec::new();
            let mut buf = [0u8; 4096];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                page.len()
            );
            let _ = stream.write_all(head.as_bytes()).and_then(|()| stream.write_all(page.as_bytes()));
        }
    });
    origin
}

/// What the page's script saw, read from the DOM Chromium prints once the page is idle.
fn load_in_chromium(url: &str, profile: &std::path::Path) -> Value {
    let out = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--virtual-time-budget=15000",
            &format!("--user-data-dir={}", profile.display()),
            "--dump-dom",
            url,
        ])
        .output()
        .expect("chromium (Debian package `chromium`) runs the browser tests");
    let dom = String::from_utf8_lossy(&out.stdout);
    let text = dom
        .split_once("<pre id=\"out\">")
        .and_then(|(_, rest)| rest.split_once("</pre>"))
        .map(|(text, _)| text.replace("&quot;", "\"").replace("&amp;", "&"))
        .unwrap_or_else(|| panic!("no outcome in the page:\n{dom}\n{}", String::from_utf8_lossy(&out.stderr)));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

fn page(api: &str, path: &str, token: &str, etag: &str, name: &str) -> String {
    let call = json!({"api": api, "path": path, "token": token, "etag": etag, "name": name});
    format!(
        r#"<!doctype html><html><body><pre id="out">pending</pre><script>
const c = {call};
(async () => {{
  const out = {{}};
  try {{
    const r = await fetch(c.api + c.path, {{
      method: 'PATCH',
      headers: {{ 'Authorization': 'Bearer ' + c.token, 'Content-Type': 'application/json', 'If-Match': c.etag }},
      body: JSON.stringify({{ name: c.name }}),
    }});
    out.status = r.status;
    out.etag = r.headers.get('ETag');
    out.request_id = r.headers.get('X-Request-Id');
    out.name = (await r.json()).name;
  }} catch (e) {{
    out.error = String(e);
  }}
  document.getElementById('out').textContent = JSON.stringify(out);
}})();
</script></body></html>"#
    )
}

#[test]
fn a_browser_on_an_allowed_origin_may_call_classhub_and_others_may_not() {
    let dir = tempfile::tempdir().unwrap();
    // The allowed page's origin must be known before classhub starts: bind its port first.
    let allowed_listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let allowed_origin = format!("http://{}", allowed_listener.local_addr().unwrap());
    let server =
        Server::start(dir.path(), &sqlite_url(dir.path()), &["--admin-token", ADMIN, "--cors-origin", &allowed_origin]);
    let agent = http();
    let partner = call(
        &agent,
        "POST",
        &server.url("/admin/v1/partners"),
        Some(ADMIN),
        Some(&json!({"name": "Browser Partner", "email": "browser@example.com"})),
    );
    assert_eq!(partner.status, 201, "{}", partner.text);
    let (pid, token) = (partner.body["id"].as_i64().unwrap(), partner.body["token"].as_str().unwrap().to_string());
    let classes = format!("/partner/{pid}/classes");
    let class = call(&agent, "POST", &server.url(&classes), Some(&token), Some(&json!({"name": "Before"})));
    assert_eq!(class.status, 201, "{}", class.text);
    let path = format!("{classes}/{}", class.body["id"]);
    let etag = class.etag.clone().unwrap();
    let api = server.base.clone();

    // Another origin: the preflight gets no Access-Control-Allow-Origin, the browser blocks
    // the call before sending it, and nothing changes.
    let other =
        serve(TcpListener::bind("127.0.0.1:0").unwrap(), page(&api, &path, &token, &etag, "From another origin"));
    let seen = load_in_chromium(&format!("{other}/"), &dir.path().join("profile-other"));
    assert_eq!(seen, json!({"error": "TypeError: Failed to fetch"}));
    let now = call(&agent, "GET", &server.url(&path), Some(&token), None);
    assert_eq!((now.body["name"].clone(), now.etag.clone()), (json!("Before"), Some(etag.clone())));

    // The allowed origin: the preflight passes, the PATCH is made, and the script reads the
    // headers classhub exposes.
    let allowed = serve(allowed_listener, page(&api, &path, &token, &etag, "From the allowed origin"));
    let seen = load_in_chromium(&format!("{allowed}/"), &dir.path().join("profile-allowed"));
    let after = call(&agent, "GET", &server.url(&path), Some(&token), None);
    assert_eq!(after.body["name"], "From the allowed origin");
    assert!(seen["request_id"].as_str().is_some_and(|id| !id.is_empty()), "{seen}");
    assert_eq!(
        seen,
        json!({"status": 200, "etag": after.etag.unwrap(), "request_id": seen["request_id"], "name": "From the allowed origin"})
    );
}

/// `/redoc` renders the whole document from classhub alone (its script is served by
/// classhub): every dialect's operations are on the page Chromium renders.
#[test]
fn redoc_renders_the_document_offline() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &sqlite_url(dir.path()), &[]);
    let out = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--virtual-time-budget=30000",
            &format!("--user-data-dir={}", dir.path().join("profile").display()),
            "--dump-dom",
            &server.url("/redoc"),
        ])
        .output()
        .expect("chromium (Debian package `chromium`) runs the browser tests");
    let dom = String::from_utf8_lossy(&out.stdout);
    for operation in ["partner_get_class", "cloudshare_get_class", "ocariot_login", "admin_create_partner"] {
        assert!(dom.contains(&format!("operation/{operation}")), "{operation} is not on /redoc:\n{dom:.2000}");
    }
}
