//! Accounts: partners and students who sign in with an email and a password, the emailed
//! codes that prove an address before it becomes an account's, refresh tokens, and the
//! profile a person keeps about themselves.
//!
//! An account belongs to a user (one per user) and is known by its email, lower-cased, one
//! account per email (both unique indexes in the store). Secrets are never kept in clear:
//! passwords as Argon2id hashes, tokens as SHA-256, and a code as a hash keyed with the
//! token of its request (so a copy of the database does not give codes away either).

use jiff::{SignedDuration, Timestamp};
use rand::Rng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{DomainError, Problem, Violation};
use crate::ids::UserId;
use crate::lab::Email;
use crate::patch::Patch;
use crate::user::{USER_NAME_MAX_CHARS, UserKind};

/// Digits of an emailed code.
pub const CODE_DIGITS: usize = 6;
/// How long a code may be used after it was sent.
pub const CODE_TTL: SignedDuration = SignedDuration::from_mins(10);
/// Wrong codes tried against one request before the request is dead.
pub const CODE_ATTEMPTS: u32 = 5;
/// How long a verified email may be used to sign up (or become an account's email).
pub const VERIFIED_TTL: SignedDuration = SignedDuration::from_mins(30);
/// Longest password taken: Argon2 reads all of it, and nobody types more.
pub const PASSWORD_MAX_CHARS: usize = 256;
/// Email codes, used or expired refresh tokens and ended sessions are forgotten this long
/// after they stop mattering.
pub const FORGET_AFTER: SignedDuration = SignedDuration::from_hours(24);
/// How long a sign-in's access token lasts by default (`--session-ttl`). GrowFit's backend
/// sets none (its tokens are stubs) and its front end never refreshes: this is how long
/// it stays signed in — a working day.
pub const SESSION_TTL_DEFAULT: SignedDuration = SignedDuration::from_hours(8);
/// How long a refresh token lasts by default (`--refresh-ttl`): a week.
pub const REFRESH_TTL_DEFAULT: SignedDuration = SignedDuration::from_hours(7 * 24);

/// Prefix of the token that names a code request (`verification_token`).
pub const VERIFICATION_PREFIX: &str = "chv_";
/// Prefix of the token that names a verified email (`email_verified_token`).
pub const VERIFIED_PREFIX: &str = "che_";
/// Prefix of a refresh token.
pub const REFRESH_PREFIX: &str = "chr_";

/// The kinds of users who may hold an account.
pub fn may_hold_account(kind: UserKind) -> bool {
    matches!(kind, UserKind::Partner | UserKind::Student)
}

/// An account as the store keeps it (its password hash aside).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Account {
    pub user_id: UserId,
    /// Lower-cased: the key accounts are found by.
    pub email: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub last_login_at: Option<Timestamp>,
}

/// An emailed code's request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EmailCodeId(pub i64);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailCode {
    pub id: EmailCodeId,
    /// Lower-cased.
    pub email: String,
    /// [`code_hash`] of the code sent.
    pub code_hash: [u8; 32],
    /// Wrong codes tried so far.
    pub attempts: u32,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub verified_at: Option<Timestamp>,
    /// When a sign-up (or an email change) used the verification.
    pub consumed_at: Option<Timestamp>,
}

impl EmailCode {
    /// Whether it proves its email at `now`: verified within [`VERIFIED_TTL`].
    pub fn proves_email_at(&self, now: Timestamp) -> bool {
        self.verified_at.is_some_and(|v| v.checked_add(VERIFIED_TTL).is_ok_and(|end| now < end))
    }

    /// Whether a code may still be tried against it (right or wrong).
    pub fn open(&self) -> bool {
        self.verified_at.is_none() && self.consumed_at.is_none() && self.attempts < CODE_ATTEMPTS
    }
}

/// A new code request, as the store records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEmailCode {
    pub token_hash: [u8; 32],
    pub email: String,
    pub code_hash: [u8; 32],
    pub expires_at: Timestamp,
}

