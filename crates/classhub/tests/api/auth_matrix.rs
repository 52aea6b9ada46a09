//! The authorization matrix: every endpoint of every dialect, called with every kind of
//! credential that dialect knows — none, malformed, unknown, expired or stale, revoked,
//! another tenant's, and each role — answers the documented status. The table must cover
//! every operation of `/openapi.json` (and nothing else but the few undocumented routes
//! listed in `UNDOCUMENTED`), so an endpoint added without a row fails here.

use std::collections::BTreeSet;

use http::Method;
use serde_json::{Value, json};

use crate::cloudshare::{class_body, create_class};
use crate::engine_tests;
use crate::ocariot::{World as OcWorld, forged, forged_elsewhere, login};
use crate::support::{ADMIN, CsCreds, CsProject, Person, Resp, TestApp};

/// Routes served but not described in the OpenAPI document: operations endpoints, the
/// document itself, and the lower-case alias of the sponsored-link page.
const UNDOCUMENTED: [(&str, &str); 4] =
    [("GET", "/healthz"), ("GET", "/readyz"), ("GET", "/openapi.json"), ("GET", "/class/{shortId}")];

/// How a request presents itself.
#[derive(Clone)]
enum Cred {
    Anonymous,
    /// A raw `Authorization` header.
    Header(String),
    Bearer(String),
    /// `cs_sha1`, signed now.
    Cs(CsCreds),
    /// `cs_sha1` signed at this Unix time.
    CsAt(CsCreds, i64),
}

struct Case {
    label: String,
    cred: Cred,
    /// Replaces the row's path (another tenant's own path, say).
    path: Option<String>,
    status: u16,
    /// Text the answer must not contain (another tenant's data).
    hides: Option<String>,
}

fn case(label: &str, cred: Cred, status: u16) -> Case {
    Case { label: label.to_string(), cred, path: None, status, hides: None }
}

impl Case {
    fn at(mut self, path: String) -> Case {
        self.path = Some(path);
        self
    }
    fn hiding(mut self, text: &str) -> Case {
        self.hides = Some(text.to_string());
        self
    }
}

struct Row {
    method: Method,
    /// The path as `/openapi.json` names it.
    template: &'static str,
    path: String,
    body: Option<Value>,
    /// Run in order: the case that succeeds comes last, so that a write does not change
    /// what the others see.
    cases: Vec<Case>,
}

fn row(method: Method, template: &'static str, path: String, body: Option<Value>, cases: Vec<Case>) -> Row {
    Row { method, template, path, body, cases }
}

/// Whether a concrete path (query ignored) is an instance of a template.
fn instance_of(path: &str, template: &str) -> bool {
    let path = path.split('?').next().unwrap_or("");
    let (p, t): (Vec<&str>, Vec<&str>) = (path.split('/').collect(), template.split('/').collect());
    p.len() == t.len() && p.iter().zip(&t).all(|(p, t)| (t.starts_with('{') && !p.is_empty()) || p == t)
}

/// Sends one case from `peer`: each row comes from an address of its own, so that the
/// matrix's many refused signatures and sign-ins do not exhaust one address's budget.
async fn send(app: &TestApp, method: &Method, path: &str, body: Option<&Value>, cred: &Cred, peer: &str) -> Resp {
    let mut call = app.call(method.clone(), path).peer(peer);
    if let Some(b) = body {
        call = call.json(b.clone());
    }
    let call = match cred {
        Cred::Anonymous => call,
        Cred::Header(h) => call.header("authorization", h),
        Cred::Bearer(t) => call.token(t),
        Cred::Cs(c) => call.signed(c),
        Cred::CsAt(c, at) => call.signed_as(c, *at, "stale1", None),
    };
    call.send().await
}

/// Runs every case of every row; returns what went wrong, one line each.
async fn run(app: &TestApp, rows: &[Row]) -> Vec<String> {
    let mut failures = Vec::new();
    for (n, r) in rows.iter().enumerate() {
        assert!(instance_of(&r.path, r.template), "{} is not an instance of {}", r.path, r.template);
        let peer = format!("10.77.{}.{}:1000", n / 250, n % 250);
        for c in &r.cases {
            let path = c.path.as_deref().unwrap_or(&r.path);
            assert!(instance_of(path, r.template), "{path} is not an instance of {}", r.template);
            let res = send(app, &r.method, path, r.body.as_ref(), &c.cred, &peer).await;
            let name = format!("{} {} [{}]", r.method, r.template, c.label);
            if res.status != c.status {
                let text: String = res.text.chars().take(200).collect();
                failures.push(format!("{name}: expected {}, got {}: {text}", c.status, res.status));
            } else if let Some(h) = &c.hides
                && res.text.contains(h.as_str())
            {
                failures.push(format!("{name}: the answer shows {h:?}"));
            }
        }
    }
    failures
}

// ---------------------------------------------------------------------------------------
// Partner dialect and admin API: bearer tokens.

struct PartnerWorld {
    a: Person,
    b: Person,
    revoked_partner: Person,
    /// A member of A's class.
    student: Person,
    /// A student in no class.
    outsider: Person,
    revoked_student: Person,
    /// Joins A's class in the redeem row.
    joiner: Person,
    /// Removed from A's class by its partner.
    removed: Person,
    /// Leaves A's class.
    leaver: Person,
    class_a: i64,
    code_a: String,
    code_a_id: i64,
    doomed_class: i64,
    class_b: i64,
    code_b_id: i64,
    /// A bearer token for the revoke row.
    victim: Person,
}

async fn revoke(app: &TestApp, token: &str) {
    let r = app.post("/admin/v1/tokens/revoke").token(ADMIN).json(json!({"token": token})).send().await;
    assert_eq!(r.status, 204, "{}", r.text);
}

async fn partner_world(app: &TestApp) -> PartnerWorld {
    let a = app.partner().await;
    let b = app.person("partners", "Bea", "bea@example.com").await;
    let revoked_partner = app.person("partners", "Rex", "rex@example.com").await;
    revoke(app, &revoked_partner.token).await;
    let person = |name: &'static str| async move {
        app.person("students", name, &format!("{}@example.com", name.to_lowercase())).await
    };
    let (student, outsider, revoked_student) = (person("Sam").await, person("Otto").await, person("Rita").await);
    revoke(app, &revoked_student.token).await;
    let (joiner, removed, leaver) = (person("Jo").await, person("Remy").await, person("Lee").await);
    let class = app.class(&a, json!({"name": "Alpha-secret", "capacity": 10})).await;
    let code_a = class["invite_codes"][0]["code"].as_str().unwrap().to_string();
    for s in [&student, &removed, &leaver] {
        assert_eq!(app.redeem(s, &code_a).await.status, 201);
    }
    let doomed = app.class(&a, json!({"name": "Doomed"})).await;
    let class_b = app.class(&b, json!({"name": "Beta-secret"})).await;
    let victim = app.person("partners", "Vic", "vic@example.com").await;
    PartnerWorld {
        class_a: class["id"].as_i64().unwrap(),
        code_a_id: class["invite_codes"][0]["id"].as_i64().unwrap(),
        code_a,
        doomed_class: doomed["id"].as_i64().unwrap(),
        class_b: class_b["id"].as_i64().unwrap(),
        code_b_id: class_b["invite_codes"][0]["id"].as_i64().unwrap(),
        a,
        b,
        revoked_partner,
        student,
        outsider,
        revoked_student,
        joiner,
        removed,
        leaver,
        victim,
    }
}

