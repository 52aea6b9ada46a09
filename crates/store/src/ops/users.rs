//! Users and their bearer tokens.

use classhub_core::audit::{Action, Context, NewAuditEvent};
use classhub_core::error::Entity;
use classhub_core::page::{Page, PageRequest};
use classhub_core::user::{self, NewUser, Principal, TokenKind, User, UserFilter};
use classhub_core::{ClassId, DomainError, UserId};
use jiff::Timestamp;

use super::audit;
use crate::engine::{Read, Tx};
use crate::{ReadOp, Result, StoreError, WriteOp};

/// Creates a user and a bearer token (an API token: good until revoked) for it. The token
/// is returned once; only its hash is stored.
pub struct CreateUser {
    pub ctx: Context,
    pub user: NewUser,
}

impl WriteOp for CreateUser {
    type Out = (User, String);
    async fn run<T: Tx>(&self, tx: &mut T) -> Result<(User, String)> {
        let new = self.user.clone().validated()?;
        let user = tx.insert_user(&new, self.ctx.now).await?;
        let token = user::new_token(&mut rand::rng());
        tx.insert_token(user.id, &user::token_hash(&token), TokenKind::Api, self.ctx.now).await?;
        let event = NewAuditEvent::of(Action::UserCreate, None, user.id.0, None, Some(&user));
        tx.insert_audit(&self.ctx, &event).await?;
        Ok((user, token))
    }
}

/// Who holds this bearer token, if it is live at `now` (neither revoked nor expired).
pub struct Authenticate<'a> {
    pub token: &'a str,
    pub now: Timestamp,
}

impl ReadOp for Authenticate<'_> {
    type Out = Option<Principal>;
    async fn run<R: Read>(&self, r: &R) -> Result<Option<Principal>> {
        let token = r.bearer_token(&user::token_hash(self.token)).await?;
        Ok(token.filter(|t| t.live_at(self.now)).map(|t| t.principal))
    }
}

/// A read on behalf of a bearer token's holder, sent with the token's check (one round
/// trip on PostgreSQL, one connection). The read is made before its caller is known, so
/// it must be one whose answer the caller's rights decide after: the handler shows it
/// only to a caller the token names and the route allows, and refuses anyone else.
pub struct AsCaller<'a, O> {
    pub token: &'a str,
    pub now: Timestamp,
    pub op: O,
}

impl<O: ReadOp> ReadOp for AsCaller<'_, O> {
    /// The token's holder, and the read's answer.
    type Out = (Option<Principal>, Result<O::Out>);
    async fn run<R: Read>(&self, r: &R) -> Result<Self::Out> {
        let check = Authenticate { token: self.token, now: self.now };
        let (caller, answer) = tokio::join!(check.run(r), self.op.run(r));
        Ok((caller?, answer))
    }
}

/// Revokes a bearer token; it stops working at once.
pub struct RevokeToken {
    pub ctx: Context,
    pub token: String,
}

impl WriteOp for RevokeToken {
    type Out = ();
    async fn run<T: Tx>(&self, tx: &mut T) -> Result<()> {
        let user = tx.revoke_token(&user::token_hash(&self.token), self.ctx.now).await?;
        let user = user.ok_or(DomainError::NotFound(Entity::Token))?;
        let event = NewAuditEvent::of::<()>(Action::TokenRevoke, None, user.0, None, None);
        tx.insert_audit(&self.ctx, &event).await
    }
}

/// Whether the database holds no users yet.
pub struct IsEmpty;

impl ReadOp for IsEmpty {
    type Out = bool;
    async fn run<R: Read>(&self, r: &R) -> Result<bool> {
        Ok(!r.has_users().await?)
    }
}

/// Users for an administrator, in id order.
pub struct ListUsers {
    pub filter: UserFilter,
    pub page: PageRequest,
}

impl ReadOp for ListUsers {
    type Out = Page<User>;
    async fn run<R: Read>(&self, r: &R) -> Result<Page<User>> {
        r.users_page(&self.filter, self.page).await
    }
}

/// Replaces a user's API tokens with a new one, shown once: the old ones stop working at
/// once. Sign-in sessions stay.
pub struct RotateToken {
    pub ctx: Context,
    pub user: UserId,
}

impl WriteOp for RotateToken {
    type Out = (User, String);
    async fn run<T: Tx>(&self, tx: &mut T) -> Result<(User, String)> {
        let user = tx.user_for_update(self.user).await?.ok_or(DomainError::NotFound(Entity::User))?;
        tx.revoke_api_tokens(user.id, self.ctx.now).await?;
        let token = user::new_token(&mut rand::rng());
        tx.insert_token(user.id, &user::token_hash(&token), TokenKind::Api, self.ctx.now).await?;
        let event = NewAuditEvent::of::<()>(Action::TokenRotate, None, user.id.0, None, None);
        tx.insert_audit(&self.ctx, &event).await?;
        Ok((user, token))
    }
}

/// Deletes a user of any kind: they leave every class they are in (freeing the seats);
/// the classes they own go with them, each audited.
pub struct DeleteUser {
    pub ctx: Context,
    pub user: UserId,
}

impl WriteOp for DeleteUser {
    type Out = ();
    async fn run<T: Tx>(&self, tx: &mut T) -> Result<()> {
        let user = tx.user(self.user).await?.ok_or(DomainError::NotFound(Entity::User))?;
        delete_user(tx, &self.ctx, user).await
    }
}

/// Deletes `user`, their memberships (through the seat rules) and the classes they own.
pub(crate) async fn delete_user<T: Tx>(tx: &mut T, ctx: &Context, user: User) -> Result<()> {
    // Classes first, in id order: the groups the user is in and those they own.
    let mut classes: Vec<ClassId> = tx.memberships_of(user.id).await?.iter().map(|m| m.class_id).collect();
    classes.extend(tx.classes_owned(user.id).await?.iter().map(|c| c.id));
    classes.sort_unstable();
    classes.dedup();
    for id in &classes {
        tx.class_for_update(*id).await?;
    }
    // Under those locks, what the user is in; a membership that appeared in a class
    // not locked yet makes the transaction start over.
    let memberships = tx.memberships_of(user.id).await?;
    if memberships.iter().any(|m| !classes.contains(&m.class_id)) {
        return Err(StoreError::Retry("the user joined a class while being deleted".into()));
    }
    for m in &memberships {
        super::remove_member(tx, ctx, m).await?;
    }
    for class in tx.classes_owned(user.id).await? {
        tx.delete_class(class.id).await?;
        audit(tx, ctx, Action::ClassDelete, Some(class.id), class.id.0, Some(&class), None).await?;
    }
    // A membership added since (no class lock can stop an insert into a class made
    // after the read above) keeps the user: the foreign key refuses, and the
    // transaction runs again.
    tx.delete_user(user.id).await?;
    audit(tx, ctx, Action::UserDelete, None, user.id.0, Some(&user), None).await
}
