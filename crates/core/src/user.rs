//! Users of every kind, and the bearer tokens that identify them.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jiff::Timestamp;
use rand::Rng;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::error::{DomainError, Problem, Violation};
use crate::ids::UserId;

/// Every kind of person or application classhub knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UserKind {
    Admin,
    Partner,
    Student,
    Educator,
    HealthProfessional,
    Child,
    Family,
    Application,
    ProjectMember,
    ClassStudent,
}

impl UserKind {
    pub const ALL: [UserKind; 10] = [
        UserKind::Admin,
        UserKind::Partner,
        UserKind::Student,
        UserKind::Educator,
        UserKind::HealthProfessional,
        UserKind::Child,
        UserKind::Family,
        UserKind::Application,
        UserKind::ProjectMember,
        UserKind::ClassStudent,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            UserKind::Admin => "admin",
            UserKind::Partner => "partner",
            UserKind::Student => "student",
            UserKind::Educator => "educator",
            UserKind::HealthProfessional => "health_professional",
            UserKind::Child => "child",
            UserKind::Family => "family",
            UserKind::Application => "application",
            UserKind::ProjectMember => "project_member",
            UserKind::ClassStudent => "class_student",
        }
    }

    pub fn parse(s: &str) -> Option<UserKind> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct User {
    pub id: UserId,
    pub kind: UserKind,
    pub name: String,
    pub email: Option<String>,
    /// Given and family names, where a dialect keeps them apart (CloudShare students).
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    /// Login name, unique, of users who sign in with a password (OCARIoT).
    pub username: Option<String>,
    pub institution_id: Option<crate::ids::InstitutionId>,
    /// Attributes of the user's kind (a child's gender and age…), as the core's rules for
    /// that kind define them.
    pub profile: Option<serde_json::Value>,
    pub created_at: Timestamp,
    /// Set while an administrator has disabled the user: no credential of theirs works.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disabled_at: Option<Timestamp>,
}

/// What an administrator changes of a user (`None`: unchanged). The email is an account's
/// business too, so it goes through [`crate::account::decide_change`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UserPatch {
    pub name: Option<String>,
    pub disabled: Option<bool>,
}

/// Which users an administrator lists: of one kind, whose name, email or login name
/// contains `query` (ignoring ASCII case), disabled or not.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UserFilter {
    pub kind: Option<UserKind>,
    pub query: Option<String>,
    pub disabled: Option<bool>,
}

/// The user after an administrator's patch of name and disabled state, validated: the same
/// name rules as at creation; disabling keeps the first instant it was disabled.
pub fn decide_patch(user: &User, patch: &UserPatch, now: Timestamp) -> Result<User, DomainError> {
    let mut after = user.clone();
    if let Some(name) = &patch.name {
        let name = name.trim();
        crate::text::label(name, USER_NAME_MAX_CHARS)
            .map_err(|p| DomainError::Invalid(vec![Violation::new("name", p)]))?;
        after.name = name.to_string();
    }
    after.disabled_at = match patch.disabled {
        Some(true) => user.disabled_at.or(Some(now)),
        Some(false) => None,
        None => user.disabled_at,
    };
    Ok(after)
}

/// An email an administrator gives a user, trimmed and checked; only partners and students
/// (who may hold an account) have their email changed this way.
pub fn decided_email(kind: UserKind, email: &str) -> Result<String, DomainError> {
    let email = email.trim();
    if !crate::account::may_hold_account(kind) {
        let problem = Problem::Other("cannot be changed for this kind of user".into());
        return Err(DomainError::Invalid(vec![Violation::new("email", problem)]));
    }
    valid_email(email).map_err(|_| {
        DomainError::Invalid(vec![Violation::new("email", Problem::Other("value is not a valid email address".into()))])
    })?;
    Ok(email.to_string())
}

/// Who is calling, once a credential has been checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Principal {
    pub user_id: UserId,
    pub kind: UserKind,
}

/// A new user as an administrator describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct NewUser {
    pub kind: UserKind,
    pub name: String,
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub username: Option<String>,
    /// Argon2id PHC string (see [`crate::password`]).
    pub password_hash: Option<String>,
    pub institution_id: Option<crate::ids::InstitutionId>,
    pub profile: Option<serde_json::Value>,
}

impl NewUser {
    /// A user known by one name and an email.
    pub fn named(kind: UserKind, name: impl Into<String>, email: Option<String>) -> NewUser {
        NewUser {
            kind,
            name: name.into(),
            email,
            first_name: None,
            last_name: None,
            username: None,
            password_hash: None,
            institution_id: None,
            profile: None,
        }
    }
}

pub const USER_NAME_MAX_CHARS: usize = 200;
/// RFC 5321's longest path.
pub const EMAIL_MAX_CHARS: usize = 254;
/// Login names are unique (an index), so bounded.
pub const USERNAME_MAX_CHARS: usize = 255;

