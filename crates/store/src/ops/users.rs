//! Users and their bearer tokens.

use classhub_core::DomainError;
use classhub_core::audit::{Action, Context, NewAuditEvent};
use classhub_core::error::Entity;
use classhub_core::user::{self, NewUser, Principal, TokenKind, User};
use jiff::Timestamp;

use crate::engine::{Read, Tx};
use crate::{ReadOp, Result, WriteOp};

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
    async fn run<R: Read>(&self, r: &mut R) -> Result<Option<Principal>> {
        let token = r.bearer_token(&user::token_hash(self.token)).await?;
        Ok(token.filter(|t| t.live_at(self.now)).map(|t| t.principal))
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
    async fn run<R: Read>(&self, r: &mut R) -> Result<bool> {
        Ok(!r.has_users().await?)
    }
}
