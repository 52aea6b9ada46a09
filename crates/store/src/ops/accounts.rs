//! Accounts (GrowFit): sign-up with an emailed code, sign-in and refresh, one's own account
//! and profile, and the passwords an administrator sets.
//!
//! Lock order (see the module above): throttle counters, then the email verification a
//! write uses, then the user; an account row changes only under its user's lock.

use classhub_core::account::{
    self, Account, AccountChange, AccountOutcome, AccountRefusal, AccountWrite, ChangeFacts, ChangePlan, NewEmailCode,
    PersonProfile, ProfileChange, SessionTtl, Verification,
};
use classhub_core::audit::{Action, Context, NewAuditEvent};
use classhub_core::error::Entity;
use classhub_core::user::{self, NewUser, TokenKind, User, UserKind};
use classhub_core::{DomainError, UserId};
use jiff::Timestamp;
use serde::Serialize;

use super::security::{self, ThrottleKey};
use crate::engine::{Read, Tx};
use crate::{ReadOp, Result, WriteOp};

fn since(now: Timestamp) -> Timestamp {
    now.checked_sub(account::VERIFIED_TTL).unwrap_or(now)
}

/// Sends a code to an email: the send counts against the throttle's keys (refused, it
/// writes nothing), the request is recorded (hashes only) and the email queued in the
/// outbox, all in one transaction. Returns the request's token, which only the caller gets.
pub struct SendEmailCode {
    /// The address as given (trimmed): where the email goes.
    pub to: String,
    /// Its key (lower-cased).
    pub email: String,
    pub throttle: Vec<ThrottleKey>,
    pub now: Timestamp,
}

impl WriteOp for SendEmailCode {
    type Out = String;
    async fn run<T: Tx>(&self, tx: &mut T) -> Result<String> {
        let locked = security::lock(tx, &self.throttle, self.now).await?;
        // Every code sent counts: sending is what the throttle bounds.
        security::count(tx, locked, false, self.now).await?;
        let token = account::new_secret(&mut rand::rng(), account::VERIFICATION_PREFIX);
        let code = account::new_code(&mut rand::rng());
        let expires_at = self.now.checked_add(account::CODE_TTL).unwrap_or(self.now);
        let request = NewEmailCode {
            token_hash: account::secret_hash(&token),
            email: self.email.clone(),
            code_hash: account::code_hash(&token, &code),
            expires_at,
        };
        tx.insert_email_code(&request, self.now).await?;
        tx.insert_outbox(&account::code_email(&self.to, &code), self.now).await?;
        Ok(token)
    }
}

/// Checks a code against the request its token names. A wrong code is counted (and the
/// count committed, a refusal being an outcome); the right one, in time, verifies the
/// email and answers a token naming the verification.
pub struct VerifyEmailCode {
    /// The key (lower-cased) of the email typed.
    pub email: String,
    pub code: String,
    pub token: String,
    pub now: Timestamp,
}

impl WriteOp for VerifyEmailCode {
    type Out = AccountOutcome<String>;
    async fn run<T: Tx>(&self, tx: &mut T) -> Result<AccountOutcome<String>> {
        if !account::plausible_secret(&self.token, account::VERIFICATION_PREFIX) {
            return Ok(Err(AccountRefusal::InvalidVerificationToken));
        }
        let request = tx.email_code_for_update(&account::secret_hash(&self.token)).await?;
        let typed = account::code_hash(&self.token, self.code.trim());
        match account::decide_verification(request.as_ref(), &self.email, &typed, self.now) {
            Verification::Verified(id) => {
                let verified = account::new_secret(&mut rand::rng(), account::VERIFIED_PREFIX);
                tx.mark_code_verified(id, &account::secret_hash(&verified), self.now).await?;
                Ok(Ok(verified))
            }
            Verification::WrongCode(id) => {
                let seen = request.map_or(0, |r| r.attempts);
                tx.count_code_attempt(id, seen).await?;
                Ok(Err(AccountRefusal::InvalidCode))
            }
            Verification::Refused(refusal) => Ok(Err(refusal)),
        }
    }
}

/// Whether a sign-up could go ahead, checked before its password is hashed: a sign-up
/// without a verified email costs no Argon2. [`SignUp`] decides again under locks.
pub struct SignupGate<'a> {
    pub email: &'a str,
    /// The hash of the verification token the client named, if it named one.
    pub token: Option<[u8; 32]>,
    pub now: Timestamp,
}

