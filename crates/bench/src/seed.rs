//! Seeding straight through the store (the server is not running yet): partners with their
//! classes and codes, the storm's students, the list partner, and the CloudShare and OCARIoT
//! principals. Writes are issued concurrently so the store's group commit batches them.

use std::path::Path;
use std::sync::Arc;

use classhub_core::audit::Context;
use classhub_core::class::ClassPatch;
use classhub_core::invite::CodeRequest;
use classhub_core::ocariot::{ChildProfile, Institution};

use classhub_core::patch::Patch;
use classhub_core::user::{NewUser, UserKind};
use classhub_core::{InstitutionId, UserId};
use classhub_store::ops::catalog::{CreateBlueprint, CreatePolicy, CreateProject, CreateProjectMember};
use classhub_store::ops::classes::CreateClass;
use classhub_store::ops::invites::CreateCode;
use classhub_store::ops::ocariot::{CreateAccount, CreateInstitution};
use classhub_store::ops::users::CreateUser;
use classhub_store::{Store, StoreError};
use futures::{StreamExt, TryStreamExt, stream};

/// Writes in flight at once while seeding.
const IN_FLIGHT: usize = 256;
pub const CODE_LENGTH: usize = 8;
pub const STORM_SEATS: i64 = 50;
pub const EDUCATOR_PASSWORD: &str = "bench-educator-password";

pub struct Partner {
    pub id: i64,
    pub token: String,
    pub classes: Vec<i64>,
}

pub struct CloudShare {
    pub api_id: String,
    pub api_key: String,
    pub project: String,
    pub policy: String,
    pub blueprint: String,
    pub instructor: String,
}

pub struct Seeded {
    pub partners: Vec<Partner>,
    /// The class of the redeem storm, its owner, and its one code.
    pub storm: (Partner, String),
    pub students: Vec<String>,
    /// The partner whose class list grows from 10,000 to 100,000 classes.
    pub lister: Partner,
    pub cloudshare: CloudShare,
    pub educator: (i64, String),
    /// A child of the educator's institution, for the groups.
    pub child: i64,
}

fn ctx() -> Context {
    Context::new(None, Some("bench".into()))
}

fn err(e: StoreError) -> String {
    format!("seeding: {e}")
}

async fn person(store: &Store, kind: UserKind, name: String) -> Result<(i64, String), String> {
    let email = format!("{}@bench.example", name.to_lowercase().replace(' ', "."));
    let (user, token) =
        store.write(CreateUser { ctx: ctx(), user: NewUser::named(kind, &name, Some(email)) }).await.map_err(err)?;
    Ok((user.id.0, token))
}

/// Creates `count` classes for `owner` (each with its default code, plus `extra_codes`).
pub async fn classes(
    store: &Arc<Store>,
    owner: i64,
    first: usize,
    count: usize,
    extra_codes: usize,
) -> Result<Vec<i64>, String> {
    stream::iter(first..first + count)
        .map(|n| {
            let store = store.clone();
            async move {
                let patch = ClassPatch {
                    name: Patch::Set(format!("Class {n}")),
                    capacity: Patch::Set(30),
                    timezone: Patch::Set("Europe/Berlin".into()),
                    ..ClassPatch::default()
                };
                let op = CreateClass { ctx: ctx(), owner: UserId(owner), patch, code_length: CODE_LENGTH };
                let class = store.write(op).await.map_err(err)?.class.id;
                for _ in 0..extra_codes {
                    let request = CodeRequest::default();
                    let op = CreateCode {
                        ctx: ctx(),
                        owner: UserId(owner),
                        class_id: class,
                        request,
                        code_length: CODE_LENGTH,
                    };
                    store.write(op).await.map_err(err)?;
                }
                Ok::<i64, String>(class.0)
            }
        })
        .buffered(IN_FLIGHT)
        .try_collect()
        .await
}

