//! The harness: a fresh classhub app per test over its own database, spoken to over HTTP
//! through the full router (every middleware included), with JSON in and out.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use classhub_store::{Store, StoreOptions};
use classhub_web::{ApiConfig, AppState};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request};
use serde_json::{Value, json};
use tower::ServiceExt;

pub const ADMIN: &str = "test-admin-token";
pub const OCARIOT_ADMIN: &str = "ocariot-admin-pass";
/// The keys OCARIoT tokens are signed with in tests (RS256, made once per test binary), so
/// tests can make their own tokens.
pub fn test_jwt() -> &'static classhub_web::jwt::JwtKeys {
    static KEYS: std::sync::OnceLock<classhub_web::jwt::JwtKeys> = std::sync::OnceLock::new();
    KEYS.get_or_init(|| {
        let der = classhub_web::jwt::JwtKeys::generate_rsa().unwrap();
        classhub_web::jwt::JwtKeys::rs256(&der).unwrap()
    })
}

/// The Argon2 hash of [`OCARIOT_ADMIN`], made once.
fn admin_hash() -> String {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| classhub_core::password::hash(OCARIOT_ADMIN).unwrap()).clone()
}

pub struct TestApp {
    pub router: Router,
    pub store: Arc<Store>,
    settings: Arc<ApiConfig>,
    _dir: Option<tempfile::TempDir>,
    _schema: Option<classhub_testkit::PgSchema>,
}

/// The network of the load balancers in front of the test app: their `X-Forwarded-For`
/// names the client.
pub const TRUSTED_PROXIES: &str = "10.200.0.0/16";

/// Settings a test may change.
pub struct Setup {
    pub config: ApiConfig,
    pub body_limit: usize,
}

impl Default for Setup {
    fn default() -> Self {
        Setup {
            config: ApiConfig {
                admin_token: Some(ADMIN.into()),
                ocariot_admin_hash: Some(admin_hash()),
                jwt: test_jwt().clone(),
                trusted_proxies: Arc::new([TRUSTED_PROXIES.parse().unwrap()]),
                ..ApiConfig::default()
            },
            body_limit: 1024 * 1024,
        }
    }
}

impl TestApp {
    pub async fn sqlite() -> TestApp {
        TestApp::sqlite_with(Setup::default()).await
    }

