//! The attacks of the security-across-processes issue, against two `classhub` processes
//! on one PostgreSQL database (and, where one process shows it, on SQLite): guessing
//! budgets and `cs_sha1` nonces are shared by every process, throttles cannot be turned
//! against a victim at another address, and keys are where SECURITY.md says they are.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::process::Command;

use common::{BIN, RawReply, Server, call, cs_sha1_header, http, raw_call, request_bytes, sqlite_url};
use serde_json::{Value, json};

/// The attacker's address, and the victim's elsewhere.
const HERE: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1));
const ELSEWHERE: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

const ADMIN: &str = "adm";

fn post(server: &Server, from: IpAddr, path: &str, token: Option<&str>, body: &Value) -> RawReply {
    let auth = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("Authorization", a.as_str())).collect();
    raw_call(from, &server.addr(), &request_bytes("POST", path, &server.addr(), &headers, &body.to_string()))
}

/// A request signed for `server` (whose address is in the signed URL) but sent to `to`.
fn signed(to: &Server, signed_for: &Server, from: IpAddr, method: &str, path: &str, auth: &str) -> RawReply {
    let headers = [("Authorization", auth)];
    raw_call(from, &to.addr(), &request_bytes(method, path, &signed_for.addr(), &headers, ""))
}

fn sign(server: &Server, creds: &(String, String), path: &str, nonce: &str) -> String {
    let url = format!("http://{}{path}", server.addr());
    cs_sha1_header(&creds.0, &creds.1, &url, jiff::Timestamp::now().as_second(), nonce)
}

/// Sends `n` requests at once, alternately to each server; their statuses, sorted, and
/// the replies.
fn burst(servers: [&Server; 2], n: usize, request: impl Fn(&Server, usize) -> RawReply + Sync) -> Vec<RawReply> {
    let request = &request;
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..n).map(|i| s.spawn(move || request(servers[i % 2], i))).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

fn count(replies: &[RawReply], status: u16) -> usize {
    replies.iter().filter(|r| r.status == status).count()
}

/// Every 429 says when to come back and which policy refused.
#[track_caller]
fn refused_by(replies: &[RawReply], policy: &str) {
    for r in replies.iter().filter(|r| r.status == 429) {
        let wait: u64 = r.header("retry-after").expect("Retry-After").parse().unwrap();
        assert!(wait >= 1, "{r:?}");
        assert_eq!(r.header("ratelimit-policy"), Some(policy), "{r:?}");
        assert!(r.header("ratelimit").is_some_and(|v| v.contains(";r=0;t=")), "{r:?}");
    }
}

struct Deployment {
    a: Server,
    b: Server,
    _schema: classhub_testkit::PgSchema,
    _dir: tempfile::TempDir,
    _rt: tokio::runtime::Runtime,
}

/// Two processes on one fresh PostgreSQL schema, started at once, sharing a server key.
fn two_processes(args: &[&str]) -> Deployment {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let schema = rt.block_on(classhub_testkit::PgSchema::create());
    let dir = tempfile::tempdir().unwrap();
    let args = [&["--admin-token", ADMIN, "--ocariot-admin-password", "right"][..], args].concat();
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| Server::start(dir.path(), &schema.url, &args));
        let b = s.spawn(|| Server::start(dir.path(), &schema.url, &args));
        (a.join().unwrap(), b.join().unwrap())
    });
    Deployment { a, b, _schema: schema, _dir: dir, _rt: rt }
}

/// 100 wrong passwords at once through two processes: exactly the budget (10) is checked;
/// the rest are refused before Argon2. The right password is then refused at the guessing
/// address only, and a token signed by one process is good at the other.
#[test]
#[cfg_attr(not(classhub_pg), ignore = "set CLASSHUB_TEST_POSTGRES_URL to run on PostgreSQL")]
fn login_guesses_share_one_budget_across_processes() {
    let d = two_processes(&[]);
    let guess = |server: &Server, i: usize| {
        post(server, HERE, "/v1/auth", None, &json!({"username": "admin", "password": format!("wrong{i}")}))
    };
    let replies = burst([&d.a, &d.b], 100, guess);
    assert_eq!((count(&replies, 401), count(&replies, 429)), (10, 90), "{replies:?}");
    refused_by(&replies, "\"login\";q=10;w=600");
    for r in replies.iter().filter(|r| r.status == 429) {
        assert_eq!(
            r.json(),
            json!({"code": 429, "message": "Too many failed login attempts!", "description": "Wait a while before trying again."})
        );
    }
    let right = json!({"username": "admin", "password": "right"});
    assert_eq!(post(&d.b, HERE, "/v1/auth", None, &right).status, 429, "the guessing address waits");
    let signed_in = post(&d.a, ELSEWHERE, "/v1/auth", None, &right);
    assert_eq!(signed_in.status, 200, "the real user elsewhere: {signed_in:?}");
    let token = signed_in.json()["access_token"].as_str().unwrap().to_string();
    let made = post(&d.b, ELSEWHERE, "/v1/institutions", Some(&token), &json!({"type": "School", "name": "E"}));
    assert_eq!(made.status, 201, "a token of one process is good at the other: {made:?}");
}