/// Credentials every bearer-token endpoint refuses with 401.
fn bearer_refusals() -> Vec<Case> {
    vec![
        case("no credentials", Cred::Anonymous, 401),
        case("malformed: scheme alone", Cred::Header("Bearer".into()), 401),
        case("malformed: Basic", Cred::Header("Basic Zm9vOmJhcg==".into()), 401),
        case("malformed: not a token", Cred::Bearer("not a token".into()), 401),
        case("unknown token", Cred::Bearer(format!("chk_{}", "A".repeat(43))), 401),
        case("the admin token", Cred::Bearer(ADMIN.into()), 401),
    ]
}

/// A partner endpoint under A's path. `scoped`: it names one of A's things, which B must
/// not find under B's own path either; otherwise B gets B's own (empty) view there.
fn partner_row(
    w: &PartnerWorld,
    method: Method,
    template: &'static str,
    path: String,
    body: Option<Value>,
    ok: u16,
    scoped: bool,
) -> Row {
    let own = |p: &Person| path.replacen(&format!("/partner/{}/", w.a.id), &format!("/partner/{}/", p.id), 1);
    let mut cases = bearer_refusals();
    cases.push(
        case("revoked partner, own path", Cred::Bearer(w.revoked_partner.token.clone()), 401)
            .at(own(&w.revoked_partner)),
    );
    cases.push(case("a student", Cred::Bearer(w.student.token.clone()), 403));
    cases.push(case("another partner", Cred::Bearer(w.b.token.clone()), 403));
    let theirs = case("another partner, own path", Cred::Bearer(w.b.token.clone()), if scoped { 404 } else { ok });
    cases.push(theirs.at(own(&w.b)).hiding("Alpha-secret"));
    cases.push(case("the partner", Cred::Bearer(w.a.token.clone()), ok));
    row(method, template, path, body, cases)
}

fn partner_rows(w: &PartnerWorld) -> Vec<Row> {
    let base = format!("/partner/{}/classes", w.a.id);
    let class = format!("{base}/{}", w.class_a);
    let mut rows = vec![
        partner_row(w, Method::GET, "/partner/{partner_id}/classes", base.clone(), None, 200, false),
        partner_row(
            w,
            Method::POST,
            "/partner/{partner_id}/classes",
            base.clone(),
            Some(json!({"name": "New"})),
            201,
            false,
        ),
        partner_row(w, Method::GET, "/partner/{partner_id}/classes/{class_id}", class.clone(), None, 200, true),
        partner_row(
            w,
            Method::PATCH,
            "/partner/{partner_id}/classes/{class_id}",
            class.clone(),
            Some(json!({"description": "changed"})),
            200,
            true,
        ),
        partner_row(
            w,
            Method::DELETE,
            "/partner/{partner_id}/classes/{class_id}",
            format!("{base}/{}", w.doomed_class),
            None,
            204,
            true,
        ),
        partner_row(
            w,
            Method::GET,
            "/partner/{partner_id}/classes/{class_id}/history",
            format!("{class}/history"),
            None,
            200,
            true,
        ),
        partner_row(
            w,
            Method::GET,
            "/partner/{partner_id}/classes/{class_id}/invite-codes",
            format!("{class}/invite-codes"),
            None,
            200,
            true,
        ),
        partner_row(
            w,
            Method::POST,
            "/partner/{partner_id}/classes/{class_id}/invite-codes",
            format!("{class}/invite-codes"),
            Some(json!({})),
            201,
            true,
        ),
        partner_row(
            w,
            Method::PATCH,
            "/partner/{partner_id}/classes/{class_id}/invite-codes/{code_id}",
            format!("{class}/invite-codes/{}", w.code_a_id),
            Some(json!({"status": "active"})),
            200,
            true,
        ),
        partner_row(
            w,
            Method::GET,
            "/partner/{partner_id}/classes/{class_id}/students",
            format!("{class}/students"),
            None,
            200,
            true,
        ),
        partner_row(
            w,
            Method::DELETE,
            "/partner/{partner_id}/classes/{class_id}/students/{user_id}",
            format!("{class}/students/{}", w.removed.id),
            None,
            204,
            true,
        ),
    ];
    // Another partner's code or class under the partner's own path and own class.
    let code_row = rows.iter_mut().find(|r| r.method == Method::PATCH && r.template.ends_with("{code_id}")).unwrap();
    let theirs = case("another partner's code in own class", Cred::Bearer(w.a.token.clone()), 404)
        .at(format!("{class}/invite-codes/{}", w.code_b_id));
    code_row.cases.insert(code_row.cases.len() - 1, theirs);
    let get_row = rows.iter_mut().find(|r| r.method == Method::GET && r.template.ends_with("{class_id}")).unwrap();
    let theirs = case("another partner's class, own path", Cred::Bearer(w.a.token.clone()), 404)
        .at(format!("{base}/{}", w.class_b))
        .hiding("Beta-secret");
    get_row.cases.insert(get_row.cases.len() - 1, theirs);

    // The student endpoints. A partner's account is also a student's (GrowFit): partner A
    // joins its own class in the redeem row, sees it, and leaves it.
    let student_refusals = |partner: u16, ok_case: Case, extra: Vec<Case>| {
        let mut cases = bearer_refusals();
        cases.push(case("revoked student", Cred::Bearer(w.revoked_student.token.clone()), 401));
        cases.push(case("a partner, as a student", Cred::Bearer(w.a.token.clone()), partner));
        cases.extend(extra);
        cases.push(ok_case);
        cases
    };
    rows.push(row(
        Method::POST,
        "/user/class/invites/redeem",
        "/user/class/invites/redeem".into(),
        Some(json!({"code": w.code_a})),
        student_refusals(201, case("a student", Cred::Bearer(w.joiner.token.clone()), 201), vec![]),
    ));
    rows.push(row(
        Method::GET,
        "/user/classes",
        "/user/classes".into(),
        None,
        student_refusals(
            200,
            case("a member", Cred::Bearer(w.student.token.clone()), 200).hiding("Beta-secret"),
            vec![case("a student in no class", Cred::Bearer(w.outsider.token.clone()), 200).hiding("Alpha-secret")],
        ),
    ));
    rows.push(row(
        Method::DELETE,
        "/user/classes/{class_id}",
        format!("/user/classes/{}", w.class_a),
        None,
        student_refusals(
            204,
            case("a member", Cred::Bearer(w.leaver.token.clone()), 204),
            vec![
                case("a student of another class", Cred::Bearer(w.outsider.token.clone()), 404),
                case("a member, another partner's class", Cred::Bearer(w.student.token.clone()), 404)
                    .at(format!("/user/classes/{}", w.class_b)),
            ],
        ),
    ));
    rows
}

fn admin_row(w: &PartnerWorld, template: &'static str, path: String, body: Value, ok: u16) -> Row {
    let cases = vec![
        case("no credentials", Cred::Anonymous, 401),
        case("malformed: scheme alone", Cred::Header("Bearer".into()), 401),
        case("malformed: Basic with the token", Cred::Header(format!("Basic {ADMIN}")), 401),
        case("wrong token", Cred::Bearer("wrong".into()), 401),
        case("the token and more", Cred::Bearer(format!("{ADMIN}x")), 401),
        case("a prefix of the token", Cred::Bearer(ADMIN[..ADMIN.len() - 1].into()), 401),
        case("same length, another token", Cred::Bearer(ADMIN.replace('t', "u")), 401),
        case("a partner", Cred::Bearer(w.a.token.clone()), 401),
        case("a student", Cred::Bearer(w.student.token.clone()), 401),
        case("the admin", Cred::Bearer(ADMIN.into()), ok),
    ];
    row(Method::POST, template, path, Some(body), cases)
}

