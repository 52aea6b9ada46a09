//! The race suite: every write of every dialect under at least 100 concurrent, conflicting
//! requests, against real `classhub serve` processes — on SQLite, on PostgreSQL, and on two
//! processes sharing one PostgreSQL (requests alternate between them). Each race is
//! followed by checks through the dialects' own reads (counts, rosters, versions, history)
//! and by `classhub check`, which verifies the database's invariants (counters equal rows,
//! seats within capacity, uses within limits, no duplicates).
//!
//! Each deployment runs every race and prints one table row per race; the test fails if any
//! race broke a rule, listing them all.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Barrier;
use std::time::{Duration, Instant};

use common::{Reply, Server, http, sqlite_url};
use serde_json::{Value, json};

/// Requests per race.
const N: usize = 100;
const ADMIN: &str = "race-admin";
const OC_ADMIN: &str = "race-ocariot-admin";

/// One deployment races at a time: each burst is about conflicting writes, and two
/// deployments bursting at once on a small machine only measure its overload (a pool's
/// wait running out is a 503, as it should be, but not what a race checks).
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn run_all(d: Deployment) {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    run_races(d);
}

#[test]
fn races_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(dir.path());
    run_all(Deployment::start("sqlite", dir, None, &url, 1));
}

#[test]
#[cfg_attr(not(classhub_pg), ignore = "set CLASSHUB_TEST_POSTGRES_URL to run on PostgreSQL")]
fn races_on_postgres() {
    let schema = pg_schema();
    let url = schema.url.clone();
    run_all(Deployment::start("postgres", tempfile::tempdir().unwrap(), Some(schema), &url, 1));
}

#[test]
#[cfg_attr(not(classhub_pg), ignore = "set CLASSHUB_TEST_POSTGRES_URL to run on PostgreSQL")]
fn races_on_two_processes_sharing_postgres() {
    let schema = pg_schema();
    let url = schema.url.clone();
    run_all(Deployment::start("postgres, 2 processes", tempfile::tempdir().unwrap(), Some(schema), &url, 2));
}

fn pg_schema() -> classhub_testkit::PgSchema {
    tokio::runtime::Runtime::new().unwrap().block_on(classhub_testkit::PgSchema::create())
}

// ---- deployments and requests ------------------------------------------------------------

struct Deployment {
    name: &'static str,
    servers: Vec<Server>,
    database: String,
    dir: tempfile::TempDir,
    agent: ureq::Agent,
    _schema: Option<classhub_testkit::PgSchema>,
}

impl Deployment {
    fn start(
        name: &'static str,
        dir: tempfile::TempDir,
        schema: Option<classhub_testkit::PgSchema>,
        url: &str,
        processes: usize,
    ) -> Deployment {
        let args = [
            "--admin-token",
            ADMIN,
            "--ocariot-admin-password",
            OC_ADMIN,
            // Throttles are the security suite's subject; here they would only hide races.
            "--redeem-failure-limit",
            "1000000",
            "--login-failure-limit",
            "1000000",
            "--signature-failure-limit",
            "1000000",
            "--pg-pool-size",
            "8",
        ];
        let servers = std::thread::scope(|s| {
            let started: Vec<_> = (0..processes).map(|_| s.spawn(|| Server::start(dir.path(), url, &args))).collect();
            started.into_iter().map(|h| h.join().unwrap()).collect()
        });
        Deployment { name, servers, database: url.to_string(), dir, agent: http(), _schema: schema }
    }