/// A refresh token as stored: whose it is, the access token it was issued with, and until
/// when it may be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshGrant {
    pub user_id: UserId,
    pub access_hash: [u8; 32],
    pub used_at: Option<Timestamp>,
    pub expires_at: Timestamp,
}

/// How long a sign-in lasts: its access token, and the refresh token issued with it (each
/// refresh issues a new pair, with new ends).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionTtl {
    pub access: SignedDuration,
    pub refresh: SignedDuration,
}

impl Default for SessionTtl {
    fn default() -> Self {
        SessionTtl { access: SESSION_TTL_DEFAULT, refresh: REFRESH_TTL_DEFAULT }
    }
}

impl SessionTtl {
    /// When a pair issued at `now` expires: its access token, then its refresh token. An
    /// end beyond the calendar is `now` (the token is born expired, never immortal).
    pub fn ends(&self, now: Timestamp) -> (Timestamp, Timestamp) {
        let end = |ttl: SignedDuration| now.checked_add(ttl).unwrap_or(now);
        (end(self.access), end(self.refresh))
    }
}

/// Why an account operation is refused. Each is an answer of the dialect, not a fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AccountRefusal {
    /// Unknown email or wrong password (which of the two is not said).
    #[error("invalid credentials")]
    InvalidCredentials,
    /// The token names no code request, or one that can no longer be used.
    #[error("invalid verification token")]
    InvalidVerificationToken,
    #[error("email mismatch")]
    EmailMismatch,
    #[error("invalid code")]
    InvalidCode,
    #[error("code expired")]
    CodeExpired,
    /// No usable verification of the email.
    #[error("email not verified")]
    EmailNotVerified,
    #[error("password required")]
    PasswordRequired,
    /// Another account has the email.
    #[error("email already exists")]
    EmailTaken,
    /// An account needs an email, and the user has none.
    #[error("user has no email")]
    NoEmail,
    #[error("invalid refresh token")]
    InvalidRefreshToken,
}

/// What an account operation answers: its result, or the rule that refused it. A refusal
/// is an outcome, not a failed transaction: what it counted (a wrong code) is committed.
pub type AccountOutcome<T> = Result<T, AccountRefusal>;

/// A new random secret with `prefix`: 256 bits from `rng`, which the caller makes a CSPRNG.
pub fn new_secret(rng: &mut impl Rng, prefix: &str) -> String {
    let token = crate::user::new_token(rng);
    format!("{prefix}{}", &token[crate::user::TOKEN_PREFIX.len()..])
}

/// A new code: [`CODE_DIGITS`] decimal digits from `rng` (a CSPRNG), leading zeros kept.
pub fn new_code(rng: &mut impl Rng) -> String {
    format!("{:06}", rng.random_range(0..1_000_000u32))
}

/// What the store keeps of a token (any of the account secrets).
pub fn secret_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// What the store keeps of a code: its hash keyed with the request's token, which only the
/// client holds (the store has the token's hash alone).
pub fn code_hash(token: &str, code: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"classhub email code\0");
    h.update(token.as_bytes());
    h.update([0]);
    h.update(code.as_bytes());
    h.finalize().into()
}

/// Whether `token` could name a secret of this kind at all (else it is not looked up).
pub fn plausible_secret(token: &str, prefix: &str) -> bool {
    token.len() == prefix.len() + 43 && token.starts_with(prefix)
}

/// The email that carries a code.
pub fn code_email(to: &str, code: &str) -> Email {
    let minutes = CODE_TTL.as_mins();
    Email {
        to: to.to_string(),
        subject: "Your classhub verification code".into(),
        // Short lines: the message goes as plain 7-bit text.
        text: format!(
            "Your verification code is {code}.\n\nEnter it on the sign-up page within {minutes} minutes.\n\
             If you did not ask for it, ignore this email: nothing happens\nwithout the code.\n"
        ),
        html: None,
    }
}

/// A password as given: not empty, at most [`PASSWORD_MAX_CHARS`] characters. Empty is a
/// refusal (`password required`); too long is a field error.
pub fn check_password(password: &str) -> Result<Result<(), AccountRefusal>, Problem> {
    if password.chars().count() > PASSWORD_MAX_CHARS {
        return Err(Problem::TooLong { max: PASSWORD_MAX_CHARS });
    }
    Ok(if password.is_empty() { Err(AccountRefusal::PasswordRequired) } else { Ok(()) })
}