impl ReadOp for SignupGate<'_> {
    type Out = AccountOutcome<()>;
    async fn run<R: Read>(&self, r: &R) -> Result<AccountOutcome<()>> {
        let verification = r.email_verification(self.email, since(self.now), self.token.as_ref()).await?;
        let taken = r.account_by_email(self.email).await?.is_some();
        Ok(account::decide_signup(verification.as_ref(), self.token.is_some(), taken, self.now).map(drop))
    }
}

/// Signs up a student with a verified email: the verification is used up, the user and the
/// account made, in one transaction. The email's verification is locked first, so sign-ups
/// of one email take turns; one account per email is also a unique index.
pub struct SignUp {
    pub ctx: Context,
    /// The email as given (trimmed), and its key (lower-cased).
    pub email_given: String,
    pub email: String,
    pub name: String,
    pub password_hash: String,
    pub token: Option<[u8; 32]>,
}

impl WriteOp for SignUp {
    type Out = AccountOutcome<(User, Account)>;
    async fn run<T: Tx>(&self, tx: &mut T) -> Result<AccountOutcome<(User, Account)>> {
        let now = self.ctx.now;
        let verification = tx.email_verification_for_update(&self.email, since(now), self.token.as_ref()).await?;
        let taken = tx.account_by_email(&self.email).await?.is_some();
        let id = match account::decide_signup(verification.as_ref(), self.token.is_some(), taken, now) {
            Ok(id) => id,
            Err(refusal) => return Ok(Err(refusal)),
        };
        let new = NewUser::named(UserKind::Student, self.name.clone(), Some(self.email_given.clone())).validated()?;
        tx.consume_verification(id, now).await?;
        let user = tx.insert_user(&new, now).await?;
        let made = tx.insert_account(user.id, &self.email, &self.password_hash, now).await?;
        let event = NewAuditEvent::of(Action::UserCreate, None, user.id.0, None, Some(&user));
        tx.insert_audit(&self.ctx, &event).await?;
        Ok(Ok((user, made)))
    }
}

/// The account with this email (lower-cased), its user and its password hash. An email no
/// account could have (too long, a NUL) is nobody's, and is not looked up.
pub struct AccountByEmail<'a> {
    pub email: &'a str,
}

impl ReadOp for AccountByEmail<'_> {
    type Out = Option<(User, Account, String)>;
    async fn run<R: Read>(&self, r: &R) -> Result<Self::Out> {
        if user::valid_email(self.email).is_err() {
            return Ok(None);
        }
        // A disabled user signs in like an unknown one: not at all.
        Ok(r.account_by_email(self.email).await?.filter(|(u, _, _)| u.disabled_at.is_none()))
    }
}

/// A sign-in session's bearer token and its refresh token for a user, each expiring as
/// `ttl` says. Only hashes are stored.
async fn issue<T: Tx>(tx: &mut T, user: UserId, ttl: SessionTtl, now: Timestamp) -> Result<(String, String)> {
    let access = user::new_token(&mut rand::rng());
    let refresh = account::new_secret(&mut rand::rng(), account::REFRESH_PREFIX);
    let access_hash = user::token_hash(&access);
    let (access_end, refresh_end) = ttl.ends(now);
    tx.insert_token(user, &access_hash, TokenKind::Session { expires_at: access_end }, now).await?;
    tx.insert_refresh_token(&account::secret_hash(&refresh), user, &access_hash, refresh_end, now).await?;
    Ok((access, refresh))
}

/// Signs a user in whose password was checked: notes the time and issues a token pair.
/// Not audited: signing in changes nothing anyone manages.
pub struct SignIn {
    pub user: UserId,
    pub ttl: SessionTtl,
    pub now: Timestamp,
}

impl WriteOp for SignIn {
    type Out = AccountOutcome<(String, String)>;
    async fn run<T: Tx>(&self, tx: &mut T) -> Result<AccountOutcome<(String, String)>> {
        // The account may have gone since its password was read.
        let user = tx.user_for_update(self.user).await?.filter(|u| u.disabled_at.is_none());
        if user.is_none() || tx.account(self.user).await?.is_none() {
            return Ok(Err(AccountRefusal::InvalidCredentials));
        }
        tx.record_account_login(self.user, self.now).await?;
        Ok(Ok(issue(tx, self.user, self.ttl, self.now).await?))
    }
}