fn admin_rows(w: &PartnerWorld, project: &str) -> Vec<Row> {
    let p = format!("/admin/v1/cloudshare/projects/{project}");
    let on = |method: Method, row: Row| Row { method, ..row };
    let user = |id: i64| format!("/admin/v1/users/{id}");
    let mut rows = vec![
        on(Method::GET, admin_row(w, "/admin/v1/users", "/admin/v1/users".into(), json!({}), 200)),
        on(Method::GET, admin_row(w, "/admin/v1/partners", "/admin/v1/partners".into(), json!({}), 200)),
        on(Method::GET, admin_row(w, "/admin/v1/students", "/admin/v1/students".into(), json!({}), 200)),
        on(Method::GET, admin_row(w, "/admin/v1/users/{user_id}", user(w.outsider.id), json!({}), 200)),
        on(Method::PATCH, admin_row(w, "/admin/v1/users/{user_id}", user(w.outsider.id), json!({"name": "O"}), 200)),
        on(Method::GET, admin_row(w, "/admin/v1/courses", "/admin/v1/courses".into(), json!({}), 200)),
        on(
            Method::GET,
            admin_row(w, "/admin/v1/cloudshare/projects", "/admin/v1/cloudshare/projects".into(), json!({}), 200),
        ),
        on(Method::GET, admin_row(w, "/admin/v1/cloudshare/projects/{project_id}", p.clone(), json!({}), 200)),
        on(Method::GET, admin_row(w, "/admin/v1/models", "/admin/v1/models".into(), json!({}), 200)),
        on(Method::GET, admin_row(w, "/admin/v1/models/{model_id}", "/admin/v1/models/999999".into(), json!({}), 404)),
        on(
            Method::PATCH,
            admin_row(w, "/admin/v1/models/{model_id}", "/admin/v1/models/999999".into(), json!({"name": "X"}), 404),
        ),
        on(
            Method::DELETE,
            admin_row(w, "/admin/v1/models/{model_id}", "/admin/v1/models/999999".into(), json!({}), 404),
        ),
        on(Method::PATCH, admin_row(w, "/admin/v1/cloudshare/projects/{project_id}", p.clone(), json!({}), 200)),
        // Entries no project has: the admin, past the credential check, finds none.
        on(
            Method::DELETE,
            admin_row(
                w,
                "/admin/v1/cloudshare/projects/{project_id}",
                "/admin/v1/cloudshare/projects/PRnosuchproject".into(),
                json!({}),
                404,
            ),
        ),
    ];
    for (template, rest) in [
        ("/admin/v1/cloudshare/projects/{project_id}/policies/{policy_id}", "policies/POnope"),
        ("/admin/v1/cloudshare/projects/{project_id}/blueprints/{blueprint_id}", "blueprints/BPnope"),
        ("/admin/v1/cloudshare/projects/{project_id}/custom-fields/{field_id}", "custom-fields/TFnope"),
        ("/admin/v1/cloudshare/projects/{project_id}/members/{vup_id}", "members/VPnope"),
    ] {
        for method in [Method::PATCH, Method::DELETE] {
            rows.push(on(method, admin_row(w, template, format!("{p}/{rest}"), json!({}), 404)));
        }
    }
    rows.extend(vec![
        // No course has this id: the admin, past the credential check, finds none.
        on(
            Method::GET,
            admin_row(w, "/admin/v1/courses/{course_id}", "/admin/v1/courses/999999".into(), json!({}), 404),
        ),
        on(
            Method::PATCH,
            admin_row(
                w,
                "/admin/v1/courses/{course_id}",
                "/admin/v1/courses/999999".into(),
                json!({"title": "X"}),
                404,
            ),
        ),
        on(
            Method::DELETE,
            admin_row(w, "/admin/v1/courses/{course_id}", "/admin/v1/courses/999999".into(), json!({}), 404),
        ),
        // Only CloudShare members have API keys: the admin, past the credential check, finds none.
        admin_row(w, "/admin/v1/users/{user_id}/api-key", format!("{}/api-key", user(w.a.id)), json!({}), 404),
    ]);
    rows.extend(vec![
        admin_row(
            w,
            "/admin/v1/partners",
            "/admin/v1/partners".into(),
            json!({"name": "N", "email": "n@example.com"}),
            201,
        ),
        admin_row(
            w,
            "/admin/v1/students",
            "/admin/v1/students".into(),
            json!({"name": "N", "email": "n@example.com"}),
            201,
        ),
        admin_row(w, "/admin/v1/models", "/admin/v1/models".into(), json!({"name": "m", "provider": "acme"}), 201),
        admin_row(w, "/admin/v1/courses", "/admin/v1/courses".into(), json!({"partner_id": w.a.id, "title": "T"}), 201),
        admin_row(
            w,
            "/admin/v1/tokens/revoke",
            "/admin/v1/tokens/revoke".into(),
            json!({"token": w.victim.token}),
            204,
        ),
        Row {
            method: Method::PUT,
            ..admin_row(
                w,
                "/admin/v1/users/{user_id}/password",
                format!("/admin/v1/users/{}/password", w.outsider.id),
                json!({"password": "matrix"}),
                204,
            )
        },
        admin_row(
            w,
            "/admin/v1/cloudshare/projects",
            "/admin/v1/cloudshare/projects".into(),
            json!({"name": "Matrix"}),
            201,
        ),
        admin_row(
            w,
            "/admin/v1/cloudshare/projects/{project_id}/policies",
            format!("{p}/policies"),
            json!({"name": "1 hour", "default_duration_minutes": 60}),
            201,
        ),
        admin_row(
            w,
            "/admin/v1/cloudshare/projects/{project_id}/blueprints",
            format!("{p}/blueprints"),
            json!({"name": "BP"}),
            201,
        ),
        admin_row(
            w,
            "/admin/v1/cloudshare/projects/{project_id}/custom-fields",
            format!("{p}/custom-fields"),
            json!({"name": "clientId", "order": 1, "type": 0, "is_required": false}),
            201,
        ),
        admin_row(
            w,
            "/admin/v1/cloudshare/members",
            "/admin/v1/cloudshare/members".into(),
            json!({"name": "Mia", "email": "mia@example.com", "project_ids": [project], "can_instruct": false}),
            201,
        ),
        // After its token's revocation above: a new token, then the user goes.
        admin_row(w, "/admin/v1/users/{user_id}/token", format!("{}/token", user(w.victim.id)), json!({}), 201),
        on(Method::DELETE, admin_row(w, "/admin/v1/users/{user_id}", user(w.victim.id), json!({}), 204)),
    ]);
    rows
}

// ---------------------------------------------------------------------------------------
// Accounts (GrowFit): bearer tokens on the caller's own account; credentials in the body
// of the public sign-in and sign-up routes, which ignore any bearer token.

fn account_rows(w: &PartnerWorld) -> Vec<Row> {
    let own = |template: &'static str, method: Method, body: Option<Value>| {
        let mut cases = bearer_refusals();
        cases.push(case("revoked partner", Cred::Bearer(w.revoked_partner.token.clone()), 401));
        cases.push(case("revoked student", Cred::Bearer(w.revoked_student.token.clone()), 401));
        cases.push(case("a student", Cred::Bearer(w.outsider.token.clone()), 200).hiding("bea@example.com"));
        cases.push(case("a partner", Cred::Bearer(w.a.token.clone()), 200).hiding("bea@example.com"));
        row(method, template, template.to_string(), body, cases)
    };
    let public = |template: &'static str, body: Value, status: u16| {
        let cases = vec![
            case("no credentials", Cred::Anonymous, status),
            case("malformed", Cred::Header("Basic x".into()), status),
            case("a bearer token", Cred::Bearer(w.a.token.clone()), status),
        ];
        row(Method::POST, template, template.to_string(), Some(body), cases)
    };
    let unknown_token = format!("chv_{}", "A".repeat(43));
    vec![
        own("/user/my", Method::GET, None),
        own("/user/my", Method::PATCH, Some(json!({"status": "ignored"}))),
        own("/user/my/profile", Method::GET, None),
        own("/user/my/profile", Method::PATCH, Some(json!({"bio": "matrix"}))),
        public("/user/login", json!({"email": "pat@example.com", "password": "no password set"}), 401),
        public("/user/token/refresh", json!({"refresh_token": format!("chr_{}", "A".repeat(43))}), 401),
        public("/user/email/send-code", json!({"email": "matrix@example.com"}), 200),
        public(
            "/user/email/verify-code",
            json!({"email": "matrix@example.com", "code": "123456", "verification_token": unknown_token}),
            400,
        ),
        public("/user/signup", json!({"email": "matrix@example.com", "password": "pw"}), 400),
    ]
}