    /// Sends one request through server `i` (modulo the number of processes).
    fn send(&self, i: usize, r: &Req) -> Reply {
        let server = &self.servers[i % self.servers.len()];
        let started = Instant::now();
        loop {
            match self.agent.run(r.build(server)) {
                Ok(mut res) => {
                    let status = res.status().as_u16();
                    let header = |n: &str| res.headers().get(n).and_then(|v| v.to_str().ok()).map(str::to_string);
                    let (etag, content_type) = (header("etag"), header("content-type"));
                    let text = res.body_mut().read_to_string().unwrap_or_default();
                    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
                    return Reply { status, etag, content_type, text, body };
                }
                // A connection refused under a burst is the machine's limit, not classhub's
                // answer: retried briefly, then reported as status 0.
                Err(e) if started.elapsed() < Duration::from_secs(5) => {
                    eprintln!("{} {}: {e}; retrying", r.method, r.path);
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(e) => {
                    return Reply { status: 0, etag: None, content_type: None, text: e.to_string(), body: Value::Null };
                }
            }
        }
    }

    /// One request through the first process.
    fn one(&self, r: Req) -> Reply {
        self.send(0, &r)
    }

    /// All requests at once (released together), request `i` through process `i`.
    fn burst(&self, reqs: Vec<Req>) -> Vec<Reply> {
        let barrier = Barrier::new(reqs.len());
        std::thread::scope(|s| {
            let handles: Vec<_> = reqs
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    let barrier = &barrier;
                    s.spawn(move || {
                        barrier.wait();
                        self.send(i, r)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        })
    }

    /// `classhub check` on the deployment's database: `Ok` or the violations it reports.
    fn check_database(&self) -> Result<(), String> {
        let key = self.dir.path().join("secret.key");
        let out = std::process::Command::new(common::BIN)
            .args(["--database-url", &self.database, "--secret-key-file", key.to_str().unwrap(), "check"])
            .output()
            .unwrap();
        if out.status.success() {
            Ok(())
        } else {
            Err(format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
        }
    }
}

#[derive(Clone)]
enum Auth {
    None,
    Bearer(String),
    Cs(Cs),
}

/// CloudShare API credentials; every request is signed with a fresh nonce.
#[derive(Clone)]
struct Cs {
    api_id: String,
    api_key: String,
}

impl Cs {
    fn sign(&self, host: &str, target: &str) -> String {
        use rand::Rng;
        let token: String = (0..10).map(|_| rand::rng().sample(rand::distr::Alphanumeric) as char).collect();
        let timestamp = jiff::Timestamp::now().as_second();
        common::cs_sha1_header(&self.api_id, &self.api_key, &format!("https://{host}{target}"), timestamp, &token)
    }
}

struct Req {
    method: &'static str,
    path: String,
    auth: Auth,
    body: Option<Value>,
    if_match: Option<String>,
    idempotency_key: Option<&'static str>,
}

fn req(method: &'static str, path: impl Into<String>, auth: &Auth, body: Option<Value>) -> Req {
    Req { method, path: path.into(), auth: auth.clone(), body, if_match: None, idempotency_key: None }
}

impl Req {
    /// The request for `server` (CloudShare requests are signed for its address, afresh).
    fn build(&self, server: &Server) -> ::http::Request<String> {
        let mut b = ::http::Request::builder().method(self.method).uri(server.url(&self.path));
        match &self.auth {
            Auth::None => {}
            Auth::Bearer(t) => b = b.header("authorization", format!("Bearer {t}")),
            Auth::Cs(c) => b = b.header("authorization", c.sign(&server.addr(), &self.path)),
        }
        if let Some(v) = &self.if_match {
            b = b.header("if-match", v);
        }
        if let Some(k) = self.idempotency_key {
            b = b.header("idempotency-key", k);
        }
        let body = match &self.body {
            Some(v) => {
                b = b.header("content-type", "application/json");
                v.to_string()
            }
            None => String::new(),
        };
        b.body(body).unwrap()
    }
}

fn bearer(t: &str) -> Auth {
    Auth::Bearer(t.to_string())
}

// ---- outcomes ---------------------------------------------------------------------------

/// What one race did and what it broke.
struct Outcome {
    race: String,
    statuses: String,
    problems: Vec<String>,
    millis: u128,
}

/// `201×30 409×70`.
fn histogram(replies: &[Reply]) -> BTreeMap<u16, usize> {
    let mut h = BTreeMap::new();
    for r in replies {
        *h.entry(r.status).or_insert(0) += 1;
    }
    h
}

fn describe(h: &BTreeMap<u16, usize>) -> String {
    h.iter().map(|(s, n)| format!("{s}×{n}")).collect::<Vec<_>>().join(" ")
}

/// Collects the problems a race shows.
#[derive(Default)]
struct Checks {
    problems: Vec<String>,
    statuses: BTreeMap<u16, usize>,
}

impl Checks {
    fn ok(&mut self, cond: bool, what: impl Into<String>) {
        if !cond {
            self.problems.push(what.into());
        }
    }

    fn eq<T: PartialEq + std::fmt::Debug>(&mut self, actual: T, expected: T, what: &str) {
        if actual != expected {
            self.problems.push(format!("{what}: {actual:?}, expected {expected:?}"));
        }
    }

    /// Records the burst's statuses; none may be a 5xx or a missing answer, and each must
    /// be one of `allowed`.
    fn burst(&mut self, replies: &[Reply], allowed: &[u16]) -> BTreeMap<u16, usize> {
        let h = histogram(replies);
        for (s, n) in &h {
            *self.statuses.entry(*s).or_insert(0) += n;
        }
        for r in replies {
            if !allowed.contains(&r.status) {
                let sample: String = r.text.chars().take(160).collect();
                self.problems.push(format!("unexpected {}: {sample}", r.status));
                break;
            }
        }
        h
    }
}

fn count(h: &BTreeMap<u16, usize>, status: u16) -> usize {
    h.get(&status).copied().unwrap_or(0)
}

/// A race: sets up, sends its burst, checks what followed.
type Race = fn(&Deployment, &mut Checks);

fn run_races(d: Deployment) {
    let races: Vec<(&str, Race)> = vec![
        ("admin: create partners and students", admin_people),
        ("admin: create models and courses", admin_catalog),
        ("admin: revoke one token", admin_revoke),
        ("admin: create CloudShare catalog entries and members", admin_cloudshare),
        ("admin: delete students while students redeem the last seats", admin_delete_vs_redeem),
        ("admin: rotate one user's token", admin_rotate),
        ("admin: rotate one CloudShare member's API key", admin_rotate_api_key),
        ("admin: two accounts changed to one email, disabled and enabled", admin_user_patches),
        ("admin: two models renamed to one name, disabled and enabled", admin_model_patches),
        ("admin: delete a model while classes are made to name it", admin_model_delete_vs_classes),
        ("admin: delete a policy, a blueprint, a project while classes are created", admin_catalog_delete_vs_classes),
        ("admin: change a project's entries while a member is removed", admin_catalog_changes),
        ("partner: create classes", partner_create),
        ("partner: redeem for the last seats", partner_redeem_seats),
        ("partner: redeem a code of max_uses 5", partner_redeem_uses),
        ("partner: one student redeems again and again", partner_redeem_repeat),
        ("partner: duplicate leaves and removals while others redeem", partner_leave_remove),
        ("partner: PATCH, with and without If-Match", partner_patch),
        ("partner: capacity lowered while students redeem", partner_capacity_vs_redeem),
        ("partner: delete a class while students redeem", partner_delete_vs_redeem),
        ("partner: create invite codes", partner_codes),
        ("partner: one class created again and again under one Idempotency-Key", partner_create_retried),
        ("partner: code max_uses lowered while students redeem", partner_code_limit_vs_redeem),
        ("GrowFit: a student and a partner redeem one code 50 times each", growfit_duplicate_redeems),
        ("GrowFit: leave, drop, complete and redeem on the last seats", growfit_last_seats),
        ("GrowFit: a partner enrolls its students while members leave", growfit_add_vs_leave),
        ("cloudshare: create classes", cs_create),
        ("cloudshare: one class created again and again under one Idempotency-Key", cs_create_retried),
        ("cloudshare: add one email", cs_same_email),
        ("cloudshare: add students for the last seats", cs_seats),
        ("cloudshare: remove one student", cs_remove_student),
        ("cloudshare: PUT maxStudents while students are added", cs_put_vs_add),
        ("cloudshare: delete a class while students are added", cs_delete_vs_add),
        ("cloudshare: two students change to one email", cs_email_change),
        ("cloudshare: sponsored links for one email", cs_sponsored_links),
        ("cloudshare: disable a link and unregister", cs_disable_link),
        ("cloudshare: invitations to one student", cs_invitations),
        ("cloudshare: add one instructor", cs_add_instructor),
        ("cloudshare: remove both instructors", cs_remove_instructors),
        ("cloudshare: sign in with one sponsored link", cs_sponsored_login),
        ("ocariot: institutions with one name", oc_institutions),
        ("ocariot: accounts with one username", oc_accounts),
        ("ocariot: a child signs in and is changed", oc_child_login_and_patch),
        ("ocariot: one password changed with the same old one", oc_password_changes),
        ("ocariot: groups with one name", oc_group_create),
        ("ocariot: one group created again and again under one Idempotency-Key", oc_group_create_retried),
        ("ocariot: groups renamed to one name", oc_group_rename),
        ("ocariot: a group's children replaced", oc_group_children),
        ("ocariot: delete a group", oc_group_delete),
        ("ocariot: delete a child while its group is changed", oc_delete_child_vs_patch),
        ("ocariot: delete an educator while their groups are changed", oc_delete_educator_vs_patch),
        ("accounts: sign up one verified email", account_signups),
        ("accounts: guess one emailed code", account_code_guesses),
        ("accounts: wrong passwords at one email", account_login_guesses),
        ("accounts: exchange one refresh token", account_refreshes),
        ("accounts: four users change to one verified email", account_email_changes),
        ("catalogue: courses with one course_key", catalogue_course_key),
        ("catalogue: PATCH budgets of one class", catalogue_budget_patches),
        ("catalogue: delete a course while classes are created in it", catalogue_course_delete_vs_classes),
    ];
    let mut outcomes = Vec::new();
    for (name, race) in races {
        let started = Instant::now();
        let mut checks = Checks::default();
        race(&d, &mut checks);
        if let Err(e) = d.check_database() {
            checks.problems.push(format!("classhub check: {}", e.trim()));
        }
        outcomes.push(Outcome {
            race: name.to_string(),
            statuses: describe(&checks.statuses),
            problems: checks.problems,
            millis: started.elapsed().as_millis(),
        });
    }
    println!("\n### Races on {} ({N} concurrent requests each)\n", d.name);
    println!("| race | statuses | ms | result |\n|---|---|---:|---|");
    for o in &outcomes {
        let result = if o.problems.is_empty() { "ok".to_string() } else { o.problems.join("; ") };
        println!("| {} | {} | {} | {} |", o.race, o.statuses, o.millis, result.replace('|', "\\|"));
    }
    let failed: Vec<&Outcome> = outcomes.iter().filter(|o| !o.problems.is_empty()).collect();
    assert!(failed.is_empty(), "{} of {} races broke a rule on {}", failed.len(), outcomes.len(), d.name);
}

// ---- fixtures -----------------------------------------------------------------------------

fn admin() -> Auth {
    bearer(ADMIN)
}

/// Creates people through the admin API (`partners` or `students`); returns (id, token).
fn people(d: &Deployment, kind: &str, n: usize) -> Vec<(i64, String)> {
    let tag = rand_tag();
    let reqs = (0..n)
        .map(|i| {
            req(
                "POST",
                format!("/admin/v1/{kind}"),
                &admin(),
                Some(json!({"name": format!("{kind} {i}"), "email": format!("{tag}{i}@{kind}.example")})),
            )
        })
        .collect();
    d.burst(reqs)
        .into_iter()
        .map(|r| {
            assert_eq!(r.status, 201, "{}", r.text);
            (r.body["id"].as_i64().unwrap(), r.body["token"].as_str().unwrap().to_string())
        })
        .collect()
}

fn rand_tag() -> String {
    use rand::Rng;
    (0..6).map(|_| rand::rng().sample(rand::distr::Alphanumeric) as char).collect::<String>().to_lowercase()
}

struct Partner {
    id: i64,
    auth: Auth,
}

fn partner(d: &Deployment) -> Partner {
    let (id, token) = people(d, "partners", 1).remove(0);
    Partner { id, auth: Auth::Bearer(token) }
}

fn class(d: &Deployment, p: &Partner, body: Value) -> Value {
    let r = d.one(req("POST", format!("/partner/{}/classes", p.id), &p.auth, Some(body)));
    assert_eq!(r.status, 201, "{}", r.text);
    r.body
}

fn get_class(d: &Deployment, p: &Partner, id: i64) -> Reply {
    d.one(req("GET", format!("/partner/{}/classes/{id}", p.id), &p.auth, None))
}

fn roster_total(d: &Deployment, p: &Partner, class: i64) -> i64 {
    let r = d.one(req("GET", format!("/partner/{}/classes/{class}/students?limit=1", p.id), &p.auth, None));
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["total"].as_i64().unwrap()
}

/// The class's history actions and how often each occurs.
fn history(d: &Deployment, p: &Partner, class: i64) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    let mut offset = 0;
    loop {
        let r = d.one(req(
            "GET",
            format!("/partner/{}/classes/{class}/history?limit=100&offset={offset}", p.id),
            &p.auth,
            None,
        ));
        assert_eq!(r.status, 200, "{}", r.text);
        let items = r.body["items"].as_array().unwrap().clone();
        for e in &items {
            *counts.entry(e["action"].as_str().unwrap().to_string()).or_insert(0) += 1;
        }
        if items.len() < 100 {
            return counts;
        }
        offset += 100;
    }
}

fn redeem(student: &(i64, String), code: &str) -> Req {
    req("POST", "/user/class/invites/redeem", &bearer(&student.1), Some(json!({"code": code})))
}

fn first_code(class: &Value) -> String {
    class["invite_codes"][0]["code"].as_str().unwrap().to_string()
}

fn id_of(v: &Value) -> i64 {
    v["id"].as_i64().unwrap()
}

/// A member of a CloudShare project.
#[derive(Clone)]
struct CsMember {
    auth: Auth,
    vup: String,
}

struct CsProject {
    id: String,
    policy: String,
    blueprint: String,
    lead: CsMember,
    second: CsMember,
}

fn admin_post(d: &Deployment, path: &str, body: Value) -> Value {
    let r = d.one(req("POST", path, &admin(), Some(body)));
    assert_eq!(r.status, 201, "{path}: {}", r.text);
    r.body
}

fn cs_member(d: &Deployment, project: &str, name: &str) -> CsMember {
    let tag = rand_tag();
    let m = admin_post(
        d,
        "/admin/v1/cloudshare/members",
        json!({"name": name, "email": format!("{tag}@members.example"), "project_ids": [project], "can_instruct": true}),
    );
    let cs = Cs { api_id: m["api_id"].as_str().unwrap().into(), api_key: m["api_key"].as_str().unwrap().into() };
    CsMember { auth: Auth::Cs(cs), vup: m["vup_ids"][project].as_str().unwrap().into() }
}

fn cs_project(d: &Deployment) -> CsProject {
    let id = admin_post(d, "/admin/v1/cloudshare/projects", json!({"name": format!("P {}", rand_tag())}))["id"]
        .as_str()
        .unwrap()
        .to_string();
    let policy = admin_post(
        d,
        &format!("/admin/v1/cloudshare/projects/{id}/policies"),
        json!({"name": "2 hours", "default_duration_minutes": 120}),
    )["id"]
        .as_str()
        .unwrap()
        .to_string();
    let blueprint = admin_post(d, &format!("/admin/v1/cloudshare/projects/{id}/blueprints"), json!({"name": "Linux"}))
        ["id"]
        .as_str()
        .unwrap()
        .to_string();
    let lead = cs_member(d, &id, "Lead");
    let second = cs_member(d, &id, "Second");
    CsProject { id, policy, blueprint, lead, second }
}

fn cs_class_body(p: &CsProject, name: &str, max_students: Option<u32>) -> Value {
    json!({
        "name": name, "projectId": p.id, "blueprintId": p.blueprint, "policyId": p.policy,
        "instructorVupId": p.lead.vup, "startDate": "03/02/2031 09:00 AM",
        "timeZoneId": "Eastern Standard Time", "studentPassphrase": "secret", "limitEarlyAccess": 0,
        "maxStudents": max_students,
    })
}

/// A CloudShare class; returns its object.
fn cs_class(d: &Deployment, p: &CsProject, max_students: Option<u32>) -> Value {
    let r = d.one(req("POST", "/api/v3/class", &p.lead.auth, Some(cs_class_body(p, "Lab", max_students))));
    assert_eq!(r.status, 200, "{}", r.text);
    r.body
}

fn cs_add(class: &str, auth: &Auth, email: &str) -> Req {
    req(
        "POST",
        format!("/api/v3/class/{class}/students"),
        auth,
        Some(json!({"email": email, "firstName": "F", "lastName": "L"})),
    )
}

fn cs_students(d: &Deployment, auth: &Auth, class: &str) -> Vec<Value> {
    let r = d.one(req("GET", format!("/api/v3/class/{class}/students"), auth, None));
    assert_eq!(r.status, 200, "{}", r.text);
    r.body.as_array().unwrap().clone()
}

/// OCARIoT fixtures: the administrator's token, an institution, an educator and children.
struct Oc {
    admin: Auth,
    institution: String,
}

fn oc(d: &Deployment) -> Oc {
    let r = d.one(req("POST", "/v1/auth", &Auth::None, Some(json!({"username": "admin", "password": OC_ADMIN}))));
    assert_eq!(r.status, 200, "{}", r.text);
    let admin = bearer(r.body["access_token"].as_str().unwrap());
    let r = d.one(req(
        "POST",
        "/v1/institutions",
        &admin,
        Some(json!({"type": "School", "name": format!("School {}", rand_tag())})),
    ));
    assert_eq!(r.status, 201, "{}", r.text);
    Oc { admin, institution: r.body["id"].as_str().unwrap().to_string() }
}

impl Oc {
    fn login(&self, d: &Deployment, username: &str) -> Auth {
        let r =
            d.one(req("POST", "/v1/auth", &Auth::None, Some(json!({"username": username, "password": "pw-123456"}))));
        assert_eq!(r.status, 200, "{}", r.text);
        bearer(r.body["access_token"].as_str().unwrap())
    }

    /// An educator and their token.
    fn educator(&self, d: &Deployment) -> (String, Auth) {
        let username = format!("edu-{}", rand_tag());
        let r = d.one(req(
            "POST",
            "/v1/educators",
            &self.admin,
            Some(json!({"username": username, "password": "pw-123456", "institution_id": self.institution})),
        ));
        assert_eq!(r.status, 201, "{}", r.text);
        (r.body["id"].as_str().unwrap().to_string(), self.login(d, &username))
    }

    fn children(&self, d: &Deployment, n: usize) -> Vec<String> {
        let tag = rand_tag();
        let reqs = (0..n)
            .map(|i| {
                req(
                    "POST",
                    "/v1/children",
                    &self.admin,
                    Some(json!({"username": format!("kid-{tag}-{i}"), "password": "pw-123456",
                        "institution_id": self.institution, "gender": "female", "age": "9"})),
                )
            })
            .collect();
        d.burst(reqs)
            .into_iter()
            .map(|r| {
                assert_eq!(r.status, 201, "{}", r.text);
                r.body["id"].as_str().unwrap().to_string()
            })
            .collect()
    }

    fn group(&self, d: &Deployment, educator: &(String, Auth), name: &str, children: &[String]) -> String {
        let r = d.one(req(
            "POST",
            format!("/v1/educators/{}/children/groups", educator.0),
            &educator.1,
            Some(json!({"name": name, "children": children})),
        ));
        assert_eq!(r.status, 201, "{}", r.text);
        r.body["id"].as_str().unwrap().to_string()
    }
}

fn groups_of(d: &Deployment, educator: &(String, Auth)) -> Vec<Value> {
    let r = d.one(req("GET", format!("/v1/educators/{}/children/groups", educator.0), &educator.1, None));
    assert_eq!(r.status, 200, "{}", r.text);
    r.body.as_array().unwrap().clone()
}

// ---- admin --------------------------------------------------------------------------------

fn admin_people(d: &Deployment, c: &mut Checks) {
    let tag = rand_tag();
    let reqs = (0..N)
        .map(|i| {
            let kind = if i % 2 == 0 { "partners" } else { "students" };
            req(
                "POST",
                format!("/admin/v1/{kind}"),
                &admin(),
                Some(json!({"name": "P", "email": format!("{tag}{i}@x.example")})),
            )
        })
        .collect();
    let replies = d.burst(reqs);
    c.burst(&replies, &[201]);
    let ids: HashSet<i64> = replies.iter().filter_map(|r| r.body["id"].as_i64()).collect();
    let tokens: HashSet<&str> = replies.iter().filter_map(|r| r.body["token"].as_str()).collect();
    c.eq((ids.len(), tokens.len()), (N, N), "distinct ids and tokens");
}

fn admin_catalog(d: &Deployment, c: &mut Checks) {
    let p = partner(d);
    let reqs = (0..N)
        .map(|i| {
            if i % 2 == 0 {
                req("POST", "/admin/v1/models", &admin(), Some(json!({"name": format!("m{i}"), "provider": "acme"})))
            } else {
                req("POST", "/admin/v1/courses", &admin(), Some(json!({"partner_id": p.id, "title": format!("c{i}")})))
            }
        })
        .collect();
    let replies = d.burst(reqs);
    c.burst(&replies, &[201]);
    let ids: HashSet<(bool, i64)> =
        replies.iter().filter_map(|r| Some((r.body.get("provider").is_some(), r.body["id"].as_i64()?))).collect();
    c.eq(ids.len(), N, "distinct ids");
}

fn admin_revoke(d: &Deployment, c: &mut Checks) {
    let p = partner(d);
    let Auth::Bearer(token) = &p.auth else { unreachable!() };
    let reqs =
        (0..N).map(|_| req("POST", "/admin/v1/tokens/revoke", &admin(), Some(json!({"token": token})))).collect();
    let h = c.burst(&d.burst(reqs), &[204, 404]);
    c.eq(count(&h, 204), 1, "revocations that answered 204");
    let r = d.one(req("GET", format!("/partner/{}/classes", p.id), &p.auth, None));
    c.eq(r.status, 401, "the revoked token");
}

fn admin_delete_vs_redeem(d: &Deployment, c: &mut Checks) {
    let p = partner(d);
    let k = class(d, &p, json!({"name": "deletes", "capacity": 30}));
    let code = first_code(&k);
    let students = people(d, "students", N);
    // Every student redeems; every other student is deleted meanwhile (each once). A
    // redemption whose student is deleted after sign-in and before its write answers 503
    // (the facts changed: try again), and 401 after.
    let mut reqs: Vec<Req> = students.iter().map(|s| redeem(s, &code)).collect();
    reqs.extend(
        students.iter().step_by(2).map(|(id, _)| req("DELETE", format!("/admin/v1/users/{id}"), &admin(), None)),
    );
    let replies = d.burst(reqs);
    let h = c.burst(&replies, &[201, 204, 401, 409, 503]);
    c.eq(count(&h, 204), N.div_ceil(2), "deletions");
    let kept: HashSet<i64> = students.iter().skip(1).step_by(2).map(|(id, _)| *id).collect();
    let roster =
        d.one(req("GET", format!("/partner/{}/classes/{}/students?limit=100", p.id, id_of(&k)), &p.auth, None));
    let members: Vec<i64> =
        roster.body["items"].as_array().into_iter().flatten().filter_map(|m| m["user_id"].as_i64()).collect();
    c.ok(members.iter().all(|m| kept.contains(m)), "only students not deleted are on the roster");
    c.ok(members.len() <= 30, "seats within capacity");
    // Seats the deleted students held are free: the kept students, redeeming again, fill the class.
    let more: Vec<Req> = students.iter().skip(1).step_by(2).map(|s| redeem(s, &code)).collect();
    c.burst(&d.burst(more), &[200, 201, 409]);
    c.eq(roster_total(d, &p, id_of(&k)), kept.len().min(30) as i64, "roster after the kept students redeem again");
}

fn admin_rotate(d: &Deployment, c: &mut Checks) {
    let p = partner(d);
    let replies =
        d.burst((0..N).map(|_| req("POST", format!("/admin/v1/users/{}/token", p.id), &admin(), None)).collect());
    c.burst(&replies, &[201]);
    let tokens: HashSet<&str> = replies.iter().filter_map(|r| r.body["token"].as_str()).collect();
    c.eq(tokens.len(), N, "distinct new tokens");
    let working = tokens
        .iter()
        .chain(std::iter::once(&match &p.auth {
            Auth::Bearer(t) => t.as_str(),
            _ => "",
        }))
        .filter(|t| d.one(req("GET", format!("/partner/{}/classes", p.id), &bearer(t), None)).status == 200)
        .count();
    c.eq(working, 1, "tokens that still work (the last rotation's)");
}

fn admin_rotate_api_key(d: &Deployment, c: &mut Checks) {
    let project = admin_post(d, "/admin/v1/cloudshare/projects", json!({"name": format!("P {}", rand_tag())}));
    let project = project["id"].as_str().unwrap().to_string();
    let tag = rand_tag();
    let email = format!("{tag}@rotate.example");
    let body = json!({"name": "Rota", "email": email, "project_ids": [project], "can_instruct": true});
    let first = admin_post(d, "/admin/v1/cloudshare/members", body);
    let r = d.one(req("GET", format!("/admin/v1/users?kind=project_member&q={tag}"), &admin(), None));
    let id = r.body["items"][0]["id"].as_i64().unwrap();
    let replies =
        d.burst((0..N).map(|_| req("POST", format!("/admin/v1/users/{id}/api-key"), &admin(), None)).collect());
    c.burst(&replies, &[201]);
    let mut keys: Vec<Cs> = replies
        .iter()
        .filter_map(|r| {
            Some(Cs { api_id: r.body["api_id"].as_str()?.into(), api_key: r.body["api_key"].as_str()?.into() })
        })
        .collect();
    c.eq(keys.iter().map(|k| k.api_id.clone()).collect::<HashSet<_>>().len(), N, "distinct new API ids");
    keys.push(Cs {
        api_id: first["api_id"].as_str().unwrap().into(),
        api_key: first["api_key"].as_str().unwrap().into(),
    });
    let working = keys
        .into_iter()
        .filter(|k| d.one(req("GET", "/api/v3/projects", &Auth::Cs(k.clone()), None)).status == 200)
        .count();
    c.eq(working, 1, "API keys that still sign (the last rotation's)");
}

fn admin_model_patches(d: &Deployment, c: &mut Checks) {
    let tag = rand_tag();
    let ids: Vec<i64> = (0..2)
        .map(|i| id_of(&admin_post(d, "/admin/v1/models", json!({"name": format!("{tag}-{i}"), "provider": "race"}))))
        .collect();
    let wanted = format!("{tag}-wanted");
    let reqs = (0..N)
        .map(|i| {
            let body = match i % 4 {
                0 | 1 => json!({"name": wanted}),
                2 => json!({"is_active": false}),
                _ => json!({"is_active": true}),
            };
            req("PATCH", format!("/admin/v1/models/{}", ids[i % 2]), &admin(), Some(body))
        })
        .collect();
    let replies = d.burst(reqs);
    c.burst(&replies, &[200, 409]);
    let holders: Vec<i64> = ids
        .iter()
        .copied()
        .filter(|id| d.one(req("GET", format!("/admin/v1/models/{id}"), &admin(), None)).body["name"] == json!(wanted))
        .collect();
    c.eq(holders.len(), 1, "models with the wanted name");
    let refused: HashSet<i64> = (0..N).filter(|&i| replies[i].status == 409).map(|i| ids[i % 2]).collect();
    c.ok(!refused.iter().any(|id| holders.contains(id)), "409s only for the model without the name");
}

fn admin_user_patches(d: &Deployment, c: &mut Checks) {
    let tag = rand_tag();
    let ids: Vec<i64> = (0..2)
        .map(|i| {
            let body =
                json!({"name": format!("Acct {i}"), "email": format!("{tag}{i}@patch.example"), "password": "pw-1"});
            id_of(&admin_post(d, "/admin/v1/students", body))
        })
        .collect();
    let target = format!("{tag}@wanted.example");
    let reqs = (0..N)
        .map(|i| {
            let body = match i % 4 {
                0 | 1 => json!({"email": target}),
                2 => json!({"disabled": true}),
                _ => json!({"disabled": false}),
            };
            req("PATCH", format!("/admin/v1/users/{}", ids[i % 2]), &admin(), Some(body))
        })
        .collect();
    let replies = d.burst(reqs);
    c.burst(&replies, &[200, 409]);
    let holders: Vec<i64> = ids
        .iter()
        .copied()
        .filter(|id| d.one(req("GET", format!("/admin/v1/users/{id}"), &admin(), None)).body["email"] == json!(target))
        .collect();
    c.eq(holders.len(), 1, "users with the wanted email");
    let refused: HashSet<i64> = (0..N).filter(|&i| replies[i].status == 409).map(|i| ids[i % 2]).collect();
    c.ok(!refused.iter().any(|id| holders.contains(id)), "409s only for the user without the email");
}

fn admin_cloudshare(d: &Deployment, c: &mut Checks) {
    let p = cs_project(d);
    let reqs = (0..N)
        .map(|i| match i % 5 {
            0 => req("POST", "/admin/v1/cloudshare/projects", &admin(), Some(json!({"name": format!("p{i}")}))),
            1 => req(
                "POST",
                format!("/admin/v1/cloudshare/projects/{}/policies", p.id),
                &admin(),
                Some(json!({"name": format!("p{i}"), "default_duration_minutes": 60})),
            ),
            2 => req(
                "POST",
                format!("/admin/v1/cloudshare/projects/{}/blueprints", p.id),
                &admin(),
                Some(json!({"name": format!("b{i}")})),
            ),
            3 => req(
                "POST",
                format!("/admin/v1/cloudshare/projects/{}/custom-fields", p.id),
                &admin(),
                Some(json!({"name": format!("f{i}"), "order": i, "type": 0, "is_required": false})),
            ),
            _ => req(
                "POST",
                "/admin/v1/cloudshare/members",
                &admin(),
                Some(json!({"name": "M", "email": format!("m{i}@x.example"), "project_ids": [p.id], "can_instruct": false})),
            ),
        })
        .collect();
    let replies = d.burst(reqs);
    c.burst(&replies, &[201]);
    let tokens: HashSet<&str> = replies.iter().filter_map(|r| r.body["token"].as_str()).collect();
    c.eq(tokens.len(), N / 5, "distinct blueprint tokens");
    let api_ids: HashSet<&str> = replies.iter().filter_map(|r| r.body["api_id"].as_str()).collect();
    c.eq(api_ids.len(), N / 5, "distinct API ids");
}

fn admin_model_delete_vs_classes(d: &Deployment, c: &mut Checks) {
    let p = partner(d);
    let tag = rand_tag();
    let model = |name: &str| {
        id_of(&admin_post(d, "/admin/v1/models", json!({"name": format!("{tag}-{name}"), "provider": "race"})))
    };
    let (doomed, kept) = (model("doomed"), model("kept"));
    let classes: Vec<i64> = (0..10).map(|i| id_of(&class(d, &p, json!({"name": format!("M {i}")})))).collect();
    // Classes created and changed to name the model while it is deleted: each either names
    // it and loses it with the deletion, or is refused because it is gone.
    let mut reqs: Vec<Req> = (0..N - 1)
        .map(|i| {
            let models = json!({"allowed_model_ids": [doomed, kept], "primary_model_id": doomed});
            if i % 2 == 0 {
                let mut body = models;
                body["name"] = json!(format!("new {i}"));
                req("POST", format!("/partner/{}/classes", p.id), &p.auth, Some(body))
            } else {
                req("PATCH", format!("/partner/{}/classes/{}", p.id, classes[i % 10]), &p.auth, Some(models))
            }
        })
        .collect();
    reqs.insert(N / 2, req("DELETE", format!("/admin/v1/models/{doomed}"), &admin(), None));
    let replies = d.burst(reqs);
    let h = c.burst(&replies, &[200, 201, 204, 422]);
    c.eq(count(&h, 204), 1, "the model deleted");
    let mut ids: Vec<i64> = classes.clone();
    ids.extend(replies.iter().filter(|r| r.status == 201).map(|r| id_of(&r.body)));
    for id in ids {
        let now = get_class(d, &p, id);
        let allowed = now.body["allowed_model_ids"].as_array().cloned().unwrap_or_default();
        c.ok(!allowed.contains(&json!(doomed)), format!("class {id} still allows the deleted model: {}", now.text));
        c.ok(now.body["primary_model_id"] != json!(doomed), format!("class {id}'s primary is the deleted model"));
    }
    let gone = d.one(req("GET", format!("/admin/v1/models/{doomed}"), &admin(), None));
    c.eq(gone.status, 404, "the model afterwards");
}

fn admin_catalog_delete_vs_classes(d: &Deployment, c: &mut Checks) {
    let p = cs_project(d);
    let at = |rest: &str| format!("/admin/v1/cloudshare/projects/{}{rest}", p.id);
    let mut reqs: Vec<Req> = (0..N - 3)
        .map(|i| req("POST", "/api/v3/class", &p.lead.auth, Some(cs_class_body(&p, &format!("Lab {i}"), None))))
        .collect();
    // A class can only be made with the policy, the blueprint and the project all there,
    // and none of them can go while a class uses it.
    reqs.insert(N / 4, req("DELETE", at(&format!("/policies/{}", p.policy)), &admin(), None));
    reqs.insert(N / 2, req("DELETE", at(&format!("/blueprints/{}", p.blueprint)), &admin(), None));
    reqs.insert(3 * N / 4, req("DELETE", at(""), &admin(), None));
    let replies = d.burst(reqs);
    let h = c.burst(&replies, &[200, 204, 400, 404, 409]);
    let created = count(&h, 200);
    // Gone: deleted, or gone with the project.
    let deleted = |i: usize| matches!(replies[i].status, 204 | 404);
    let (policy_gone, blueprint_gone) = (deleted(N / 4), deleted(N / 2));
    c.ok(policy_gone == (created == 0), format!("policy deleted: {policy_gone} with {created} classes made"));
    c.ok(blueprint_gone == (created == 0), format!("blueprint deleted: {blueprint_gone} with {created} classes made"));
    if created > 0 {
        let list = d.one(req("GET", "/api/v3/class", &p.lead.auth, None));
        c.eq(list.body.as_array().map(Vec::len), Some(created), "classes listed");
        let shown = d.one(req("GET", at(""), &admin(), None));
        c.eq(shown.status, 200, "the project in use afterwards");
    }
}

fn admin_catalog_changes(d: &Deployment, c: &mut Checks) {
    let p = cs_project(d);
    let at = |rest: &str| format!("/admin/v1/cloudshare/projects/{}{rest}", p.id);
    let field = admin_post(d, &at("/custom-fields"), json!({"name": "f", "order": 1, "type": 0, "is_required": false}));
    let field = field["id"].as_str().unwrap().to_string();
    let member = at(&format!("/members/{}", p.second.vup));
    let mut reqs: Vec<Req> = (0..N - 1)
        .map(|i| match i % 4 {
            0 => {
                let body =
                    json!({"name": format!("P{i}"), "default_duration_minutes": if i % 8 == 0 { 30 } else { 60 }});
                req("PATCH", at(&format!("/policies/{}", p.policy)), &admin(), Some(body))
            }
            1 => req("PATCH", member.clone(), &admin(), Some(json!({"can_manage": i % 8 == 1}))),
            2 => {
                req("PATCH", at(&format!("/custom-fields/{field}")), &admin(), Some(json!({"is_required": i % 8 == 2})))
            }
            _ => req("PATCH", at(""), &admin(), Some(json!({"name": format!("Project {i}")}))),
        })
        .collect();
    reqs.insert(N / 2, req("DELETE", member.clone(), &admin(), None));
    let replies = d.burst(reqs);
    let h = c.burst(&replies, &[200, 204, 404]);
    c.eq(count(&h, 204), 1, "the member removed");
    let refused_elsewhere = replies
        .iter()
        .enumerate()
        .filter(|(i, r)| r.status == 404 && !(*i < N / 2 && i % 4 == 1 || *i > N / 2 && (i - 1) % 4 == 1))
        .count();
    c.eq(refused_elsewhere, 0, "404s only for the removed member");
    let shown = d.one(req("GET", at(""), &admin(), None)).body;
    let vups: Vec<&str> = shown["members"].as_array().unwrap().iter().filter_map(|m| m["vup_id"].as_str()).collect();
    c.ok(!vups.contains(&p.second.vup.as_str()), format!("the removed member is still listed: {vups:?}"));
    let minutes = &shown["policies"][0]["default_duration_minutes"];
    c.ok(*minutes == json!(30) || *minutes == json!(60), format!("policy minutes {minutes}"));
    c.ok(shown["name"].as_str().is_some_and(|n| n.starts_with("Project ")), format!("project name {}", shown["name"]));
}

// ---- partner ------------------------------------------------------------------------------

fn partner_create(d: &Deployment, c: &mut Checks) {
    let p = partner(d);
    let reqs = (0..N)
        .map(|i| req("POST", format!("/partner/{}/classes", p.id), &p.auth, Some(json!({"name": format!("c{i}")}))))
        .collect();
    let replies = d.burst(reqs);
    c.burst(&replies, &[201]);
    let ids: HashSet<i64> = replies.iter().filter_map(|r| r.body["id"].as_i64()).collect();
    c.eq(ids.len(), N, "distinct class ids");
    let codes: HashSet<String> = replies.iter().filter(|r| r.status == 201).map(|r| first_code(&r.body)).collect();
    c.eq(codes.len(), N, "distinct invite codes");
    let r = d.one(req("GET", format!("/partner/{}/classes?limit=1", p.id), &p.auth, None));
    c.eq(r.body["total"].as_i64(), Some(N as i64), "list total");
}

/// The retries of one request under one key, through every process at once: the change is
/// made once; every answer is the first one (made or replayed) or 409 while it runs; a
/// repeat afterwards replays it. Returns the answer made.
fn retried(d: &Deployment, c: &mut Checks, retry: impl Fn() -> Req, made: u16, id: &str) -> Option<Value> {
    let keyed = || Req { idempotency_key: Some("retry-1"), ..retry() };
    let replies = d.burst((0..N).map(|_| keyed()).collect());
    c.burst(&replies, &[made, 409]);
    let bodies: HashSet<String> = replies.iter().filter(|r| r.status == made).map(|r| r.body.to_string()).collect();
    c.eq(bodies.len(), 1, "answers made or replayed, all one");
    let first = replies.iter().find(|r| r.status == made).map(|r| r.body.clone());
    let again = d.one(keyed());
    c.eq(
        (again.status, again.body[id].clone()),
        (made, first.as_ref().map_or(Value::Null, |b| b[id].clone())),
        "a repeat replays",
    );
    first
}

fn partner_create_retried(d: &Deployment, c: &mut Checks) {
    let p = partner(d);
    let url = format!("/partner/{}/classes", p.id);
    retried(d, c, || req("POST", url.clone(), &p.auth, Some(json!({"name": "once"}))), 201, "id");
    let r = d.one(req("GET", format!("{url}?limit=1"), &p.auth, None));
    c.eq(r.body["total"].as_i64(), Some(1), "list total");
}

fn partner_redeem_seats(d: &Deployment, c: &mut Checks) {
    let p = partner(d);
    let k = class(d, &p, json!({"name": "seats", "capacity": 30}));
    let code = first_code(&k);
    let students = people(d, "students", N);
    let h = c.burst(&d.burst(students.iter().map(|s| redeem(s, &code)).collect()), &[201, 409]);
    c.eq(count(&h, 201), 30, "enrollments");
    let k = get_class(d, &p, id_of(&k)).body;
    c.eq(k["invite_codes"][0]["used_count"].as_i64(), Some(30), "used_count");
    c.eq(roster_total(d, &p, id_of(&k)), 30, "roster");
    c.eq(history(d, &p, id_of(&k)).get("membership.create").copied(), Some(30), "membership.create events");
}

fn partner_redeem_uses(d: &Deployment, c: &mut Checks) {
    let p = partner(d);
    let k = class(d, &p, json!({"name": "uses"}));
    let r = d.one(req(
        "POST",
        format!("/partner/{}/classes/{}/invite-codes", p.id, id_of(&k)),
        &p.auth,
        Some(json!({"max_uses": 5})),
    ));
    assert_eq!(r.status, 201, "{}", r.text);
    let code = r.body["code"].as_str().unwrap().to_string();
    let students = people(d, "students", N);
    let h = c.burst(&d.burst(students.iter().map(|s| redeem(s, &code)).collect()), &[201, 400]);
    c.eq(count(&h, 201), 5, "enrollments");
    let codes = get_class(d, &p, id_of(&k)).body["invite_codes"].clone();
    c.eq(codes[0]["used_count"].as_i64(), Some(5), "used_count");
    c.eq(roster_total(d, &p, id_of(&k)), 5, "roster");
}

fn partner_redeem_repeat(d: &Deployment, c: &mut Checks) {
    let p = partner(d);
    let k = class(d, &p, json!({"name": "repeat", "capacity": 3}));
    let code = first_code(&k);
    let student = people(d, "students", 1).remove(0);
    let h = c.burst(&d.burst((0..N).map(|_| redeem(&student, &code)).collect()), &[200, 201]);
    c.eq(count(&h, 201), 1, "new enrollments");
    let k = get_class(d, &p, id_of(&k)).body;
    c.eq(k["invite_codes"][0]["used_count"].as_i64(), Some(1), "used_count");
    c.eq(roster_total(d, &p, id_of(&k)), 1, "roster");
}

fn partner_leave_remove(d: &Deployment, c: &mut Checks) {
    let p = partner(d);
    let k = class(d, &p, json!({"name": "churn", "capacity": 5}));
    let (class_id, code) = (id_of(&k), first_code(&k));
    let members = people(d, "students", 5);
    for m in &members {
        assert_eq!(d.one(redeem(m, &code)).status, 201);
    }
    let newcomers = people(d, "students", 20);
    let mut reqs = Vec::new();
    for i in 0..N {
        let m = &members[i % members.len()];
        reqs.push(if i % 2 == 0 {
            req("DELETE", format!("/user/classes/{class_id}"), &bearer(&m.1), None)
        } else {
            req("DELETE", format!("/partner/{}/classes/{class_id}/students/{}", p.id, m.0), &p.auth, None)
        });
    }
    reqs.extend(newcomers.iter().map(|s| redeem(s, &code)));
    let replies = d.burst(reqs);
    let (removals, redeems) = replies.split_at(N);
    let h = c.burst(removals, &[204, 404]);
    c.eq(count(&h, 204), 5, "removals that answered 204");
    let joined = count(&c.burst(redeems, &[201, 409]), 201);
    let total = roster_total(d, &p, class_id);
    c.eq(total, joined as i64, "roster after the churn");
    c.ok(total <= 5, format!("roster {total} above capacity 5"));
    let k = get_class(d, &p, class_id).body;
    c.eq(k["invite_codes"][0]["used_count"].as_i64(), Some(5 + joined as i64), "used_count");
    let events = history(d, &p, class_id);
    c.eq(events.get("membership.delete").copied(), Some(5), "membership.delete events");
    c.eq(events.get("membership.create").copied(), Some(5 + joined), "membership.create events");
}

fn partner_patch(d: &Deployment, c: &mut Checks) {
    let p = partner(d);
    let k = class(d, &p, json!({"name": "patched", "capacity": 50}));
    let class_id = id_of(&k);
    let version = get_class(d, &p, class_id).etag.unwrap();
    // Half the requests carry `If-Match` of the version read before the race.
    let reqs = (0..N)
        .map(|i| Req {
            if_match: (i % 2 == 0).then(|| version.clone()),
            ..req(
                "PATCH",
                format!("/partner/{}/classes/{class_id}", p.id),
                &p.auth,
                Some(json!({"name": format!("n{i}"), "capacity": 10 + i})),
            )
        })
        .collect();
    let replies = d.burst(reqs);
    let conditional: Vec<Reply> = replies.iter().step_by(2).cloned().collect();
    let plain: Vec<Reply> = replies.iter().skip(1).step_by(2).cloned().collect();
    let hc = c.burst(&conditional, &[200, 412]);
    let hp = c.burst(&plain, &[200]);
    c.ok(count(&hc, 200) <= 1, format!("{} conditional PATCHes of one version succeeded", count(&hc, 200)));
    let changes = count(&hc, 200) + count(&hp, 200);
    let after = get_class(d, &p, class_id);
    let start: i64 = version.trim_matches('"').parse().unwrap();
    c.eq(after.etag, Some(format!("\"{}\"", start + changes as i64)), "final version");
    c.eq(history(d, &p, class_id).get("class.update").copied(), Some(changes), "class.update events");
}

fn partner_capacity_vs_redeem(d: &Deployment, c: &mut Checks) {
    let p = partner(d);
    let k = class(d, &p, json!({"name": "shrinking", "capacity": 60}));
    let (class_id, code) = (id_of(&k), first_code(&k));
    let first = people(d, "students", 20);
    for s in &first {
        assert_eq!(d.one(redeem(s, &code)).status, 201);
    }
    let later = people(d, "students", N / 2);
    let mut reqs: Vec<Req> = (0..N / 2)
        .map(|i| {
            req(
                "PATCH",
                format!("/partner/{}/classes/{class_id}", p.id),
                &p.auth,
                Some(json!({"capacity": 10 + i % 31})),
            )
        })
        .collect();
    reqs.extend(later.iter().map(|s| redeem(s, &code)));
    let replies = d.burst(reqs);
    let (patches, redeems) = replies.split_at(N / 2);
    c.burst(patches, &[200, 409]);
    let joined = count(&c.burst(redeems, &[201, 409]), 201);
    let k = get_class(d, &p, class_id).body;
    let total = roster_total(d, &p, class_id);
    c.eq(total, 20 + joined as i64, "roster");
    let capacity = k["capacity"].as_i64().unwrap();
    c.ok(total <= capacity, format!("roster {total} above capacity {capacity}"));
    c.eq(k["invite_codes"][0]["used_count"].as_i64(), Some(total), "used_count");
}

fn partner_delete_vs_redeem(d: &Deployment, c: &mut Checks) {
    let p = partner(d);
    let k = class(d, &p, json!({"name": "doomed"}));
    let (class_id, code) = (id_of(&k), first_code(&k));
    let students = people(d, "students", N);
    let mut reqs = vec![];
    for (i, s) in students.iter().enumerate() {
        reqs.push(if i % 10 == 0 {
            req("DELETE", format!("/partner/{}/classes/{class_id}", p.id), &p.auth, None)
        } else {
            redeem(s, &code)
        });
    }
    let replies = d.burst(reqs);
    let deletes: Vec<Reply> = replies.iter().step_by(10).cloned().collect();
    let redeems: Vec<Reply> = replies.iter().enumerate().filter(|(i, _)| i % 10 != 0).map(|(_, r)| r.clone()).collect();
    let h = c.burst(&deletes, &[204, 404]);
    c.eq(count(&h, 204), 1, "deletions that answered 204");
    c.burst(&redeems, &[201, 400]);
    c.eq(get_class(d, &p, class_id).status, 404, "the deleted class");
    for (s, r) in students.iter().zip(&replies).filter(|(_, r)| r.status == 201) {
        let mine = d.one(req("GET", "/user/classes", &bearer(&s.1), None));
        c.eq(mine.body["total"].as_i64(), Some(0), &format!("classes of a student who joined ({})", r.status));
    }
    let r = d.one(req("GET", format!("/partner/{}/classes?limit=1", p.id), &p.auth, None));
    c.eq(r.body["total"].as_i64(), Some(0), "list total after the deletion");
}

fn partner_codes(d: &Deployment, c: &mut Checks) {
    let p = partner(d);
    let k = class(d, &p, json!({"name": "codes"}));
    let class_id = id_of(&k);
    let before = get_class(d, &p, class_id).etag.unwrap();
    let reqs = (0..N)
        .map(|_| req("POST", format!("/partner/{}/classes/{class_id}/invite-codes", p.id), &p.auth, Some(json!({}))))
        .collect();
    let replies = d.burst(reqs);
    c.burst(&replies, &[201]);
    let codes: HashSet<&str> = replies.iter().filter_map(|r| r.body["code"].as_str()).collect();
    c.eq(codes.len(), N, "distinct codes");
    let after = get_class(d, &p, class_id);
    c.eq(after.body["invite_codes"].as_array().map(Vec::len), Some(N + 1), "codes of the class");
    let start: i64 = before.trim_matches('"').parse().unwrap();
    c.eq(after.etag, Some(format!("\"{}\"", start + N as i64)), "version after the new codes");
    c.eq(history(d, &p, class_id).get("invite_code.create").copied(), Some(N + 1), "invite_code.create events");
}

fn partner_code_limit_vs_redeem(d: &Deployment, c: &mut Checks) {
    let p = partner(d);
    let k = class(d, &p, json!({"name": "limits"}));
    let class_id = id_of(&k);
    let code_id = k["invite_codes"][0]["id"].as_i64().unwrap();
    let code = first_code(&k);
    let students = people(d, "students", N / 2);
    let mut reqs: Vec<Req> = (0..N / 2)
        .map(|i| {
            req(
                "PATCH",
                format!("/partner/{}/classes/{class_id}/invite-codes/{code_id}", p.id),
                &p.auth,
                Some(json!({"max_uses": 5 + i})),
            )
        })
        .collect();
    reqs.extend(students.iter().map(|s| redeem(s, &code)));
    let replies = d.burst(reqs);
    let (patches, redeems) = replies.split_at(N / 2);
    c.burst(patches, &[200, 409]);
    let joined = count(&c.burst(redeems, &[201, 400]), 201);
    let code = get_class(d, &p, class_id).body["invite_codes"][0].clone();
    let used = code["used_count"].as_i64().unwrap();
    c.eq(used, joined as i64, "used_count");
    if let Some(max) = code["max_uses"].as_i64() {
        c.ok(used <= max, format!("used_count {used} above max_uses {max}"));
    }
    c.eq(roster_total(d, &p, class_id), used, "roster");
}

// ---- enrollments (GrowFit) -------------------------------------------------------------------

/// GrowFit's dashboard sends two redeems per click, and a partner redeems its new class's
/// code with its own token: a student and the partner, 50 times each at once, make two
/// enrollments and use the code twice.
fn growfit_duplicate_redeems(d: &Deployment, c: &mut Checks) {
    let p = partner(d);
    let k = class(d, &p, json!({"name": "double click", "capacity": 2}));
    let (class_id, code) = (id_of(&k), first_code(&k));
    let student = people(d, "students", 1).remove(0);
    let reqs = (0..N)
        .map(|i| {
            if i % 2 == 0 {
                redeem(&student, &code)
            } else {
                req("POST", "/user/class/invites/redeem", &p.auth, Some(json!({"code": code})))
            }
        })
        .collect();
    let h = c.burst(&d.burst(reqs), &[200, 201]);
    c.eq(count(&h, 201), 2, "new enrollments");
    let k = get_class(d, &p, class_id).body;
    c.eq(k["invite_codes"][0]["used_count"].as_i64(), Some(2), "used_count");
    c.eq(roster_total(d, &p, class_id), 2, "roster");
    c.eq(history(d, &p, class_id).get("membership.create").copied(), Some(2), "membership.create events");
    for auth in [bearer(&student.1), p.auth.clone()] {
        let mine = d.one(req("GET", "/user/classes", &auth, None));
        c.eq(mine.body["total"].as_i64(), Some(1), "classes of each who redeemed");
    }
}

/// The last seats, fought over: members leave (each several times), their partner drops
/// and completes their enrollments (a completion takes a dropped one's seat back), and
/// newcomers redeem.
fn growfit_last_seats(d: &Deployment, c: &mut Checks) {
    let p = partner(d);
    let k = class(d, &p, json!({"name": "last seats", "capacity": 5}));
    let (class_id, code) = (id_of(&k), first_code(&k));
    let members = people(d, "students", 5);
    let ids: Vec<i64> = members
        .iter()
        .map(|m| {
            let r = d.one(redeem(m, &code));
            assert_eq!(r.status, 201, "{}", r.text);
            r.body["id"].as_i64().unwrap()
        })
        .collect();
    let newcomers = people(d, "students", 40);
    let mut reqs: Vec<Req> = (0..60)
        .map(|i| {
            let (m, id) = (&members[i % 5], ids[i % 5]);
            match i % 3 {
                0 => req("DELETE", format!("/user/class/enrollments/{id}"), &bearer(&m.1), None),
                1 => req("POST", format!("/partner/{}/student/enrollments/{id}/drop", p.id), &p.auth, None),
                _ => req("POST", format!("/partner/{}/student/enrollments/{id}/complete", p.id), &p.auth, None),
            }
        })
        .collect();
    reqs.extend(newcomers.iter().map(|s| redeem(s, &code)));
    let replies = d.burst(reqs);
    let (changes, redeems) = replies.split_at(60);
    let leaves: Vec<Reply> = changes.iter().step_by(3).cloned().collect();
    let others: Vec<Reply> = changes.iter().enumerate().filter(|(i, _)| i % 3 != 0).map(|(_, r)| r.clone()).collect();
    let left = count(&c.burst(&leaves, &[204, 404]), 204);
    c.burst(&others, &[200, 404, 409]);
    let joined = count(&c.burst(redeems, &[201, 409]), 201);
    c.eq(left, 5, "leaves that answered 204");
    let total = roster_total(d, &p, class_id);
    c.ok(total <= 5, format!("roster {total} above capacity 5"));
    c.eq(total, joined as i64, "roster after the race");
    let k = get_class(d, &p, class_id).body;
    c.eq(k["invite_codes"][0]["used_count"].as_i64(), Some(5 + joined as i64), "used_count");
    let events = history(d, &p, class_id);
    c.eq(events.get("membership.delete").copied(), Some(5), "membership.delete events");
    c.eq(events.get("membership.create").copied(), Some(5 + joined), "membership.create events");
}

/// A partner enrolls 50 of its students in a class of 5 seats while the 5 members leave
/// it (each 10 times): no more enrolled than seats, every leave once.
fn growfit_add_vs_leave(d: &Deployment, c: &mut Checks) {
    let p = partner(d);
    let home = class(d, &p, json!({"name": "home"}));
    let small = class(d, &p, json!({"name": "small", "capacity": 5}));
    let small_id = id_of(&small);
    let members = people(d, "students", 5);
    let ids: Vec<i64> = members
        .iter()
        .map(|m| {
            let r = d.one(redeem(m, &first_code(&small)));
            assert_eq!(r.status, 201, "{}", r.text);
            r.body["id"].as_i64().unwrap()
        })
        .collect();
    // Partner's students, through another of its classes.
    let others = people(d, "students", N / 2);
    for r in d.burst(others.iter().map(|s| redeem(s, &first_code(&home))).collect()) {
        assert_eq!(r.status, 201, "{}", r.text);
    }
    let mut reqs: Vec<Req> = (0..N / 2)
        .map(|i| req("DELETE", format!("/user/class/enrollments/{}", ids[i % 5]), &bearer(&members[i % 5].1), None))
        .collect();
    reqs.extend(others.iter().map(|s| {
        req(
            "POST",
            format!("/partner/{}/student/{}/enrollments", p.id, s.0),
            &p.auth,
            Some(json!({"class_id": small_id, "student_id": s.0})),
        )
    }));
    let replies = d.burst(reqs);
    let (leaves, adds) = replies.split_at(N / 2);
    let left = count(&c.burst(leaves, &[204, 404]), 204);
    c.eq(left, 5, "leaves that answered 204");
    let added = count(&c.burst(adds, &[201, 409]), 201);
    c.ok(added <= 5, format!("{added} enrolled in 5 seats"));
    c.eq(roster_total(d, &p, small_id), added as i64, "roster");
    let events = history(d, &p, small_id);
    c.eq(events.get("membership.delete").copied(), Some(5), "membership.delete events");
    c.eq(events.get("membership.create").copied(), Some(5 + added), "membership.create events");
}

// ---- CloudShare ------------------------------------------------------------------------------

fn cs_create(d: &Deployment, c: &mut Checks) {
    let p = cs_project(d);
    let reqs = (0..N)
        .map(|i| req("POST", "/api/v3/class", &p.lead.auth, Some(cs_class_body(&p, &format!("Lab {i}"), Some(10)))))
        .collect();
    let replies = d.burst(reqs);
    c.burst(&replies, &[200]);
    let short: HashSet<&str> = replies.iter().filter_map(|r| r.body["shortId"].as_str()).collect();
    c.eq(short.len(), N, "distinct shortIds");
    let list = d.one(req("GET", "/api/v3/class", &p.lead.auth, None));
    c.eq(list.body.as_array().map(Vec::len), Some(N), "classes listed");
}

fn cs_create_retried(d: &Deployment, c: &mut Checks) {
    let p = cs_project(d);
    let body = cs_class_body(&p, "Lab", Some(10));
    retried(d, c, || req("POST", "/api/v3/class", &p.lead.auth, Some(body.clone())), 200, "id");
    let list = d.one(req("GET", "/api/v3/class", &p.lead.auth, None));
    c.eq(list.body.as_array().map(Vec::len), Some(1), "classes listed");
}

fn cs_same_email(d: &Deployment, c: &mut Checks) {
    let p = cs_project(d);
    let k = cs_class(d, &p, None);
    let id = k["id"].as_str().unwrap();
    let h = c.burst(&d.burst((0..N).map(|_| cs_add(id, &p.lead.auth, "same@x.example")).collect()), &[200, 400]);
    c.eq(count(&h, 200), 1, "registrations");
    c.eq(cs_students(d, &p.lead.auth, id).len(), 1, "students");
    let again = d.one(req("GET", format!("/api/v3/class/{id}/students"), &p.lead.auth, None));
    c.eq(again.status, 200, "reading the students again");
}

fn cs_seats(d: &Deployment, c: &mut Checks) {
    let p = cs_project(d);
    let k = cs_class(d, &p, Some(10));
    let id = k["id"].as_str().unwrap();
    let reqs = (0..N).map(|i| cs_add(id, &p.lead.auth, &format!("s{i}@x.example"))).collect();
    let h = c.burst(&d.burst(reqs), &[200, 409]);
    c.eq(count(&h, 200), 10, "registrations");
    c.eq(cs_students(d, &p.lead.auth, id).len(), 10, "students");
}

fn cs_remove_student(d: &Deployment, c: &mut Checks) {
    let p = cs_project(d);
    let k = cs_class(d, &p, Some(2));
    let id = k["id"].as_str().unwrap();
    let a = d.one(cs_add(id, &p.lead.auth, "a@x.example")).body["studentId"].as_str().unwrap().to_string();
    assert_eq!(d.one(cs_add(id, &p.lead.auth, "b@x.example")).status, 200);
    let reqs = (0..N)
        .map(|i| {
            let auth = if i % 2 == 0 { &p.lead.auth } else { &p.second.auth };
            req("DELETE", format!("/api/v3/class/{id}/students/{a}"), auth, None)
        })
        .collect();
    let h = c.burst(&d.burst(reqs), &[200, 404]);
    c.eq(count(&h, 200), 1, "removals that answered 200");
    // One seat was freed: of two newcomers, one fits.
    let h = histogram(&d.burst(vec![cs_add(id, &p.lead.auth, "c@x.example"), cs_add(id, &p.lead.auth, "d@x.example")]));
    c.eq(count(&h, 200), 1, "newcomers registered after the removal");
    c.eq(cs_students(d, &p.lead.auth, id).len(), 2, "students");
}

fn cs_put_vs_add(d: &Deployment, c: &mut Checks) {
    let p = cs_project(d);
    let k = cs_class(d, &p, Some(30));
    let id = k["id"].as_str().unwrap().to_string();
    for i in 0..5 {
        assert_eq!(d.one(cs_add(&id, &p.lead.auth, &format!("first{i}@x.example"))).status, 200);
    }
    let mut reqs: Vec<Req> = (0..N / 2)
        .map(|i| {
            req(
                "PUT",
                format!("/api/v3/class/{id}"),
                &p.lead.auth,
                Some(json!({"id": id, "name": format!("Lab {i}"), "maxStudents": 5 + i % 20})),
            )
        })
        .collect();
    reqs.extend((0..N / 2).map(|i| cs_add(&id, &p.second.auth, &format!("later{i}@x.example"))));
    let replies = d.burst(reqs);
    let (puts, adds) = replies.split_at(N / 2);
    c.burst(puts, &[200, 400]);
    let added = count(&c.burst(adds, &[200, 409]), 200);
    let k = d.one(req("GET", format!("/api/v3/class/{id}"), &p.lead.auth, None)).body;
    let students = cs_students(d, &p.lead.auth, &id).len();
    c.eq(students, 5 + added, "students");
    let max = k["maxStudents"].as_u64().unwrap() as usize;
    c.ok(students <= max, format!("{students} students above maxStudents {max}"));
}

fn cs_delete_vs_add(d: &Deployment, c: &mut Checks) {
    let p = cs_project(d);
    let k = cs_class(d, &p, None);
    let id = k["id"].as_str().unwrap().to_string();
    let reqs = (0..N)
        .map(|i| {
            if i % 10 == 0 {
                req("DELETE", format!("/api/v3/class/{id}"), &p.lead.auth, None)
            } else {
                cs_add(&id, &p.second.auth, &format!("s{i}@x.example"))
            }
        })
        .collect();
    let replies = d.burst(reqs);
    let deletes: Vec<Reply> = replies.iter().step_by(10).cloned().collect();
    let adds: Vec<Reply> = replies.iter().enumerate().filter(|(i, _)| i % 10 != 0).map(|(_, r)| r.clone()).collect();
    let h = c.burst(&deletes, &[200, 404]);
    c.eq(count(&h, 200), 1, "deletions that answered 200");
    c.burst(&adds, &[200, 404]);
    c.eq(d.one(req("GET", format!("/api/v3/class/{id}"), &p.lead.auth, None)).status, 404, "the deleted class");
}

fn cs_email_change(d: &Deployment, c: &mut Checks) {
    let p = cs_project(d);
    let k = cs_class(d, &p, None);
    let id = k["id"].as_str().unwrap().to_string();
    let a = d.one(cs_add(&id, &p.lead.auth, "a@x.example")).body["studentId"].as_str().unwrap().to_string();
    let b = d.one(cs_add(&id, &p.lead.auth, "b@x.example")).body["studentId"].as_str().unwrap().to_string();
    let reqs = (0..N)
        .map(|i| {
            let s = if i % 2 == 0 { &a } else { &b };
            req(
                "PUT",
                format!("/api/v3/class/{id}/students/{s}"),
                &p.lead.auth,
                Some(json!({"email": "same@x.example"})),
            )
        })
        .collect();
    c.burst(&d.burst(reqs), &[200, 400]);
    let students = cs_students(d, &p.lead.auth, &id);
    let emails: Vec<&str> = students.iter().filter_map(|s| s["email"].as_str()).collect();
    c.eq(emails.iter().filter(|e| **e == "same@x.example").count(), 1, "students with the one email");
    c.eq(emails.len(), 2, "students");
}

fn cs_sponsored_links(d: &Deployment, c: &mut Checks) {
    let p = cs_project(d);
    let k = cs_class(d, &p, None);
    let id = k["id"].as_str().unwrap().to_string();
    let body = json!({"classId": id, "studentEmail": "sponsored@x.example", "studentFirstName": "S",
        "studentLastName": "P", "preRegisterStudent": true});
    let replies =
        d.burst((0..N).map(|_| req("POST", "/api/v3/class/sponsoredlink", &p.lead.auth, Some(body.clone()))).collect());
    c.burst(&replies, &[200]);
    c.eq(cs_students(d, &p.lead.auth, &id).len(), 1, "students");
}

fn cs_disable_link(d: &Deployment, c: &mut Checks) {
    let p = cs_project(d);
    let k = cs_class(d, &p, Some(3));
    let id = k["id"].as_str().unwrap().to_string();
    let r = d.one(req(
        "POST",
        "/api/v3/class/sponsoredlink",
        &p.lead.auth,
        Some(json!({"classId": id, "studentEmail": "gone@x.example", "preRegisterStudent": true})),
    ));
    assert_eq!(r.status, 200, "{}", r.text);
    for i in 0..2 {
        assert_eq!(d.one(cs_add(&id, &p.lead.auth, &format!("stay{i}@x.example"))).status, 200);
    }
    let body = json!({"classId": id, "studentEmail": "gone@x.example", "unregisterStudent": true});
    let replies = d.burst(
        (0..N).map(|_| req("POST", "/api/v3/class/disablesponsoredlink", &p.lead.auth, Some(body.clone()))).collect(),
    );
    c.burst(&replies, &[200]);
    c.eq(cs_students(d, &p.lead.auth, &id).len(), 2, "students");
    // Exactly one seat was freed.
    let h =
        histogram(&d.burst(vec![cs_add(&id, &p.lead.auth, "n1@x.example"), cs_add(&id, &p.lead.auth, "n2@x.example")]));
    c.eq(count(&h, 200), 1, "newcomers registered after the unregistration");
}

fn cs_invitations(d: &Deployment, c: &mut Checks) {
    let p = cs_project(d);
    let k = cs_class(d, &p, None);
    let id = k["id"].as_str().unwrap().to_string();
    let s = d.one(cs_add(&id, &p.lead.auth, "inv@x.example")).body["studentId"].as_str().unwrap().to_string();
    let body = json!({"classId": id, "studentIds": [s]});
    let replies = d.burst(
        (0..N)
            .map(|_| {
                req("POST", "/api/v3/class/actions/sendinvitations?isMultiple=true", &p.lead.auth, Some(body.clone()))
            })
            .collect(),
    );
    c.burst(&replies, &[200]);
    let students = cs_students(d, &p.lead.auth, &id);
    c.eq(students[0]["status"].as_i64(), Some(0), "the student's status");
}

fn cs_instructors(d: &Deployment, auth: &Auth, class: &str) -> Vec<Value> {
    let r = d.one(req("GET", format!("/api/v3/instructors/class?classId={class}"), auth, None));
    assert_eq!(r.status, 200, "{}", r.text);
    r.body.as_array().unwrap().clone()
}

fn cs_add_instructor(d: &Deployment, c: &mut Checks) {
    let p = cs_project(d);
    let k = cs_class(d, &p, None);
    let id = k["id"].as_str().unwrap().to_string();
    let body = json!({"classId": id, "vupId": p.second.vup, "instructorVupId": p.second.vup});
    let replies =
        d.burst((0..N).map(|_| req("POST", "/api/v3/instructors", &p.lead.auth, Some(body.clone()))).collect());
    let h = c.burst(&replies, &[200, 400, 409]);
    c.eq(count(&h, 200), 1, "instructors added");
    c.eq(cs_instructors(d, &p.lead.auth, &id).len(), 2, "instructors");
}

fn cs_remove_instructors(d: &Deployment, c: &mut Checks) {
    let p = cs_project(d);
    let k = cs_class(d, &p, None);
    let id = k["id"].as_str().unwrap().to_string();
    let body = json!({"classId": id, "vupId": p.second.vup, "instructorVupId": p.second.vup});
    let r = d.one(req("POST", "/api/v3/instructors", &p.lead.auth, Some(body)));
    assert_eq!(r.status, 200, "{}", r.text);
    let links: Vec<String> =
        cs_instructors(d, &p.lead.auth, &id).iter().map(|i| i["id"].as_str().unwrap().to_string()).collect();
    let reqs =
        (0..N).map(|i| req("DELETE", format!("/api/v3/instructors/{}", links[i % 2]), &p.lead.auth, None)).collect();
    let h = c.burst(&d.burst(reqs), &[200, 400, 404]);
    c.eq(count(&h, 200), 1, "instructors removed");
    c.eq(cs_instructors(d, &p.lead.auth, &id).len(), 1, "instructors left");
}

fn cs_sponsored_login(d: &Deployment, c: &mut Checks) {
    let p = cs_project(d);
    let k = cs_class(d, &p, None);
    let id = k["id"].as_str().unwrap().to_string();
    let r = d.one(req(
        "POST",
        "/api/v3/class/sponsoredlink",
        &p.lead.auth,
        Some(json!({"classId": id, "studentEmail": "login@x.example", "preRegisterStudent": true})),
    ));
    assert_eq!(r.status, 200, "{}", r.text);
    let url = r.body["loginUrl"].as_str().unwrap();
    let path = &url[url.find("/Class/").unwrap()..];
    let replies = d.burst((0..N).map(|_| req("GET", path, &Auth::None, None)).collect());
    c.burst(&replies, &[200]);
    let students = cs_students(d, &p.lead.auth, &id);
    c.eq(students.len(), 1, "students");
    c.eq(students[0]["status"].as_i64(), Some(2), "the student's status");
}

// ---- OCARIoT --------------------------------------------------------------------------------

fn oc_institutions(d: &Deployment, c: &mut Checks) {
    let o = oc(d);
    let name = format!("One {}", rand_tag());
    let replies = d.burst(
        (0..N)
            .map(|_| req("POST", "/v1/institutions", &o.admin, Some(json!({"type": "School", "name": name}))))
            .collect(),
    );
    let h = c.burst(&replies, &[201, 409]);
    c.eq(count(&h, 201), 1, "institutions registered");
}

fn oc_accounts(d: &Deployment, c: &mut Checks) {
    let o = oc(d);
    let tag = rand_tag();
    let reqs = (0..N)
        .map(|i| {
            let (path, extra) = match i % 4 {
                0 => ("/v1/children", json!({"gender": "male", "age": "10"})),
                1 => ("/v1/educators", json!({})),
                2 => ("/v1/healthprofessionals", json!({})),
                _ => ("/v1/applications", json!({"application_name": "app"})),
            };
            let mut body = json!({"username": format!("{tag}-{}", i % 4), "password": "pw-123456", "institution_id": o.institution});
            body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
            req("POST", path, &o.admin, Some(body))
        })
        .collect();
    let h = c.burst(&d.burst(reqs), &[201, 409]);
    c.eq(count(&h, 201), 4, "accounts registered (one per username)");
}

fn oc_password_changes(d: &Deployment, c: &mut Checks) {
    let o = oc(d);
    let username = format!("edu-{}", rand_tag());
    let body = json!({"username": username, "password": "old-pw", "institution_id": o.institution});
    let r = d.one(req("POST", "/v1/educators", &o.admin, Some(body)));
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.body["id"].as_str().unwrap().to_string();
    let r = d.one(req("POST", "/v1/auth", &Auth::None, Some(json!({"username": username, "password": "old-pw"}))));
    let edu = bearer(r.body["access_token"].as_str().unwrap());
    let reqs = (0..N)
        .map(|i| {
            let body = json!({"old_password": "old-pw", "new_password": format!("new-{i}")});
            req(if i % 2 == 0 { "PATCH" } else { "PUT" }, format!("/v1/users/{id}/password"), &edu, Some(body))
        })
        .collect();
    let replies = d.burst(reqs);
    let h = c.burst(&replies, &[204, 400, 429]);
    c.eq(count(&h, 204), 1, "changes accepted");
    if let Some(i) = (0..N).find(|&i| replies[i].status == 204) {
        let login = |pw: &str| json!({"username": username, "password": pw});
        c.eq(
            d.one(req("POST", "/v1/auth", &Auth::None, Some(login(&format!("new-{i}"))))).status,
            200,
            "the new password",
        );
        c.eq(d.one(req("POST", "/v1/auth", &Auth::None, Some(login("old-pw")))).status, 401, "the old password");
    }
}

fn oc_child_login_and_patch(d: &Deployment, c: &mut Checks) {
    let o = oc(d);
    let tag = rand_tag();
    let username = format!("kid-{tag}");
    let r = d.one(req(
        "POST",
        "/v1/children",
        &o.admin,
        Some(json!({"username": username, "password": "pw-123456", "institution_id": o.institution, "gender": "male", "age": "8"})),
    ));
    assert_eq!(r.status, 201, "{}", r.text);
    let child = r.body["id"].as_str().unwrap().to_string();
    let reqs = (0..N)
        .map(|i| {
            if i % 2 == 0 {
                req("POST", "/v1/auth", &Auth::None, Some(json!({"username": username, "password": "pw-123456"})))
            } else {
                req("PATCH", format!("/v1/children/{child}"), &o.admin, Some(json!({"age": format!("{}", 9 + i % 5)})))
            }
        })
        .collect();
    c.burst(&d.burst(reqs), &[200]);
}

fn oc_group_create(d: &Deployment, c: &mut Checks) {
    let o = oc(d);
    let edu = o.educator(d);
    let kids = o.children(d, 2);
    let reqs = (0..N)
        .map(|_| {
            req(
                "POST",
                format!("/v1/educators/{}/children/groups", edu.0),
                &edu.1,
                Some(json!({"name": "Only one", "children": kids})),
            )
        })
        .collect();
    let h = c.burst(&d.burst(reqs), &[201, 409]);
    c.eq(count(&h, 201), 1, "groups created");
    c.eq(groups_of(d, &edu).len(), 1, "groups listed");
}

fn oc_group_create_retried(d: &Deployment, c: &mut Checks) {
    let o = oc(d);
    let edu = o.educator(d);
    let kids = o.children(d, 2);
    let url = format!("/v1/educators/{}/children/groups", edu.0);
    retried(d, c, || req("POST", url.clone(), &edu.1, Some(json!({"name": "Once", "children": kids}))), 201, "id");
    c.eq(groups_of(d, &edu).len(), 1, "groups listed");
}

fn oc_group_rename(d: &Deployment, c: &mut Checks) {
    let o = oc(d);
    let edu = o.educator(d);
    let kids = o.children(d, 1);
    let groups: Vec<String> = (0..10).map(|i| o.group(d, &edu, &format!("G{i}"), &kids)).collect();
    let reqs = (0..N)
        .map(|i| {
            req(
                "PATCH",
                format!("/v1/educators/{}/children/groups/{}", edu.0, groups[i % groups.len()]),
                &edu.1,
                Some(json!({"name": "Same"})),
            )
        })
        .collect();
    c.burst(&d.burst(reqs), &[200, 409]);
    let names: Vec<String> = groups_of(d, &edu).iter().map(|g| g["name"].as_str().unwrap().to_string()).collect();
    c.eq(names.iter().filter(|n| *n == "Same").count(), 1, "groups named Same");
    c.eq(names.len(), 10, "groups");
}

fn oc_group_children(d: &Deployment, c: &mut Checks) {
    let o = oc(d);
    let edu = o.educator(d);
    let kids = o.children(d, 6);
    let g = o.group(d, &edu, "Kids", &kids[..2]);
    let reqs = (0..N)
        .map(|i| {
            let list: Vec<&String> = kids.iter().skip(i % 4).take(1 + i % 3).collect();
            req(
                "PATCH",
                format!("/v1/educators/{}/children/groups/{g}", edu.0),
                &edu.1,
                Some(json!({"children": list})),
            )
        })
        .collect();
    c.burst(&d.burst(reqs), &[200]);
    let r = d.one(req("GET", format!("/v1/educators/{}/children/groups/{g}", edu.0), &edu.1, None));
    let n = r.body["children"].as_array().map_or(0, Vec::len);
    c.ok((1..=3).contains(&n), format!("{n} children after the race"));
}

fn oc_group_delete(d: &Deployment, c: &mut Checks) {
    let o = oc(d);
    let edu = o.educator(d);
    let kids = o.children(d, 1);
    let g = o.group(d, &edu, "Doomed", &kids);
    let keep = o.group(d, &edu, "Kept", &kids);
    let reqs =
        (0..N).map(|_| req("DELETE", format!("/v1/educators/{}/children/groups/{g}", edu.0), &edu.1, None)).collect();
    c.burst(&d.burst(reqs), &[204]);
    let left: Vec<String> = groups_of(d, &edu).iter().map(|g| g["id"].as_str().unwrap().to_string()).collect();
    c.eq(left, vec![keep], "groups left");
}

fn oc_delete_child_vs_patch(d: &Deployment, c: &mut Checks) {
    let o = oc(d);
    let edu = o.educator(d);
    let kids = o.children(d, 3);
    let g = o.group(d, &edu, "Churn", &kids);
    let reqs = (0..N)
        .map(|i| {
            if i % 2 == 0 {
                req("DELETE", format!("/v1/users/{}", kids[0]), &o.admin, None)
            } else {
                req(
                    "PATCH",
                    format!("/v1/educators/{}/children/groups/{g}", edu.0),
                    &edu.1,
                    Some(json!({"children": [kids[0], kids[1 + i % 2]]})),
                )
            }
        })
        .collect();
    c.burst(&d.burst(reqs), &[200, 204, 400]);
    let r = d.one(req("GET", format!("/v1/educators/{}/children/groups/{g}", edu.0), &edu.1, None));
    c.eq(r.status, 200, "reading the group");
    let ids: Vec<&str> =
        r.body["children"].as_array().map_or(vec![], |a| a.iter().filter_map(|c| c["id"].as_str()).collect());
    c.ok(!ids.contains(&kids[0].as_str()), "the deleted child is still in the group");
}

fn oc_delete_educator_vs_patch(d: &Deployment, c: &mut Checks) {
    let o = oc(d);
    let edu = o.educator(d);
    let kids = o.children(d, 2);
    let groups: Vec<String> = (0..3).map(|i| o.group(d, &edu, &format!("E{i}"), &kids)).collect();
    let reqs = (0..N)
        .map(|i| {
            if i % 2 == 0 {
                req("DELETE", format!("/v1/users/{}", edu.0), &o.admin, None)
            } else {
                req(
                    "PATCH",
                    format!("/v1/educators/{}/children/groups/{}", edu.0, groups[i % 3]),
                    &edu.1,
                    Some(json!({"name": format!("E{i}x"), "children": [kids[i % 2]]})),
                )
            }
        })
        .collect();
    // Once the educator is gone, their token is no longer a registered consumer (401), or
    // the educator named by the path is not registered (400, the spec's order).
    c.burst(&d.burst(reqs), &[200, 204, 400, 401, 404, 409]);
    let r = d.one(req("GET", format!("/v1/educators/{}", edu.0), &o.admin, None));
    c.eq(r.status, 404, "the deleted educator");
}

// ---- accounts (GrowFit) ---------------------------------------------------------------------

/// Asks for a code for `email`; returns the request's token and the code, read from the
/// email the deployment delivered to its mail directory.
fn emailed_code(d: &Deployment, email: &str) -> (String, String) {
    let r = d.one(req("POST", "/user/email/send-code", &Auth::None, Some(json!({"email": email}))));
    assert_eq!(r.status, 200, "{}", r.text);
    let token = r.body["verification_token"].as_str().unwrap().to_string();
    let dir = d.dir.path().join("mail");
    let started = Instant::now();
    loop {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
            if text.contains(email)
                && let Some(at) = text.find("code is ")
            {
                let code = text[at + 8..at + 14].to_string();
                return (token, code);
            }
        }
        assert!(started.elapsed() < Duration::from_secs(20), "no email to {email} in {}", dir.display());
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn verify(email: &str, code: &str, token: &str) -> Req {
    req(
        "POST",
        "/user/email/verify-code",
        &Auth::None,
        Some(json!({"email": email, "code": code, "verification_token": token})),
    )
}

fn login(email: &str, password: &str) -> Req {
    req("POST", "/user/login", &Auth::None, Some(json!({"email": email, "password": password})))
}

fn account_signups(d: &Deployment, c: &mut Checks) {
    let email = format!("{}@signup.example", rand_tag());
    let (token, code) = emailed_code(d, &email);
    let r = d.one(verify(&email, &code, &token));
    assert_eq!(r.status, 200, "{}", r.text);
    let body = json!({"email": email, "password": "pw-123456", "full_name": "Racer", "status": "active"});
    let replies = d.burst((0..N).map(|_| req("POST", "/user/signup", &Auth::None, Some(body.clone()))).collect());
    let h = c.burst(&replies, &[201, 409]);
    c.eq(count(&h, 201), 1, "accounts made");
    c.ok(
        replies.iter().filter(|r| r.status == 409).all(|r| r.body == json!({"detail": "email already exists"})),
        "409s say the email exists",
    );
    let r = d.one(login(&email, "pw-123456"));
    c.eq(r.status, 200, "signing in with the account");
    let me = d.one(req("GET", "/user/my", &bearer(r.body["access_token"].as_str().unwrap_or("")), None));
    let made = replies.iter().find(|r| r.status == 201).map(|r| r.body["user_id"].clone());
    c.eq(Some(me.body["user_id"].clone()), made, "the account signed in is the one made");
}

fn account_code_guesses(d: &Deployment, c: &mut Checks) {
    let email = format!("{}@guess.example", rand_tag());
    let (token, code) = emailed_code(d, &email);
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let replies = d.burst((0..N).map(|_| verify(&email, wrong, &token)).collect());
    c.burst(&replies, &[400]);
    let said = |detail: &str| replies.iter().filter(|r| r.body["detail"] == detail).count();
    c.eq(said("invalid code"), 5, "wrong codes checked (the attempt limit)");
    c.eq(said("invalid verification token"), N - 5, "guesses at a dead request");
    // The request is dead: the right code no longer verifies.
    let r = d.one(verify(&email, &code, &token));
    c.eq((r.status, r.body["detail"].clone()), (400, json!("invalid verification token")), "the right code after");
}

fn account_login_guesses(d: &Deployment, c: &mut Checks) {
    let email = format!("{}@login.example", rand_tag());
    let made = admin_post(d, "/admin/v1/students", json!({"name": "Target", "email": email, "password": "right"}));
    c.ok(made["id"].is_i64(), "the account is made");
    let replies = d.burst((0..N).map(|i| login(&email, &format!("wrong{i}"))).collect());
    let h = c.burst(&replies, &[401, 429]);
    // The budget is 10 per email at an address (the deployment keeps the default).
    c.eq((count(&h, 401), count(&h, 429)), (10, N - 10), "checked and refused guesses");
    let r = d.one(login(&email, "right"));
    c.eq(r.status, 429, "the right password from the guessing address, while it is blocked");
}

fn account_refreshes(d: &Deployment, c: &mut Checks) {
    let email = format!("{}@refresh.example", rand_tag());
    admin_post(d, "/admin/v1/students", json!({"name": "Refresher", "email": email, "password": "pw-123456"}));
    let signed_in = d.one(login(&email, "pw-123456"));
    c.eq(signed_in.status, 200, "signing in");
    let body = json!({"refresh_token": signed_in.body["refresh_token"]});
    let replies =
        d.burst((0..N).map(|_| req("POST", "/user/token/refresh", &Auth::None, Some(body.clone()))).collect());
    let h = c.burst(&replies, &[200, 401]);
    c.eq((count(&h, 200), count(&h, 401)), (1, N - 1), "pairs issued, replays refused");
    let access = |r: &Reply| bearer(r.body["access_token"].as_str().unwrap_or(""));
    c.eq(d.one(req("GET", "/user/my", &access(&signed_in), None)).status, 401, "the first access token after");
    if let Some(new) = replies.iter().find(|r| r.status == 200) {
        c.eq(d.one(req("GET", "/user/my", &access(new), None)).status, 200, "the one new access token");
    }
}

fn account_email_changes(d: &Deployment, c: &mut Checks) {
    let tag = rand_tag();
    let users: Vec<(String, Auth)> = (0..4)
        .map(|i| {
            let email = format!("{tag}-{i}@change.example");
            admin_post(
                d,
                "/admin/v1/students",
                json!({"name": format!("Changer {i}"), "email": email, "password": "pw-123456"}),
            );
            let r = d.one(login(&email, "pw-123456"));
            (email, bearer(r.body["access_token"].as_str().unwrap_or("")))
        })
        .collect();
    let target = format!("{tag}@wanted.example");
    let (token, code) = emailed_code(d, &target);
    c.eq(d.one(verify(&target, &code, &token)).status, 200, "verifying the wanted email");
    let body = json!({"email": target});
    let replies =
        d.burst((0..N).map(|i| req("PATCH", "/user/my", &users[i % users.len()].1, Some(body.clone()))).collect());
    let h = c.burst(&replies, &[200, 400, 409]);
    let winners: BTreeSet<usize> = (0..N).filter(|&i| replies[i].status == 200).map(|i| i % users.len()).collect();
    c.eq(winners.len(), 1, "users whose change was accepted");
    c.ok(count(&h, 200) >= 1, "one change accepted");
    let holders = users
        .iter()
        .filter(|(_, auth)| d.one(req("GET", "/user/my", auth, None)).body["email"] == json!(target))
        .count();
    c.eq(holders, 1, "accounts with the wanted email");
    c.eq(d.one(login(&target, "pw-123456")).status, 200, "signing in with the wanted email");
}

// ---- catalogue and courses (GrowFit) -----------------------------------------------------

fn catalogue_course_key(d: &Deployment, c: &mut Checks) {
    let p = partner(d);
    let path = format!("/partner/{}/course", p.id);
    let reqs = (0..N)
        .map(|i| req("POST", path.clone(), &p.auth, Some(json!({"title": format!("t{i}"), "course_key": "ONE-KEY"}))))
        .collect();
    let replies = d.burst(reqs);
    let h = c.burst(&replies, &[201, 409]);
    c.eq((count(&h, 201), count(&h, 409)), (1, N - 1), "courses made, duplicates refused");
    let detail = json!({"detail": "course_key \"ONE-KEY\" is already used by another course of this partner"});
    c.ok(replies.iter().filter(|r| r.status == 409).all(|r| r.body == detail), "409s name the key");
    let r = d.one(req("GET", path, &p.auth, None));
    c.eq(r.body["total"].as_i64(), Some(1), "the partner's courses");
}

fn catalogue_budget_patches(d: &Deployment, c: &mut Checks) {
    let p = partner(d);
    let class_id = id_of(&class(d, &p, json!({"name": "budgeted", "budget_limit": "1.00"})));
    let path = format!("/partner/{}/classes/{class_id}", p.id);
    // Every budget differs from the others and from the first: each PATCH is a change.
    let reqs = (0..N)
        .map(|i| {
            let budget = if i % 2 == 0 { json!(format!("{}.25", i + 2)) } else { json!(i + 2) };
            req("PATCH", path.clone(), &p.auth, Some(json!({"budget_limit": budget})))
        })
        .collect();
    let replies = d.burst(reqs);
    let h = c.burst(&replies, &[200]);
    let mut versions: Vec<i64> =
        replies.iter().filter_map(|r| r.etag.as_deref()?.trim_matches('"').parse().ok()).collect();
    versions.sort_unstable();
    c.eq(versions, (2..=N as i64 + 1).collect::<Vec<_>>(), "one version per change");
    let after = get_class(d, &p, class_id);
    c.eq(after.etag.clone(), Some(format!("\"{}\"", N + 1)), "final version");
    let last = replies.iter().find(|r| r.etag == after.etag).map(|r| r.body["budget_limit"].clone());
    c.eq(Some(after.body["budget_limit"].clone()), last, "the budget of the last change");
    c.eq(history(d, &p, class_id).get("class.update").copied(), Some(count(&h, 200)), "class.update events");
}

fn catalogue_course_delete_vs_classes(d: &Deployment, c: &mut Checks) {
    let p = partner(d);
    let course = d.one(req(
        "POST",
        format!("/partner/{}/course", p.id),
        &p.auth,
        Some(json!({"title": "doomed", "course_key": "DOOMED"})),
    ));
    let course_id = id_of(&course.body);
    // Classes created in the course while it is deleted: each either exists and is left
    // without the course, or is refused because the course is gone.
    let mut reqs: Vec<Req> = (0..N - 1)
        .map(|i| {
            let body = json!({"name": format!("in course {i}"), "course_id": course_id});
            req("POST", format!("/partner/{}/classes", p.id), &p.auth, Some(body))
        })
        .collect();
    reqs.insert(N / 2, req("DELETE", format!("/partner/{}/course/{course_id}", p.id), &p.auth, None));
    let replies = d.burst(reqs);
    let h = c.burst(&replies, &[201, 204, 422]);
    c.eq(count(&h, 204), 1, "the course deleted");
    for r in replies.iter().filter(|r| r.status == 201) {
        let now = get_class(d, &p, id_of(&r.body));
        let before: i64 = r.etag.as_deref().unwrap_or("0").trim_matches('"').parse().unwrap_or(0);
        let after: i64 = now.etag.as_deref().unwrap_or("0").trim_matches('"').parse().unwrap_or(0);
        c.ok(now.body["course_id"].is_null(), format!("class {} still names the deleted course", id_of(&r.body)));
        c.ok(after == before + 1, format!("class {}: version {before} then {after}", id_of(&r.body)));
    }
    let gone = d.one(req("GET", format!("/partner/{}/course/{course_id}", p.id), &p.auth, None));
    c.eq(gone.status, 404, "the course afterwards");
}
