//! The official CloudShare SDKs for Python, JavaScript and Go drive classhub over HTTPS,
//! unchanged.
//!
//! - Python: the PyPI package `cloudshare`, in a virtualenv made once per target directory;
//!   our driver is `tests/sdk/cloudshare_sdk.py`.
//! - JavaScript: the SDK is vendored in `tests/sdk/js/cloudshare-js-sdk` (Apache-2.0); its npm
//!   dependencies are installed once into a cache under the target directory. Our driver,
//!   `tests/sdk/cloudshare_js.js`, calls every endpoint through the SDK's `req`, with Node
//!   verifying the server's certificate against the test CA.
//! - Go: `github.com/cloudshare/go-sdk` has no license, so it is not in this repository: each
//!   test copies it from a local git snapshot (see [`go_sdk_git_dir`]) into a temporary
//!   GOPATH. One test runs the SDK's own test suite (the tests that concern classhub), the
//!   other our program `tests/sdk/go/main.go`, which uses the SDK's typed API and its
//!   `Client.Request`. The toolchain is Debian's `golang-go` with
//!   `golang-github-stretchr-testify-dev` (`.ci/run` installs them).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

mod common;
use common::{BIN, Server, cached_dir, call, https, sdk_python, sqlite_url, tls_files};

const SDK_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sdk");

/// The go-sdk commit the tests run: the snapshot's HEAD, the last one of the repository.
const GO_SDK_COMMIT: &str = "af6eac928cd24b402eaeebdf07e3d270c096e982";

/// Where the go-sdk snapshot's git directory is looked for when `CLASSHUB_GO_SDK_GIT_DIR`
/// does not say.
const GO_SDK_MIRROR: &str = "/work/.mirror/cloudshare+go-sdk";

/// A server over HTTPS with a CloudShare catalog made through the admin API: project `SDK`
/// with policy `2h` (120 minutes), blueprint `Linux` and a required custom field
/// `clientId` (digits), two instructors and a project manager.
struct Fixture {
    server: Server,
    _dir: tempfile::TempDir,
    ca: PathBuf,
    /// Where the server writes the emails it sends.
    mail: PathBuf,
    host: String,
    project: String,
    policy: String,
    blueprint: String,
    field: String,
    instructor: Value,
    second: Value,
    manager: Value,
}

impl Fixture {
    fn start() -> Fixture {
        Fixture::start_with(&[])
    }