/// `POST /user/login`, whose credentials are in the body: each case sends its own.
async fn account_auth(app: &TestApp) -> Vec<String> {
    let made = app
        .post("/admin/v1/students")
        .token(ADMIN)
        .json(json!({"name": "Max", "email": "max@example.com", "password": "right"}))
        .send()
        .await;
    assert_eq!(made.status, 201, "{}", made.text);
    revoke(app, made.body["token"].as_str().unwrap()).await;
    let mut failures = Vec::new();
    let cases = [
        ("no body", json!({}), 422),
        ("unknown email", json!({"email": "nobody@example.com", "password": "right"}), 401),
        ("wrong password", json!({"email": "max@example.com", "password": "wrong"}), 401),
        ("a person without a password", json!({"email": "sam@example.com", "password": ""}), 401),
        ("the right password, tokens revoked", json!({"email": "MAX@example.com", "password": "right"}), 200),
    ];
    for (label, body, status) in cases {
        let r = app.post("/user/login").peer("10.78.0.1:1").json(body).send().await;
        if r.status != status {
            failures.push(format!("POST /user/login [{label}]: expected {status}, got {}: {}", r.status, r.text));
        }
    }
    // A signed-in token is the person's: it reads their account, and is revoked like any.
    let r = app
        .post("/user/login")
        .peer("10.78.0.1:1")
        .json(json!({"email": "max@example.com", "password": "right"}))
        .send()
        .await;
    let token = r.body["access_token"].as_str().unwrap_or_default().to_string();
    let me = app.get("/user/my").token(&token).send().await;
    if me.status != 200 || me.body["email"] != "max@example.com" {
        failures.push(format!("GET /user/my [a signed-in token]: {}", me.text));
    }
    revoke(app, &token).await;
    if app.get("/user/my").token(&token).send().await.status != 401 {
        failures.push("GET /user/my [a revoked signed-in token]: not 401".into());
    }
    failures
}

// ---------------------------------------------------------------------------------------
// Enrollments (GrowFit): a partner's students and their enrollments, and a student ending
// their own enrollment. Students are known by their user ids.

/// The first enrollment listed for a student of a partner.
async fn enrollment_of(app: &TestApp, partner: &Person, student: &Person) -> i64 {
    let r = app
        .get(&format!("/partner/{}/student/{}/enrollments", partner.id, student.id))
        .token(&partner.token)
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body[0]["id"].as_i64().unwrap()
}

async fn enrollment_rows(app: &TestApp, w: &PartnerWorld) -> Vec<Row> {
    let person = |name: &'static str| async move {
        app.person("students", name, &format!("{}@example.com", name.to_lowercase())).await
    };
    // Ex's enrollment is deleted by the partner, Del is deleted as a student, Lou leaves,
    // Bo is B's student.
    let (ex, del, lou, bo) = (person("Ex").await, person("Del").await, person("Lou").await, person("Bo").await);
    for s in [&ex, &del, &lou] {
        assert_eq!(app.redeem(s, &w.code_a).await.status, 201);
    }
    let class_b = app.get(&format!("/partner/{}/classes/{}", w.b.id, w.class_b)).token(&w.b.token).send().await;
    assert_eq!(app.redeem(&bo, class_b.body["invite_codes"][0]["code"].as_str().unwrap()).await.status, 201);
    let extra = app.class(&w.a, json!({"name": "Extra"})).await["id"].as_i64().unwrap();
    let sam = enrollment_of(app, &w.a, &w.student).await;
    let ex_enrollment = enrollment_of(app, &w.a, &ex).await;
    let lou_enrollment = enrollment_of(app, &w.a, &lou).await;
    let bo_enrollment = enrollment_of(app, &w.b, &bo).await;

    let base = format!("/partner/{}/student", w.a.id);
    let student = format!("{base}/{}", w.student.id);
    let enrollment = format!("{base}/enrollments/{sam}");
    let scoped = |method: Method, template: &'static str, path: String, body: Option<Value>, ok: u16| {
        partner_row(w, method, template, path, body, ok, true)
    };
    let mut rows = vec![
        partner_row(w, Method::GET, "/partner/{partner_id}/student", base.clone(), None, 200, false),
        partner_row(w, Method::GET, "/partner/{partner_id}/student/stats", format!("{base}/stats"), None, 200, false),
        partner_row(w, Method::GET, "/partner/{partner_id}/student/detail", format!("{base}/detail"), None, 200, false),
        scoped(Method::GET, "/partner/{partner_id}/student/{student_id}", student.clone(), None, 200),
        scoped(
            Method::PATCH,
            "/partner/{partner_id}/student/{student_id}",
            student.clone(),
            Some(json!({"notes": "matrix"})),
            200,
        ),
        scoped(
            Method::POST,
            "/partner/{partner_id}/student/{student_id}/deactivate",
            format!("{student}/deactivate"),
            None,
            200,
        ),
        scoped(
            Method::POST,
            "/partner/{partner_id}/student/{student_id}/archive",
            format!("{student}/archive"),
            None,
            200,
        ),
        scoped(
            Method::GET,
            "/partner/{partner_id}/student/{student_id}/enrollments",
            format!("{student}/enrollments"),
            None,
            200,
        ),
        scoped(
            Method::POST,
            "/partner/{partner_id}/student/{student_id}/enrollments",
            format!("{student}/enrollments"),
            Some(json!({"class_id": extra, "student_id": w.student.id})),
            201,
        ),
        scoped(
            Method::PATCH,
            "/partner/{partner_id}/student/enrollments/{enrollment_id}",
            enrollment.clone(),
            Some(json!({"status": "active"})),
            200,
        ),
        scoped(
            Method::POST,
            "/partner/{partner_id}/student/enrollments/{enrollment_id}/complete",
            format!("{enrollment}/complete"),
            None,
            200,
        ),
        scoped(
            Method::POST,
            "/partner/{partner_id}/student/enrollments/{enrollment_id}/drop",
            format!("{enrollment}/drop"),
            None,
            200,
        ),
        scoped(
            Method::DELETE,
            "/partner/{partner_id}/student/enrollments/{enrollment_id}",
            format!("{base}/enrollments/{ex_enrollment}"),
            None,
            204,
        ),
        scoped(Method::DELETE, "/partner/{partner_id}/student/{student_id}", format!("{base}/{}", del.id), None, 204),
    ];
    // Another partner's student, class and enrollment under the partner's own path.
    let own = |r: &mut Row, label: &str, path: String| {
        let at = r.cases.len() - 1;
        r.cases.insert(at, case(label, Cred::Bearer(w.a.token.clone()), 404).at(path).hiding("Beta-secret"));
    };
    for r in rows.iter_mut() {
        match (r.method.as_str(), r.template) {
            ("GET", "/partner/{partner_id}/student/{student_id}") => {
                own(r, "another partner's student", format!("{base}/{}", bo.id))
            }
            ("PATCH", "/partner/{partner_id}/student/enrollments/{enrollment_id}") => {
                own(r, "another partner's enrollment", format!("{base}/enrollments/{bo_enrollment}"))
            }
            _ => {}
        }
    }
    rows.push(row(
        Method::DELETE,
        "/user/class/enrollments/{enrollment_id}",
        format!("/user/class/enrollments/{lou_enrollment}"),
        None,
        {
            let mut cases = bearer_refusals();
            cases.push(case("revoked student", Cred::Bearer(w.revoked_student.token.clone()), 401));
            cases.push(case("another student", Cred::Bearer(w.outsider.token.clone()), 404));
            cases.push(case("the class's partner", Cred::Bearer(w.a.token.clone()), 404));
            cases.push(case("another partner's student", Cred::Bearer(bo.token.clone()), 404));
            cases.push(case("the student", Cred::Bearer(lou.token.clone()), 204));
            cases
        },
    ));
    rows
}