/// How a code request answers a code typed against it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verification {
    /// The right code, in time: the request is verified.
    Verified(EmailCodeId),
    /// A wrong code: the attempt is counted against the request (which dies at the limit).
    WrongCode(EmailCodeId),
    Refused(AccountRefusal),
}

/// Checks a code typed for `email` (lower-cased) against the request its token named, in
/// the original's order: the token, the email, the code, then its expiry. A request that
/// was verified, used, or tried too often is dead: its token is no longer valid.
pub fn decide_verification(
    request: Option<&EmailCode>,
    email: &str,
    typed_hash: &[u8; 32],
    now: Timestamp,
) -> Verification {
    use AccountRefusal::*;
    let Some(r) = request.filter(|r| r.open()) else { return Verification::Refused(InvalidVerificationToken) };
    if r.email != email {
        return Verification::Refused(EmailMismatch);
    }
    if &r.code_hash != typed_hash {
        return Verification::WrongCode(r.id);
    }
    if now >= r.expires_at {
        return Verification::Refused(CodeExpired);
    }
    Verification::Verified(r.id)
}

/// Whether a sign-up may go ahead, and with which verification. `verification` is the one
/// the client named (`token_given`), else the email's most recent one; a named one that
/// does not prove the email is an invalid token, a missing one an unverified email. The
/// email's verification is checked before whether an account has it, so that only someone
/// who controls an address learns whether it has an account.
pub fn decide_signup(
    verification: Option<&EmailCode>,
    token_given: bool,
    email_taken: bool,
    now: Timestamp,
) -> Result<EmailCodeId, AccountRefusal> {
    let unproven =
        if token_given { AccountRefusal::InvalidVerificationToken } else { AccountRefusal::EmailNotVerified };
    let Some(v) = verification.filter(|v| v.proves_email_at(now)) else { return Err(unproven) };
    if email_taken {
        return Err(AccountRefusal::EmailTaken);
    }
    if v.consumed_at.is_some() {
        return Err(unproven);
    }
    Ok(v.id)
}

/// A change of one's own email or password (or an administrator's new password).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountChange {
    /// The new email, as given and as its key (lower-cased).
    pub email: Option<(String, String)>,
    /// The new password's hash.
    pub password_hash: Option<String>,
}

/// What is known when a change is decided.
#[derive(Debug, Clone, Default)]
pub struct ChangeFacts<'a> {
    pub user_email: Option<&'a str>,
    pub account: Option<&'a Account>,
    /// Another account has the email the account would have after the change.
    pub email_taken: bool,
    /// The most recent verification of the new email (when it changes).
    pub verification: Option<&'a EmailCode>,
    /// The change comes from an administrator, who needs no verification.
    pub by_admin: bool,
    pub now: Timestamp,
}

/// What a change writes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChangePlan {
    /// The user's new email, as given.
    pub user_email: Option<String>,
    pub account: AccountWrite,
    /// The verification the new email uses up.
    pub consume: Option<EmailCodeId>,
    /// The password changes: then the user's sign-in sessions end (all but the caller's
    /// own, for a change of one's own); API tokens stay.
    pub password_changed: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum AccountWrite {
    #[default]
    Keep,
    Insert {
        email: String,
        password_hash: String,
    },
    Update {
        email: String,
        password_hash: Option<String>,
    },
}

impl ChangePlan {
    pub fn changes_nothing(&self) -> bool {
        self.user_email.is_none() && self.account == AccountWrite::Keep
    }
}