impl NewUser {
    /// Names are trimmed, 1..200 characters; an email needs one `@` with text on both
    /// sides (deliverability is the mail system's business), at most 254 characters; a
    /// username at most 255. No text holds a NUL.
    pub fn validated(self) -> Result<NewUser, DomainError> {
        let mut errors = Vec::new();
        let mut check = |field: &'static str, r: Result<(), Problem>| {
            if let Err(p) = r {
                errors.push(Violation::new(field, p));
            }
        };
        let name = self.name.trim().to_string();
        // A user known by their login name is named by it: its checks are the username's.
        if self.username.as_deref() != Some(self.name.as_str()) {
            check("name", crate::text::label(&name, USER_NAME_MAX_CHARS).map(drop));
        }
        let email = self.email.map(|e| e.trim().to_string());
        if let Some(e) = &email {
            check("email", valid_email(e).map_err(|_| Problem::Other("value is not a valid email address".into())));
        }
        for (field, value) in [("first_name", &self.first_name), ("last_name", &self.last_name)] {
            if let Some(v) = value {
                check(field, crate::text::check(v, USER_NAME_MAX_CHARS));
            }
        }
        if let Some(u) = &self.username {
            check("username", valid_username(u));
        }
        if errors.is_empty() { Ok(NewUser { name, email, ..self }) } else { Err(DomainError::Invalid(errors)) }
    }
}

/// A login name as stored: at most 255 characters, no NUL. A name that breaks this can
/// belong to nobody, so a sign-in with it fails like any unknown name.
pub fn valid_username(u: &str) -> Result<(), Problem> {
    crate::text::check(u, USERNAME_MAX_CHARS)
}

/// An email as classhub compares it: trimmed, lower-cased.
pub fn normalize_email(e: &str) -> String {
    e.trim().to_lowercase()
}

/// An email classhub keeps: plausible (see [`plausible_email`]), at most 254 characters.
pub fn valid_email(e: &str) -> Result<(), Problem> {
    crate::text::check(e, EMAIL_MAX_CHARS)?;
    if plausible_email(e) { Ok(()) } else { Err(Problem::InvalidEmail(e.to_string())) }
}

/// One `@` with text on both sides, no whitespace and no control characters:
/// deliverability is the mail system's business.
pub fn plausible_email(e: &str) -> bool {
    match e.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && !e.chars().any(|c| c.is_whitespace() || c.is_control())
        }
        None => false,
    }
}

/// Bearer tokens are shown once and stored only as their SHA-256.
pub const TOKEN_PREFIX: &str = "chk_";

/// A new random bearer token: a prefix (so leaked tokens are recognisable) and 256 bits
/// from `rng`, which the caller makes a CSPRNG.
pub fn new_token(rng: &mut impl Rng) -> String {
    let mut bytes = [0u8; 32];
    rng.fill(&mut bytes);
    format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// What the store keeps of a token.
pub fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// What a bearer token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// An API credential an administrator (or the CLI) issued: good until revoked.
    Api,
    /// A sign-in (`POST /user/login`, or a refresh): good until revoked or `expires_at`,
    /// and ended by a new password.
    Session { expires_at: Timestamp },
}

impl TokenKind {
    /// The name the store keeps.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenKind::Api => "api",
            TokenKind::Session { .. } => "session",
        }
    }

    pub fn expires_at(self) -> Option<Timestamp> {
        match self {
            TokenKind::Api => None,
            TokenKind::Session { expires_at } => Some(expires_at),
        }
    }
}

/// A bearer token as stored: whose it is, and what ends it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BearerToken {
    pub principal: Principal,
    pub revoked_at: Option<Timestamp>,
    /// A session's end; API tokens have none.
    pub expires_at: Option<Timestamp>,
}

impl BearerToken {
    /// Whether it identifies its holder at `now`: not revoked and not expired. An expired
    /// token is refused exactly as a revoked one.
    pub fn live_at(&self, now: Timestamp) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|end| now < end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_hashed() {
        let mut rng = rand::rng();
        let (a, b) = (new_token(&mut rng), new_token(&mut rng));
        assert_ne!(a, b);
        assert!(a.starts_with(TOKEN_PREFIX) && a.len() == TOKEN_PREFIX.len() + 43);
        assert_eq!(token_hash(&a), token_hash(&a));
        assert_ne!(token_hash(&a), token_hash(&b));
    }

    #[test]
    fn tokens_live_until_revoked_or_expired() {
        let at = |s: i64| Timestamp::from_second(1_000_000 + s).unwrap();
        let principal = Principal { user_id: UserId(1), kind: UserKind::Student };
        let api = BearerToken { principal, revoked_at: None, expires_at: TokenKind::Api.expires_at() };
        assert!(api.live_at(at(0)) && api.live_at(at(1_000_000_000)), "API tokens do not expire");
        let session = BearerToken { expires_at: TokenKind::Session { expires_at: at(60) }.expires_at(), ..api };
        assert!(session.live_at(at(59)));
        assert!(!session.live_at(at(60)) && !session.live_at(at(61)), "expired at its end");
        for revoked in [api, session] {
            assert!(!BearerToken { revoked_at: Some(at(0)), ..revoked }.live_at(at(1)));
        }
        assert_eq!((TokenKind::Api.as_str(), TokenKind::Session { expires_at: at(0) }.as_str()), ("api", "session"));
    }

    #[test]
    fn new_users_are_checked() {
        let u = NewUser::named(UserKind::Partner, " Ada ", Some("ada@example.com".into()));
        assert_eq!(u.validated().unwrap().name, "Ada");
        let bad = NewUser::named(UserKind::Partner, " ", Some("nope".into()));
        match bad.validated() {
            Err(DomainError::Invalid(v)) => {
                assert_eq!(v.iter().map(|v| v.field).collect::<Vec<_>>(), ["name", "email"])
            }
            other => panic!("{other:?}"),
        }
        for kind in UserKind::ALL {
            assert_eq!(UserKind::parse(kind.as_str()), Some(kind));
        }
    }
}