// ---------------------------------------------------------------------------------------
// Catalogue and courses (GrowFit): the model and course lists are public; a partner's
// courses, class cards and cost estimate are the partner's.

async fn catalogue_rows(app: &TestApp, w: &PartnerWorld) -> Vec<Row> {
    let course = |partner: &Person, title: &str| {
        let body = json!({"partner_id": partner.id, "title": title});
        async move { app.admin_post("/admin/v1/courses", body).await["id"].as_i64().unwrap() }
    };
    let (kept, doomed, theirs) = (
        course(&w.a, "Alpha-secret course").await,
        course(&w.a, "Doomed").await,
        course(&w.b, "Beta-secret course").await,
    );
    let public = |template: &'static str| {
        let cases = vec![
            case("no credentials", Cred::Anonymous, 200),
            case("malformed", Cred::Header("Basic x".into()), 200),
            case("unknown token", Cred::Bearer(format!("chk_{}", "A".repeat(43))), 200),
            case("a student", Cred::Bearer(w.student.token.clone()), 200),
            case("a partner", Cred::Bearer(w.a.token.clone()), 200),
        ];
        row(Method::GET, template, template.to_string(), None, cases)
    };
    let base = format!("/partner/{}", w.a.id);
    let mut rows = vec![
        public("/models"),
        public("/course"),
        partner_row(w, Method::GET, "/partner/{partner_id}/course", format!("{base}/course"), None, 200, false),
        partner_row(
            w,
            Method::POST,
            "/partner/{partner_id}/course",
            format!("{base}/course"),
            Some(json!({"title": "Matrix", "course_key": "matrix"})),
            201,
            false,
        ),
        partner_row(
            w,
            Method::GET,
            "/partner/{partner_id}/course/{course_id}",
            format!("{base}/course/{kept}"),
            None,
            200,
            true,
        ),
        partner_row(
            w,
            Method::PATCH,
            "/partner/{partner_id}/course/{course_id}",
            format!("{base}/course/{kept}"),
            Some(json!({"description": "changed"})),
            200,
            true,
        ),
        partner_row(
            w,
            Method::DELETE,
            "/partner/{partner_id}/course/{course_id}",
            format!("{base}/course/{doomed}"),
            None,
            204,
            true,
        ),
        partner_row(
            w,
            Method::GET,
            "/partner/{partner_id}/classes/summary",
            format!("{base}/classes/summary"),
            None,
            200,
            false,
        ),
        partner_row(
            w,
            Method::POST,
            "/partner/{partner_id}/classes/cost-estimate",
            format!("{base}/classes/cost-estimate"),
            Some(json!({"expected_students": 1, "model_count": 1, "days": 1})),
            200,
            false,
        ),
    ];
    // Another partner's course under the partner's own path: not found, whatever the method.
    for r in rows.iter_mut().filter(|r| r.template.ends_with("{course_id}")) {
        let at = r.cases.len() - 1;
        let c = case("another partner's course, own path", Cred::Bearer(w.a.token.clone()), 404)
            .at(format!("{base}/course/{theirs}"))
            .hiding("Beta-secret");
        r.cases.insert(at, c);
    }
    rows
}

// ---------------------------------------------------------------------------------------
// CloudShare: cs_sha1.

struct CsWorld {
    p1: CsProject,
    /// A member of the project who cannot instruct: reads, does not write.
    reader: CsCreds,
    /// An instructor of another project.
    stranger: CsCreds,
    /// Added as an instructor in the instructors row.
    extra_instructor: CsCreds,
    class: String,
    short_id: String,
    doomed_class: String,
    student: String,
    doomed_student: String,
    /// The `CI…` id of a second instructor of the class, removed in its row.
    doomed_instructor: String,
    /// Paths (with `?token=`) of a live and of a disabled sponsored link.
    link: String,
    disabled_link: String,
}

async fn cs_call(app: &TestApp, c: &CsCreds, method: Method, path: &str, body: Value) -> Value {
    let r = app.call(method, path).json(body).signed(c).send().await;
    assert_eq!(r.status, 200, "{path}: {}", r.text);
    r.body
}

async fn cs_world(app: &TestApp) -> CsWorld {
    let p1 = app.cs_project("Alpha-secret-project").await;
    let p2 = app.cs_project("beta").await;
    let reader = app.cs_member(&p1.id, "Rae Reader", "rae@alpha.example", false).await;
    let second = app.cs_member(&p1.id, "Sid Second", "sid@alpha.example", true).await;
    let extra_instructor = app.cs_member(&p1.id, "Xan Extra", "xan@alpha.example", true).await;
    let class = create_class(app, &p1, json!({"name": "Alpha-secret lab", "maxStudents": 20})).await;
    let doomed = create_class(app, &p1, json!({"name": "Doomed lab"})).await;
    create_class(app, &p2, json!({"name": "Beta-secret lab"})).await;
    let id = class["id"].as_str().unwrap().to_string();
    let i = &p1.instructor;
    let students = format!("/api/v3/class/{id}/students");
    let student = cs_call(app, i, Method::POST, &students, json!({"email": "stu@example.com"})).await["studentId"]
        .as_str()
        .unwrap()
        .to_string();
    let doomed_student =
        cs_call(app, i, Method::POST, &students, json!({"email": "gone@example.com"})).await["studentId"]
            .as_str()
            .unwrap()
            .to_string();
    let ci = cs_call(app, i, Method::POST, "/api/v3/instructors", json!({"classId": id, "vupId": second.vup})).await;
    let link = |email: &str| {
        let body = json!({"classId": id, "studentEmail": email, "preRegisterStudent": true});
        async move {
            let url = cs_call(app, i, Method::POST, "/api/v3/class/sponsoredlink", body).await["loginUrl"]
                .as_str()
                .unwrap()
                .to_string();
            url[url.find("/Class/").unwrap()..].to_string()
        }
    };
    let live = link("lin@example.com").await;
    // Disabled in the disablesponsoredlink row.
    link("off@example.com").await;
    let disabled = link("dis@example.com").await;
    let off = json!({"classId": id, "studentEmail": "dis@example.com"});
    cs_call(app, i, Method::POST, "/api/v3/class/disablesponsoredlink", off).await;
    CsWorld {
        short_id: class["shortId"].as_str().unwrap().to_string(),
        doomed_class: doomed["id"].as_str().unwrap().to_string(),
        class: id,
        student,
        doomed_student,
        doomed_instructor: ci["id"].as_str().unwrap().to_string(),
        link: live,
        disabled_link: disabled,
        reader,
        stranger: p2.instructor.clone(),
        extra_instructor,
        p1,
    }
}

/// What a CloudShare endpoint answers each caller.
#[derive(Clone, Copy)]
enum Access {
    /// Members of the project read it; members of others get 404.
    Read,
    /// Only members who can instruct; others of the project 403, of other projects 404.
    Write,
    /// As `Write`, but the project is named in the body: another project's is a field
    /// that names nothing (400 `projectId: project not found`, as for an unknown one).
    Create,
    /// Every authenticated caller, each seeing their own.
    Anyone,
}