/// 100 bad codes at once from one student through two processes: 10 are looked up, 50
/// refused. The student elsewhere, and a classmate at the same address, still join.
#[test]
#[cfg_attr(not(classhub_pg), ignore = "set CLASSHUB_TEST_POSTGRES_URL to run on PostgreSQL")]
fn redeem_guesses_share_one_budget_across_processes() {
    let d = two_processes(&[]);
    let person = |kind: &str, name: &str| {
        let body = json!({"name": name, "email": format!("{name}@example.com")});
        let r = post(&d.a, HERE, &format!("/admin/v1/{kind}"), Some(ADMIN), &body);
        assert_eq!(r.status, 201, "{r:?}");
        (r.json()["id"].as_i64().unwrap(), r.json()["token"].as_str().unwrap().to_string())
    };
    let (partner, partner_token) = person("partners", "p");
    let class = post(&d.a, HERE, &format!("/partner/{partner}/classes"), Some(&partner_token), &json!({"name": "c"}));
    let code = class.json()["invite_codes"][0]["code"].as_str().unwrap().to_string();
    let (_, guesser) = person("students", "guesser");
    let (_, classmate) = person("students", "classmate");
    let redeem = |server: &Server, from: IpAddr, token: &str, code: &str| {
        post(server, from, "/user/class/invites/redeem", Some(token), &json!({"code": code}))
    };
    let replies = burst([&d.a, &d.b], 100, |server, i| redeem(server, HERE, &guesser, &format!("WRONG{i:03}")));
    assert_eq!((count(&replies, 400), count(&replies, 429)), (10, 90), "{replies:?}");
    refused_by(&replies, "\"redeem\";q=10;w=600");
    assert_eq!(redeem(&d.b, HERE, &guesser, &code).status, 429);
    assert_eq!(redeem(&d.a, ELSEWHERE, &guesser, &code).status, 201, "the guesser elsewhere");
    assert_eq!(redeem(&d.b, HERE, &classmate, &code).status, 201, "a classmate at the guessing address");
}

/// A CloudShare instructor of a project with a policy and a blueprint.
struct Instructor {
    creds: (String, String),
    class_body: Value,
}

fn cs_instructor(server: &Server) -> Instructor {
    let agent = http();
    let admin = |path: &str, body: Value| {
        let r = call(&agent, "POST", &server.url(path), Some(ADMIN), Some(&body));
        assert_eq!(r.status, 201, "{}", r.text);
        r.body
    };
    let project = admin("/admin/v1/cloudshare/projects", json!({"name": "P"}))["id"].as_str().unwrap().to_string();
    let policy = admin(
        &format!("/admin/v1/cloudshare/projects/{project}/policies"),
        json!({"name": "2 hours", "default_duration_minutes": 120}),
    );
    let blueprint = admin(
        &format!("/admin/v1/cloudshare/projects/{project}/blueprints"),
        json!({"name": "Linux", "description": "d"}),
    );
    let member = admin(
        "/admin/v1/cloudshare/members",
        json!({"name": "Vic", "email": "vic@example.com", "project_ids": [project], "can_instruct": true}),
    );
    Instructor {
        creds: (member["api_id"].as_str().unwrap().to_string(), member["api_key"].as_str().unwrap().to_string()),
        class_body: json!({
            "name": "Lab", "projectId": project, "blueprintId": blueprint["id"], "policyId": policy["id"],
            "instructorVupId": member["vup_ids"][&project], "startDate": "02/11/2030 09:00 AM",
            "timeZoneId": "Eastern Standard Time", "studentPassphrase": "open sesame", "limitEarlyAccess": 0,
        }),
    }
}

