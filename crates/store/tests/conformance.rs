//! One conformance suite for the store, run against every engine.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use classhub_core::DomainError;
use classhub_core::audit::Context;
use classhub_core::class::{ClassPatch, IfMatch};
use classhub_core::error::Entity;
use classhub_core::invite::CodeRequest;
use classhub_core::page::PageRequest;
use classhub_core::patch::Patch;
use classhub_core::user::{NewUser, UserKind};
use classhub_core::{ClassId, UserId};
use classhub_store::engine::ClassFilter;
use classhub_store::ops::classes::{ClassHistory, CreateClass, DeleteClass, GetClass, ListClasses, UpdateClass};
use classhub_store::ops::invites::{CreateCode, Redeem};
use classhub_store::ops::roster::ListStudents;
use classhub_store::ops::users::{Authenticate, CreateUser, IsEmpty, RevokeToken};
use classhub_store::{Store, StoreError, StoreOptions};

struct Engine {
    store: Arc<Store>,
    url: String,
    _dir: Option<tempfile::TempDir>,
    _schema: Option<classhub_testkit::PgSchema>,
}

async fn sqlite() -> Engine {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("c.db").display());
    let store = Arc::new(Store::open(&StoreOptions::new(&url)).await.unwrap());
    Engine { store, url, _dir: Some(dir), _schema: None }
}

async fn postgres() -> Engine {
    let schema = classhub_testkit::PgSchema::create().await;
    let url = schema.url.clone();
    let store = Arc::new(Store::open(&StoreOptions::new(&url)).await.unwrap());
    Engine { store, url, _dir: None, _schema: Some(schema) }
}

fn ctx(actor: Option<UserId>) -> Context {
    Context::new(actor, Some("test".into()))
}

async fn partner(store: &Store) -> (UserId, String) {
    let user = NewUser::named(UserKind::Partner, "P", Some("p@example.com".into()));
    let (u, token) = store.write(CreateUser { ctx: ctx(None), user }).await.unwrap();
    (u.id, token)
}

fn named(name: &str) -> ClassPatch {
    ClassPatch { name: Patch::Set(name.into()), ..ClassPatch::default() }
}

fn create(owner: UserId, patch: ClassPatch) -> CreateClass {
    CreateClass { ctx: ctx(Some(owner)), owner, patch, code_length: 8 }
}

fn domain(e: StoreError) -> DomainError {
    match e {
        StoreError::Domain(d) => d,
        other => panic!("expected a domain error, got {other:?}"),
    }
}

async fn tokens_authenticate_until_revoked(e: Engine) {
    assert!(e.store.read(IsEmpty).await.unwrap());
    let (id, token) = partner(&e.store).await;
    assert!(!e.store.read(IsEmpty).await.unwrap());
    let p = e.store.read(Authenticate { token: &token }).await.unwrap().unwrap();
    assert_eq!((p.user_id, p.kind), (id, UserKind::Partner));
    assert_eq!(e.store.read(Authenticate { token: "chk_other" }).await.unwrap(), None);
    e.store.write(RevokeToken { ctx: ctx(None), token: token.clone() }).await.unwrap();
    assert_eq!(e.store.read(Authenticate { token: &token }).await.unwrap(), None);
    let again = e.store.write(RevokeToken { ctx: ctx(None), token }).await.unwrap_err();
    assert_eq!(domain(again), DomainError::NotFound(Entity::Token));
}

async fn classes_round_trip(e: Engine) {
    let (owner, _) = partner(&e.store).await;
    let mut patch = named("Round trip");
    patch.capacity = Patch::Set(12);
    patch.timezone = Patch::Set("Asia/Seoul".into());
    let created = e.store.write(create(owner, patch)).await.unwrap();
    assert_eq!(created.class.version, 1);
    assert_eq!(created.codes.len(), 1);
    let read = e.store.read(GetClass { owner, class_id: created.class.id }).await.unwrap();
    assert_eq!(read, created);
    let other = UserId(owner.0 + 1000);
    let hidden = e.store.read(GetClass { owner: other, class_id: created.class.id }).await.unwrap_err();
    assert_eq!(domain(hidden), DomainError::NotFound(Entity::Class));

    let update = |if_match| UpdateClass {
        ctx: ctx(Some(owner)),
        owner,
        class_id: created.class.id,
        patch: ClassPatch { capacity: Patch::Clear, ..ClassPatch::default() },
        if_match,
    };
    let stale = e.store.write(update(Some(IfMatch::OneOf(vec![7])))).await.unwrap_err();
    assert_eq!(domain(stale), DomainError::VersionMismatch { current: 1 });
    let updated = e.store.write(update(Some(IfMatch::OneOf(vec![1])))).await.unwrap();
    assert_eq!((updated.class.version, updated.class.fields.capacity), (2, None));
    let history =
        e.store.read(ClassHistory { owner, class_id: created.class.id, page: PageRequest::default() }).await.unwrap();
    let actions: Vec<&str> = history.items.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["class.update", "invite_code.create", "class.create"]);

    e.store
        .write(DeleteClass { ctx: ctx(Some(owner)), owner, class_id: created.class.id, if_match: None })
        .await
        .unwrap();
    let gone = e.store.read(GetClass { owner, class_id: created.class.id }).await.unwrap_err();
    assert_eq!(domain(gone), DomainError::NotFound(Entity::Class));
}