/// Refusals of `cs_sha1`. The stale and wrong-key cases use `victim`, a real member whose
/// API id would otherwise run into the failure limit across rows.
fn cs_refusals(victim: &CsCreds, n: usize) -> Vec<Case> {
    let now = jiff::Timestamp::now().as_second();
    let wrong_key = CsCreds { api_key: "not the key".into(), ..victim.clone() };
    let unknown = CsCreds { api_id: format!("UNKNOWN{n}"), ..victim.clone() };
    vec![
        case("no credentials", Cred::Anonymous, 401),
        case("malformed: another scheme", Cred::Header("Bearer abc".into()), 401),
        case("malformed: scheme alone", Cred::Header("cs_sha1".into()), 401),
        case("malformed: parts missing", Cred::Header(format!("cs_sha1 userapiid:{};token:x", victim.api_id)), 401),
        case("unknown API id", Cred::Cs(unknown), 401),
        case("stale timestamp", Cred::CsAt(victim.clone(), now - 3600), 401),
        case("timestamp from the future", Cred::CsAt(victim.clone(), now + 3600), 401),
        case("wrong key", Cred::Cs(wrong_key), 401),
    ]
}

async fn cs_rows(app: &TestApp, w: &CsWorld) -> Vec<Row> {
    let (c, p) = (&w.class, &w.p1);
    let students = format!("/api/v3/class/{c}/students");
    let table: Vec<(Method, &'static str, String, Option<Value>, Access)> = vec![
        (Method::GET, "/api/v3/class", "/api/v3/class".into(), None, Access::Anyone),
        (
            Method::POST,
            "/api/v3/class",
            "/api/v3/class".into(),
            Some(class_body(p, json!({"name": "New lab"}))),
            Access::Create,
        ),
        (
            Method::GET,
            "/api/v3/class/actions/countries",
            "/api/v3/class/actions/countries".into(),
            None,
            Access::Anyone,
        ),
        (
            Method::GET,
            "/api/v3/class/actions/customfields",
            format!("/api/v3/class/actions/customfields?projectId={}", p.id),
            None,
            Access::Read,
        ),
        (
            Method::GET,
            "/api/v3/class/actions/getdetailed",
            format!("/api/v3/class/actions/getdetailed?classId={c}"),
            None,
            Access::Read,
        ),
        (
            Method::GET,
            "/api/v3/class/actions/instructors",
            format!("/api/v3/class/actions/instructors?policyId={}", p.policy),
            None,
            Access::Read,
        ),
        (
            Method::POST,
            "/api/v3/class/actions/sendinvitations",
            "/api/v3/class/actions/sendinvitations".into(),
            Some(json!({"classId": c, "studentIds": [w.student]})),
            Access::Write,
        ),
        (
            Method::POST,
            "/api/v3/class/disablesponsoredlink",
            "/api/v3/class/disablesponsoredlink".into(),
            Some(json!({"classId": c, "studentEmail": "off@example.com"})),
            Access::Write,
        ),
        (
            Method::POST,
            "/api/v3/class/sponsoredlink",
            "/api/v3/class/sponsoredlink".into(),
            Some(json!({"classId": c, "studentEmail": "new@example.com", "preRegisterStudent": true})),
            Access::Write,
        ),
        (
            Method::PUT,
            "/api/v3/class",
            "/api/v3/class".into(),
            Some(json!({"id": c, "name": "Changed by body"})),
            Access::Write,
        ),
        (Method::DELETE, "/api/v3/class/{classId}", format!("/api/v3/class/{}", w.doomed_class), None, Access::Write),
        (Method::GET, "/api/v3/class/{classId}", format!("/api/v3/class/{c}"), None, Access::Read),
        (
            Method::PUT,
            "/api/v3/class/{classId}",
            format!("/api/v3/class/{c}"),
            Some(json!({"id": c, "description": "changed"})),
            Access::Write,
        ),
        (Method::GET, "/api/v3/class/{classId}/students", students.clone(), None, Access::Read),
        (
            Method::POST,
            "/api/v3/class/{classId}/students",
            students.clone(),
            Some(json!({"email": "add@example.com"})),
            Access::Write,
        ),
        (
            Method::DELETE,
            "/api/v3/class/{classId}/students/{studentId}",
            format!("{students}/{}", w.doomed_student),
            None,
            Access::Write,
        ),
        (
            Method::GET,
            "/api/v3/class/{classId}/students/{studentId}",
            format!("{students}/{}", w.student),
            None,
            Access::Read,
        ),
        (
            Method::PUT,
            "/api/v3/class/{classId}/students/{studentId}",
            format!("{students}/{}", w.student),
            Some(json!({"firstName": "Changed"})),
            Access::Write,
        ),
        (
            Method::POST,
            "/api/v3/instructors",
            "/api/v3/instructors".into(),
            Some(json!({"classId": c, "vupId": w.extra_instructor.vup})),
            Access::Write,
        ),
        (
            Method::GET,
            "/api/v3/instructors/class",
            format!("/api/v3/instructors/class?classId={c}"),
            None,
            Access::Read,
        ),
        (
            Method::DELETE,
            "/api/v3/instructors/{ciId}",
            format!("/api/v3/instructors/{}", w.doomed_instructor),
            None,
            Access::Write,
        ),
        (Method::GET, "/api/v3/projects", "/api/v3/projects".into(), None, Access::Anyone),
        (Method::GET, "/api/v3/projects/{projectId}", format!("/api/v3/projects/{}", p.id), None, Access::Read),
        (
            Method::GET,
            "/api/v3/projects/{projectId}/blueprints",
            format!("/api/v3/projects/{}/blueprints", p.id),
            None,
            Access::Read,
        ),
        (
            Method::GET,
            "/api/v3/projects/{projectId}/blueprints/{blueprintId}",
            format!("/api/v3/projects/{}/blueprints/{}", p.id, p.blueprint),
            None,
            Access::Read,
        ),
        (
            Method::GET,
            "/api/v3/projects/{projectId}/policies",
            format!("/api/v3/projects/{}/policies", p.id),
            None,
            Access::Read,
        ),
        (Method::GET, "/api/v3/regions", "/api/v3/regions".into(), None, Access::Anyone),
        (Method::GET, "/api/v3/timezones", "/api/v3/timezones".into(), None, Access::Anyone),
    ];
    let mut rows = Vec::new();
    for (n, (method, template, path, body, access)) in table.into_iter().enumerate() {
        let victim = app.cs_member(&p.id, "Vic Victim", &format!("vic{n}@alpha.example"), true).await;
        let mut cases = cs_refusals(&victim, n);
        let (reader, stranger) = match access {
            Access::Read => (200, 404),
            Access::Write => (403, 404),
            Access::Create => (403, 400),
            Access::Anyone => (200, 200),
        };
        cases.push(case("a member who cannot instruct", Cred::Cs(w.reader.clone()), reader));
        cases.push(case("another project's instructor", Cred::Cs(w.stranger.clone()), stranger).hiding("Alpha-secret"));
        cases.push(case("an instructor", Cred::Cs(p.instructor.clone()), 200));
        rows.push(row(method, template, path, body, cases));
    }
    // A policy: only a manager of the project makes one; the project is named in the body.
    let manager = app.cs_manager(&p.id, "Meg Manager", "meg@alpha.example").await;
    let victim = app.cs_member(&p.id, "Vic Victim", "vic-policy@alpha.example", true).await;
    let mut cases = cs_refusals(&victim, 98);
    cases.push(case("a member who cannot instruct", Cred::Cs(w.reader.clone()), 403));
    cases.push(case("another project's instructor", Cred::Cs(w.stranger.clone()), 400).hiding("Alpha-secret"));
    cases.push(case("an instructor who does not manage", Cred::Cs(p.instructor.clone()), 403));
    cases.push(case("a manager", Cred::Cs(manager), 200));
    let policy = json!({"name": "3 days", "projectId": p.id, "runtimeLeaseMinutes": 4320, "storageLeaseMinutes": 4320,
        "inactivityHandlingType": "SuspendTheEnvironment", "inactivityThresholdTime": 15});
    rows.push(row(Method::POST, "/api/v3/policies", "/api/v3/policies".into(), Some(policy), cases));
    // Ping validates credentials, so it is signed like every other request: every refusal
    // of a bad signature holds, and any valid caller, whatever its roles, gets Pong.
    let mut ping = cs_refusals(&p.instructor, 99);
    for (who, cred) in [("a member who cannot instruct", &w.reader), ("another project's instructor", &w.stranger)] {
        ping.push(case(who, Cred::Cs(cred.clone()), 200));
    }
    ping.push(case("an instructor", Cred::Cs(p.instructor.clone()), 200));
    rows.push(row(Method::GET, "/api/v3/ping", "/api/v3/ping".into(), None, ping));
    // The sponsored-link page: the link's token is the credential.
    for template in ["/Class/{shortId}", "/class/{shortId}"] {
        let page = |path: &str| {
            if template.starts_with("/class") { path.replacen("/Class/", "/class/", 1) } else { path.to_string() }
        };
        let bare = page(&format!("/Class/{}", w.short_id));
        let token = w.link.split("token=").nth(1).unwrap().to_string();
        let cases = vec![
            case("no token", Cred::Anonymous, 404),
            case("forged token", Cred::Anonymous, 404).at(format!("{bare}?token=forged")),
            case("disabled link", Cred::Anonymous, 404).at(page(&w.disabled_link)),
            case("the token on another class", Cred::Anonymous, 404)
                .at(page(&format!("/Class/{}?token={token}", "A".repeat(w.short_id.len())))),
            case("an instructor's signature instead", Cred::Cs(p.instructor.clone()), 404),
            case("the link", Cred::Anonymous, 200).at(page(&w.link)),
        ];
        rows.push(row(Method::GET, template, bare, None, cases));
    }
    rows
}