/// Exchanges a refresh token, once and before it expires, for a new pair; the access token
/// it was issued with is revoked. Revoking that access token (an administrator's, a
/// password change's) ends the refresh token too; its expiry does not.
pub struct Refresh {
    pub token: String,
    pub ttl: SessionTtl,
    pub now: Timestamp,
}

impl WriteOp for Refresh {
    type Out = AccountOutcome<(String, String)>;
    async fn run<T: Tx>(&self, tx: &mut T) -> Result<AccountOutcome<(String, String)>> {
        if !account::plausible_secret(&self.token, account::REFRESH_PREFIX) {
            return Ok(Err(AccountRefusal::InvalidRefreshToken));
        }
        let hash = account::secret_hash(&self.token);
        let grant = tx.refresh_token_for_update(&hash).await?;
        let access = match &grant {
            Some(g) => tx.bearer_token(&g.access_hash).await?,
            None => None,
        };
        let user = match account::decide_refresh(grant.as_ref(), access.as_ref(), self.now) {
            Ok(user) => user,
            Err(refusal) => return Ok(Err(refusal)),
        };
        let Some(access_hash) = grant.map(|g| g.access_hash) else {
            return Ok(Err(AccountRefusal::InvalidRefreshToken));
        };
        tx.use_refresh_token(&hash, self.now).await?;
        tx.revoke_token(&access_hash, self.now).await?;
        Ok(Ok(issue(tx, user, self.ttl, self.now).await?))
    }
}

/// A user, with their account if they have one.
pub struct MyAccount {
    pub user: UserId,
}

impl ReadOp for MyAccount {
    type Out = Option<(User, Option<Account>)>;
    async fn run<R: Read>(&self, r: &R) -> Result<Self::Out> {
        let Some(user) = r.user(self.user).await? else { return Ok(None) };
        let account = r.account(user.id).await?;
        Ok(Some((user, account)))
    }
}

/// What the audit trail records of a change to an account: never a secret.
#[derive(Serialize)]
struct AccountSnapshot<'a> {
    email: Option<&'a str>,
    account: Option<&'a Account>,
}

/// The key of the email an account would have after `change`.
fn resulting_key(change: &AccountChange, user: &User, account: Option<&Account>) -> Option<String> {
    match &change.email {
        Some((_, key)) => Some(key.clone()),
        None => account.map(|a| a.email.clone()).or_else(|| user.email.as_deref().map(user::normalize_email)),
    }
}

/// Writes a change decided by the core; a new password ends the user's sign-in sessions
/// but `keep` (the caller's own, for a change of one's own). API tokens stay.
async fn apply<T: Tx>(
    tx: &mut T,
    ctx: &Context,
    user: User,
    account: Option<Account>,
    plan: ChangePlan,
    keep: Option<&[u8; 32]>,
) -> Result<(User, Option<Account>)> {
    if plan.changes_nothing() {
        return Ok((user, account));
    }
    let now = ctx.now;
    if let Some(id) = plan.consume {
        tx.consume_verification(id, now).await?;
    }
    let mut after_user = user.clone();
    if let Some(email) = &plan.user_email {
        tx.set_user_email(user.id, email).await?;
        after_user.email = Some(email.clone());
    }
    let after = match plan.account {
        AccountWrite::Keep => account.clone(),
        AccountWrite::Insert { email, password_hash } => {
            Some(tx.insert_account(user.id, &email, &password_hash, now).await?)
        }
        AccountWrite::Update { email, password_hash } => {
            tx.update_account(user.id, &email, password_hash.as_deref(), now).await?;
            account.clone().map(|a| Account { email, updated_at: now, ..a })
        }
    };
    if plan.password_changed {
        tx.revoke_user_sessions(user.id, keep, now).await?;
    }
    let before = AccountSnapshot { email: user.email.as_deref(), account: account.as_ref() };
    let later = AccountSnapshot { email: after_user.email.as_deref(), account: after.as_ref() };
    let event = NewAuditEvent::of(Action::UserUpdate, None, user.id.0, Some(&before), Some(&later));
    tx.insert_audit(ctx, &event).await?;
    Ok((after_user, after))
}