/// Many concurrent writes share group commits; a refused one leaves the others intact.
async fn a_refused_write_does_not_spoil_its_group(e: Engine) {
    let (owner, _) = partner(&e.store).await;
    let mut tasks = Vec::new();
    for i in 0..200 {
        let store = e.store.clone();
        tasks.push(tokio::spawn(async move {
            // Every third class has an invalid capacity and must leave no trace.
            let mut patch = named(&format!("c{i}"));
            patch.capacity = Patch::Set(if i % 3 == 0 { 0 } else { 10 });
            store.write(create(owner, patch)).await
        }));
    }
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => ok += 1,
            Err(err) => assert!(matches!(domain(err), DomainError::Invalid(_))),
        }
    }
    assert_eq!(ok, 133);
    let page = PageRequest { limit: 100, offset: 0 };
    let list = e.store.read(ListClasses { owner, filter: ClassFilter::default(), page }).await.unwrap();
    assert_eq!(list.total, 133);
    assert!(list.items.iter().all(|v| v.class.fields.capacity == Some(10) && v.codes.len() == 1));
    // Newest first, id breaking ties; consecutive pages neither repeat nor skip a row.
    let mut seen: Vec<(jiff::Timestamp, ClassId)> = Vec::new();
    for offset in (0..140).step_by(7) {
        let page = PageRequest { limit: 7, offset };
        let list = e.store.read(ListClasses { owner, filter: ClassFilter::default(), page }).await.unwrap();
        seen.extend(list.items.iter().map(|v| (v.class.created_at, v.class.id)));
    }
    let mut expected = seen.clone();
    expected.sort_by(|a, b| b.cmp(a));
    expected.dedup();
    assert_eq!(seen, expected);
    assert_eq!(seen.len(), 133);
}

async fn committed_writes_survive_reopening(e: Engine) {
    let (owner, token) = partner(&e.store).await;
    let created = e.store.write(create(owner, named("durable"))).await.unwrap();
    e.store.close().await;
    let reopened = Store::open(&StoreOptions::new(&e.url)).await.unwrap();
    assert!(reopened.read(Authenticate { token: &token }).await.unwrap().is_some());
    let read = reopened.read(GetClass { owner, class_id: created.class.id }).await.unwrap();
    assert_eq!(read, created);
    // After close the old handle refuses writes instead of losing them.
    let refused = e.store.write(create(owner, named("late"))).await.unwrap_err();
    assert!(matches!(refused, StoreError::Unavailable(_)), "{refused:?}");
    reopened.close().await;
}

async fn student(store: &Store, i: usize) -> UserId {
    let user = NewUser::named(UserKind::Student, format!("s{i}"), Some(format!("s{i}@example.com")));
    store.write(CreateUser { ctx: ctx(None), user }).await.unwrap().0.id
}

/// Concurrent redemptions take exactly the free seats and uses; nobody joins twice.
async fn redemptions_race_for_seats_and_uses(e: Engine) {
    let (owner, _) = partner(&e.store).await;
    let mut patch = named("race");
    patch.capacity = Patch::Set(10);
    let class = e.store.write(create(owner, patch)).await.unwrap();
    let limited = e
        .store
        .write(CreateCode {
            ctx: ctx(Some(owner)),
            owner,
            class_id: class.class.id,
            request: CodeRequest { max_uses: Patch::Set(4), ..CodeRequest::default() },
            code_length: 8,
        })
        .await
        .unwrap();
    let mut students = Vec::new();
    for i in 0..60 {
        students.push(student(&e.store, i).await);
    }
    let open = class.codes[0].code.clone();
    let mut tasks = Vec::new();
    for (i, s) in students.iter().enumerate() {
        // Each student tries twice at once; the second try must not take a second seat.
        for _ in 0..2 {
            let store = e.store.clone();
            let code = if i % 3 == 0 { limited.code.clone() } else { open.clone() };
            let s = *s;
            tasks.push(tokio::spawn(async move { store.write(Redeem { ctx: ctx(Some(s)), student: s, code }).await }));
        }
    }
    let (mut created, mut refused) = (0, 0);
    for t in tasks {
        match t.await.unwrap() {
            Ok(e) if e.created => created += 1,
            Ok(_) => {}
            Err(err) => {
                assert!(matches!(domain(err), DomainError::ClassFull | DomainError::CodeUnavailable(_)));
                refused += 1;
            }
        }
    }
    assert_eq!(created, 10);
    assert!(refused > 0);
    let members =
        e.store.read(ListStudents { owner, class_id: class.class.id, page: PageRequest::default() }).await.unwrap();
    assert_eq!(members.total, 10);
    let codes = e.store.read(GetClass { owner, class_id: class.class.id }).await.unwrap().codes;
    let used: u32 = codes.iter().map(|c| c.used_count).sum();
    assert_eq!(used, 10, "every use made a member");
    assert!(codes.iter().all(|c| c.max_uses.is_none_or(|m| c.used_count <= m)));
    let history =
        e.store.read(ClassHistory { owner, class_id: class.class.id, page: PageRequest { limit: 100, offset: 0 } });
    let joined = history.await.unwrap().items.iter().filter(|e| e.action == "membership.create").count();
    assert_eq!(joined, 10);
}

macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::sqlite().await).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                #[cfg_attr(not(classhub_pg), ignore = "set CLASSHUB_TEST_POSTGRES_URL to run on PostgreSQL")]
                async fn $name() {
                    super::$name(super::postgres().await).await
                }
            )*
        }
    };
}

conformance!(
    tokens_authenticate_until_revoked,
    classes_round_trip,
    a_refused_write_does_not_spoil_its_group,
    committed_writes_survive_reopening,
    redemptions_race_for_seats_and_uses,
);
