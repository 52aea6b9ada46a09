//! Every operation on the store, written once over the primitives of [`crate::engine`].
//!
//! Each write has one shape: load the facts inside the transaction — the class row first,
//! locked (`class_for_update`), then what hangs off it — let the core decide, then apply
//! the decision with statements whose affected-row counts are checked (a row that is not
//! there to change makes the transaction run again and decide afresh). Uniqueness rules are
//! also unique indexes, so a decision made on facts a concurrent commit changed ends in a
//! constraint error, a rerun, and the rule's own answer.
//!
//! **Lock order**, kept by every script so that no two can wait on each other in a cycle:
//! 0. throttle counters, in key order (a redemption reserves its attempt first);
//! 1. classes — one, or several in ascending id order;
//! 2. the rows of those classes: codes, memberships, lab settings, links;
//! 3. users: a class's owner (its class count) and members, then accounts whose attributes
//!    change.
//!
//! Account writes (`accounts`) lock the email verification they use before its user.
//!
//! Scripts that create a class hold no class lock before they insert it; scripts about a
//! user alone (accounts, tokens) lock only that user.
//!
//! Courses (`catalog`): a course's update locks the course alone; its deletion locks the
//! course, then the classes that name it (ascending). Class writes never lock a course:
//! their foreign key check only key-shares the course a class newly names, which that class
//! cannot already be among the ones a deletion locks — so no cycle forms. A course's
//! creation locks its partner (the user), so one partner's keys are decided in turn.

pub mod accounts;
pub mod catalog;
pub mod check;
pub mod classes;
pub mod idempotency;
pub mod invites;
pub mod lab;
pub mod ocariot;
pub mod outbox;
pub mod roster;
pub mod security;
pub mod students;
pub mod users;

use classhub_core::audit::{Action, Context, NewAuditEvent};
use classhub_core::class::Class;
use classhub_core::invite::{self, InviteCode, Membership, NewCodeSettings};
use classhub_core::{ClassId, UserId};
use serde::Serialize;

use crate::engine::{NewCode, Tx};
use crate::{Result, StoreError};

/// Records an event with snapshots of `before` and `after`.
pub(crate) async fn audit<T: Tx, S: Serialize>(
    tx: &T,
    ctx: &Context,
    action: Action,
    class: Option<ClassId>,
    entity: i64,
    before: Option<&S>,
    after: Option<&S>,
) -> Result<()> {
    tx.insert_audit(ctx, &NewAuditEvent::of(action, class, entity, before, after)).await
}

/// A read made only when there is something to read (an id the request named), for reads
/// sent together with others.
pub(crate) async fn read_if<T>(read: Option<impl Future<Output = Result<Option<T>>>>) -> Result<Option<T>> {
    match read {
        Some(read) => read.await,
        None => Ok(None),
    }
}

/// A write made only when `needed`, for writes sent together with others.
pub(crate) async fn write_if(needed: bool, write: impl Future<Output = Result<()>>) -> Result<()> {
    if needed { write.await } else { Ok(()) }
}

/// Replaces the locked `current` class by `next` and records the change; both statements
/// go out together (one round trip on PostgreSQL).
pub(crate) async fn update_class<T: Tx>(tx: &T, ctx: &Context, current: &Class, next: &Class) -> Result<()> {
    let recorded = audit(tx, ctx, Action::ClassUpdate, Some(current.id), current.id.0, Some(current), Some(next));
    tokio::try_join!(tx.update_class(current, next), recorded).map(drop)
}

/// Creates an invite code with a fresh random value and records it. Values are unique
/// among all codes (a unique index); a collision draws again.
pub(crate) async fn insert_new_code<T: Tx>(
    tx: &mut T,
    ctx: &Context,
    class_id: ClassId,
    created_by: UserId,
    settings: NewCodeSettings,
    length: usize,
) -> Result<InviteCode> {
    let NewCodeSettings { target_role, max_uses, expires_at } = settings;
    let value = loop {
        let candidate = invite::generate_code(&mut rand::rng(), length);
        if !tx.code_exists(&candidate).await? {
            break candidate;
        }
    };
    let code = tx
        .insert_code(NewCode { class_id, code: &value, target_role, max_uses, expires_at, created_by }, ctx.now)
        .await?;
    audit(tx, ctx, Action::InviteCodeCreate, Some(class_id), code.id.0, None, Some(&code)).await?;
    Ok(code)
}

/// Removes a member (whose class the caller has locked): the membership, the seat it held,
/// and the record of it.
pub(crate) async fn remove_member<T: Tx>(tx: &mut T, ctx: &Context, m: &Membership) -> Result<()> {
    if !tx.delete_membership(m.id).await? {
        return Err(StoreError::Retry(format!("membership {} vanished", m.id)));
    }
    if classhub_core::roster::frees_seat(m) {
        tx.free_seat(m.class_id).await?;
    }
    audit(tx, ctx, Action::MembershipDelete, Some(m.class_id), m.id.0, Some(m), None).await
}