/// Whether another account than `user`'s has the email `key`.
async fn taken_by_another<T: Tx>(tx: &mut T, key: Option<&str>, user: UserId) -> Result<bool> {
    Ok(match key {
        Some(k) => tx.account_by_email(k).await?.is_some_and(|(u, _, _)| u.id != user),
        None => false,
    })
}

/// A user changes their own email or password. A new email must have been verified lately
/// (that verification is used up); a new password ends the user's other sign-in sessions
/// (API tokens stay).
pub struct UpdateMyAccount {
    pub ctx: Context,
    pub user: UserId,
    pub change: AccountChange,
    /// The hash of the verification token the client named, if it named one.
    pub token: Option<[u8; 32]>,
    /// The hash of the bearer token making the change: it stays valid.
    pub keep: [u8; 32],
}

impl WriteOp for UpdateMyAccount {
    type Out = AccountOutcome<(User, Option<Account>)>;
    async fn run<T: Tx>(&self, tx: &mut T) -> Result<Self::Out> {
        let now = self.ctx.now;
        let verification = match &self.change.email {
            Some((_, key)) => tx.email_verification_for_update(key, since(now), self.token.as_ref()).await?,
            None => None,
        };
        let user = tx.user_for_update(self.user).await?.ok_or(DomainError::NotFound(Entity::User))?;
        let account = tx.account(user.id).await?;
        let key = resulting_key(&self.change, &user, account.as_ref());
        let taken = taken_by_another(tx, key.as_deref(), user.id).await?;
        let facts = ChangeFacts {
            user_email: user.email.as_deref(),
            account: account.as_ref(),
            email_taken: taken,
            verification: verification.as_ref(),
            by_admin: false,
            now,
        };
        let plan = match account::decide_change(&self.change, &facts) {
            Ok(plan) => plan,
            Err(refusal) => return Ok(Err(refusal)),
        };
        Ok(Ok(apply(tx, &self.ctx, user, account, plan, Some(&self.keep)).await?))
    }
}

/// An administrator's change of a user's email or password, under the account rules (no
/// verification asked).
async fn admin_change<T: Tx>(
    tx: &mut T,
    ctx: &Context,
    user: User,
    change: &AccountChange,
) -> Result<AccountOutcome<(User, Option<Account>)>> {
    let account = tx.account(user.id).await?;
    let key = resulting_key(change, &user, account.as_ref());
    let taken = taken_by_another(tx, key.as_deref(), user.id).await?;
    let facts = ChangeFacts {
        user_email: user.email.as_deref(),
        account: account.as_ref(),
        email_taken: taken,
        verification: None,
        by_admin: true,
        now: ctx.now,
    };
    let plan = match account::decide_change(change, &facts) {
        Ok(plan) => plan,
        Err(refusal) => return Ok(Err(refusal)),
    };
    Ok(Ok(apply(tx, ctx, user, account, plan, None).await?))
}

/// An administrator sets a partner's or student's password, ending their sign-in sessions
/// (API tokens stay); a user without an account gets one with their email. Other kinds of
/// users cannot hold an account: not found.
pub struct SetPassword {
    pub ctx: Context,
    pub user: UserId,
    pub password_hash: String,
}

impl WriteOp for SetPassword {
    type Out = AccountOutcome<Account>;
    async fn run<T: Tx>(&self, tx: &mut T) -> Result<AccountOutcome<Account>> {
        let user = tx.user_for_update(self.user).await?.filter(|u| account::may_hold_account(u.kind));
        let user = user.ok_or(DomainError::NotFound(Entity::User))?;
        let change = AccountChange { email: None, password_hash: Some(self.password_hash.clone()) };
        Ok(match admin_change(tx, &self.ctx, user, &change).await? {
            Ok((_, made)) => made.ok_or(AccountRefusal::NoEmail),
            Err(refusal) => Err(refusal),
        })
    }
}

/// Creates a partner or student with a bearer token (an API token: good until revoked)
/// and, with a password, an account under their email (which no other account may have).
pub struct CreatePerson {
    pub ctx: Context,
    pub user: NewUser,
    pub password_hash: Option<String>,
}