    /// `start`, the server taking `args` too.
    fn start_with(args: &[&str]) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let (ca, cert, key) = tls_files(dir.path());
        let tls = ["--tls-cert", cert.to_str().unwrap(), "--tls-key", key.to_str().unwrap(), "--admin-token", "adm"];
        let server = Server::start(dir.path(), &sqlite_url(dir.path()), &[&tls[..], args].concat());
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
            admin("/admin/v1/cloudshare/projects", json!({"name": "SDK"}))["id"].as_str().unwrap().to_string();
        let id = |v: Value| v["id"].as_str().unwrap().to_string();
        let policy = id(admin(
            &format!("/admin/v1/cloudshare/projects/{project}/policies"),
            json!({"name": "2h", "default_duration_minutes": 120}),
        ));
        let blueprint =
            id(admin(&format!("/admin/v1/cloudshare/projects/{project}/blueprints"), json!({"name": "Linux"})));
        let field = id(admin(
            &format!("/admin/v1/cloudshare/projects/{project}/custom-fields"),
            json!({"name": "clientId", "order": 1, "type": 0, "is_required": true, "regex": "^[0-9]+$"}),
        ));
        let member = |name: &str, email: &str, manages: bool| {
            admin(
                "/admin/v1/cloudshare/members",
                json!({"name": name, "email": email, "project_ids": [project], "can_instruct": true,
                    "can_manage": manages}),
            )
        };
        let instructor = member("Ida", "ida@example.com", false);
        let second = member("Sam", "sam@example.com", false);
        let manager = member("Max", "max@example.com", true);
        let host = server.base.trim_start_matches("https://").to_string();
        Fixture {
            server,
            mail: dir.path().join("mail"),
            _dir: dir,
            ca,
            host,
            project,
            policy,
            blueprint,
            field,
            instructor,
            second,
            manager,
        }
    }

    /// The folder of the server's database and key.
    fn server_dir(&self) -> PathBuf {
        self._dir.path().to_path_buf()
    }

    fn vup(&self, member: &Value) -> String {
        member["vup_ids"][&self.project].as_str().unwrap().to_string()
    }

    /// What the drivers read: the host, both credentials and the catalog.
    fn vars(&self) -> Vec<(&'static str, String)> {
        let text = |v: &Value, k: &str| v[k].as_str().unwrap().to_string();
        vec![
            ("CS_HOST", self.host.clone()),
            ("CS_API_ID", text(&self.instructor, "api_id")),
            ("CS_API_KEY", text(&self.instructor, "api_key")),
            ("CS_MANAGER_API_ID", text(&self.manager, "api_id")),
            ("CS_MANAGER_API_KEY", text(&self.manager, "api_key")),
            ("CS_PROJECT", self.project.clone()),
            ("CS_POLICY", self.policy.clone()),
            ("CS_BLUEPRINT", self.blueprint.clone()),
            ("CS_FIELD", self.field.clone()),
            ("CS_VUP", self.vup(&self.instructor)),
            ("CS_VUP2", self.vup(&self.second)),
            ("CS_MANAGER_VUP", self.vup(&self.manager)),
        ]
    }

    /// A `cs_sha1`-signed GET as `member`, checked by classhub itself (not by an SDK).
    fn signed_get(&self, member: &Value, path: &str) -> Value {
        let url = self.server.url(path);
        let (id, key) = (member["api_id"].as_str().unwrap(), member["api_key"].as_str().unwrap());
        let auth = common::cs_sha1_header(id, key, &url, jiff::Timestamp::now().as_second(), "Rust0check");
        let mut res = https(&self.ca).get(&url).header("authorization", &auth).call().unwrap();
        let text = res.body_mut().read_to_string().unwrap();
        assert_eq!(res.status().as_u16(), 200, "{path}: {text}");
        serde_json::from_str(&text).unwrap()
    }
}

/// Asserts a driver's success and its closing line; prints what it printed.
fn passed(what: &str, out: &Output, closing: &str) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{what} failed ({}):\n{stdout}\n{stderr}", out.status);
    assert!(stdout.contains(closing), "{what}: no {closing:?} in:\n{stdout}\n{stderr}");
    println!("{stdout}");
    stdout
}