pub async fn all(
    store: &Arc<Store>,
    key_file: &Path,
    partners: usize,
    classes_total: usize,
    students: usize,
    list_size: usize,
) -> Result<Seeded, String> {
    let mut seeded_partners = Vec::new();
    for p in 0..partners {
        let (id, token) = person(store, UserKind::Partner, format!("Partner {p}")).await?;
        seeded_partners.push(Partner { id, token, classes: Vec::new() });
    }
    let per_partner = classes_total / partners.max(1);
    for (p, partner) in seeded_partners.iter_mut().enumerate() {
        partner.classes = classes(store, partner.id, p * per_partner, per_partner, 2).await?;
    }

    let (storm_owner, storm_token) = person(store, UserKind::Partner, "Storm Partner".into()).await?;
    let patch = ClassPatch {
        name: Patch::Set("Storm".into()),
        capacity: Patch::Set(STORM_SEATS),
        timezone: Patch::Set("Europe/Berlin".into()),
        ..ClassPatch::default()
    };
    let op = CreateClass { ctx: ctx(), owner: UserId(storm_owner), patch, code_length: CODE_LENGTH };
    let view = store.write(op).await.map_err(err)?;
    let code = view.codes.first().map(|c| c.code.clone()).ok_or("the storm class has no code")?;
    let storm = (Partner { id: storm_owner, token: storm_token, classes: vec![view.class.id.0] }, code);

    let students = stream::iter(0..students)
        .map(|n| person(store, UserKind::Student, format!("Student {n}")))
        .buffered(IN_FLIGHT)
        .map_ok(|(_, token)| token)
        .try_collect()
        .await?;

    let (lister_id, lister_token) = person(store, UserKind::Partner, "List Partner".into()).await?;
    let lister_classes = classes(store, lister_id, 0, list_size, 0).await?;
    let lister = Partner { id: lister_id, token: lister_token, classes: lister_classes };

    let cloudshare = cloudshare(store, key_file).await?;
    let (educator, child) = educator(store).await?;
    Ok(Seeded { partners: seeded_partners, storm, students, lister, cloudshare, educator, child })
}

async fn cloudshare(store: &Store, key_file: &Path) -> Result<CloudShare, String> {
    use classhub_cloudshare::ids::{Kind, encode};
    let project = store.write(CreateProject { ctx: ctx(), name: "Bench project".into() }).await.map_err(err)?;
    let policy =
        CreatePolicy { ctx: ctx(), project: project.id, name: "2 hours".into(), default_duration_minutes: 120 };
    let policy = store.write(policy).await.map_err(err)?;
    let blueprint = CreateBlueprint { ctx: ctx(), project: project.id, name: "Linux lab".into(), description: None };
    let blueprint = store.write(blueprint).await.map_err(err)?;
    let member = CreateProjectMember {
        ctx: ctx(),
        name: "Bench Instructor".into(),
        email: "instructor@bench.example".into(),
        projects: vec![project.id],
        rights: classhub_core::lab::MemberRights::new(true, true),
        secrets: classhub::cli::server_key(store, key_file).await?,
    };
    let member = store.write(member).await.map_err(err)?;
    let vup = member.memberships.values().next().ok_or("the instructor has no membership")?;
    Ok(CloudShare {
        api_id: member.api_id,
        api_key: member.api_key,
        project: encode(Kind::Project, project.id.0),
        policy: encode(Kind::Policy, policy.id.0),
        blueprint: encode(Kind::Blueprint, blueprint.id.0),
        instructor: encode(Kind::Member, vup.0),
    })
}

/// An OCARIoT educator who signs in with [`EDUCATOR_PASSWORD`] (id and username), and a
/// child of the same institution.
async fn educator(store: &Store) -> Result<((i64, String), i64), String> {
    let institution = Institution {
        id: InstitutionId(0),
        kind: "School".into(),
        name: "Bench school".into(),
        address: None,
        latitude: None,
        longitude: None,
    };
    let institution = store.write(CreateInstitution { ctx: ctx(), institution }).await.map_err(err)?;
    let username = "bench-educator".to_string();
    let educator_hash = Some(classhub_core::password::hash(EDUCATOR_PASSWORD)?);
    let user = NewUser {
        username: Some(username.clone()),
        password_hash: educator_hash.clone(),
        institution_id: Some(institution.id),
        ..NewUser::named(UserKind::Educator, &username, None)
    };
    let educator = store.write(CreateAccount { ctx: ctx(), user, children: Vec::new() }).await.map_err(err)?;
    let profile = ChildProfile { gender: "female".into(), age: "10".into(), ..ChildProfile::default() };
    let child = NewUser {
        username: Some("BENCH0001".into()),
        password_hash: educator_hash,
        institution_id: Some(institution.id),
        profile: Some(profile.to_profile()),
        ..NewUser::named(UserKind::Child, "BENCH0001", None)
    };
    let child = store.write(CreateAccount { ctx: ctx(), user: child, children: Vec::new() }).await.map_err(err)?;
    Ok(((educator.id.0, username), child.id.0))
}