impl WriteOp for CreatePerson {
    type Out = AccountOutcome<(User, String)>;
    async fn run<T: Tx>(&self, tx: &mut T) -> Result<AccountOutcome<(User, String)>> {
        let new = self.user.clone().validated()?;
        let key = match &self.password_hash {
            Some(_) => {
                let email = new.email.as_deref();
                let taken = match email {
                    Some(e) => tx.account_by_email(&user::normalize_email(e)).await?.is_some(),
                    None => false,
                };
                match account::decide_new_account(email, taken) {
                    Ok(key) => Some(key),
                    Err(refusal) => return Ok(Err(refusal)),
                }
            }
            None => None,
        };
        let made = tx.insert_user(&new, self.ctx.now).await?;
        let token = user::new_token(&mut rand::rng());
        tx.insert_token(made.id, &user::token_hash(&token), TokenKind::Api, self.ctx.now).await?;
        let event = NewAuditEvent::of(Action::UserCreate, None, made.id.0, None, Some(&made));
        tx.insert_audit(&self.ctx, &event).await?;
        if let (Some(key), Some(hash)) = (key, &self.password_hash) {
            tx.insert_account(made.id, &key, hash, self.ctx.now).await?;
        }
        Ok(Ok((made, token)))
    }
}

/// A user changes their profile: a merge patch of its fields; `full_name` renames them.
/// A change that changes nothing writes nothing.
pub struct UpdateMyProfile {
    pub ctx: Context,
    pub user: UserId,
    pub change: ProfileChange,
}

/// What the audit trail records of a profile.
#[derive(Serialize)]
struct ProfileSnapshot<'a> {
    name: &'a str,
    profile: &'a PersonProfile,
}

impl WriteOp for UpdateMyProfile {
    type Out = (User, Option<Account>);
    async fn run<T: Tx>(&self, tx: &mut T) -> Result<(User, Option<Account>)> {
        let user = tx.user_for_update(self.user).await?.ok_or(DomainError::NotFound(Entity::User))?;
        let account = tx.account(user.id).await?;
        let current = PersonProfile::of(user.profile.as_ref());
        let (name, profile) = account::change_profile(&user.name, &current, &self.change, self.ctx.now)?;
        let Some(profile) = profile else { return Ok((user, account)) };
        let mut after = user.clone();
        if let Some(n) = &name {
            tx.set_user_name(user.id, n).await?;
            after.name = n.clone();
        }
        let stored = profile.stored_in(user.profile.as_ref());
        tx.set_user_profile(user.id, &stored).await?;
        after.profile = Some(stored);
        let before = ProfileSnapshot { name: &user.name, profile: &current };
        let later = ProfileSnapshot { name: &after.name, profile: &profile };
        let event = NewAuditEvent::of(Action::UserUpdate, None, user.id.0, Some(&before), Some(&later));
        tx.insert_audit(&self.ctx, &event).await?;
        Ok((after, account))
    }
}

/// An administrator changes a user's name, email or disabled state. An email change
/// follows the account rules (no other account may have it; the account's sign-in name
/// changes with it) and is only for users who may hold an account (partners and students):
/// other kinds keep their email in their dialect's own records.
pub struct UpdateUser {
    pub ctx: Context,
    pub user: UserId,
    pub patch: user::UserPatch,
    pub email: Option<String>,
}

impl WriteOp for UpdateUser {
    type Out = AccountOutcome<User>;
    async fn run<T: Tx>(&self, tx: &mut T) -> Result<AccountOutcome<User>> {
        let before = tx.user_for_update(self.user).await?.ok_or(DomainError::NotFound(Entity::User))?;
        let after = user::decide_patch(&before, &self.patch, self.ctx.now)?;
        let mut current = before.clone();
        if let Some(email) = &self.email {
            let email = user::decided_email(before.kind, email)?;
            let change =
                AccountChange { email: Some((email.clone(), user::normalize_email(&email))), password_hash: None };
            current = match admin_change(tx, &self.ctx, before.clone(), &change).await? {
                Ok((changed, _)) => changed,
                Err(refusal) => return Ok(Err(refusal)),
            };
        }
        if after.name != current.name {
            tx.set_user_name(before.id, &after.name).await?;
        }
        if after.disabled_at != current.disabled_at {
            tx.set_user_disabled(before.id, after.disabled_at).await?;
        }
        let after = User { email: current.email.clone(), ..after };
        if (&after.name, after.disabled_at) != (&current.name, current.disabled_at) {
            let event = NewAuditEvent::of(Action::UserUpdate, None, before.id.0, Some(&current), Some(&after));
            tx.insert_audit(&self.ctx, &event).await?;
        }
        Ok(Ok(after))
    }
}
