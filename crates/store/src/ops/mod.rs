//! Every operation on the store, written once over the engine trait: load what the rules
//! need, let the core decide, write the outcome and its audit event.

pub mod catalog;
pub mod classes;
pub mod invites;
pub mod lab;
pub mod ocariot;

pub mod roster;
pub mod users;

use classhub_core::audit::{Action, Context, NewAuditEvent};
use classhub_core::invite::{self, InviteCode, NewCodeSettings};
use classhub_core::{ClassId, UserId};

use crate::Result;
use crate::engine::{NewCode, Tx};

/// Creates an invite code with a fresh random value and records it. Values are unique
/// among all codes; a collision draws again.
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
    let event = NewAuditEvent::of(Action::InviteCodeCreate, Some(class_id), code.id.0, None, Some(&code));
    tx.insert_audit(ctx, &event).await?;
    Ok(code)
}