/// 100 bad signatures with a victim's API id, at once through two processes: 20 are counted,
/// the rest refused; the victim, at their own address, is served. A signed request captured
/// at one process and replayed to the other — as another method — is refused.
#[test]
#[cfg_attr(not(classhub_pg), ignore = "set CLASSHUB_TEST_POSTGRES_URL to run on PostgreSQL")]
fn signatures_and_nonces_hold_across_processes() {
    let d = two_processes(&[]);
    let instructor = cs_instructor(&d.a);
    let victim = &instructor.creds;
    let auth = sign(&d.a, victim, "/api/v3/class", "make");
    let headers = [("Authorization", auth.as_str())];
    let body = instructor.class_body.to_string();
    let made = raw_call(ELSEWHERE, &d.a.addr(), &request_bytes("POST", "/api/v3/class", &d.a.addr(), &headers, &body));
    assert_eq!(made.status, 200, "{made:?}");
    let class = format!("/api/v3/class/{}", made.json()["id"].as_str().unwrap());

    // The replay: a signed GET of the class at one process; the same header, as a DELETE of
    // the same URL, at the other (the signature covers neither method nor body).
    let captured = sign(&d.a, victim, &class, "captured");
    assert_eq!(signed(&d.a, &d.a, ELSEWHERE, "GET", &class, &captured).status, 200);
    let replayed = signed(&d.b, &d.a, ELSEWHERE, "DELETE", &class, &captured);
    assert_eq!(
        (replayed.status, replayed.json()),
        (401, json!({"message": "this request was already received (replayed token)", "code": "0x401"}))
    );
    let still = signed(&d.b, &d.b, ELSEWHERE, "GET", &class, &sign(&d.b, victim, &class, "again"));
    assert_eq!(still.status, 200, "the class was not deleted: {still:?}");

    // Ping validates credentials, so it is signed like everything else.
    let ping = sign(&d.b, victim, "/api/v3/ping", "ping");
    let pong = signed(&d.b, &d.b, ELSEWHERE, "GET", "/api/v3/ping", &ping);
    assert_eq!((pong.status, pong.json()), (200, json!({"result": "Pong"})));
    // Ping is signed like everything else: no header, or a wrong key, is refused.
    let bare = raw_call(ELSEWHERE, &d.b.addr(), &request_bytes("GET", "/api/v3/ping", &d.b.addr(), &[], ""));
    assert_eq!(bare.status, 401, "{bare:?}");

    let wrong = (victim.0.clone(), "not-the-key".to_string());
    let replies = burst([&d.a, &d.b], 100, |server, i| {
        signed(server, server, HERE, "GET", "/api/v3/class", &sign(server, &wrong, "/api/v3/class", &format!("w{i}")))
    });
    assert_eq!((count(&replies, 401), count(&replies, 429)), (20, 80), "{replies:?}");
    refused_by(&replies, "\"signature\";q=20;w=600");
    let mine = signed(&d.b, &d.b, ELSEWHERE, "GET", &class, &sign(&d.b, victim, &class, "v1"));
    assert_eq!(mine.status, 200, "the victim at their own address: {mine:?}");
    let here = signed(&d.a, &d.a, HERE, "GET", &class, &sign(&d.a, victim, &class, "v2"));
    assert_eq!(here.status, 429, "the guessing address waits, whoever signs");
}

/// Runs `classhub` with `args`; its exit status and standard error.
fn classhub(db: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new(BIN).args(["--database-url", db]).args(args).output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stderr).to_string())
}

/// `serve` with the key file `key`, expected to refuse to start; what it said.
fn refused_start(db: &str, key: &Path) -> String {
    let (ok, err) = classhub(db, &["--secret-key-file", key.to_str().unwrap(), "serve", "--listen", "127.0.0.1:0"]);
    assert!(!ok, "started: {err}");
    err
}

/// A database holding sealed secrets never gets a new server key: without its key file, or
/// with another, the server refuses to start and says why.
#[test]
fn a_database_starts_only_with_its_own_key() {
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_url(dir.path());
    let server = Server::start(dir.path(), &db, &["--admin-token", ADMIN]);
    let instructor = cs_instructor(&server);
    server.stop();

    let missing = dir.path().join("restored-without.key");
    let err = refused_start(&db, &missing);
    assert!(err.contains("does not exist: restore the key file that belongs to this database"), "{err}");
    assert!(!missing.exists(), "no new key was made");

    let other = tempfile::tempdir().unwrap();
    Server::start(other.path(), &sqlite_url(other.path()), &[]).stop();
    let err = refused_start(&db, &other.path().join("secret.key"));
    assert!(err.contains("sealed with another server key"), "{err}");

    // With its own key, the sealed API key opens: the instructor's signature checks.
    let server = Server::start(dir.path(), &db, &[]);
    let path = "/api/v3/ping";
    let pong = signed(&server, &server, HERE, "GET", path, &sign(&server, &instructor.creds, path, "p"));
    assert_eq!(pong.status, 200, "{pong:?}");
    server.stop();
}

/// The settings of a SQLite database, read behind the server's back.
fn settings(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let conn = rusqlite::Connection::open(dir.join("classhub.db")).unwrap();
    let mut stmt = conn.prepare("SELECT name, value FROM settings ORDER BY name").unwrap();
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
    rows.collect::<Result<_, _>>().unwrap()
}