// ---------------------------------------------------------------------------------------
// OCARIoT: gateway JWTs and scopes.

struct OcTokens {
    admin: String,
    edu: (String, String),
    edu2: (String, String),
    hp: (String, String),
    hp2: (String, String),
    child: String,
    family: String,
    application: String,
    expired: String,
    wrong_key: String,
    other_issuer: String,
    deleted_user: String,
    institution: String,
    child_id: String,
    doomed_user: String,
    edu_group: String,
    edu_doomed_group: String,
    hp_group: String,
    hp_doomed_group: String,
}

async fn oc_world(app: &TestApp) -> OcTokens {
    let w = OcWorld::new(app).await;
    let edu = w.owner("educators", "edu1").await;
    let edu2 = w.owner("educators", "edu2").await;
    let hp = w.owner("healthprofessionals", "hp1").await;
    let hp2 = w.owner("healthprofessionals", "hp2").await;
    let child_id = w.child("kid1").await;
    let doomed_user = w.child("kid-doomed").await;
    w.post("/v1/families", json!({"username": "fam", "password": "pw", "institution_id": w.institution})).await;
    w.post("/v1/applications", json!({"username": "app", "password": "pw", "application_name": "A"})).await;
    let (gone, deleted_user) = w.owner("educators", "edu-gone").await;
    let r = app.delete(&format!("/v1/users/{gone}")).token(&w.admin).send().await;
    assert_eq!(r.status, 204, "{}", r.text);
    let now = jiff::Timestamp::now().as_second();
    let claims = |iss: &str, exp: i64| {
        json!({"sub": edu.0, "sub_type": "educator", "iss": iss, "iat": now - 90_000,
            "scope": "educators:read childrengroups:create childrengroups:read childrengroups:update childrengroups:delete",
            "exp": exp})
    };
    let group = |owner: &(String, String), kind: &'static str, name: &'static str| {
        let body = json!({"name": name, "children": [child_id], "school_class": "4th"});
        let (id, token) = owner.clone();
        async move {
            let r = app.post(&format!("/v1/{kind}/{id}/children/groups")).token(&token).json(body).send().await;
            assert_eq!(r.status, 201, "{}", r.text);
            r.body["id"].as_str().unwrap().to_string()
        }
    };
    OcTokens {
        edu_group: group(&edu, "educators", "Alpha-secret group").await,
        edu_doomed_group: group(&edu, "educators", "Doomed").await,
        hp_group: group(&hp, "healthprofessionals", "Alpha-secret group").await,
        hp_doomed_group: group(&hp, "healthprofessionals", "Doomed").await,
        expired: forged(claims("ocariot", now - 60)),
        wrong_key: forged_elsewhere(claims("ocariot", now + 3600), b"another-key-of-thirty-two-bytes!"),
        other_issuer: forged(claims("someone-else", now + 3600)),
        child: login(app, "kid1", "pw").await,
        family: login(app, "fam", "pw").await,
        application: login(app, "app", "pw").await,
        admin: w.admin.clone(),
        institution: w.institution.clone(),
        deleted_user,
        child_id,
        doomed_user,
        edu,
        edu2,
        hp,
        hp2,
    }
}

/// The statuses of the roles, in the order admin, educator, another educator, health
/// professional, another health professional, child, family, application.
type Roles = [u16; 8];

fn oc_row(
    t: &OcTokens,
    method: Method,
    template: &'static str,
    path: String,
    body: Option<Value>,
    roles: Roles,
) -> Row {
    let mut cases = vec![
        case("no credentials", Cred::Anonymous, 401),
        case("malformed: scheme alone", Cred::Header("Bearer".into()), 401),
        case("malformed: Basic", Cred::Header("Basic Zm9vOmJhcg==".into()), 401),
        case("malformed: not a JWT", Cred::Bearer("not.a.jwt".into()), 401),
        case("expired", Cred::Bearer(t.expired.clone()), 401),
        case("signed with another key", Cred::Bearer(t.wrong_key.clone()), 401),
        case("another issuer", Cred::Bearer(t.other_issuer.clone()), 401),
        case("a deleted user's", Cred::Bearer(t.deleted_user.clone()), 401),
    ];
    let who = [
        ("the admin", &t.admin),
        ("an educator", &t.edu.1),
        ("another educator", &t.edu2.1),
        ("a health professional", &t.hp.1),
        ("another health professional", &t.hp2.1),
        ("a child", &t.child),
        ("a family", &t.family),
        ("an application", &t.application),
    ];
    let mut ok = Vec::new();
    for ((label, token), status) in who.into_iter().zip(roles) {
        let c = case(label, Cred::Bearer(token.clone()), status);
        // Refusals first, successes last, so that a write does not change the others.
        if status < 300 { ok.push(c) } else { cases.push(c) }
    }
    cases.extend(ok);
    row(method, template, path, body, cases)
}

