//! Crash safety: `classhub serve` is killed with SIGKILL while clients change classes and
//! redeem invite codes, then restarted on the same database. Every write that was answered
//! 2xx must be there, with its audit event; writes in flight may or may not have landed,
//! but never half: seats stay within capacity and each code's `used_count` equals the
//! members who joined with it. On SQLite this holds with the default
//! `--sqlite-synchronous normal` (WAL), which survives a process crash.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{Server, call, http, send, sqlite_url};
use serde_json::{Value, json};

const CLASSES: usize = 4;
const STUDENTS_PER_CLASS: usize = 40;
const REDEEMERS: usize = 4;

/// What the clients were told, per class.
#[derive(Default, Debug)]
struct Seen {
    /// Acknowledged PATCHes: (sequence number in the name, version from the ETag, request id).
    patches: Vec<(u64, i64, String)>,
    /// The PATCH that got no answer, if any: it may or may not have committed.
    patch_in_flight: Option<u64>,
    /// Students whose redemption was acknowledged (request id of each).
    joined: HashMap<i64, String>,
    /// Students whose redemption got no answer.
    join_in_flight: HashSet<i64>,
}

struct Setup {
    partner: i64,
    token: String,
    classes: Vec<(i64, String)>,
    students: Vec<(i64, String)>,
}

fn setup(server: &Server) -> Setup {
    let agent = http();
    let person = |kind: &str, i: usize| {
        let body = json!({"name": format!("{kind} {i}"), "email": format!("{kind}{i}@example.com")});
        let r = call(&agent, "POST", &server.url(&format!("/admin/v1/{kind}")), Some("adm"), Some(&body));
        assert_eq!(r.status, 201, "{}", r.text);
        (r.body["id"].as_i64().unwrap(), r.body["token"].as_str().unwrap().to_string())
    };
    let (partner, token) = person("partners", 0);
    let classes = (0..CLASSES)
        .map(|c| {
            let r = call(
                &agent,
                "POST",
                &server.url(&format!("/partner/{partner}/classes")),
                Some(&token),
                Some(&json!({"name": format!("class {c}"), "capacity": 30})),
            );
            assert_eq!(r.status, 201, "{}", r.text);
            (r.body["id"].as_i64().unwrap(), r.body["invite_codes"][0]["code"].as_str().unwrap().to_string())
        })
        .collect();
    let students = (0..CLASSES * STUDENTS_PER_CLASS).map(|i| person("students", i)).collect();
    Setup { partner, token, classes, students }
}