    pub async fn sqlite_with(setup: Setup) -> TestApp {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("test.db").display());
        TestApp::open(&url, setup, Some(dir), None).await
    }

    pub async fn postgres() -> TestApp {
        let schema = classhub_testkit::PgSchema::create().await;
        let url = schema.url.clone();
        TestApp::open(&url, Setup::default(), None, Some(schema)).await
    }

    /// An app on a database of its own (which the caller keeps, and may take away).
    pub async fn postgres_database(db: &classhub_testkit::PgDatabase) -> TestApp {
        TestApp::open(&db.url, Setup::default(), None, None).await
    }

    /// An app on PostgreSQL reached through `url` (a schema's URL, perhaps rewritten).
    pub async fn postgres_at(schema: classhub_testkit::PgSchema, url: &str) -> TestApp {
        TestApp::open(url, Setup::default(), None, Some(schema)).await
    }

    async fn open(
        url: &str,
        setup: Setup,
        dir: Option<tempfile::TempDir>,
        schema: Option<classhub_testkit::PgSchema>,
    ) -> TestApp {
        let store = Arc::new(Store::open(&StoreOptions::new(url)).await.unwrap());
        let state = AppState::new(store.clone(), setup.config);
        let settings = state.config.clone();
        TestApp { router: classhub::app(state, setup.body_limit), store, settings, _dir: dir, _schema: schema }
    }

    /// The path templates the router serves, read from its debug form (axum lists no
    /// routes otherwise).
    pub fn served_paths(&self) -> Vec<String> {
        let debug = format!("{:?}", self.router);
        let paths = regex::Regex::new(r#"RouteId\(\d+\): "([^"]*)""#).unwrap();
        let mut served: Vec<String> = paths.captures_iter(&debug).map(|c| c[1].to_string()).collect();
        served.sort();
        served.dedup();
        served
    }

    /// The settings the app runs with.
    pub fn config(&self) -> &ApiConfig {
        &self.settings
    }

    /// Another app over the same database (so on the same engine), with its settings
    /// changed by `change`: as a second process configured otherwise. `self` keeps the
    /// database; keep it alive while this one is used.
    pub fn reconfigured(&self, change: impl FnOnce(&mut ApiConfig)) -> TestApp {
        let mut config = (*self.settings).clone();
        change(&mut config);
        let state = AppState::new(self.store.clone(), config);
        let settings = state.config.clone();
        let router = classhub::app(state, Setup::default().body_limit);
        TestApp { router, store: self.store.clone(), settings, _dir: None, _schema: None }
    }

    pub fn call(&self, method: Method, path: &str) -> Call<'_> {
        Call {
            app: self,
            method,
            path: path.to_string(),
            headers: HeaderMap::new(),
            body: Vec::new(),
            stalled: false,
            peer: None,
        }
    }
    pub fn get(&self, path: &str) -> Call<'_> {
        self.call(Method::GET, path)
    }
    pub fn post(&self, path: &str) -> Call<'_> {
        self.call(Method::POST, path)
    }
    pub fn patch(&self, path: &str) -> Call<'_> {
        self.call(Method::PATCH, path)
    }
    pub fn delete(&self, path: &str) -> Call<'_> {
        self.call(Method::DELETE, path)
    }

    /// A partner made through the admin API.
    pub async fn partner(&self) -> Person {
        self.person("partners", "Pat Partner", "pat@example.com").await
    }

    /// A partner made directly in the store, for apps whose limits would refuse the admin
    /// request itself.
    pub async fn partner_with_limit(&self) -> Person {
        use classhub_core::audit::Context;
        use classhub_core::user::{NewUser, UserKind};
        let user = NewUser::named(UserKind::Partner, "P", Some("p@example.com".into()));
        let op = classhub_store::ops::users::CreateUser { ctx: Context::new(None, None), user };
        let (user, token) = self.store.write(op).await.unwrap();
        Person { id: user.id.0, token }
    }

    pub async fn student(&self) -> Person {
        self.person("students", "Sam Student", "sam@example.com").await
    }

    /// Redeems a code as `student`.
    pub async fn redeem(&self, student: &Person, code: &str) -> Resp {
        self.post("/user/class/invites/redeem").token(&student.token).json(json!({"code": code})).send().await
    }

    pub async fn person(&self, kind: &str, name: &str, email: &str) -> Person {
        let r = self
            .post(&format!("/admin/v1/{kind}"))
            .token(ADMIN)
            .json(json!({"name": name, "email": email}))
            .send()
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        Person { id: r.body["id"].as_i64().unwrap(), token: r.body["token"].as_str().unwrap().to_string() }
    }

    pub async fn model(&self, name: &str) -> i64 {
        let r = self.post("/admin/v1/models").token(ADMIN).json(json!({"name": name, "provider": "acme"})).send().await;
        assert_eq!(r.status, 201, "{}", r.text);
        r.body["id"].as_i64().unwrap()
    }

    pub async fn course(&self, partner: &Person) -> i64 {
        let r = self
            .post("/admin/v1/courses")
            .token(ADMIN)
            .json(json!({"partner_id": partner.id, "title": "Course"}))
            .send()
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        r.body["id"].as_i64().unwrap()
    }

    /// Creates a class and returns its body.
    pub async fn class(&self, partner: &Person, body: Value) -> Value {
        let r = self.post(&format!("/partner/{}/classes", partner.id)).token(&partner.token).json(body).send().await;
        assert_eq!(r.status, 201, "{}", r.text);
        r.body
    }

    /// The class's history actions, oldest first.
    pub async fn actions(&self, partner: &Person, class_id: i64) -> Vec<String> {
        let r = self
            .get(&format!("/partner/{}/classes/{class_id}/history?limit=100", partner.id))
            .token(&partner.token)
            .send()
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        let mut actions: Vec<String> =
            r.body["items"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap().to_string()).collect();
        actions.reverse();
        actions
    }
}

/// A CloudShare project member's API credentials and ids.
#[derive(Clone)]
pub struct CsCreds {
    pub api_id: String,
    pub api_key: String,
    /// The member's `VP…` id in the project.
    pub vup: String,
}

/// A CloudShare project made through the admin API, with an instructor.
pub struct CsProject {
    pub id: String,
    pub policy: String,
    pub blueprint: String,
    pub blueprint_token: String,
    pub instructor: CsCreds,
}