/// Grows the database by `classes` classes of a partner of their own and `events` audit
/// events spread evenly over those classes (each event a class change, as PATCH records
/// it). One statement each, straight into the database: through the store's operations a
/// million classes and ten million events would take hours on this machine; these rows
/// only need to be there, as a deployment's years of history would be.
pub async fn grow(store: &Store, url: &str, classes: usize, events: usize) -> Result<(), String> {
    let (owner, _) = person(store, UserKind::Partner, "Crowd Partner".into()).await?;
    let per_class = i64::try_from(events / classes.max(1)).map_err(|e| e.to_string())?;
    let classes = i64::try_from(classes).map_err(|e| e.to_string())?;
    let after = r#"{"name":"Crowd class","status":null,"description":"Grown by the benchmark","capacity":30}"#;
    match url.strip_prefix("sqlite://") {
        Some(path) => {
            let conn = rusqlite::Connection::open(path).map_err(|e| format!("{path}: {e}"))?;
            let now = jiff::Timestamp::now().as_microsecond();
            let series = "WITH RECURSIVE g(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM g WHERE x < ?1) ";
            let sql = [
                format!(
                    "{series}INSERT INTO classes (owner_id, kind, name, capacity, created_at, updated_at) \
                     SELECT ?2, 'class', 'Crowd class ' || x, 30, ?3, ?3 FROM g"
                ),
                "UPDATE users SET class_count = class_count + ?1 WHERE id = ?2".into(),
                format!(
                    "{series}INSERT INTO audit_events (at, actor_id, action, class_id, entity_id, before, after) \
                     SELECT ?3, ?2, 'class.update', c.id, c.id, ?4, ?4 FROM classes c, g WHERE c.owner_id = ?2"
                ),
            ];
            let tx = conn.unchecked_transaction().map_err(|e| e.to_string())?;
            tx.execute(&sql[0], rusqlite::params![classes, owner, now]).map_err(|e| e.to_string())?;
            tx.execute(&sql[1], rusqlite::params![classes, owner]).map_err(|e| e.to_string())?;
            tx.execute(&sql[2], rusqlite::params![per_class, owner, now, after]).map_err(|e| e.to_string())?;
            tx.commit().map_err(|e| e.to_string())?;
            conn.execute_batch("ANALYZE").map_err(|e| e.to_string())
        }
        None => {
            let client = pg_client(url).await?;
            let sql = format!(
                "BEGIN; \
                 INSERT INTO classes (owner_id, kind, name, capacity, created_at, updated_at) \
                 SELECT {owner}, 'class', 'Crowd class ' || x, 30, now(), now() FROM generate_series(1, {classes}) x; \
                 UPDATE users SET class_count = class_count + {classes} WHERE id = {owner}; \
                 INSERT INTO audit_events (at, actor_id, action, class_id, entity_id, before, after) \
                 SELECT now(), {owner}, 'class.update', c.id, c.id, '{after}', '{after}' \
                 FROM classes c, generate_series(1, {per_class}) WHERE c.owner_id = {owner}; \
                 COMMIT"
            );
            client.batch_execute(&sql).await.map_err(|e| format!("growing the database: {e}"))
        }
    }
}

/// Writes out what a bulk load left dirty (PostgreSQL's `CHECKPOINT`, SQLite's WAL
/// checkpoint): otherwise its gigabytes would be flushed while the grown database is
/// measured, and its steady state is what counts, not loading's aftermath.
pub async fn checkpoint(url: &str) -> Result<(), String> {
    match url.strip_prefix("sqlite://") {
        Some(path) => {
            let conn = rusqlite::Connection::open(path).map_err(|e| format!("{path}: {e}"))?;
            conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).map_err(|e| e.to_string())
        }
        None => {
            let client = pg_client(url).await?;
            client.batch_execute("CHECKPOINT").await.map_err(|e| format!("CHECKPOINT: {e}"))
        }
    }
}

/// A connection of the benchmark's own to a PostgreSQL database, without TLS.
pub async fn pg_client(url: &str) -> Result<tokio_postgres::Client, String> {
    let (client, connection) =
        tokio_postgres::connect(url, tokio_postgres::NoTls).await.map_err(|e| format!("connecting to {url}: {e}"))?;
    tokio::spawn(connection);
    Ok(client)
}