/// Decides a change of email or password. A new email (one that differs from the current
/// one other than in case) must have been verified lately, and that verification is used
/// up — as at sign-up — unless an administrator makes the change; it must not be another
/// account's. A user without an account gets one when a password is set, with their email.
pub fn decide_change(change: &AccountChange, f: &ChangeFacts<'_>) -> Result<ChangePlan, AccountRefusal> {
    let current_key = f.account.map(|a| a.email.clone()).or_else(|| f.user_email.map(crate::user::normalize_email));
    let mut plan = ChangePlan::default();
    let new_key = match &change.email {
        Some((given, key)) => {
            if f.user_email != Some(given.as_str()) {
                plan.user_email = Some(given.clone());
            }
            (current_key.as_deref() != Some(key.as_str())).then(|| key.clone())
        }
        None => None,
    };
    if new_key.is_some() && !f.by_admin {
        match f.verification.filter(|v| v.proves_email_at(f.now)) {
            Some(v) if v.consumed_at.is_none() => plan.consume = Some(v.id),
            _ => return Err(AccountRefusal::EmailNotVerified),
        }
    }
    let key = new_key.clone().or(current_key);
    let writes_account = f.account.is_some() || change.password_hash.is_some();
    if writes_account && (new_key.is_some() || f.account.is_none()) && f.email_taken {
        return Err(AccountRefusal::EmailTaken);
    }
    plan.password_changed = change.password_hash.is_some();
    plan.account = match (f.account, &change.password_hash, key) {
        (None, None, _) => AccountWrite::Keep,
        (None, Some(_), None) | (Some(_), _, None) => return Err(AccountRefusal::NoEmail),
        (None, Some(hash), Some(email)) => AccountWrite::Insert { email, password_hash: hash.clone() },
        (Some(_), None, Some(_)) if new_key.is_none() => AccountWrite::Keep,
        (Some(_), hash, Some(email)) => AccountWrite::Update { email, password_hash: hash.clone() },
    };
    if plan.account == AccountWrite::Keep && plan.user_email.is_none() {
        plan.consume = None;
    }
    Ok(plan)
}

/// The account a new partner or student gets with a password: their email (lower-cased),
/// which no other account may have.
pub fn decide_new_account(email: Option<&str>, email_taken: bool) -> Result<String, AccountRefusal> {
    match email {
        None => Err(AccountRefusal::NoEmail),
        Some(_) if email_taken => Err(AccountRefusal::EmailTaken),
        Some(e) => Ok(crate::user::normalize_email(e)),
    }
}

/// Whether a refresh token may be exchanged at `now`: unused, unexpired, and issued with an
/// access token that was not revoked (revoking an access token ends its refresh token too;
/// its expiry does not — that is what refreshing is for).
pub fn decide_refresh(
    grant: Option<&RefreshGrant>,
    access: Option<&crate::user::BearerToken>,
    now: Timestamp,
) -> Result<UserId, AccountRefusal> {
    let unrevoked = access.is_some_and(|a| a.revoked_at.is_none());
    match grant {
        Some(g) if g.used_at.is_none() && now < g.expires_at && unrevoked => Ok(g.user_id),
        _ => Err(AccountRefusal::InvalidRefreshToken),
    }
}

// ---- profiles ------------------------------------------------------------------------------

/// The key of a user's stored attributes under which their profile lives.
const PROFILE_KEY: &str = "person";

/// What a person says about themselves (their name is the user's name).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonProfile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub department: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bio: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avatar_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avatar_initials: Option<String>,
    /// When it last changed (never: `None`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<Timestamp>,
}

impl PersonProfile {
    /// The profile kept in a user's attributes (empty when there is none).
    pub fn of(stored: Option<&serde_json::Value>) -> PersonProfile {
        stored.and_then(|v| v.get(PROFILE_KEY)).and_then(|p| serde_json::from_value(p.clone()).ok()).unwrap_or_default()
    }

    /// A user's attributes with this profile in them; the other attributes are kept.
    pub fn stored_in(&self, stored: Option<&serde_json::Value>) -> serde_json::Value {
        let mut attributes = match stored {
            Some(serde_json::Value::Object(m)) => m.clone(),
            _ => serde_json::Map::new(),
        };
        attributes.insert(PROFILE_KEY.into(), serde_json::to_value(self).unwrap_or(serde_json::Value::Null));
        serde_json::Value::Object(attributes)
    }
}