fn oc_rows(t: &OcTokens) -> Vec<Row> {
    const ADMIN_ONLY: fn(u16) -> Roles = |ok| [ok, 403, 403, 403, 403, 403, 403, 403];
    let inst = &t.institution;
    let person = |name: &str| json!({"username": name, "password": "pw", "institution_id": inst});
    let mut rows = vec![
        oc_row(
            t,
            Method::POST,
            "/v1/institutions",
            "/v1/institutions".into(),
            Some(json!({"type": "School", "name": "Escola M"})),
            ADMIN_ONLY(201),
        ),
        oc_row(
            t,
            Method::POST,
            "/v1/children",
            "/v1/children".into(),
            Some(json!({"username": "kid-new", "password": "pw", "institution_id": inst, "gender": "male", "age": 9})),
            ADMIN_ONLY(201),
        ),
        oc_row(
            t,
            Method::PATCH,
            "/v1/children/{child_id}",
            format!("/v1/children/{}", t.child_id),
            Some(json!({"age": 12})),
            ADMIN_ONLY(200),
        ),
        oc_row(t, Method::POST, "/v1/educators", "/v1/educators".into(), Some(person("edu-new")), ADMIN_ONLY(201)),
        oc_row(
            t,
            Method::POST,
            "/v1/healthprofessionals",
            "/v1/healthprofessionals".into(),
            Some(person("hp-new")),
            ADMIN_ONLY(201),
        ),
        oc_row(t, Method::POST, "/v1/families", "/v1/families".into(), Some(person("fam-new")), ADMIN_ONLY(201)),
        oc_row(
            t,
            Method::POST,
            "/v1/applications",
            "/v1/applications".into(),
            Some(json!({"username": "app-new", "password": "pw", "application_name": "B"})),
            ADMIN_ONLY(201),
        ),
        oc_row(t, Method::DELETE, "/v1/users/{user_id}", format!("/v1/users/{}", t.doomed_user), None, ADMIN_ONLY(204)),
        // The user themself, or the administrator; the password stays `pw` for the rest.
        oc_row(
            t,
            Method::PATCH,
            "/v1/users/{user_id}/password",
            format!("/v1/users/{}/password", t.edu.0),
            Some(json!({"old_password": "pw", "new_password": "pw"})),
            [204, 204, 403, 403, 403, 403, 403, 403],
        ),
        oc_row(
            t,
            Method::PUT,
            "/v1/users/{user_id}/password",
            format!("/v1/users/{}/password", t.hp.0),
            Some(json!({"old_password": "pw", "new_password": "pw"})),
            [204, 403, 403, 204, 403, 403, 403, 403],
        ),
        oc_row(
            t,
            Method::GET,
            "/v1/educators/{educator_id}",
            format!("/v1/educators/{}", t.edu.0),
            None,
            [200, 200, 403, 403, 403, 403, 403, 403],
        ),
        oc_row(
            t,
            Method::GET,
            "/v1/healthprofessionals/{healthprofessional_id}",
            format!("/v1/healthprofessionals/{}", t.hp.0),
            None,
            [200, 403, 403, 200, 403, 403, 403, 403],
        ),
    ];
    // Groups: only their owner, on their own path; another owner of the same kind finds
    // nothing under their own path either.
    for (kind, param, owner, other, group, doomed, mine) in [
        ("educators", "educator_id", &t.edu, &t.edu2, &t.edu_group, &t.edu_doomed_group, 1),
        ("healthprofessionals", "healthprofessional_id", &t.hp, &t.hp2, &t.hp_group, &t.hp_doomed_group, 3),
    ] {
        let only = |ok: u16| {
            let mut roles = [403; 8];
            roles[mine] = ok;
            roles
        };
        let list = format!("/v1/{kind}/{}/children/groups", owner.0);
        let templates: [&'static str; 2] = if kind == "educators" {
            ["/v1/educators/{educator_id}/children/groups", "/v1/educators/{educator_id}/children/groups/{group_id}"]
        } else {
            [
                "/v1/healthprofessionals/{healthprofessional_id}/children/groups",
                "/v1/healthprofessionals/{healthprofessional_id}/children/groups/{group_id}",
            ]
        };
        debug_assert!(templates[0].contains(param));
        let body = json!({"name": "New group", "children": [t.child_id]});
        let mut group_rows = vec![
            oc_row(t, Method::GET, templates[0], list.clone(), None, only(200)),
            oc_row(t, Method::POST, templates[0], list.clone(), Some(body), only(201)),
            oc_row(t, Method::GET, templates[1], format!("{list}/{group}"), None, only(200)),
            oc_row(
                t,
                Method::PATCH,
                templates[1],
                format!("{list}/{group}"),
                Some(json!({"name": "Renamed"})),
                only(200),
            ),
            oc_row(t, Method::DELETE, templates[1], format!("{list}/{doomed}"), None, only(204)),
        ];
        for r in &mut group_rows[2..] {
            let theirs = r.path.replacen(&owner.0, &other.0, 1);
            // A DELETE answers as for a group that is not there: 204, nothing deleted.
            let status = if r.method == Method::DELETE { 204 } else { 404 };
            let c = case("another owner, own path", Cred::Bearer(other.1.clone()), status)
                .at(theirs)
                .hiding("Alpha-secret");
            r.cases.insert(r.cases.len() - 1, c);
        }
        rows.extend(group_rows);
    }
    rows
}

/// `/v1/auth`, whose credentials are in the body: each case sends its own.
async fn oc_auth(app: &TestApp) -> Vec<String> {
    let mut failures = Vec::new();
    let cases = [
        ("no body", json!({}), 400),
        ("unknown user", json!({"username": "nobody", "password": "pw"}), 401),
        ("wrong password", json!({"username": "edu1", "password": "nope"}), 401),
        ("a deleted user", json!({"username": "edu-gone", "password": "pw"}), 401),
        ("the admin, wrong password", json!({"username": "admin", "password": "pw"}), 401),
        ("the right password", json!({"username": "edu1", "password": "pw"}), 200),
    ];
    for (label, body, status) in cases {
        let r = app.post("/v1/auth").json(body).send().await;
        if r.status != status {
            failures.push(format!("POST /v1/auth [{label}]: expected {status}, got {}: {}", r.status, r.text));
        }
    }
    failures
}

// ---------------------------------------------------------------------------------------

async fn every_endpoint_with_every_credential(app: TestApp) {
    let pw = partner_world(&app).await;
    let cs = cs_world(&app).await;
    let oc = oc_world(&app).await;
    let mut rows = partner_rows(&pw);
    rows.extend(admin_rows(&pw, &cs.p1.id));
    rows.extend(cs_rows(&app, &cs).await);
    rows.extend(oc_rows(&oc));
    rows.extend(account_rows(&pw));
    rows.extend(enrollment_rows(&app, &pw).await);
    rows.extend(catalogue_rows(&app, &pw).await);
    let anyone = |template: &'static str| {
        let cases = vec![
            case("no credentials", Cred::Anonymous, 200),
            case("a bearer token", Cred::Bearer(pw.a.token.clone()), 200),
            case("malformed", Cred::Header("Basic x".into()), 200),
        ];
        row(Method::GET, template, template.to_string(), None, cases)
    };
    rows.extend(["/healthz", "/readyz", "/openapi.json", "/.well-known/jwks.json"].map(anyone));

    let mut failures = run(&app, &rows).await;
    failures.extend(oc_auth(&app).await);
    failures.extend(account_auth(&app).await);
    let cases: usize = rows.iter().map(|r| r.cases.len()).sum();
    assert!(failures.is_empty(), "{} of {cases} cases failed:\n{}", failures.len(), failures.join("\n"));

    // The table covers every documented operation, and documents all it covers.
    let doc = app.get("/openapi.json").send().await;
    let documented: BTreeSet<(String, String)> = doc.body["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(p, ops)| ops.as_object().unwrap().keys().map(move |m| (m.to_uppercase(), p.clone())))
        .collect();
    let mut covered: BTreeSet<(String, String)> =
        rows.iter().map(|r| (r.method.to_string(), r.template.to_string())).collect();
    covered.insert(("POST".into(), "/v1/auth".into()));
    let undocumented: BTreeSet<(String, String)> =
        UNDOCUMENTED.iter().map(|(m, p)| (m.to_string(), p.to_string())).collect();
    let missing: Vec<_> = documented.difference(&covered).collect();
    assert!(missing.is_empty(), "endpoints without a row in the authorization matrix: {missing:?}");
    let extra: Vec<_> = covered.difference(&documented).filter(|op| !undocumented.contains(*op)).collect();
    assert!(extra.is_empty(), "rows for operations /openapi.json does not describe: {extra:?}");
}

engine_tests!(every_endpoint_with_every_credential);