/// One client per class changes its name (numbered, so the newest is known) and capacity
/// in turn; others redeem the classes' codes. All run until the server dies.
fn load(server: &Server, s: &Setup, seen: &[Mutex<Seen>], acked: &AtomicUsize) {
    std::thread::scope(|scope| {
        for (c, (class, _)) in s.classes.iter().enumerate() {
            scope.spawn(move || {
                let agent = http();
                let url = server.url(&format!("/partner/{}/classes/{class}", s.partner));
                for seq in 1.. {
                    let id = format!("patch-{class}-{seq}");
                    // Every fourth also moves the capacity, at times below the roster (409),
                    // so that seats run out while students join.
                    let mut body = json!({"name": format!("class {c} v{seq}")});
                    if seq % 4 == 0 {
                        body["capacity"] = json!(8 + seq % 24);
                    }
                    match send(&agent, "PATCH", &url, Some(&s.token), Some(&id), Some(&body)) {
                        Ok(r) if r.status == 200 => {
                            let version = r.etag.as_deref().unwrap().trim_matches('"').parse().unwrap();
                            seen[c].lock().unwrap().patches.push((seq, version, id));
                            acked.fetch_add(1, Ordering::Relaxed);
                        }
                        // A capacity below the roster: refused, nothing written.
                        Ok(r) => assert_eq!(r.status, 409, "{}", r.text),
                        Err(_) => {
                            seen[c].lock().unwrap().patch_in_flight = Some(seq);
                            return;
                        }
                    }
                }
            });
        }
        for r in 0..REDEEMERS {
            scope.spawn(move || {
                let agent = http();
                let url = server.url("/user/class/invites/redeem");
                for (i, (student, token)) in s.students.iter().enumerate().skip(r).step_by(REDEEMERS) {
                    let c = i % CLASSES;
                    let id = format!("redeem-{student}");
                    let body = json!({"code": s.classes[c].1});
                    match send(&agent, "POST", &url, Some(token), Some(&id), Some(&body)) {
                        Ok(reply) if reply.status == 201 => {
                            seen[c].lock().unwrap().joined.insert(*student, id);
                            acked.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(reply) => assert_eq!(reply.status, 409, "a full class: {}", reply.text),
                        Err(_) => {
                            seen[c].lock().unwrap().join_in_flight.insert(*student);
                            return;
                        }
                    }
                    // Spread the redemptions over the patches' run.
                    std::thread::sleep(Duration::from_millis(2));
                }
            });
        }
    });
}

/// Every item of a paged partner list.
fn all_items(server: &Server, token: &str, path: &str) -> Vec<Value> {
    let agent = http();
    let mut items = Vec::new();
    loop {
        let url = server.url(&format!("{path}?limit=100&offset={}", items.len()));
        let r = call(&agent, "GET", &url, Some(token), None);
        assert_eq!(r.status, 200, "{}", r.text);
        let page = r.body["items"].as_array().unwrap().clone();
        let total = r.body["total"].as_u64().unwrap() as usize;
        items.extend(page);
        if items.len() >= total {
            return items;
        }
    }
}

fn crash_and_check(dir: &Path, database_url: &str) {
    let args = ["--admin-token", "adm", "--redeem-failure-limit", "1000000", "--pg-pool-size", "8"];
    let server = Server::start(dir, database_url, &args);
    let s = setup(&server);
    let seen: Vec<Mutex<Seen>> = (0..CLASSES).map(|_| Mutex::new(Seen::default())).collect();
    let acked = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        let clients = scope.spawn(|| load(&server, &s, &seen, &acked));
        // Kill mid-load: once enough writes were acknowledged, while clients still send.
        let started = Instant::now();
        while acked.load(Ordering::Relaxed) < 200 && started.elapsed() < Duration::from_secs(60) {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(!clients.is_finished(), "the load ended before the kill");
        server.sigkill();
        clients.join().unwrap();
    });
    drop(server);

    let server = Server::start(dir, database_url, &args);
    let agent = http();
    let mut checked_patches = 0;
    for (c, (class, _)) in s.classes.iter().enumerate() {
        let seen = seen[c].lock().unwrap();
        let base = format!("/partner/{}/classes/{class}", s.partner);
        let got = call(&agent, "GET", &server.url(&base), Some(&s.token), None);
        assert_eq!(got.status, 200, "{}", got.text);
        let version: i64 = got.etag.as_deref().unwrap().trim_matches('"').parse().unwrap();
        let name = got.body["name"].as_str().unwrap();
        let stored_seq = name.rsplit_once(" v").map(|(_, n)| n.parse::<u64>().unwrap());

        // The newest acknowledged PATCH is there, or the one in flight landed after it.
        let last = seen.patches.last();
        let ok = stored_seq == last.map(|p| p.0) || (stored_seq.is_some() && stored_seq == seen.patch_in_flight);
        assert!(ok, "class {class}: stored {name:?}, last acknowledged {last:?}, in flight {:?}", seen.patch_in_flight);
        if let Some((_, acked_version, _)) = last {
            assert!(version >= *acked_version, "class {class}: version {version} < acknowledged {acked_version}");
        }

        // Every acknowledged write has its audit event.
        let history = all_items(&server, &s.token, &format!("{base}/history"));
        let events: HashMap<&str, &str> =
            history.iter().filter_map(|e| Some((e["request_id"].as_str()?, e["action"].as_str().unwrap()))).collect();
        for (_, _, id) in &seen.patches {
            assert_eq!(events.get(id.as_str()), Some(&"class.update"), "class {class}: no event for {id}");
        }
        for id in seen.joined.values() {
            assert_eq!(events.get(id.as_str()), Some(&"membership.create"), "class {class}: no event for {id}");
        }
        checked_patches += seen.patches.len();
        println!(
            "class {class}: {} PATCHes acknowledged, {:?} in flight, stored {name:?}; {} joins acknowledged, {} in flight",
            seen.patches.len(),
            seen.patch_in_flight,
            seen.joined.len(),
            seen.join_in_flight.len()
        );

        // The roster: every acknowledged member, others only from redemptions in flight,
        // within capacity, and each one a use of the code.
        let roster = all_items(&server, &s.token, &format!("{base}/students"));
        let members: HashSet<i64> = roster.iter().map(|m| m["user_id"].as_i64().unwrap()).collect();
        for student in seen.joined.keys() {
            assert!(members.contains(student), "class {class}: acknowledged student {student} is missing");
        }
        for m in &members {
            assert!(
                seen.joined.contains_key(m) || seen.join_in_flight.contains(m),
                "class {class}: {m} is a member without having joined"
            );
        }
        let capacity = got.body["capacity"].as_u64().unwrap() as usize;
        assert!(members.len() <= capacity, "class {class}: {} members, capacity {capacity}", members.len());
        let code = &got.body["invite_codes"][0];
        let with_code = roster.iter().filter(|m| m["invite_code_id"] == code["id"]).count();
        assert_eq!(code["used_count"].as_u64().unwrap() as usize, with_code, "class {class}: {code}");
        assert_eq!(with_code, members.len(), "class {class}: every member joined with the code");
    }
    assert!(checked_patches > 0, "no PATCH was acknowledged before the kill");

    // The restarted server takes writes again.
    let base = format!("/partner/{}/classes/{}", s.partner, s.classes[0].0);
    let r = call(&agent, "PATCH", &server.url(&base), Some(&s.token), Some(&json!({"description": "after the crash"})));
    assert_eq!(r.status, 200, "{}", r.text);
    server.stop();
}

#[test]
fn sqlite_keeps_every_acknowledged_write_across_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    crash_and_check(dir.path(), &sqlite_url(dir.path()));
}

#[test]
#[cfg_attr(not(classhub_pg), ignore = "set CLASSHUB_TEST_POSTGRES_URL to run on PostgreSQL")]
fn postgres_keeps_every_acknowledged_write_across_sigkill() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let schema = rt.block_on(classhub_testkit::PgSchema::create());
    let dir = tempfile::tempdir().unwrap();
    crash_and_check(dir.path(), &schema.url);
}