/// A change to one's profile: a JSON merge patch of its fields; `full_name` renames the
/// user (it cannot be cleared).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProfileChange {
    pub full_name: Option<String>,
    pub job_title: Patch<String>,
    pub department: Patch<String>,
    pub phone_number: Patch<String>,
    pub location: Patch<String>,
    pub bio: Patch<String>,
    pub avatar_url: Patch<String>,
    pub avatar_initials: Patch<String>,
}

/// Checks a profile change's texts: a name of 1..200 characters (trimmed), no NUL anywhere.
pub fn check_profile_change(change: &ProfileChange) -> Vec<Violation> {
    let mut errors = Vec::new();
    if let Some(name) = &change.full_name
        && let Err(p) = crate::text::label(name, USER_NAME_MAX_CHARS)
    {
        errors.push(Violation::new("full_name", p));
    }
    for (field, value) in change.texts() {
        if let Some(Err(p)) = value.set_value().map(|v| crate::text::no_nul(v)) {
            errors.push(Violation::new(field, p));
        }
    }
    errors
}

impl ProfileChange {
    fn texts(&self) -> [(&'static str, &Patch<String>); 7] {
        [
            ("job_title", &self.job_title),
            ("department", &self.department),
            ("phone_number", &self.phone_number),
            ("location", &self.location),
            ("bio", &self.bio),
            ("avatar_url", &self.avatar_url),
            ("avatar_initials", &self.avatar_initials),
        ]
    }
}

/// The name and profile after a change at `now`; `None` for what does not change. A change
/// that changes nothing writes nothing (and keeps `updated_at`).
pub fn change_profile(
    name: &str,
    current: &PersonProfile,
    change: &ProfileChange,
    now: Timestamp,
) -> Result<(Option<String>, Option<PersonProfile>), DomainError> {
    let errors = check_profile_change(change);
    if !errors.is_empty() {
        return Err(DomainError::Invalid(errors));
    }
    let new_name = change.full_name.as_deref().map(str::trim).filter(|n| *n != name).map(str::to_string);
    let mut next = current.clone();
    let apply = |p: &Patch<String>, slot: &mut Option<String>| *slot = p.clone().apply(slot.take());
    apply(&change.job_title, &mut next.job_title);
    apply(&change.department, &mut next.department);
    apply(&change.phone_number, &mut next.phone_number);
    apply(&change.location, &mut next.location);
    apply(&change.bio, &mut next.bio);
    apply(&change.avatar_url, &mut next.avatar_url);
    apply(&change.avatar_initials, &mut next.avatar_initials);
    let profile = if next != *current || new_name.is_some() {
        next.updated_at = Some(now);
        Some(next)
    } else {
        None
    };
    Ok((new_name, profile))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(1_000_000 + secs).unwrap()
    }

    fn request(token: &str, code: &str) -> EmailCode {
        EmailCode {
            id: EmailCodeId(1),
            email: "ann@example.com".into(),
            code_hash: code_hash(token, code),
            attempts: 0,
            created_at: at(0),
            expires_at: at(600),
            verified_at: None,
            consumed_at: None,
        }
    }

    #[test]
    fn secrets_and_codes() {
        let mut rng = rand::rng();
        let t = new_secret(&mut rng, VERIFICATION_PREFIX);
        assert!(plausible_secret(&t, VERIFICATION_PREFIX) && !plausible_secret(&t, REFRESH_PREFIX));
        for _ in 0..100 {
            let c = new_code(&mut rng);
            assert!(c.len() == CODE_DIGITS && c.bytes().all(|b| b.is_ascii_digit()), "{c}");
        }
        assert_ne!(code_hash("a", "123456"), code_hash("b", "123456"), "keyed by the token");
        assert!(code_email("a@b.c", "012345").text.contains("012345"));
        assert_eq!(check_password(""), Ok(Err(AccountRefusal::PasswordRequired)));
        assert_eq!(check_password(&"x".repeat(257)), Err(Problem::TooLong { max: 256 }));
        assert_eq!(check_password("pw"), Ok(Ok(())));
    }