/// `claims` signed HS256 with `secret`.
fn forge(claims: &Value, secret: &[u8]) -> String {
    let key = jsonwebtoken::EncodingKey::from_secret(secret);
    jsonwebtoken::encode(&jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256), claims, &key).unwrap()
}

/// OCARIoT tokens are RS256, verifiable with the published key (JWKS and PEM file); the
/// signing key is sealed in the database, and what a dump shows cannot forge a token. The
/// clear HS256 key older versions stored is deleted, and tokens forged with it refused.
#[test]
fn ocariot_tokens_are_rs256_and_the_key_is_sealed() {
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_url(dir.path());
    // A database as an older version left it: its HS256 key in clear.
    assert!(classhub(&db, &["migrate"]).0);
    let old_key = b"an old signing key stored in clear!!".to_vec();
    let conn = rusqlite::Connection::open(dir.path().join("classhub.db")).unwrap();
    conn.execute("INSERT INTO settings (name, value) VALUES ('ocariot_jwt_key', ?1)", [&old_key]).unwrap();
    drop(conn);

    let pem_out = dir.path().join("jwt-public.pem");
    let args = ["--ocariot-admin-password", "right", "--jwt-public-key-out", pem_out.to_str().unwrap()];
    let server = Server::start(dir.path(), &db, &args);
    let agent = http();
    let signed_in =
        call(&agent, "POST", &server.url("/v1/auth"), None, Some(&json!({"username": "admin", "password": "right"})));
    let token = signed_in.body["access_token"].as_str().unwrap().to_string();
    let header = jsonwebtoken::decode_header(&token).unwrap();
    assert_eq!(header.alg, jsonwebtoken::Algorithm::RS256);

    // Verifiable with the JWKS document, and with the PEM written on start.
    let jwks = call(&agent, "GET", &server.url("/.well-known/jwks.json"), None, None);
    assert_eq!(jwks.status, 200);
    let set: jsonwebtoken::jwk::JwkSet = serde_json::from_value(jwks.body.clone()).unwrap();
    let jwk = set.find(header.kid.as_deref().unwrap()).expect("the token's kid is in the JWKS");
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_issuer(&["ocariot"]);
    validation.validate_aud = false;
    let by_jwk = jsonwebtoken::decode::<Value>(&token, &jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap(), &validation);
    let claims = by_jwk.unwrap().claims;
    assert_eq!(claims["sub_type"], "admin");
    let pem = std::fs::read(&pem_out).unwrap();
    let by_pem =
        jsonwebtoken::decode::<Value>(&token, &jsonwebtoken::DecodingKey::from_rsa_pem(&pem).unwrap(), &validation);
    assert!(by_pem.is_ok(), "{by_pem:?}");
    let institution = json!({"type": "School", "name": "E"});
    assert_eq!(call(&agent, "POST", &server.url("/v1/institutions"), Some(&token), Some(&institution)).status, 201);

    // The dump: no clear key; the sealed one is no secret to forge with.
    let stored = settings(dir.path());
    assert!(stored.iter().all(|(name, _)| name != "ocariot_jwt_key"), "the clear key is gone: {stored:?}");
    let (_, sealed) = stored.iter().find(|(name, _)| name == "ocariot_jwt_rsa").expect("the sealed key");
    assert!(!String::from_utf8_lossy(sealed).contains("PRIVATE KEY"));
    for secret in [sealed.as_slice(), old_key.as_slice()] {
        let forged = forge(&claims, secret);
        let r = call(&agent, "POST", &server.url("/v1/institutions"), Some(&forged), Some(&institution));
        assert_eq!(r.status, 401, "{}", r.text);
    }
    server.stop();
}

/// A failed login costs an unknown username what it costs a known one (Argon2 either
/// way), so timing does not tell which usernames exist. Medians of interleaved attempts;
/// the bound is loose (a missing Argon2 is a ratio near 0.2), since machines are noisy.
#[test]
fn unknown_usernames_cost_what_known_ones_do() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &sqlite_url(dir.path()), &["--ocariot-admin-password", "right"]);
    let agent = http();
    let time = |username: &str| {
        let started = std::time::Instant::now();
        let body = json!({"username": username, "password": "wrong"});
        assert_eq!(call(&agent, "POST", &server.url("/v1/auth"), None, Some(&body)).status, 401);
        started.elapsed()
    };
    let (mut known, mut unknown) = (Vec::new(), Vec::new());
    for i in 0..7 {
        known.push(time("admin"));
        unknown.push(time(&format!("nobody{i}")));
    }
    known.sort();
    unknown.sort();
    let ratio = unknown[3].as_secs_f64() / known[3].as_secs_f64();
    assert!(ratio > 0.5, "unknown {:?} vs known {:?}", unknown[3], known[3]);
    server.stop();
}
