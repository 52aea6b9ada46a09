//! One benchmark invocation: for each engine, seed, start `classhub serve`, run every
//! scenario, and print a table in which each figure is also a ratio to the bare ceiling.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use classhub_store::{Store, StoreOptions};
use rand::seq::IndexedRandom;
use serde_json::json;

use crate::client::Conn;
use crate::load::{self, FixedRate, Order, Outcome, Request};
use crate::seed::{self, Seeded};

#[derive(clap::Args)]
pub struct RunArgs {
    /// Engines to measure, in order.
    #[arg(long, value_delimiter = ',', default_value = "sqlite,postgres")]
    engines: Vec<String>,
    /// PostgreSQL server; the benchmark drops and creates the database `classhub_bench` on it.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432")]
    pg_server: String,
    /// Seconds per closed-loop and per fixed-rate run.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// wrk and oha connections.
    #[arg(long, default_value_t = 32)]
    connections: usize,
    #[arg(long, default_value_t = 100)]
    partners: usize,
    #[arg(long, default_value_t = 10_000)]
    classes: usize,
    #[arg(long, default_value_t = 2_000)]
    students: usize,
    /// Classes of the list partner: measured at the first size, then grown to the second.
    #[arg(long, value_delimiter = ',', default_value = "10000,100000")]
    list_sizes: Vec<usize>,
    /// Classes and audit events to add before GET, PATCH and a class's history are measured
    /// again (e.g. `1000000,10000000`); none by default.
    #[arg(long, value_delimiter = ',')]
    growth: Vec<usize>,
    /// Scratch directory (databases, request files, server logs).
    #[arg(long, default_value = "target/bench-work")]
    work_dir: PathBuf,
}

struct Row {
    scenario: String,
    outcome: Outcome,
    /// Index into the ceiling figures this row is compared with.
    ceiling: Option<usize>,
}

/// A running process (classhub or the ceiling), stopped when dropped.
struct Server {
    child: Child,
    addr: SocketAddr,
    ready_in: Duration,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let _ = self.child.wait();
    }
}

impl Server {
    fn rss_peak_mib(&self) -> Option<f64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
        let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib / 1024.0)
    }
}

fn free_addr() -> Result<SocketAddr, String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    listener.local_addr().map_err(|e| e.to_string())
}