    #[test]
    fn verification_checks_token_email_code_then_expiry() {
        use AccountRefusal::*;
        let r = request("tok", "123456");
        let right = code_hash("tok", "123456");
        let wrong = code_hash("tok", "654321");
        assert_eq!(
            decide_verification(None, "ann@example.com", &right, at(1)),
            Verification::Refused(InvalidVerificationToken)
        );
        assert_eq!(
            decide_verification(Some(&r), "bo@example.com", &right, at(1)),
            Verification::Refused(EmailMismatch)
        );
        assert_eq!(decide_verification(Some(&r), "ann@example.com", &wrong, at(900)), Verification::WrongCode(r.id));
        assert_eq!(
            decide_verification(Some(&r), "ann@example.com", &right, at(600)),
            Verification::Refused(CodeExpired)
        );
        assert_eq!(decide_verification(Some(&r), "ann@example.com", &right, at(599)), Verification::Verified(r.id));
        let dead = EmailCode { attempts: CODE_ATTEMPTS, ..r.clone() };
        assert_eq!(
            decide_verification(Some(&dead), "ann@example.com", &right, at(1)),
            Verification::Refused(InvalidVerificationToken)
        );
        let used = EmailCode { verified_at: Some(at(2)), ..r };
        assert_eq!(
            decide_verification(Some(&used), "ann@example.com", &right, at(3)),
            Verification::Refused(InvalidVerificationToken)
        );
    }

    #[test]
    fn signups_need_a_fresh_unused_verification() {
        use AccountRefusal::*;
        let v = EmailCode { verified_at: Some(at(10)), ..request("t", "1") };
        assert_eq!(decide_signup(None, false, true, at(20)), Err(EmailNotVerified));
        assert_eq!(decide_signup(None, true, false, at(20)), Err(InvalidVerificationToken));
        assert_eq!(decide_signup(Some(&v), false, false, at(20)), Ok(v.id));
        assert_eq!(decide_signup(Some(&v), false, true, at(20)), Err(EmailTaken));
        assert_eq!(decide_signup(Some(&v), false, false, at(10 + 1800)), Err(EmailNotVerified));
        let used = EmailCode { consumed_at: Some(at(11)), ..v };
        assert_eq!(decide_signup(Some(&used), false, false, at(20)), Err(EmailNotVerified));
    }

    #[test]
    fn changes_of_email_and_password() {
        use AccountRefusal::*;
        let account = Account {
            user_id: UserId(1),
            email: "ann@example.com".into(),
            created_at: at(0),
            updated_at: at(0),
            last_login_at: None,
        };
        let facts = ChangeFacts {
            user_email: Some("Ann@example.com"),
            account: Some(&account),
            now: at(2),
            ..ChangeFacts::default()
        };
        let new_email = AccountChange {
            email: Some(("bo@example.com".into(), "bo@example.com".into())),
            ..AccountChange::default()
        };
        assert_eq!(decide_change(&new_email, &facts), Err(EmailNotVerified));
        let v = EmailCode { verified_at: Some(at(1)), ..request("t", "1") };
        let verified = ChangeFacts { verification: Some(&v), ..facts.clone() };
        let plan = decide_change(&new_email, &verified).unwrap();
        assert_eq!(plan.consume, Some(v.id));
        assert_eq!(plan.account, AccountWrite::Update { email: "bo@example.com".into(), password_hash: None });
        assert_eq!(decide_change(&new_email, &ChangeFacts { email_taken: true, ..verified }), Err(EmailTaken));
        // The same address in another case needs no verification and touches no account.
        let same = AccountChange {
            email: Some(("ANN@example.com".into(), "ann@example.com".into())),
            ..AccountChange::default()
        };
        let plan = decide_change(&same, &facts).unwrap();
        assert_eq!((plan.user_email.as_deref(), &plan.account), (Some("ANN@example.com"), &AccountWrite::Keep));
        let pw = AccountChange { password_hash: Some("h".into()), ..AccountChange::default() };
        let plan = decide_change(&pw, &facts).unwrap();
        assert!(plan.password_changed);
        assert_eq!(
            plan.account,
            AccountWrite::Update { email: "ann@example.com".into(), password_hash: Some("h".into()) }
        );
        // No account yet: a password makes one with the user's email, if nobody has it.
        let bare = ChangeFacts { user_email: Some("Ann@example.com"), ..ChangeFacts::default() };
        assert_eq!(
            decide_change(&pw, &bare).unwrap().account,
            AccountWrite::Insert { email: "ann@example.com".into(), password_hash: "h".into() }
        );
        assert_eq!(decide_change(&pw, &ChangeFacts { email_taken: true, ..bare }), Err(EmailTaken));
        assert_eq!(decide_change(&pw, &ChangeFacts::default()), Err(NoEmail));
        assert!(decide_change(&AccountChange::default(), &facts).unwrap().changes_nothing());
    }

