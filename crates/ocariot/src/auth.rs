//! The gateway's side of OCARIoT: JWTs (`POST /v1/auth` issues them), their checks and
//! 401 answers, and scopes (403).

use classhub_core::UserId;
use classhub_core::user::{User, UserKind};
use classhub_store::ops::ocariot::{AccountOf, KINDS};
use classhub_web::AppState;
use classhub_web::jwt::JwtKeys;
use http::HeaderMap;
use http::header::AUTHORIZATION;
use jsonwebtoken::Validation;
use jsonwebtoken::errors::ErrorKind;
use serde::{Deserialize, Serialize};

use crate::error::OcError;
use crate::ids::{self, Kind};

pub const ISSUER: &str = "ocariot";
const LIFETIME_SECS: i64 = 24 * 3600;

/// A token's claims, in the order the original issues them.
#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub sub_type: String,
    pub iss: String,
    pub iat: i64,
    pub scope: String,
    pub exp: i64,
}

/// `sub_type` of a user kind.
pub fn sub_type(kind: UserKind) -> &'static str {
    match kind {
        UserKind::Admin => "admin",
        UserKind::Child => "child",
        UserKind::Educator => "educator",
        UserKind::HealthProfessional => "healthprofessional",
        UserKind::Family => "family",
        UserKind::Application => "application",
        other => other.as_str(),
    }
}

/// What each kind may do. Only educators and health professionals manage children groups.
pub fn scopes(kind: UserKind) -> &'static [&'static str] {
    const ADMIN: &[&str] = &[
        "institutions:create",
        "children:create",
        "children:update",
        "educators:create",
        "educators:read",
        "healthprofessionals:create",
        "healthprofessionals:read",
        "families:create",
        "applications:create",
        "users:delete",
    ];
    const EDUCATOR: &[&str] = &[
        "children:read",
        "children:readAll",
        "educators:read",
        "educators:update",
        "childrengroups:create",
        "childrengroups:read",
        "childrengroups:update",
        "childrengroups:delete",
        "institutions:read",
        "institutions:readAll",
    ];
    const HEALTH_PROFESSIONAL: &[&str] = &[
        "children:read",
        "children:readAll",
        "healthprofessionals:read",
        "healthprofessionals:update",
        "childrengroups:create",
        "childrengroups:read",
        "childrengroups:update",
        "childrengroups:delete",
        "institutions:read",
        "institutions:readAll",
    ];
    const CHILD: &[&str] = &["children:read", "institutions:read"];
    const FAMILY: &[&str] = &["children:read", "families:read", "families:update", "institutions:read"];
    const APPLICATION: &[&str] =
        &["applications:read", "children:readAll", "institutions:read", "institutions:readAll"];
    match kind {
        UserKind::Admin => ADMIN,
        UserKind::Educator => EDUCATOR,
        UserKind::HealthProfessional => HEALTH_PROFESSIONAL,
        UserKind::Child => CHILD,
        UserKind::Family => FAMILY,
        UserKind::Application => APPLICATION,
        _ => &[],
    }
}

/// A signed token for a user, valid for a day.
pub fn issue(keys: &JwtKeys, user: &User) -> Result<String, OcError> {
    let iat = jiff::Timestamp::now().as_second();
    let claims = Claims {
        sub: ids::encode(Kind::User, user.id.0),
        sub_type: sub_type(user.kind).into(),
        iss: ISSUER.into(),
        iat,
        scope: scopes(user.kind).join(" "),
        exp: iat + LIFETIME_SECS,
    };
    keys.sign(&claims).map_err(|e| {
        tracing::error!(error = %e, "signing a token");
        OcError::new(http::StatusCode::INTERNAL_SERVER_ERROR, "An internal server error has occurred.")
    })
}

/// The caller behind a valid token of a registered user.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user: User,
    pub scopes: Vec<String>,
}

impl Caller {
    pub fn id(&self) -> UserId {
        self.user.id
    }

    /// 403 unless the token holds `scope`.
    pub fn require(&self, scope: &str) -> Result<(), OcError> {
        if self.scopes.iter().any(|s| s == scope) { Ok(()) } else { Err(OcError::forbidden()) }
    }

    /// The path's id names the caller (compared as text, as the gateway does).
    pub fn is(&self, path_id: &str) -> bool {
        ids::encode(Kind::User, self.user.id.0).eq_ignore_ascii_case(path_id)
    }
}

const NO_CREDENTIALS: &str = "Authentication failed for lack of authentication credentials.";
const EXPIRED: &str = "Authentication failed because access token is expired.";
const INVALID_PARAMETERS: &str = "Authentication failed because the access token contains invalid parameters.";
const TOKEN_ISSUES: &str = "Authentication failed due to access token issues.";
const NOT_A_CONSUMER: &str = "The token user is not properly registered as a consumer at the gateway.";

/// Checks the bearer token: present, signed with our key, by our issuer, unexpired, of a
/// user who still exists.
pub async fn authenticate(app: &AppState, headers: &HeaderMap) -> Result<Caller, OcError> {
    let header = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or("").trim();
    let token = match header.split_once(' ') {
        Some((scheme, t)) if scheme.eq_ignore_ascii_case("bearer") && !t.trim().is_empty() => t.trim(),
        _ if header.eq_ignore_ascii_case("bearer") || header.is_empty() => {
            return Err(OcError::unauthorized(NO_CREDENTIALS));
        }
        _ => return Err(OcError::unauthorized(TOKEN_ISSUES)),
    };
    let mut validation = Validation::new(app.config.jwt.algorithm());
    validation.set_issuer(&[ISSUER]);
    validation.leeway = 0;
    validation.set_required_spec_claims(&["exp", "iss", "sub"]);
    let claims = app.config.jwt.check::<Claims>(token, validation).map_err(|e| match e.kind() {
        ErrorKind::ExpiredSignature => OcError::unauthorized(EXPIRED),
        ErrorKind::InvalidIssuer => OcError::unauthorized(INVALID_PARAMETERS),
        _ => OcError::unauthorized(TOKEN_ISSUES),
    })?;
    let id = ids::decode(Kind::User, &claims.sub).ok_or_else(|| OcError::unauthorized(TOKEN_ISSUES))?;
    let user = app.store.read(AccountOf { id: UserId(id), kinds: &KINDS }).await?;
    let user =
        // A token of a user disabled since it was issued stops working at once.
        user.filter(|u| sub_type(u.kind) == claims.sub_type && u.disabled_at.is_none()).ok_or_else(|| OcError::unauthorized(NOT_A_CONSUMER))?;
    Ok(Caller { user, scopes: claims.scope.split_whitespace().map(str::to_string).collect() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_group_owners_hold_group_scopes() {
        for kind in [UserKind::Admin, UserKind::Child, UserKind::Family, UserKind::Application] {
            assert!(!scopes(kind).iter().any(|s| s.starts_with("childrengroups:")), "{kind:?}");
        }
        for kind in [UserKind::Educator, UserKind::HealthProfessional] {
            assert_eq!(scopes(kind).iter().filter(|s| s.starts_with("childrengroups:")).count(), 4);
        }
    }
}