impl TestApp {
    pub async fn admin_post(&self, path: &str, body: Value) -> Value {
        let r = self.post(path).token(ADMIN).json(body).send().await;
        assert_eq!(r.status, 201, "{path}: {}", r.text);
        r.body
    }

    /// A project with a two-hour policy, a blueprint and an instructor.
    pub async fn cs_project(&self, name: &str) -> CsProject {
        let id = self.admin_post("/admin/v1/cloudshare/projects", json!({"name": name})).await["id"]
            .as_str()
            .unwrap()
            .to_string();
        let policy = self
            .admin_post(
                &format!("/admin/v1/cloudshare/projects/{id}/policies"),
                json!({"name": "2 hours", "default_duration_minutes": 120}),
            )
            .await["id"]
            .as_str()
            .unwrap()
            .to_string();
        let bp = self
            .admin_post(
                &format!("/admin/v1/cloudshare/projects/{id}/blueprints"),
                json!({"name": "Linux lab", "description": "d"}),
            )
            .await;
        let instructor = self.cs_member(&id, "Ida Instructor", &format!("ida@{name}.example"), true).await;
        CsProject {
            id,
            policy,
            blueprint: bp["id"].as_str().unwrap().to_string(),
            blueprint_token: bp["token"].as_str().unwrap().to_string(),
            instructor,
        }
    }

    pub async fn cs_member(&self, project: &str, name: &str, email: &str, can_instruct: bool) -> CsCreds {
        self.cs_member_with(project, name, email, json!({"can_instruct": can_instruct})).await
    }

    /// A manager of the project: instructs, and may create its policies.
    pub async fn cs_manager(&self, project: &str, name: &str, email: &str) -> CsCreds {
        self.cs_member_with(project, name, email, json!({"can_instruct": true, "can_manage": true})).await
    }

    async fn cs_member_with(&self, project: &str, name: &str, email: &str, rights: Value) -> CsCreds {
        let mut body = json!({"name": name, "email": email, "project_ids": [project]});
        for (k, v) in rights.as_object().unwrap() {
            body[k] = v.clone();
        }
        let m = self.admin_post("/admin/v1/cloudshare/members", body).await;
        CsCreds {
            api_id: m["api_id"].as_str().unwrap().to_string(),
            api_key: m["api_key"].as_str().unwrap().to_string(),
            vup: m["vup_ids"][project].as_str().unwrap().to_string(),
        }
    }
}

pub struct Person {
    pub id: i64,
    pub token: String,
}

pub struct Call<'a> {
    app: &'a TestApp,
    method: Method,
    path: String,
    headers: HeaderMap,
    body: Vec<u8>,
    stalled: bool,
    peer: Option<std::net::SocketAddr>,
}

impl Call<'_> {
    /// The client's address, as a real listener records it.
    pub fn peer(mut self, addr: &str) -> Self {
        self.peer = Some(addr.parse().unwrap());
        self
    }

    /// Signs the request with `cs_sha1` as the CloudShare SDKs do: `https://` + Host + the
    /// target, the current time and a fresh 10-character token.
    pub fn signed(self, creds: &CsCreds) -> Self {
        use rand::Rng;
        let token: String = (0..10).map(|_| rand::rng().sample(rand::distr::Alphanumeric) as char).collect();
        let timestamp = jiff::Timestamp::now().as_second();
        self.signed_as(creds, timestamp, &token, None)
    }

    /// Signs with given parts; `url` replaces the URL that is signed.
    pub fn signed_as(self, creds: &CsCreds, timestamp: i64, token: &str, url: Option<&str>) -> Self {
        use sha1::Digest;
        let url = url.map_or_else(|| format!("https://localhost{}", self.path), str::to_string);
        let digest = sha1::Sha1::digest(format!("{}{url}{timestamp}{token}", creds.api_key).as_bytes());
        let hmac: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        let header = format!("cs_sha1 userapiid:{};timestamp:{timestamp};token:{token};hmac:{hmac}", creds.api_id);
        self.header("host", "localhost").header("authorization", &header)
    }

    /// Sends headers, then a body that never finishes arriving (a slow client).
    pub fn stalled_body(mut self) -> Self {
        self.stalled = true;
        self
    }

    pub fn token(self, token: &str) -> Self {
        self.header("authorization", &format!("Bearer {token}"))
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.append(HeaderName::try_from(name).unwrap(), HeaderValue::try_from(value).unwrap());
        self
    }

    pub fn json(mut self, body: Value) -> Self {
        self.body = serde_json::to_vec(&body).unwrap();
        self.header("content-type", "application/json")
    }

    pub fn raw(mut self, body: &[u8]) -> Self {
        self.body = body.to_vec();
        self
    }

    pub async fn send(self) -> Resp {
        let body = if self.stalled {
            Body::from_stream(futures::stream::pending::<Result<Vec<u8>, std::io::Error>>())
        } else {
            Body::from(self.body)
        };
        let mut req = Request::builder().method(self.method).uri(&self.path).body(body).unwrap();
        *req.headers_mut() = self.headers;
        if let Some(addr) = self.peer {
            req.extensions_mut().insert(axum::extract::ConnectInfo(addr));
        }
        let res = tokio::time::timeout(Duration::from_secs(30), self.app.router.clone().oneshot(req))
            .await
            .expect("request timed out")
            .unwrap();
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let bytes = axum::body::to_bytes(res.into_body(), usize::MAX).await.unwrap();
        let text = String::from_utf8_lossy(&bytes).to_string();
        let body = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap_or(Value::Null) };
        Resp { status, headers, body, text }
    }
}

