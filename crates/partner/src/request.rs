//! Reading partner requests: the caller, path ids, paging, bodies.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use classhub_core::UserId;
use classhub_core::page::{LIMIT_DEFAULT, LIMIT_MAX, PageRequest};
use classhub_core::user::{Principal, UserKind};
use classhub_store::ops::users::Authenticate;
pub use classhub_web::fastapi::page_of;
use classhub_web::fastapi::{ApiError, Errors};
use classhub_web::{AppState, PathText, bearer, read_body};
use http::StatusCode;
use http::header::{self, HeaderValue};
use http::request::Parts;
use serde_json::Value;
use std::collections::HashMap;

/// The authenticated caller: 401 `unauthorized` (GrowFit's word, with classhub's
/// `WWW-Authenticate: Bearer`) otherwise.
pub struct Caller(pub Principal);

/// 401, as GrowFit words it.
pub fn unauthorized() -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized")
        .with_header(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"))
}

/// 403 for a caller who is not a partner on a partner route.
pub fn not_a_partner() -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, "not_a_partner")
}

/// 403 for a partner on another partner's path (and a caller the route is not for).
pub fn forbidden() -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, "forbidden")
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer(&parts.headers).ok_or_else(unauthorized)?;
        let principal = state.store.read(Authenticate { token, now: classhub_core::time::now() }).await?;
        Caller::named(principal)
    }
}

/// The bearer token a request came with, not yet checked: for a read sent together with
/// its check (`AsCaller`). 401 without one.
pub struct Token(pub String);

impl FromRequestParts<AppState> for Token {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, ApiError> {
        bearer(&parts.headers).map(|t| Token(t.to_string())).ok_or_else(unauthorized)
    }
}

impl Caller {
    /// The caller a token names: 401 for a token that names no one (unknown, expired or
    /// revoked).
    pub fn named(principal: Option<Principal>) -> Result<Caller, ApiError> {
        principal.map(Caller).ok_or_else(unauthorized)
    }

    /// The partner named by the path, if the caller is that partner: 403 `not_a_partner`
    /// for a caller who is no partner, `forbidden` for another partner.
    pub fn as_partner(&self, partner_id: i64) -> Result<UserId, ApiError> {
        let p = self.0;
        if p.kind != UserKind::Partner {
            Err(not_a_partner())
        } else if p.user_id.0 != partner_id {
            Err(forbidden())
        } else {
            Ok(p.user_id)
        }
    }

    /// The caller as a student: a student, or a partner — whose account is also a
    /// student's, as in GrowFit (its front end joins a new class with the partner's own
    /// token). Anyone else: 403 `forbidden`.
    pub fn as_student(&self) -> Result<UserId, ApiError> {
        match self.0.kind {
            UserKind::Student | UserKind::Partner => Ok(self.0.user_id),
            _ => Err(forbidden()),
        }
    }
}

/// The request body, within the configured size limit.
pub struct Body(pub Bytes);

impl FromRequest<AppState> for Body {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        read_body(req, state).await.map(Body).map_err(ApiError::body)
    }
}

/// Path ids: integers ≥ 1, in the order named.
pub fn ids<const N: usize>(path: &PathText, names: [&str; N], errors: &mut Errors) -> [i64; N] {
    names.map(|name| errors.int_text(&["path", name], path.get(name), Some(1), None).unwrap_or(0))
}

/// Path ids read as GrowFit's `int` parameters without bounds (an id of 0 is simply not
/// found), in the order named.
pub fn any_ids<const N: usize>(path: &PathText, names: [&str; N], errors: &mut Errors) -> [i64; N] {
    names.map(|name| errors.int_text(&["path", name], path.get(name), None, None).unwrap_or(0))
}

/// `limit` (1..=100, default 50) and `offset` (≥ 0, default 0).
pub fn page(query: &HashMap<String, String>, errors: &mut Errors) -> PageRequest {
    page_of(query, LIMIT_DEFAULT, LIMIT_MAX, errors)
}

/// Finishes validating a request with a JSON body. FastAPI validates path, query and body
/// in one pass, so with bad path or query values the body's problems are reported too;
/// with good ones, a caller who is not the path's partner is refused before the body is
/// read. Returns the partner, the body and what `read` made of it.
pub fn with_body<T>(
    caller: &Caller,
    partner_id: i64,
    mut errors: Errors,
    bytes: &[u8],
    read: impl FnOnce(&Value, &mut Errors) -> T,
) -> Result<(UserId, Value, T), ApiError> {
    if errors.is_empty() {
        caller.as_partner(partner_id)?;
    }
    let body = errors.json_object(bytes);
    let parsed = body.as_ref().map(|b| read(b, &mut errors));
    errors.check()?;
    let owner = caller.as_partner(partner_id)?;
    match (body, parsed) {
        (Some(body), Some(parsed)) => Ok((owner, body, parsed)),
        _ => Err(ApiError::new(http::StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")),
    }
}