    #[test]
    fn refresh_tokens_need_to_be_unused_unexpired_and_their_access_unrevoked() {
        use crate::user::{BearerToken, Principal};
        let (access_end, refresh_end) = SessionTtl::default().ends(at(0));
        assert_eq!((access_end, refresh_end), (at(8 * 3600), at(7 * 24 * 3600)));
        let grant = RefreshGrant { user_id: UserId(7), access_hash: [1; 32], used_at: None, expires_at: refresh_end };
        let principal = Principal { user_id: UserId(7), kind: UserKind::Student };
        let access = BearerToken { principal, revoked_at: None, expires_at: Some(access_end) };
        // An expired access token is what a refresh is for.
        assert_eq!(decide_refresh(Some(&grant), Some(&access), at(8 * 3600 + 1)), Ok(UserId(7)));
        let refused = Err(AccountRefusal::InvalidRefreshToken);
        assert_eq!(decide_refresh(Some(&grant), Some(&access), refresh_end), refused);
        assert_eq!(decide_refresh(None, Some(&access), at(1)), refused);
        assert_eq!(decide_refresh(Some(&grant), None, at(1)), refused);
        let revoked = BearerToken { revoked_at: Some(at(1)), ..access };
        assert_eq!(decide_refresh(Some(&grant), Some(&revoked), at(2)), refused);
        let used = RefreshGrant { used_at: Some(at(1)), ..grant };
        assert_eq!(decide_refresh(Some(&used), Some(&access), at(2)), refused);
        // A lifetime beyond the calendar ends at once rather than never.
        let forever = SessionTtl { access: SignedDuration::MAX, refresh: SignedDuration::MAX };
        assert_eq!(forever.ends(at(0)), (at(0), at(0)));
    }

    #[test]
    fn profiles_merge_and_keep_other_attributes() {
        let stored = serde_json::json!({"other": 1});
        let change = ProfileChange { bio: Patch::Set("hi".into()), ..ProfileChange::default() };
        let (name, p) = change_profile("Ann", &PersonProfile::default(), &change, at(5)).unwrap();
        let p = p.unwrap();
        assert_eq!((name, p.bio.as_deref(), p.updated_at), (None, Some("hi"), Some(at(5))));
        let v = p.stored_in(Some(&stored));
        assert_eq!(v["other"], 1);
        assert_eq!(PersonProfile::of(Some(&v)), p);
        // Nothing new: nothing written.
        assert_eq!(change_profile("Ann", &p, &change, at(9)).unwrap(), (None, None));
        let renamed = ProfileChange { full_name: Some(" Bo ".into()), ..ProfileChange::default() };
        assert_eq!(change_profile("Ann", &p, &renamed, at(9)).unwrap().0.as_deref(), Some("Bo"));
        let bad =
            ProfileChange { full_name: Some(" ".into()), bio: Patch::Set("a\0".into()), ..ProfileChange::default() };
        match change_profile("Ann", &p, &bad, at(9)) {
            Err(DomainError::Invalid(v)) => {
                assert_eq!(v.iter().map(|v| v.field).collect::<Vec<_>>(), ["full_name", "bio"])
            }
            other => panic!("{other:?}"),
        }
        let cleared = ProfileChange { bio: Patch::Clear, ..ProfileChange::default() };
        assert_eq!(change_profile("Ann", &p, &cleared, at(9)).unwrap().1.unwrap().bio, None);
    }
}
