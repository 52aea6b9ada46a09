//! Upgrading a database made before the one-rulebook migration (V4), on both engines: every
//! row survives, each class gets its kind, and what the old races could leave behind —
//! seat counts that drifted from the roster, an oversold class, a code used beyond its
//! limit, two groups of one owner with one name, two students of one class with one email
//! — is repaired so that the new constraints hold and `BrokenInvariants` reports nothing.
//! And upgrading past V10: sign-in sessions made before it expire; API tokens do not.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use classhub_core::ClassId;
use classhub_core::audit::Context;
use classhub_core::class::{ClassKind, ClassPatch};
use classhub_core::patch::Patch;
use classhub_core::{DomainError, UserId};
use classhub_store::engine::ClassFilter;
use classhub_store::ops::check::BrokenInvariants;
use classhub_store::ops::classes::{CreateClass, DeleteClass, ListClasses};
use classhub_store::{Store, StoreError, StoreOptions};

/// The rows an old database could hold, in V3's schema. `{T}` is an instant, `{N}`/`{Y}`
/// false and true, in the engine's own representation.
const OLD_ROWS: &str = "
INSERT INTO users (id, kind, name, email, class_count, created_at) VALUES
    (1, 'partner', 'Pat', 'pat@example.com', 1, {T}),
    (2, 'educator', 'Edu', NULL, 2, {T}),
    (3, 'project_member', 'Ida', 'ida@example.com', 1, {T}),
    (4, 'class_student', 'Ann', 'Dup@Example.com', 0, {T}),
    (5, 'class_student', 'Bob', 'dup@example.com', 0, {T}),
    (6, 'student', 'Sam', 's6@example.com', 0, {T}),
    (7, 'student', 'Sue', 's7@example.com', 0, {T}),
    (8, 'student', 'Sid', 's8@example.com', 0, {T}),
    (9, 'child', 'Kid', NULL, 0, {T});
INSERT INTO classes (id, owner_id, name, capacity, member_count, created_at, updated_at) VALUES
    (1, 1, 'Oversold', 2, 1, {T}, {T}),
    (2, 2, 'G', NULL, 1, {T}, {T}),
    (3, 2, 'G', NULL, 0, {T}, {T}),
    (4, 3, 'Lab', NULL, 2, {T}, {T});
INSERT INTO invite_codes (id, class_id, code, target_role, used_count, max_uses, created_by, created_at) VALUES
    (1, 1, 'ABCDEFGH', 'student', 3, 3, 1, {T});
INSERT INTO memberships (id, class_id, user_id, role, position, joined_at, invite_code_id) VALUES
    (1, 1, 6, 'student', 1, {T}, 1),
    (2, 1, 7, 'student', 2, {T}, 1),
    (3, 1, 8, 'student', 3, {T}, 1),
    (4, 2, 9, 'student', 1, {T}, NULL),
    (5, 4, 3, 'instructor', 1, {T}, NULL),
    (6, 4, 4, 'student', 2, {T}, NULL),
    (7, 4, 5, 'student', 3, {T}, NULL);
INSERT INTO projects (id, name, created_at) VALUES (1, 'Labs', {T});
INSERT INTO policies (id, project_id, name, default_duration_minutes, created_at) VALUES (1, 1, '2h', 120, {T});
INSERT INTO blueprints (id, project_id, name, token, created_at) VALUES (1, 1, 'Linux', 'ABCDEF', {T});
INSERT INTO project_members (id, project_id, user_id, can_instruct, created_at) VALUES (1, 1, 3, {Y}, {T});
INSERT INTO labs (class_id, project_id, blueprint_id, policy_id, short_id, windows_zone, passphrase,
                  limit_early_access, use_custom_invitation_email, permit_non_registered, field_values,
                  self_paced, allow_multiple_student_login)
    VALUES (4, 1, 1, 1, 'ab12c', 'UTC', 'pw', 0, {N}, {N}, '[]', {N}, {N});
";