#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts status and whole body (see [`assert_json`]).
    #[track_caller]
    pub fn expect(&self, status: u16, body: Value) -> &Self {
        assert_eq!(self.status, status, "status of {}", self.text);
        assert_json(&self.body, &body);
        self
    }
}

/// Whole-body comparison: same keys in the same order, same values; in `expected`,
/// `"$ts"` stands for an RFC 3339 UTC instant, `"$code"` for an invite code of the default
/// length (6 characters, GrowFit's) and
/// `"$any"` for anything.
#[track_caller]
pub fn assert_json(actual: &Value, expected: &Value) {
    if let Err(path) = compare(actual, expected, "$") {
        panic!(
            "JSON differs at {path}\nactual:   {}\nexpected: {}",
            serde_json::to_string_pretty(actual).unwrap(),
            serde_json::to_string_pretty(expected).unwrap()
        );
    }
}

fn compare(a: &Value, e: &Value, path: &str) -> Result<(), String> {
    match (a, e) {
        (_, Value::String(s)) if s == "$any" => Ok(()),
        (Value::String(t), Value::String(s)) if s == "$ts" => is_timestamp(t).then_some(()).ok_or(path.to_string()),
        (Value::String(t), Value::String(s)) if s == "$code" => {
            let ok = t.len() == classhub_core::invite::CODE_LEN_DEFAULT
                && t.bytes().all(|b| classhub_core::invite::CODE_ALPHABET.contains(&b));
            ok.then_some(()).ok_or(path.to_string())
        }
        (Value::Object(am), Value::Object(em)) => {
            let ak: Vec<&String> = am.keys().collect();
            let ek: Vec<&String> = em.keys().collect();
            if ak != ek {
                return Err(format!("{path} (keys {ak:?} vs {ek:?})"));
            }
            for (k, ev) in em {
                compare(&am[k], ev, &format!("{path}.{k}"))?;
            }
            Ok(())
        }
        (Value::Array(aa), Value::Array(ea)) => {
            if aa.len() != ea.len() {
                return Err(format!("{path} (length {} vs {})", aa.len(), ea.len()));
            }
            for (i, (av, ev)) in aa.iter().zip(ea).enumerate() {
                compare(av, ev, &format!("{path}[{i}]"))?;
            }
            Ok(())
        }
        _ if a == e => Ok(()),
        _ => Err(path.to_string()),
    }
}

fn is_timestamp(s: &str) -> bool {
    s.ends_with('Z') && s.parse::<jiff::Timestamp>().is_ok()
}

/// Runs each named `async fn(TestApp)` as a test on every engine.
#[macro_export]
macro_rules! engine_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::support::TestApp::sqlite().await).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                #[cfg_attr(not(classhub_pg), ignore = "set CLASSHUB_TEST_POSTGRES_URL to run on PostgreSQL")]
                async fn $name() {
                    super::$name($crate::support::TestApp::postgres().await).await
                }
            )*
        }
    };
}