/// Starts `binary args…` listening on `addr` and waits until `ready_path` answers 200.
async fn start(
    binary: &Path,
    args: &[String],
    addr: SocketAddr,
    ready_path: &str,
    log: &Path,
) -> Result<Server, String> {
    let log_file = std::fs::File::create(log).map_err(|e| e.to_string())?;
    let err_file = log_file.try_clone().map_err(|e| e.to_string())?;
    let started = Instant::now();
    let child = Command::new(binary)
        .args(args)
        .stdout(Stdio::from(log_file))
        .stderr(Stdio::from(err_file))
        .spawn()
        .map_err(|e| format!("starting {}: {e}", binary.display()))?;
    let mut server = Server { child, addr, ready_in: Duration::ZERO };
    while started.elapsed() < Duration::from_secs(30) {
        if let Ok(mut conn) = Conn::open(addr).await
            && conn.send("GET", ready_path, None, None).await.is_ok_and(|a| a.status == 200)
        {
            server.ready_in = started.elapsed();
            return Ok(server);
        }
        if let Ok(Some(status)) = server.child.try_wait() {
            return Err(format!("{} exited with {status}; see {}", binary.display(), log.display()));
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    Err(format!("{} did not become ready; see {}", binary.display(), log.display()))
}

struct Engine {
    name: &'static str,
    url: String,
}

pub async fn run(args: RunArgs) -> Result<(), String> {
    if !matches!(args.growth.len(), 0 | 2) {
        return Err("--growth takes two numbers: classes and events (e.g. 1000000,10000000)".into());
    }
    let classhub = crate::sibling_binary("classhub");
    let bench = crate::sibling_binary("classhub-bench");
    let mut ceiling: Option<(Server, Vec<Outcome>, Vec<Outcome>)> = None;
    let mut reports = Vec::new();
    for name in &args.engines {
        let dir = args.work_dir.join(name);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let engine = match name.as_str() {
            "sqlite" => Engine { name: "SQLite", url: format!("sqlite://{}", dir.join("bench.db").display()) },
            "postgres" => Engine { name: "PostgreSQL", url: fresh_pg_database(&args.pg_server).await? },
            other => return Err(format!("unknown engine {other} (sqlite, postgres)")),
        };
        eprintln!("== {}: seeding", engine.name);
        let store = Arc::new(Store::open(&StoreOptions::new(engine.url.clone())).await.map_err(|e| e.to_string())?);
        let key_file = dir.join("bench.key");
        let first_list = args.list_sizes.first().copied().unwrap_or(10_000);
        let started = Instant::now();
        let seeded = seed::all(&store, &key_file, args.partners, args.classes, args.students, first_list).await?;
        refresh_statistics(&engine.url).await?;
        eprintln!("   seeded in {:.1} s", started.elapsed().as_secs_f64());

        let addr = free_addr()?;
        let serve_args = |extra: &[&str]| {
            let mut a: Vec<String> = ["serve", "--log", "warn", "--database-url", &engine.url, "--listen"]
                .iter()
                .map(|s| s.to_string())
                .collect();
            a.push(addr.to_string());
            a.push("--secret-key-file".into());
            a.push(key_file.display().to_string());
            a.extend(extra.iter().map(|s| s.to_string()));
            a
        };
        let server = start(&classhub, &serve_args(&[]), addr, "/readyz", &dir.join("classhub.log")).await?;

        if ceiling.is_none() {
            let body_bytes = class_body_len(addr, &seeded).await?;
            let caddr = free_addr()?;
            let cargs =
                ["ceiling".into(), "--listen".into(), caddr.to_string(), "--body-bytes".into(), body_bytes.to_string()];
            let c = start(&bench, &cargs, caddr, "/partner/1/classes/1", &args.work_dir.join("ceiling.log")).await?;
            eprintln!("== bare ceiling ({body_bytes}-byte body)");
            let (closed, fixed) = measure_ceiling(&args, &c, &seeded, &dir)?;
            ceiling = Some((c, closed, fixed));
        }
        let report = scenarios(&args, &engine, &store, &seeded, server, &dir, &serve_args, &classhub).await?;
        reports.push((engine.name, report));
        store.close().await;
    }
    let Some((_, closed, fixed)) = ceiling else { return Ok(()) };
    print_tables(&args, &closed, &fixed, &reports);
    Ok(())
}

async fn fresh_pg_database(server: &str) -> Result<String, String> {
    let client = seed::pg_client(&format!("{server}/postgres")).await?;
    client.batch_execute("DROP DATABASE IF EXISTS classhub_bench WITH (FORCE)").await.map_err(|e| e.to_string())?;
    client.batch_execute("CREATE DATABASE classhub_bench").await.map_err(|e| e.to_string())?;
    // Without TLS, as the benchmark's own connections are: on loopback, encryption would
    // measure rustls rather than classhub (libpq's default, `prefer`, would take it).
    Ok(format!("{server}/classhub_bench?sslmode=disable"))
}

/// Bulk seeding leaves PostgreSQL's planner statistics and visibility map empty until
/// autovacuum gets to the tables (never, where autovacuum is off, as on our CI machines):
/// without statistics it hash-joins whole tables for one-row lookups, without the
/// visibility map no scan is index-only. A real bulk import would VACUUM ANALYZE too.
async fn refresh_statistics(url: &str) -> Result<(), String> {
    if !url.starts_with("postgres") {
        return Ok(());
    }
    let client = seed::pg_client(url).await?;
    client.batch_execute("VACUUM ANALYZE").await.map_err(|e| format!("VACUUM ANALYZE: {e}"))
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

fn get_requests(seeded: &Seeded) -> Vec<Request> {
    let mut out = Vec::new();
    for p in &seeded.partners {
        for c in &p.classes {
            out.push(Request {
                method: "GET",
                path: format!("/partner/{}/classes/{c}", p.id),
                auth: bearer(&p.token),
                body: String::new(),
            });
        }
    }
    out
}

fn patch_requests(seeded: &Seeded, count: usize) -> Vec<Request> {
    let mut rng = rand::rng();
    (0..count)
        .filter_map(|n| {
            let p = seeded.partners.choose(&mut rng)?;
            let c = p.classes.choose(&mut rng)?;
            let body = json!({"name": format!("Class {c} rev {n}"), "capacity": 30 + n % 20});
            Some(Request {
                method: "PATCH",
                path: format!("/partner/{}/classes/{c}", p.id),
                auth: bearer(&p.token),
                body: body.to_string(),
            })
        })
        .collect()
}

/// The history of the first partner's classes (their creation and whatever PATCH did).
fn history_requests(seeded: &Seeded) -> Result<Vec<Request>, String> {
    let p = seeded.partners.first().ok_or("no partners")?;
    Ok(p.classes
        .iter()
        .map(|c| Request {
            method: "GET",
            path: format!("/partner/{}/classes/{c}/history", p.id),
            auth: bearer(&p.token),
            body: String::new(),
        })
        .collect())
}

/// The fixed-rate runs use one partner (oha sends one token): any of its classes.
fn partner_regex(p: &seed::Partner) -> String {
    let ids: Vec<String> = p.classes.iter().map(|c| c.to_string()).collect();
    format!("/partner/{}/classes/({})", p.id, ids.join("|"))
}

async fn class_body_len(addr: SocketAddr, seeded: &Seeded) -> Result<usize, String> {
    let p = seeded.partners.first().ok_or("no partners")?;
    let c = p.classes.first().ok_or("no classes")?;
    let body = Conn::open(addr)
        .await?
        .expect(200, "GET", &format!("/partner/{}/classes/{c}", p.id), Some(&bearer(&p.token)), None)
        .await?;
    Ok(body.to_string().len())
}

fn measure_ceiling(
    args: &RunArgs,
    c: &Server,
    seeded: &Seeded,
    dir: &Path,
) -> Result<(Vec<Outcome>, Vec<Outcome>), String> {
    let d = Duration::from_secs(args.duration);
    let get = load::wrk(c.addr, &get_requests(seeded), Order::Random, args.connections, d, dir)?;
    let patch = load::wrk(c.addr, &patch_requests(seeded, 20_000), Order::Random, args.connections, d, dir)?;
    let p = seeded.partners.first().ok_or("no partners")?;
    let auth = bearer(&p.token);
    let fixed_get = FixedRate { method: "GET", path_regex: partner_regex(p), auth: &auth, body: None };
    let fixed = load::oha(c.addr, &fixed_get, get.per_second / 2.0, args.connections, d)?;
    Ok((vec![get, patch], vec![fixed]))
}

struct Report {
    rows: Vec<Row>,
    notes: Vec<String>,
}

#[allow(clippy::too_many_arguments)]
async fn scenarios(
    args: &RunArgs,
    engine: &Engine,
    store: &Arc<Store>,
    seeded: &Seeded,
    server: Server,
    dir: &Path,
    serve_args: &dyn Fn(&[&str]) -> Vec<String>,
    classhub: &Path,
) -> Result<Report, String> {
    let d = Duration::from_secs(args.duration);
    let c = args.connections;
    let addr = server.addr;
    let mut rows = Vec::new();
    let mut notes = vec![format!("start to ready: {:.0} ms", server.ready_in.as_secs_f64() * 1e3)];
    let mut row = |scenario: &str, outcome: Outcome, ceiling: Option<usize>| {
        eprintln!(
            "   {scenario}: {} requests, {:.0}/s, p50 {:.2} ms, p99 {:.2} ms, errors {}",
            outcome.requests, outcome.per_second, outcome.p50_ms, outcome.p99_ms, outcome.errors
        );

        rows.push(Row { scenario: scenario.into(), outcome, ceiling });
    };

    eprintln!("== {}: scenarios", engine.name);
    let get = load::wrk(addr, &get_requests(seeded), Order::Random, c, d, dir)?;
    row("1. GET /partner/{p}/classes/{c}, random of 10,000", get, Some(0));
    if let Some(rss) = server.rss_peak_mib() {
        notes.push(format!("server peak RSS after the GET run: {rss:.1} MiB"));
    }
    let patch = load::wrk(addr, &patch_requests(seeded, 20_000), Order::Random, c, d, dir)?;
    row("2. PATCH /partner/{p}/classes/{c} (name, capacity)", patch, Some(1));
    let history = history_requests(seeded)?;
    row("3. GET /partner/{p}/classes/{c}/history", load::wrk(addr, &history, Order::Random, c, d, dir)?, Some(0));

    let p = seeded.partners.first().ok_or("no partners")?;
    let auth = bearer(&p.token);
    let fixed_get = FixedRate { method: "GET", path_regex: partner_regex(p), auth: &auth, body: None };
    row(
        &format!("1. GET at half the maximum ({:.0}/s, oha)", get.per_second / 2.0),
        load::oha(addr, &fixed_get, get.per_second / 2.0, c, d)?,
        None,
    );
    let patch_body = json!({"name": "Fixed-rate name", "capacity": 31}).to_string();
    let fixed_patch = FixedRate { method: "PATCH", path_regex: partner_regex(p), auth: &auth, body: Some(&patch_body) };
    row(
        &format!("2. PATCH at half the maximum ({:.0}/s, oha)", patch.per_second / 2.0),
        load::oha(addr, &fixed_patch, patch.per_second / 2.0, c, d)?,
        None,
    );

    notes.push(redeem_storm(addr, seeded).await?);

    let lister = &seeded.lister;
    let page = |offset: usize| {
        vec![Request {
            method: "GET",
            path: format!("/partner/{}/classes?limit=50&offset={offset}", lister.id),
            auth: bearer(&lister.token),
            body: String::new(),
        }]
    };
    // The page after a cursor at `position`, as the page before it names it.
    let after = async |position: usize| -> Result<Vec<Request>, String> {
        let before = format!("/partner/{}/classes?limit=50&offset={}", lister.id, position - 50);
        let answer = Conn::open(addr).await?.send("GET", &before, Some(&bearer(&lister.token)), None).await?;
        let path = answer.next.ok_or_else(|| format!("{before}: no next link"))?;
        Ok(vec![Request { method: "GET", path, auth: bearer(&lister.token), body: String::new() }])
    };
    let mut size = lister.classes.len();
    row(
        &format!("4. list page 100 (offset 4,950), {size} classes"),
        load::wrk(addr, &page(4950), Order::Random, c, d, dir)?,
        None,
    );
    row(
        &format!("4. list page 100 (after a cursor at 4,950), {size} classes"),
        load::wrk(addr, &after(4950).await?, Order::Random, c, d, dir)?,
        None,
    );
    if let Some(&large) = args.list_sizes.get(1) {
        let started = Instant::now();
        seed::classes(store, lister.id, size, large.saturating_sub(size), 0).await?;
        size = large;
        refresh_statistics(&engine.url).await?;
        eprintln!("   grew the list partner to {size} classes in {:.1} s", started.elapsed().as_secs_f64());
        row(
            &format!("4. list page 100 (offset 4,950), {size} classes"),
            load::wrk(addr, &page(4950), Order::Random, c, d, dir)?,
            None,
        );
        let deep = size - 50;
        row(
            &format!("4. list last page (offset {deep}), {size} classes"),
            load::wrk(addr, &page(deep), Order::Random, c, d, dir)?,
            None,
        );
        row(
            &format!("4. list last page (after a cursor at {deep}), {size} classes"),
            load::wrk(addr, &after(deep).await?, Order::Random, c, d, dir)?,
            None,
        );
    }

    let (cs, cs_lists) = cloudshare_requests(addr, seeded, (args.duration as usize) * 25_000).await?;
    // The classes were made just now: let PostgreSQL's planner know them (as autovacuum would).
    refresh_statistics(&engine.url).await?;
    row(
        "5. PUT /api/v3/class/{id} (cs_sha1, name, maxStudents)",
        load::wrk(addr, &cs, Order::InTurn, c, d, dir)?,
        Some(1),
    );
    row(
        "5. GET /api/v3/class (cs_sha1, 1,000 classes)",
        load::wrk(addr, &cs_lists, Order::InTurn, c, d, dir)?,
        Some(1),
    );
    let (oc_requests, oc_fixed) = ocariot_requests(addr, seeded).await?;
    let oc = load::wrk(addr, &oc_requests, Order::Random, c, d, dir)?;
    row("5. PATCH /v1/educators/{id}/children/groups/{id} (name)", oc, Some(1));
    let fixed = FixedRate { method: "PATCH", path_regex: oc_fixed.0, auth: &oc_fixed.1, body: Some(&oc_fixed.2) };
    row(
        &format!("5. OCARIoT PATCH at half the maximum ({:.0}/s, oha)", oc.per_second / 2.0),
        load::oha(addr, &fixed, oc.per_second / 2.0, c, d)?,
        None,
    );

    if let [classes, events] = args.growth[..] {
        let started = Instant::now();
        seed::grow(store, &engine.url, classes, events).await?;
        refresh_statistics(&engine.url).await?;
        seed::checkpoint(&engine.url).await?;
        eprintln!("   grew by {classes} classes and {events} events in {:.1} s", started.elapsed().as_secs_f64());
        let grown = format!("{classes} more classes, {events} more events");
        // The bulk insert and VACUUM went through every page of the database: one run of
        // each read first, not counted, so that both sets of figures are made on warm caches
        // as the first set (right after seeding) was.
        load::wrk(addr, &get_requests(seeded), Order::Random, c, d, dir)?;
        load::wrk(addr, &history, Order::Random, c, d, dir)?;
        let get = load::wrk(addr, &get_requests(seeded), Order::Random, c, d, dir)?;
        row(&format!("1. GET, {grown}"), get, Some(0));
        let patch = load::wrk(addr, &patch_requests(seeded, 20_000), Order::Random, c, d, dir)?;
        row(&format!("2. PATCH, {grown}"), patch, Some(1));
        let history = load::wrk(addr, &history, Order::Random, c, d, dir)?;
        row(&format!("3. GET history, {grown}"), history, Some(0));
    }

    if engine.name == "SQLite" {
        drop(server);
        let full = start(
            classhub,
            &serve_args(&["--sqlite-synchronous", "full"]),
            addr,
            "/readyz",
            &dir.join("classhub-full.log"),
        )
        .await?;
        let patch = load::wrk(full.addr, &patch_requests(seeded, 20_000), Order::Random, c, d, dir)?;
        row("2. PATCH with --sqlite-synchronous full (fsync per group)", patch, Some(1));
    }
    Ok(Report { rows, notes })
}

/// Every student connects first, then all send their redemption at once.
async fn redeem_storm(addr: SocketAddr, seeded: &Seeded) -> Result<String, String> {
    let (owner, code) = &seeded.storm;
    let mut conns = Vec::new();
    for _ in &seeded.students {
        conns.push(Conn::open(addr).await?);
    }
    let gate = Arc::new(tokio::sync::Barrier::new(conns.len() + 1));
    let mut tasks = Vec::new();
    for (mut conn, token) in conns.into_iter().zip(seeded.students.iter().cloned()) {
        let (gate, code) = (gate.clone(), code.clone());
        tasks.push(tokio::spawn(async move {
            gate.wait().await;
            let started = Instant::now();
            let body = json!({ "code": code });
            let status = conn
                .send("POST", "/user/class/invites/redeem", Some(&bearer(&token)), Some(&body))
                .await
                .map(|a| a.status);
            (status, started)
        }));
    }
    gate.wait().await;
    let released = Instant::now();
    let mut joined_at = Vec::new();
    let (mut full, mut server_errors, mut other) = (0, 0, 0);
    for t in tasks {
        let (status, _) = t.await.map_err(|e| e.to_string())?;
        match status {
            Ok(201) => joined_at.push(released.elapsed()),
            Ok(409) => full += 1,
            Ok(s) if s >= 500 => server_errors += 1,
            _ => other += 1,
        }
    }
    let all_answered = released.elapsed();
    let class = owner.classes.first().ok_or("no storm class")?;
    let mut conn = Conn::open(addr).await?;
    let roster = conn
        .expect(
            200,
            "GET",
            &format!("/partner/{}/classes/{class}/students?limit=100", owner.id),
            Some(&bearer(&owner.token)),
            None,
        )
        .await?;
    let body = conn
        .expect(200, "GET", &format!("/partner/{}/classes/{class}", owner.id), Some(&bearer(&owner.token)), None)
        .await?;
    let used = body["invite_codes"][0]["used_count"].as_u64().unwrap_or(0);
    joined_at.sort();
    let fill = joined_at.last().map_or(0.0, |t| t.as_secs_f64() * 1e3);
    let verdict = if joined_at.len() as i64 == seed::STORM_SEATS
        && roster["total"] == json!(seed::STORM_SEATS)
        && used as i64 == seed::STORM_SEATS
        && server_errors == 0
    {
        "exactly 50 joined"
    } else {
        "WRONG"
    };
    Ok(format!(
        "3. redeem storm: {} students for {} seats: {} got 201 (roster total {}, used_count {used}), {full} got 409 full, {server_errors} got 5xx, {other} other; the seats were filled {fill:.0} ms after release, all {} answered after {:.0} ms — {verdict}",
        seeded.students.len(),
        seed::STORM_SEATS,
        joined_at.len(),
        roster["total"],
        seeded.students.len(),
        all_answered.as_secs_f64() * 1e3
    ))
}

/// Creates CloudShare classes, then signs `count` distinct PUTs of them and as many lists
/// of them (each nonce once).
async fn cloudshare_requests(
    addr: SocketAddr,
    seeded: &Seeded,
    count: usize,
) -> Result<(Vec<Request>, Vec<Request>), String> {
    let cs = &seeded.cloudshare;
    let mut nonce = 0u64;
    let mut sign = |path: &str| {
        nonce += 1;
        let ts = jiff::Timestamp::now().as_second();
        let token = format!("{nonce:x}");
        let hmac = classhub_cloudshare::signature(&cs.api_key, &format!("https://{addr}{path}"), ts, &token);
        format!("cs_sha1 userapiid:{};timestamp:{ts};token:{token};hmac:{hmac}", cs.api_id)
    };
    let mut conn = Conn::open(addr).await?;
    let mut ids = Vec::new();
    for n in 0..1000 {
        let body = json!({"name": format!("Lab {n}"), "projectId": cs.project, "blueprintId": cs.blueprint,
            "policyId": cs.policy, "instructorVupId": cs.instructor, "startDate": "03/02/2031 09:00 AM",
            "timeZoneId": "Eastern Standard Time", "studentPassphrase": "secret", "limitEarlyAccess": 0, "maxStudents": 10});
        let created = conn.expect(200, "POST", "/api/v3/class", Some(&sign("/api/v3/class")), Some(&body)).await?;

        ids.push(created["id"].as_str().ok_or("created class has no id")?.to_string());
    }
    let puts = (0..count)
        .map(|n| {
            let id = &ids[n % ids.len()];
            let path = format!("/api/v3/class/{id}");
            let body = json!({"id": id, "name": format!("Lab rev {n}"), "maxStudents": 1 + n % 60});
            Request { method: "PUT", auth: sign(&path), path, body: body.to_string() }
        })
        .collect();
    let lists = (0..count)
        .map(|_| Request {
            method: "GET",
            auth: sign("/api/v3/class"),
            path: "/api/v3/class".into(),
            body: String::new(),
        })
        .collect();
    Ok((puts, lists))
}

/// Signs the educator in, creates groups, and prepares renames; also what oha needs.
async fn ocariot_requests(
    addr: SocketAddr,
    seeded: &Seeded,
) -> Result<(Vec<Request>, (String, String, String)), String> {
    use classhub_ocariot::ids::{Kind, encode};
    let (educator, username) = &seeded.educator;
    let edu = encode(Kind::User, *educator);
    let mut conn = Conn::open(addr).await?;
    let login = json!({"username": username, "password": seed::EDUCATOR_PASSWORD});
    let token = conn.expect(200, "POST", "/v1/auth", None, Some(&login)).await?["access_token"]
        .as_str()
        .ok_or("no access_token")?
        .to_string();
    let auth = bearer(&token);
    let base = format!("/v1/educators/{edu}/children/groups");
    let child = encode(Kind::User, seeded.child);
    let mut groups = Vec::new();
    for n in 0..1000 {
        let body = json!({"name": format!("Group {n}"), "children": [child]});
        let g = conn.expect(201, "POST", &base, Some(&auth), Some(&body)).await?;
        groups.push(g["id"].as_str().ok_or("group without id")?.to_string());
    }
    let requests = (0..20_000)
        .map(|n| {
            let g = &groups[n % groups.len()];
            Request {
                method: "PATCH",
                path: format!("{base}/{g}"),
                auth: auth.clone(),
                body: json!({"name": format!("Group {g} rev {n}")}).to_string(),
            }
        })
        .collect();
    let regex = format!("{base}/({})", groups.join("|"));
    // oha repeats one body: each group gets the same name once, so renames never collide.
    Ok((requests, (regex, auth, json!({"children": [child]}).to_string())))
}

fn print_tables(args: &RunArgs, closed: &[Outcome], fixed: &[Outcome], reports: &[(&str, Report)]) {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "\nwrk -t1 -c{} -d{}s (closed loop); oha -c{} -q <half the maximum> --latency-correction (fixed rate); {cores} cores shared by server and load generator.\n",
        args.connections, args.duration, args.connections
    );
    println!("### Bare ceiling (axum, fixed body, no database)\n");
    println!("| scenario | requests/s | p50 ms | p99 ms | errors |\n|---|---:|---:|---:|---:|");
    for (name, o) in
        [("GET", closed.first()), ("PATCH", closed.get(1)), ("GET at half the maximum (oha)", fixed.first())]
    {
        if let Some(o) = o {
            println!("| {name} | {:.0} | {:.2} | {:.2} | {} |", o.per_second, o.p50_ms, o.p99_ms, o.errors);
        }
    }
    for (engine, report) in reports {
        println!("\n### {engine}\n");
        println!("| scenario | requests/s | vs ceiling | p50 ms | p99 ms | errors |\n|---|---:|---:|---:|---:|---:|");
        for r in &report.rows {
            let ratio = r
                .ceiling
                .and_then(|i| closed.get(i))
                .map_or(String::new(), |c| format!("{:.0} %", 100.0 * r.outcome.per_second / c.per_second));
            let o = r.outcome;
            println!(
                "| {} | {:.0} | {ratio} | {:.2} | {:.2} | {} |",
                r.scenario, o.per_second, o.p50_ms, o.p99_ms, o.errors
            );
        }
        println!();
        for n in &report.notes {
            println!("- {n}");
        }
    }
}