const CHECKS: &str = "
SELECT 'kinds' AS what, (SELECT string_agg(kind, ',' ORDER BY id) FROM classes) AS got
UNION ALL SELECT 'names', (SELECT string_agg(name, ',' ORDER BY id) FROM classes)
UNION ALL SELECT 'seats', (SELECT string_agg(CAST(member_count AS TEXT) || '/' || COALESCE(CAST(capacity AS TEXT), '-'), ',' ORDER BY id) FROM classes)
UNION ALL SELECT 'emails', (SELECT string_agg(COALESCE(email, '-'), ',' ORDER BY id) FROM memberships)
UNION ALL SELECT 'uses', (SELECT CAST(used_count AS TEXT) || '/' || CAST(max_uses AS TEXT) FROM invite_codes)
UNION ALL SELECT 'users', (SELECT CAST(COUNT(*) AS TEXT) FROM users)
";

const EXPECTED: [(&str, &str); 6] = [
    ("kinds", "class,group,group,lab"),
    // The second group of one name gets its id added.
    ("names", "Oversold,G,G (3),Lab"),
    // Counts recounted; the oversold class's capacity becomes its roster.
    ("seats", "3/3,1/-,0/-,2/-"),
    // Lab students' emails, lower-cased; the second of one class with one email keeps none.
    ("emails", "-,-,-,-,-,dup@example.com,-"),
    ("uses", "3/3"),
    ("users", "9"),
];

async fn open(url: &str, version: Option<u32>) -> Store {
    let mut opts = StoreOptions::new(url);
    opts.schema_version = version;
    Store::open(&opts).await.unwrap()
}