/// Waits until the mail directory holds exactly these emails (recipient and subject lines).
fn delivered(mail: &Path, expected: &[(&str, &str)]) {
    let started = Instant::now();
    loop {
        let mails: Vec<String> = std::fs::read_dir(mail)
            .map(|d| d.flatten().filter_map(|e| std::fs::read_to_string(e.path()).ok()).collect())
            .unwrap_or_default();
        let found = |(to, subject): &(&str, &str)| mails.iter().any(|m| m.contains(to) && m.contains(subject));
        if expected.iter().all(found) {
            assert_eq!(mails.len(), expected.len(), "{mails:#?}");
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "expected {expected:?}, the mail directory has {mails:#?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

// ---------------------------------------------------------------------------------------
// Python

/// The PyPI SDK drives every endpoint; the invitation it asks for is delivered.
#[test]
fn python_sdk_drives_every_endpoint_over_https() {
    let python = sdk_python();
    let f = Fixture::start();
    let out = Command::new(&python)
        .arg(Path::new(SDK_DIR).join("cloudshare_sdk.py"))
        .env("SSL_CERT_FILE", &f.ca)
        .envs(f.vars())
        .output()
        .unwrap();
    passed("the Python SDK driver", &out, "all SDK checks passed");
    delivered(&f.mail, &[("To: ann@example.com", "Subject: SDK class, renamed - Virtual Lab Access")]);
    // Plain HTTP to the TLS port is refused rather than answered.
    assert!(ureq::get(&f.server.url("/healthz").replace("https://", "http://")).call().is_err());
    f.server.stop();
}

// ---------------------------------------------------------------------------------------
// JavaScript

const NODE: &str = "/usr/bin/node";

/// The SDK's npm dependencies at the versions its `package.json` ranges resolve to.
const JS_DEPENDENCIES: [(&str, &str); 4] =
    [("bottlejs", "0.6.0"), ("es6-promise", "2.3.0"), ("jssha", "1.6.3"), ("xhr2", "0.1.4")];

/// `node_modules` with the JS SDK's dependencies, installed once per target directory.
fn js_sdk_node_modules() -> PathBuf {
    let ready = |dir: &Path| {
        JS_DEPENDENCIES.iter().all(|(name, version)| {
            let manifest = dir.join("node_modules").join(name).join("package.json");
            std::fs::read_to_string(manifest)
                .ok()
                .and_then(|text| serde_json::from_str::<Value>(&text).ok())
                .is_some_and(|m| m["version"] == *version)
        })
    };
    let dir = cached_dir("cloudshare-js-sdk-deps", ready, |dir| {
        std::fs::create_dir_all(dir).unwrap();
        let deps: serde_json::Map<String, Value> =
            JS_DEPENDENCIES.iter().map(|(n, v)| (n.to_string(), Value::from(*v))).collect();
        let manifest = json!({"name": "classhub-js-sdk-deps", "private": true, "dependencies": deps});
        std::fs::write(dir.join("package.json"), manifest.to_string()).unwrap();
        let npm = Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--no-package-lock", "--loglevel=error"])
            .current_dir(dir)
            .output()
            .unwrap_or_else(|e| panic!("npm (Debian's npm, with Node.js at {NODE}) is needed: {e}"));
        assert!(npm.status.success(), "npm install: {}", String::from_utf8_lossy(&npm.stderr));
    });
    dir.join("node_modules")
}

/// The JS SDK calls every endpoint of the dialect, as an instructor and as a project
/// manager, and checks each decoded answer.
#[test]
fn js_sdk_drives_every_endpoint_over_https() {
    let node_modules = js_sdk_node_modules();
    let f = Fixture::start();
    let out = Command::new(NODE)
        .arg(Path::new(SDK_DIR).join("cloudshare_js.js"))
        .env("NODE_PATH", &node_modules)
        // Node verifies the server against the test CA; nothing turns verification off.
        .env("NODE_EXTRA_CA_CERTS", &f.ca)
        .env_remove("NODE_TLS_REJECT_UNAUTHORIZED")
        .env_remove("NODE_OPTIONS")
        .envs(f.vars())
        .output()
        .unwrap_or_else(|e| panic!("{NODE}: {e}"));
    let stdout = passed("the JS SDK driver", &out, "all JS SDK checks passed");
    assert!(stdout.lines().filter(|l| l.starts_with("ok   ")).count() > 100, "{stdout}");
    // The invitations it asked for reach the mail directory: the student's (sendinvitations)
    // and the added instructor's (sendInviteNow).
    delivered(
        &f.mail,
        &[
            ("To: ann@example.com", "Subject: JS SDK class, renamed - Virtual Lab Access"),
            ("To: sam@example.com", "Subject: JS SDK class, renamed - Instructor Access"),
        ],
    );
    f.server.stop();
}

// ---------------------------------------------------------------------------------------
// Go

/// The go-sdk snapshot's git directory: `CLASSHUB_GO_SDK_GIT_DIR`, else the bare repository
/// found in [`GO_SDK_MIRROR`] (itself or a directory in it). Fails saying what is missing
/// and how to get it.
fn go_sdk_git_dir() -> PathBuf {
    let is_git_dir = |p: &Path| p.join("HEAD").is_file() && p.join("objects").is_dir();
    let how = format!(
        "The Go SDK tests need the git history of github.com/cloudshare/go-sdk (commit {GO_SDK_COMMIT}); the \
         repository has no license, so it is not vendored. Get a snapshot with the session tool `fetch \
         github:cloudshare/go-sdk` (it lands in {GO_SDK_MIRROR}/repo), or clone the repository anywhere and set \
         CLASSHUB_GO_SDK_GIT_DIR to its .git directory."
    );
    let dir = match std::env::var_os("CLASSHUB_GO_SDK_GIT_DIR") {
        Some(d) => {
            let d = PathBuf::from(d);
            assert!(is_git_dir(&d), "CLASSHUB_GO_SDK_GIT_DIR={} is not a git directory.\n{how}", d.display());
            d
        }
        None => {
            let root = Path::new(GO_SDK_MIRROR);
            assert!(root.is_dir(), "missing: {GO_SDK_MIRROR} (the go-sdk snapshot).\n{how}");
            let inside = std::fs::read_dir(root).unwrap().flatten().map(|e| e.path());
            std::iter::once(root.to_path_buf())
                .chain(inside)
                .find(|p| is_git_dir(p))
                .unwrap_or_else(|| panic!("missing: a git directory (HEAD, objects/) in {GO_SDK_MIRROR}.\n{how}"))
        }
    };
    let has_commit = Command::new("git")
        .arg("--git-dir")
        .arg(&dir)
        .args(["cat-file", "-e", &format!("{GO_SDK_COMMIT}^{{commit}}")])
        .status()
        .is_ok_and(|s| s.success());
    assert!(has_commit, "missing: commit {GO_SDK_COMMIT} in {}.\n{how}", dir.display());
    dir
}

/// Go in GOPATH mode: the SDK copied into `gopath` at [`GO_SDK_COMMIT`], then Debian's
/// packages (testify) from /usr/share/gocode.
fn go_command(gopath: &Path) -> Command {
    let version = Command::new("go").arg("version").output();
    assert!(
        version.is_ok_and(|o| o.status.success()),
        "missing: the go toolchain. Install it with `apt-get install -y golang-go golang-github-stretchr-testify-dev` \
         (.ci/run does)"
    );
    assert!(
        Path::new("/usr/share/gocode/src/github.com/stretchr/testify/require").is_dir(),
        "missing: testify for the SDK's tests. Install it with `apt-get install -y golang-github-stretchr-testify-dev`"
    );
    let mut go = Command::new("go");
    go.env("GO111MODULE", "off")
        .env("GOPATH", format!("{}:/usr/share/gocode", gopath.display()))
        .env("GOFLAGS", "")
        .env("GOPROXY", "off")
        .env("GOCACHE", Path::new(env!("CARGO_TARGET_TMPDIR")).join("go-build-cache"))
        .env_remove("DEBUG");
    go
}

/// A temporary GOPATH holding the go-sdk at [`GO_SDK_COMMIT`]; returns it and the
/// package directory `…/src/github.com/cloudshare/go-sdk`.
fn go_sdk_gopath() -> (tempfile::TempDir, PathBuf) {
    let git_dir = go_sdk_git_dir();
    let gopath = tempfile::tempdir().unwrap();
    let repo = gopath.path().join("src/github.com/cloudshare/go-sdk");
    std::fs::create_dir_all(&repo).unwrap();
    let archive = Command::new("git").arg("--git-dir").arg(&git_dir).args(["archive", GO_SDK_COMMIT]).output().unwrap();
    assert!(archive.status.success(), "git archive: {}", String::from_utf8_lossy(&archive.stderr));
    let tar = archive.stdout;
    let mut untar =
        Command::new("tar").args(["-x", "-C"]).arg(&repo).stdin(std::process::Stdio::piped()).spawn().unwrap();
    std::io::Write::write_all(&mut untar.stdin.take().unwrap(), &tar).unwrap();
    assert!(untar.wait().unwrap().success(), "tar -x of the go-sdk archive");
    assert!(repo.join("cloudshare/client.go").is_file(), "the archive lacks cloudshare/client.go");
    (gopath, repo)
}

/// The SDK's own tests that concern classhub, against it: the offline ones (token, auth
/// header, URLs) and ping, projects, blueprints and policies with a project manager's
/// credentials (`TestPolicies` creates a policy). The others need environments or go to
/// the real CloudShare host, so `-run` leaves them out.
#[test]
fn go_sdk_own_tests_pass_against_classhub() {
    const TESTS: [&str; 7] = [
        "TestGenerateToken",
        "TestAuthToken",
        "TestBuildURL",
        "TestPing",
        "TestGetBlueprints",
        "TestGetProjectsByFilter",
        "TestPolicies",
    ];
    let (gopath, repo) = go_sdk_gopath();
    let f = Fixture::start();
    let text = |k: &str| f.manager[k].as_str().unwrap().to_string();
    let out = go_command(gopath.path())
        .args(["test", "-count=1", "-vet=off", "-v", "-run", &format!("^({})$", TESTS.join("|"))])
        .current_dir(repo.join("cloudshare"))
        // The Makefile's setting: the SDK then skips certificate verification.
        .env("DEBUG", "true")
        .env("CLOUDSHARE_API_HOST", &f.host)
        .env("CLOUDSHARE_API_KEY", text("api_key"))
        .env("CLOUDSHARE_API_ID", text("api_id"))
        .env("ALLOW_TEST_CREATE", "true")
        .output()
        .unwrap();
    let stdout = passed("go test of the go-sdk", &out, "ok  \tgithub.com/cloudshare/go-sdk/cloudshare");
    for test in TESTS {
        assert!(stdout.contains(&format!("--- PASS: {test} ")), "{test} did not pass:\n{stdout}");
    }
    assert!(!stdout.contains("--- SKIP") && !stdout.contains("--- FAIL"), "{stdout}");
    // TestPolicies made its policy, as classhub sees it.
    let policies = f.signed_get(&f.manager, &format!("/api/v3/projects/{}/policies", f.project));
    let made = policies.as_array().unwrap().iter().find(|p| p["name"] == "test-policy-delete-after-3-days");
    let made = made.unwrap_or_else(|| panic!("TestPolicies made no policy: {policies}"));
    assert_eq!((&made["projectId"], &made["defaultDurationInMinutes"]), (&json!(f.project), &json!(4320)), "{made}");
    f.server.stop();
}

/// Our Go program drives classhub through the SDK: the typed API and `Client.Request`.
#[test]
fn go_sdk_program_drives_classhub_over_https() {
    let (gopath, _) = go_sdk_gopath();
    let binary = gopath.path().join("bin/cloudshare-go-driver");
    let build = go_command(gopath.path())
        .args(["build", "-o"])
        .arg(&binary)
        .arg(Path::new(SDK_DIR).join("go/main.go"))
        .output()
        .unwrap();
    assert!(build.status.success(), "go build: {}", String::from_utf8_lossy(&build.stderr));
    let f = Fixture::start();
    // Certificates verified against the test CA: no DEBUG (which turns verification off).
    let out = Command::new(&binary).env_remove("DEBUG").env("SSL_CERT_FILE", &f.ca).envs(f.vars()).output().unwrap();
    passed("the Go SDK driver", &out, "all Go SDK checks passed");
    f.server.stop();
}

// ---------------------------------------------------------------------------------------
// Moving to PostgreSQL

/// A SQLite deployment with rows of every kind (the Python SDK's CloudShare classes,
/// students, sponsored links and emails; GrowFit accounts, sign-ins, codes and
/// enrollments; OCARIoT institutions and educators) is copied into PostgreSQL with
/// `classhub copy`; a server on the copy, with the SQLite database's key, serves every
/// dialect with the credentials made before: tokens, passwords and sealed API keys. A
/// second copy into the now full target is refused.
#[test]
#[cfg_attr(not(classhub_pg), ignore = "set CLASSHUB_TEST_POSTGRES_URL to run on PostgreSQL")]
fn a_sqlite_deployment_copied_to_postgres_serves_every_dialect() {
    let f = Fixture::start_with(&["--ocariot-admin-password", "ocpw"]);
    let out = Command::new(sdk_python())
        .arg(Path::new(SDK_DIR).join("cloudshare_sdk.py"))
        .env("SSL_CERT_FILE", &f.ca)
        .envs(f.vars())
        .env("CS_LEAVE_A_CLASS", "1")
        .output()
        .unwrap();
    passed("the Python SDK driver", &out, "all SDK checks passed");
    let agent = https(&f.ca);
    let post =
        |path: &str, token: Option<&str>, body: Value| call(&agent, "POST", &f.server.url(path), token, Some(&body));
    // The catalog of the partner API.
    let model = post("/admin/v1/models", Some("adm"), json!({"name": "o3-mini", "provider": "openai"}));
    assert_eq!(model.status, 201, "{}", model.text);
    // GrowFit: a partner with a password signs in; a student joins with an invite code.
    let partner = post(
        "/admin/v1/partners",
        Some("adm"),
        json!({"name": "Pat", "email": "pat@example.com", "password": "patpw"}),
    );
    assert_eq!(partner.status, 201, "{}", partner.text);
    let (pid, ptoken) = (partner.body["id"].as_i64().unwrap(), partner.body["token"].as_str().unwrap().to_string());
    let student = post("/admin/v1/students", Some("adm"), json!({"name": "Stu", "email": "stu@example.com"}));
    let stoken = student.body["token"].as_str().unwrap().to_string();
    let class = post(&format!("/partner/{pid}/classes"), Some(&ptoken), json!({"name": "Moved", "capacity": 3}));
    assert_eq!(class.status, 201, "{}", class.text);
    let class_id = class.body["id"].as_i64().unwrap();
    let course = post("/admin/v1/courses", Some("adm"), json!({"partner_id": pid, "title": "Moving"}));
    assert_eq!(course.status, 201, "{}", course.text);
    let code = post(&format!("/partner/{pid}/classes/{class_id}/invite-codes"), Some(&ptoken), json!({"max_uses": 2}));
    assert_eq!(code.status, 201, "{}", code.text);
    let joined = post("/user/class/invites/redeem", Some(&stoken), json!({"code": code.body["code"]}));
    assert_eq!(joined.status, 201, "{}", joined.text);
    // A create under an Idempotency-Key: the kept answer moves with the rest.
    let keyed = http::Request::builder()
        .method("POST")
        .uri(f.server.url(&format!("/partner/{pid}/classes")))
        .header("authorization", format!("Bearer {ptoken}"))
        .header("content-type", "application/json")
        .header("idempotency-key", "moved-1")
        .body(json!({"name": "Made once"}).to_string())
        .unwrap();
    assert_eq!(agent.run(keyed).unwrap().status().as_u16(), 201);
    assert_eq!(post("/user/login", None, json!({"email": "pat@example.com", "password": "patpw"})).status, 200);
    assert_eq!(post("/user/login", None, json!({"email": "pat@example.com", "password": "wrong"})).status, 401);
    assert_eq!(post("/user/email/send-code", None, json!({"email": "new@example.com"})).status, 200);
    // OCARIoT: an institution and an educator with a password.
    let login = post("/v1/auth", None, json!({"username": "admin", "password": "ocpw"}));
    let oc_admin = login.body["access_token"].as_str().unwrap().to_string();
    let inst = post("/v1/institutions", Some(&oc_admin), json!({"type": "School", "name": "Moved school"}));
    let body = json!({"username": "teacher", "password": "teacherpw", "institution_id": inst.body["id"]});
    assert_eq!(post("/v1/educators", Some(&oc_admin), body).status, 201);
    let dir = f.server_dir();
    f.server.stop();

    let rt = tokio::runtime::Runtime::new().unwrap();
    let schema = rt.block_on(classhub_testkit::PgSchema::create());
    let key = dir.join("secret.key");
    let copy = |to: &str| {
        let args = ["--secret-key-file", key.to_str().unwrap(), "copy", "--from", &sqlite_url(&dir), "--to", to];
        Command::new(BIN).args(args).output().unwrap()
    };
    let out = copy(&schema.url);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    // Every table had rows to copy, but those only other flows fill.
    let empty: Vec<&str> = report["tables"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, n)| n.as_u64() == Some(0))
        .map(|(t, _)| t.as_str())
        .collect();
    assert_eq!(empty, Vec::<&str>::new(), "{report}");
    assert!(report["rows_compared"].as_u64().unwrap() > 0, "{report}");
    // The counts, as the two databases themselves tell them.
    let sqlite = rusqlite::Connection::open(dir.join("classhub.db")).unwrap();
    for (table, n) in report["tables"].as_object().unwrap() {
        let here: i64 = sqlite.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0)).unwrap();
        let there = Command::new("psql")
            .args([&schema.url, "-qtAc", &format!("SELECT count(*) FROM {table}")])
            .output()
            .unwrap();
        let there: i64 = String::from_utf8_lossy(&there.stdout).trim().parse().unwrap();
        assert_eq!((here, there), (n.as_i64().unwrap(), n.as_i64().unwrap()), "{table}");
    }
    // A second copy into the full target is refused, and changes nothing.
    let again = copy(&schema.url);
    assert!(!again.status.success() && String::from_utf8_lossy(&again.stderr).contains("not empty"));

    // The PostgreSQL deployment, with the SQLite database's key.
    assert_eq!(report["secret_key_file"], json!(key));
    let server = Server::start(&dir, &schema.url, &["--ocariot-admin-password", "ocpw"]);
    let agent = common::http();
    let get = |path: &str, token: &str| call(&agent, "GET", &server.url(path), Some(token), None);
    let read = get(&format!("/partner/{pid}/classes/{class_id}"), &ptoken);
    assert_eq!((read.status, read.body["name"].clone()), (200, json!("Moved")), "{}", read.text);
    let roster = get(&format!("/partner/{pid}/classes/{class_id}/students"), &ptoken);
    assert!(roster.status == 200 && roster.text.contains("stu@example.com"), "{}", roster.text);
    let post =
        |path: &str, token: Option<&str>, body: Value| call(&agent, "POST", &server.url(path), token, Some(&body));
    assert_eq!(post("/user/login", None, json!({"email": "pat@example.com", "password": "patpw"})).status, 200);
    assert_eq!(post("/v1/auth", None, json!({"username": "teacher", "password": "teacherpw"})).status, 200);
    let url = server.url("/api/v3/projects");
    let (id, secret) = (f.instructor["api_id"].as_str().unwrap(), f.instructor["api_key"].as_str().unwrap());
    let auth = common::cs_sha1_header(id, secret, &url, jiff::Timestamp::now().as_second(), "copiednon");
    let mut res = agent.get(&url).header("authorization", &auth).call().unwrap();
    let text = res.body_mut().read_to_string().unwrap();
    assert!(res.status() == 200 && text.contains("\"name\":\"SDK\""), "{text}");
    // New rows continue after the copied ids.
    let class = post(&format!("/partner/{pid}/classes"), Some(&ptoken), json!({"name": "After the move"}));
    assert_eq!(class.status, 201, "{}", class.text);
    assert!(class.body["id"].as_i64().unwrap() > class_id);
    server.stop();
}