/// After the upgrade: invariants hold, and ids are never reused (a class made after the
/// newest one was deleted gets a new id).
async fn holds_after_upgrade(store: &Store) {
    assert_eq!(store.read(BrokenInvariants).await.unwrap(), Vec::<String>::new());
    let ctx = || Context::new(Some(UserId(1)), None);
    let patch = ClassPatch { name: Patch::Set("New".into()), ..ClassPatch::default() };
    let make = || CreateClass { ctx: ctx(), owner: UserId(1), patch: patch.clone(), code_length: 8 };
    let first = store.write(make()).await.unwrap().class;
    assert_eq!((first.id, first.kind), (ClassId(5), ClassKind::Class));
    store.write(DeleteClass { ctx: ctx(), owner: UserId(1), class_id: first.id, if_match: None }).await.unwrap();
    let second = store.write(make()).await.unwrap().class;
    assert_eq!(second.id, ClassId(6), "the deleted class's id is not given again");
    let page = store.read(ListClasses {
        owner: UserId(1),
        filter: ClassFilter::default(),
        page: Default::default(),
        after: None,
    });
    assert_eq!(page.await.unwrap().total, 2);
    // A duplicate group name is now refused by the database itself (and by the rules first).
    let dup = store.write(classhub_store::ops::ocariot::CreateGroup {
        ctx: Context::new(Some(UserId(2)), None),
        owner: UserId(2),
        name: "G".into(),
        school_class: None,
        children: vec![UserId(9)],
    });
    assert!(matches!(dup.await, Err(StoreError::Domain(DomainError::AlreadyExists(_)))));
    assert_eq!(store.read(BrokenInvariants).await.unwrap(), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_database_of_v3_upgrades() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    let url = format!("sqlite://{}", path.display());
    open(&url, Some(3)).await.close().await;
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(&OLD_ROWS.replace("{T}", "0").replace("{N}", "0").replace("{Y}", "1")).unwrap();
    drop(conn);
    let store = open(&url, None).await;
    let conn = rusqlite::Connection::open(&path).unwrap();
    let checks = CHECKS.replace("string_agg(", "group_concat(").replace(" ORDER BY id)", ")");
    let mut stmt = conn.prepare(&checks).unwrap();
    let got: Vec<(String, String)> =
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().collect::<Result<_, _>>().unwrap();
    let got: Vec<(&str, &str)> = got.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    assert_eq!(got, EXPECTED);
    holds_after_upgrade(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(classhub_pg), ignore = "set CLASSHUB_TEST_POSTGRES_URL to run on PostgreSQL")]
async fn a_postgres_database_of_v3_upgrades() {
    let schema = classhub_testkit::PgSchema::create().await;
    open(&schema.url, Some(3)).await.close().await;
    let (client, conn) = tokio_postgres::connect(&schema.url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(conn);
    let rows = OLD_ROWS.replace("{T}", "now()").replace("{N}", "false").replace("{Y}", "true");
    client.batch_execute(&rows).await.unwrap_or_else(|e| panic!("{e}"));
    // Identities continue after the ids given by hand, as they would have.
    for table in
        ["users", "classes", "memberships", "invite_codes", "projects", "policies", "blueprints", "project_members"]
    {
        client
            .batch_execute(&format!(
                "SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT MAX(id) FROM {table}))"
            ))
            .await
            .unwrap();
    }
    let store = open(&schema.url, None).await;
    let rows = client.query(CHECKS, &[]).await.unwrap();
    let got: Vec<(String, String)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    let got: Vec<(&str, &str)> = got.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    assert_eq!(got, EXPECTED);
    holds_after_upgrade(&store).await;
}

// ---- V10: sessions expire ----------------------------------------------------------------

/// A V9 database's tokens: an administrator's API token, and a sign-in (its access token
/// named by its refresh token), made at `{T}`; `{API}`, `{SESSION}`, `{REFRESH}` are hashes.
const V9_TOKENS: &str = "
INSERT INTO users (id, kind, name, email, created_at) VALUES (1, 'student', 'Sam', 'sam@example.com', {T});
INSERT INTO tokens (hash, user_id, created_at) VALUES ({API}, 1, {T}), ({SESSION}, 1, {T});
INSERT INTO refresh_tokens (hash, user_id, access_hash, created_at) VALUES ({REFRESH}, 1, {SESSION}, {T});
";
const API: &str = "chk_api";
const SESSION: &str = "chk_session";

fn refresh_token() -> String {
    format!("{}{}", classhub_core::account::REFRESH_PREFIX, "A".repeat(43))
}

/// Made at this instant (seconds since the epoch).
const MADE: i64 = 1_700_000_000;

fn v9_tokens(hash: impl Fn(&[u8]) -> String, instant: &str) -> String {
    use classhub_core::{account, user};
    V9_TOKENS
        .replace("{T}", instant)
        .replace("{API}", &hash(&user::token_hash(API)))
        .replace("{SESSION}", &hash(&user::token_hash(SESSION)))
        .replace("{REFRESH}", &hash(&account::secret_hash(&refresh_token())))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The session made before V10 ends 8 hours after it was made, its refresh token 7 days
/// after (the defaults); the API token lives on.
async fn sessions_expire_after_upgrade(store: &Store) {
    use classhub_core::account::{AccountRefusal, SessionTtl};
    use classhub_store::ops::accounts::Refresh;
    use classhub_store::ops::users::Authenticate;
    let at = |secs: i64| jiff::Timestamp::from_second(MADE + secs).unwrap();
    let who = |token: &'static str, now| store.read(Authenticate { token, now });
    assert_eq!(who(SESSION, at(8 * 3600 - 1)).await.unwrap().map(|p| p.user_id), Some(UserId(1)));
    assert_eq!(who(SESSION, at(8 * 3600)).await.unwrap(), None);
    assert!(who(API, at(3650 * 24 * 3600)).await.unwrap().is_some());
    let refresh = |now| Refresh { token: refresh_token(), ttl: SessionTtl::default(), now };
    assert_eq!(store.write(refresh(at(7 * 24 * 3600))).await.unwrap(), Err(AccountRefusal::InvalidRefreshToken));
    assert!(store.write(refresh(at(24 * 3600))).await.unwrap().is_ok());
    assert_eq!(store.read(BrokenInvariants).await.unwrap(), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_sessions_of_v9_expire() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v9.db");
    let url = format!("sqlite://{}", path.display());
    open(&url, Some(9)).await.close().await;
    let rows = v9_tokens(|h| format!("x'{}'", hex(h)), &(MADE * 1_000_000).to_string());
    rusqlite::Connection::open(&path).unwrap().execute_batch(&rows).unwrap();
    sessions_expire_after_upgrade(&open(&url, None).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(classhub_pg), ignore = "set CLASSHUB_TEST_POSTGRES_URL to run on PostgreSQL")]
async fn postgres_sessions_of_v9_expire() {
    let schema = classhub_testkit::PgSchema::create().await;
    open(&schema.url, Some(9)).await.close().await;
    let (client, conn) = tokio_postgres::connect(&schema.url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(conn);
    let rows = v9_tokens(|h| format!("'\\x{}'::bytea", hex(h)), &format!("to_timestamp({MADE})"));
    client.batch_execute(&rows).await.unwrap_or_else(|e| panic!("{e}"));
    sessions_expire_after_upgrade(&open(&schema.url, None).await).await;
}
