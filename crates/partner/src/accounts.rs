//! Accounts (GrowFit): sign-in, sign-up with an emailed code, refresh, and one's own account
//! and profile, under `/user/…` as GrowFit's backend serves them. Rules live in the core
//! (`classhub_core::account`); this module reads bodies and writes answers.

use axum::extract::State;
use axum::response::Response;
use classhub_core::account::{self, Account, AccountChange, AccountRefusal, PersonProfile, ProfileChange};
use classhub_core::error::{DomainError, Violation};
use classhub_core::password;
use classhub_core::patch::Patch;
use classhub_core::user::{self, User, UserKind};
use classhub_store::StoreError;
use classhub_store::ops::accounts::{
    AccountByEmail, MyAccount, Refresh, SendEmailCode, SignIn, SignUp, SignupGate, UpdateMyAccount, UpdateMyProfile,
    VerifyEmailCode,
};
use classhub_store::ops::security::{ReserveAttempt, SettleAttempt};
use classhub_web::fastapi::{ApiError, Errors, HttpError, HttpValidationError};
use classhub_web::{AppState, BearerSecurity, PeerAddr, RequestId, bearer, json, ser_opt_rfc3339, ser_rfc3339};
use http::{HeaderMap, StatusCode};
use jiff::Timestamp;
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::{OpenApi, ToSchema};

use crate::request::{Body, Caller};

// ---- bodies ----------------------------------------------------------------------------------

/// `POST /user/login`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct LoginInput {
    #[schema(format = "email")]
    email: String,
    password: String,
}

/// The token triple of a sign-in or a refresh.
#[derive(Serialize, ToSchema)]
pub struct AuthTokens {
    /// A bearer token (`chk_…`): it expires (`--session-ttl`, 8 hours by default), and is
    /// revoked by the admin API, a refresh or a new password.
    access_token: String,
    /// Exchanged once at `POST /user/token/refresh` for a new pair, within `--refresh-ttl`
    /// (7 days by default), even after the access token expired.
    refresh_token: String,
    /// `bearer`.
    token_type: &'static str,
}

/// `POST /user/token/refresh`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct RefreshInput {
    refresh_token: String,
}

/// `POST /user/email/send-code`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct EmailCodeSendRequest {
    email: String,
}

#[derive(Serialize, ToSchema)]
pub struct EmailCodeSendResponse {
    email: String,
    /// Names this code request at `verify-code`.
    verification_token: String,
}

/// `POST /user/email/verify-code`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct EmailCodeVerifyRequest {
    email: String,
    /// The six digits emailed.
    code: String,
    verification_token: String,
}

#[derive(Serialize, ToSchema)]
pub struct EmailCodeVerifyResponse {
    email: String,
    /// Names the verification; sign-up and email changes may send it (optional).
    email_verified_token: String,
}

/// `POST /user/signup`. Other fields (`status`, `default_role`, `referral_source`…) are
/// ignored. The email must have been verified in the last 30 minutes.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct UserCreate {
    #[schema(format = "email")]
    email: String,
    password: String,
    full_name: Option<String>,
    status: Option<String>,
    default_role: Option<String>,
    /// The verification to use (its `email_verified_token`, or its `verification_token`);
    /// without it, the email's most recent one.
    email_verified_token: Option<String>,
}

/// `PATCH /user/my`: a new email (verified, as at sign-up) or password; `status`,
/// `default_role` and `partner_id` are ignored.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct UserUpdate {
    #[schema(format = "email")]
    email: Option<String>,
    password: Option<String>,
    status: Option<String>,
    default_role: Option<String>,
    email_verified_token: Option<String>,
}

/// `PATCH /user/my/profile`: absent keeps a field, null clears it (`full_name` is the
/// user's name, and cannot be cleared).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct UserProfileUpdate {
    full_name: Option<String>,
    job_title: Option<String>,
    department: Option<String>,
    phone_number: Option<String>,
    location: Option<String>,
    bio: Option<String>,
    avatar_url: Option<String>,
    avatar_initials: Option<String>,
}

/// An account as GrowFit shows it.
#[derive(Serialize, ToSchema)]
pub struct UserResponse {
    user_id: i64,
    email: Option<String>,
    /// `active`.
    status: &'static str,
    /// `partner` or `member`.
    default_role: &'static str,
    /// The user's own id when the user is a partner (the `partner_id` of partner paths).
    partner_id: Option<i64>,
    #[serde(serialize_with = "ser_opt_rfc3339")]
    #[schema(value_type = Option<String>, format = DateTime)]
    last_login_at: Option<Timestamp>,
    #[serde(serialize_with = "ser_rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    created_at: Timestamp,
    #[serde(serialize_with = "ser_rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    updated_at: Timestamp,
}

impl UserResponse {
    fn of(user: &User, account: Option<&Account>) -> UserResponse {
        let partner = user.kind == UserKind::Partner;
        UserResponse {
            user_id: user.id.0,
            email: user.email.clone().or_else(|| account.map(|a| a.email.clone())),
            status: "active",
            default_role: if partner { "partner" } else { "member" },
            partner_id: partner.then_some(user.id.0),
            last_login_at: account.and_then(|a| a.last_login_at),
            created_at: user.created_at,
            updated_at: account.map_or(user.created_at, |a| a.updated_at),
        }
    }
}

/// A profile as GrowFit shows it.
#[derive(Serialize, ToSchema)]
pub struct UserProfileResponse {
    user_id: i64,
    full_name: Option<String>,
    job_title: Option<String>,
    department: Option<String>,
    phone_number: Option<String>,
    location: Option<String>,
    bio: Option<String>,
    avatar_url: Option<String>,
    avatar_initials: Option<String>,
    #[serde(serialize_with = "ser_rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    updated_at: Timestamp,
}

impl UserProfileResponse {
    fn of(user: &User, account: Option<&Account>) -> UserProfileResponse {
        let p = PersonProfile::of(user.profile.as_ref());
        let updated_at = p.updated_at.or(account.map(|a| a.updated_at)).unwrap_or(user.created_at);
        UserProfileResponse {
            user_id: user.id.0,
            full_name: Some(user.name.clone()),
            job_title: p.job_title,
            department: p.department,
            phone_number: p.phone_number,
            location: p.location,
            bio: p.bio,
            avatar_url: p.avatar_url,
            avatar_initials: p.avatar_initials,
            updated_at,
        }
    }
}

// ---- reading bodies -----------------------------------------------------------------------------

/// A required string field (`missing`, `string_type` otherwise).
fn required_string(errors: &mut Errors, body: &Value, name: &str) -> Option<String> {
    let v = errors.required(body, name)?.clone();
    errors.string(&["body", name], &v)
}

/// An optional string field: absent and null are `None`.
fn optional_string(errors: &mut Errors, body: &Value, name: &str) -> Option<String> {
    match body.get(name) {
        None | Some(Value::Null) => None,
        Some(v) => errors.string(&["body", name], v),
    }
}

/// Why an email is not one (email-validator's words, as pydantic's `EmailStr` reports).
fn email_reason(e: &str) -> Option<&'static str> {
    if user::valid_email(e).is_ok() {
        return None;
    }
    let at = e.matches('@').count();
    Some(match e.split_once('@') {
        None => "An email address must have an @-sign.",
        Some(_) if at > 1 => "The email address is not valid. It must have exactly one @-sign.",
        Some(("", _)) => "There must be something before the @-sign.",
        Some((_, "")) => "There must be something after the @-sign.",
        _ if e.chars().count() > user::EMAIL_MAX_CHARS => "The email address is too long.",
        _ => "The email address contains invalid characters.",
    })
}

/// An email field (pydantic's `EmailStr`): trimmed, and plausible (one `@` with text on
/// both sides, no spaces or control characters, at most 254 characters).
fn email_value(errors: &mut Errors, name: &str, value: String) -> Option<String> {
    let trimmed = value.trim().to_string();
    match email_reason(&trimmed) {
        None => Some(trimmed),
        Some(reason) => {
            errors.push(
                "value_error",
                vec!["body".into(), name.into()],
                format!("value is not a valid email address: {reason}"),
                Value::String(value),
                Some(json!({ "reason": reason })),
            );
            None
        }
    }
}

/// A password field: too long is a field error; empty is `password required` (400),
/// answered once the body is otherwise valid.
fn password_value(errors: &mut Errors, password: &str) -> Option<bool> {
    match account::check_password(password) {
        Ok(Ok(())) => Some(true),
        Ok(Err(_)) => Some(false),
        Err(problem) => {
            let body = json!({ "password": password });
            errors.violations(&[Violation::new("password", problem)], &body);
            None
        }
    }
}

/// The body as an object, with its problems collected.
fn object(errors: &mut Errors, bytes: &[u8]) -> Value {
    errors.json_object(bytes).unwrap_or(Value::Null)
}

fn internal() -> ApiError {
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
}

/// The answer to a refusal, in GrowFit's words.
fn refused(r: AccountRefusal) -> ApiError {
    let status = match r {
        AccountRefusal::InvalidCredentials | AccountRefusal::InvalidRefreshToken => StatusCode::UNAUTHORIZED,
        AccountRefusal::EmailTaken | AccountRefusal::NoEmail => StatusCode::CONFLICT,
        AccountRefusal::InvalidVerificationToken
        | AccountRefusal::EmailMismatch
        | AccountRefusal::InvalidCode
        | AccountRefusal::CodeExpired
        | AccountRefusal::EmailNotVerified
        | AccountRefusal::PasswordRequired => StatusCode::BAD_REQUEST,
    };
    ApiError::new(status, r.to_string())
}

/// A store failure; a throttle on sending codes says so in its own words.
fn store_error(e: StoreError, body: Option<&Value>) -> ApiError {
    match e {
        StoreError::Domain(DomainError::Throttled(t)) if t.policy.starts_with("email-code") => {
            classhub_web::throttle::refusal_headers(&t).into_iter().fold(
                ApiError::new(StatusCode::TOO_MANY_REQUESTS, "too many codes sent; try again later"),
                |e, (k, v)| e.with_header(k, v),
            )
        }
        other => ApiError::from_store(other, body),
    }
}

/// Hashes a password with Argon2id, off the request threads.
async fn hash_password(password: String) -> Result<String, ApiError> {
    tokio::task::spawn_blocking(move || password::hash(&password)).await.ok().and_then(Result::ok).ok_or_else(internal)
}

/// The caller, who must be a partner or a student (a partner's account is a student's too).
fn account_holder(caller: &Caller) -> Result<classhub_core::UserId, ApiError> {
    if account::may_hold_account(caller.0.kind) { Ok(caller.0.user_id) } else { Err(crate::request::forbidden()) }
}

// ---- sign-in ------------------------------------------------------------------------------------

/// Sign in with an email and a password. Every attempt costs one Argon2 verification (a
/// fixed hash stands in for unknown emails), and failures are throttled per email at an
/// address and per address.
#[utoipa::path(post, path = "/user/login", operation_id = "partner_login", tag = "account", request_body = LoginInput,
    responses((status = 200, description = "Access and refresh tokens", body = AuthTokens),
        (status = 401, body = HttpError, description = "invalid credentials"),
        (status = 422, body = HttpValidationError),
        (status = 429, body = HttpError, headers(("Retry-After" = String)), description = "too many failed attempts")))]
pub async fn login(
    State(app): State<AppState>,
    PeerAddr(peer): PeerAddr,
    Body(bytes): Body,
) -> Result<Response, ApiError> {
    let mut errors = Errors::default();
    let body = object(&mut errors, &bytes);
    let (email, password) = if body.is_object() {
        let email = required_string(&mut errors, &body, "email").and_then(|e| email_value(&mut errors, "email", e));
        (email, required_string(&mut errors, &body, "password"))
    } else {
        (None, None)
    };
    errors.check()?;
    let (Some(email), Some(password)) = (email, password) else { return Err(internal()) };
    let key = user::normalize_email(&email);
    // Reserved in the shared store before Argon2 runs: no burst, through any number of
    // processes, gets more checks than the budget.
    let identity = format!("email:{key}");
    let keys = classhub_web::throttle::keys(app.config.account_login_policy(), Some(&identity), peer);
    app.store.write(ReserveAttempt { keys: keys.clone(), now: Timestamp::now() }).await?;
    let user = check_password(&app, &key, password).await?;
    app.store.write(SettleAttempt { keys, ok: user.is_some(), now: Timestamp::now() }).await?;
    let Some(user) = user else { return Err(refused(AccountRefusal::InvalidCredentials)) };
    match app.store.write(SignIn { user, ttl: app.config.sessions(), now: classhub_core::time::now() }).await? {
        Ok((access, refresh)) => Ok(tokens(access, refresh)),
        Err(r) => Err(refused(r)),
    }
}

fn tokens(access_token: String, refresh_token: String) -> Response {
    json(StatusCode::OK, &AuthTokens { access_token, refresh_token, token_type: "bearer" })
}

/// The user whose account has this email and password, if any. One Argon2 verification
/// either way, so the time taken does not tell known emails from unknown ones.
async fn check_password(
    app: &AppState,
    email: &str,
    password: String,
) -> Result<Option<classhub_core::UserId>, ApiError> {
    let found = app.store.read(AccountByEmail { email }).await?;
    let (user, hash) = match found {
        Some((u, _, hash)) => (Some(u.id), Some(hash)),
        None => (None, None),
    };
    let ok = tokio::task::spawn_blocking(move || {
        // A password no account can have is checked (truncated) against the stand-in.
        let (candidate, stored) = match hash {
            Some(h) if account::check_password(&password).is_ok() => (password, h),
            _ => (password.chars().take(account::PASSWORD_MAX_CHARS).collect(), String::new()),
        };
        if stored.is_empty() {
            password::verify(&candidate, password::dummy_hash());
            false
        } else {
            password::verify(&candidate, &stored)
        }
    })
    .await
    .unwrap_or(false);
    Ok(if ok { user } else { None })
}

/// Exchange a refresh token, once and before it expires, for a new token pair; the access
/// token it came with is revoked.
#[utoipa::path(post, path = "/user/token/refresh",
    operation_id = "partner_refresh_token", tag = "account", request_body = RefreshInput,
    responses((status = 200, description = "New access and refresh tokens", body = AuthTokens),
        (status = 401, body = HttpError, description = "invalid refresh token"),
        (status = 422, body = HttpValidationError)))]
pub async fn refresh(State(app): State<AppState>, Body(bytes): Body) -> Result<Response, ApiError> {
    let mut errors = Errors::default();
    let body = object(&mut errors, &bytes);
    let token = if body.is_object() { required_string(&mut errors, &body, "refresh_token") } else { None };
    errors.check()?;
    let token = token.ok_or_else(internal)?;
    match app.store.write(Refresh { token, ttl: app.config.sessions(), now: classhub_core::time::now() }).await? {
        Ok((access, refresh)) => Ok(tokens(access, refresh)),
        Err(r) => Err(refused(r)),
    }
}

// ---- sign-up ------------------------------------------------------------------------------------

/// Email a six-digit code (valid for 10 minutes) to an address, before signing up with it.
/// Throttled per email at an address and per address.
#[utoipa::path(post, path = "/user/email/send-code",
    operation_id = "partner_send_email_code", tag = "account", request_body = EmailCodeSendRequest,
    responses(
        (status = 200, description = "The code was sent; the token names this request", body = EmailCodeSendResponse),
        (status = 422, body = HttpValidationError),
        (status = 429, body = HttpError, headers(("Retry-After" = String)), description = "too many codes sent")))]
pub async fn send_code(
    State(app): State<AppState>,
    PeerAddr(peer): PeerAddr,
    Body(bytes): Body,
) -> Result<Response, ApiError> {
    let mut errors = Errors::default();
    let body = object(&mut errors, &bytes);
    let email = if body.is_object() {
        required_string(&mut errors, &body, "email").and_then(|e| email_value(&mut errors, "email", e))
    } else {
        None
    };
    errors.check()?;
    let email = email.ok_or_else(internal)?;
    let key = user::normalize_email(&email);
    let identity = format!("email:{key}");
    let throttle = classhub_web::throttle::keys(app.config.email_code_policy(), Some(&identity), peer);
    let op = SendEmailCode { to: email.clone(), email: key, throttle, now: classhub_core::time::now() };
    let verification_token = app.store.write(op).await.map_err(|e| store_error(e, None))?;
    Ok(json(StatusCode::OK, &EmailCodeSendResponse { email, verification_token }))
}

/// Check an emailed code. Five wrong codes end the request; a request, once verified, is
/// used (its token is then invalid).
#[utoipa::path(post, path = "/user/email/verify-code",
    operation_id = "partner_verify_email_code", tag = "account", request_body = EmailCodeVerifyRequest,
    responses(
        (status = 200,
            description = "The code is right; the token names the verification", body = EmailCodeVerifyResponse),
        (status = 400, body = HttpError,
            description = "invalid verification token, email mismatch, invalid code, or code expired"),
        (status = 422, body = HttpValidationError)))]
pub async fn verify_code(State(app): State<AppState>, Body(bytes): Body) -> Result<Response, ApiError> {
    let mut errors = Errors::default();
    let body = object(&mut errors, &bytes);
    let fields = if body.is_object() {
        let email = required_string(&mut errors, &body, "email");
        let code = required_string(&mut errors, &body, "code");
        let token = required_string(&mut errors, &body, "verification_token");
        Some((email, code, token))
    } else {
        None
    };
    errors.check()?;
    let Some((Some(email), Some(code), Some(token))) = fields else { return Err(internal()) };
    let op = VerifyEmailCode { email: user::normalize_email(&email), code, token, now: classhub_core::time::now() };
    match app.store.write(op).await? {
        Ok(email_verified_token) => {
            Ok(json(StatusCode::OK, &EmailCodeVerifyResponse { email: email.trim().to_string(), email_verified_token }))
        }
        Err(r) => Err(refused(r)),
    }
}

/// The hash of a verification token a body names (an empty one names none).
fn named_verification(errors: &mut Errors, body: &Value) -> Option<[u8; 32]> {
    optional_string(errors, body, "email_verified_token").filter(|t| !t.is_empty()).map(|t| account::secret_hash(&t))
}

/// Sign up as a student with an email verified in the last 30 minutes (the verification is
/// used up). The body's `status`, `default_role` and other fields are ignored.
#[utoipa::path(post, path = "/user/signup", operation_id = "partner_signup", tag = "account", request_body = UserCreate,
    responses((status = 201, description = "The account created", body = UserResponse),
        (status = 400, body = HttpError,
            description = "password required, email not verified, or invalid verification token"),
        (status = 409, body = HttpError, description = "email already exists"),
        (status = 422, body = HttpValidationError)))]
pub async fn signup(State(app): State<AppState>, request: RequestId, Body(bytes): Body) -> Result<Response, ApiError> {
    let mut errors = Errors::default();
    let body = object(&mut errors, &bytes);
    let mut fields = None;
    if body.is_object() {
        let email = required_string(&mut errors, &body, "email").and_then(|e| email_value(&mut errors, "email", e));
        let password = required_string(&mut errors, &body, "password");
        let given = password.as_deref().and_then(|p| password_value(&mut errors, p));
        let full_name = optional_string(&mut errors, &body, "full_name");
        // Read as pydantic reads them (strings or null), then ignored.
        optional_string(&mut errors, &body, "status");
        optional_string(&mut errors, &body, "default_role");
        let token = named_verification(&mut errors, &body);
        let name = full_name.filter(|n| !n.trim().is_empty());
        if let Some(n) = &name
            && let Err(p) = classhub_core::text::label(n, user::USER_NAME_MAX_CHARS)
        {
            errors.violations(&[Violation::new("full_name", p)], &body);
        }
        fields = Some((email, password, given, name, token));
    }
    errors.check()?;
    let Some((Some(email), Some(password), Some(given), name, token)) = fields else { return Err(internal()) };
    if !given {
        return Err(refused(AccountRefusal::PasswordRequired));
    }
    let key = user::normalize_email(&email);
    let now = classhub_core::time::now();
    // A sign-up that cannot go ahead costs no Argon2.
    if let Err(r) = app.store.read(SignupGate { email: &key, token, now }).await? {
        return Err(refused(r));
    }
    let password_hash = hash_password(password).await?;
    // Without a name, the user is named by their email (names hold 200 characters).
    let name = name.unwrap_or_else(|| email.chars().take(user::USER_NAME_MAX_CHARS).collect());
    let op = SignUp { ctx: request.context(None), email_given: email, email: key, name, password_hash, token };
    match app.store.write(op).await.map_err(|e| ApiError::from_store(e, Some(&body)))? {
        Ok((user, made)) => Ok(json(StatusCode::CREATED, &UserResponse::of(&user, Some(&made)))),
        Err(r) => Err(refused(r)),
    }
}

// ---- one's own account --------------------------------------------------------------------------

/// The caller's account. `partner_id` is the caller's id when the caller is a partner.
#[utoipa::path(get, path = "/user/my", operation_id = "partner_get_my_account", tag = "account",
    responses(
        (status = 200, description = "The caller's account", body = UserResponse), (status = 401, body = HttpError),
        (status = 403, body = HttpError)),
    security(("bearer" = [])))]
pub async fn my(State(app): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    let id = account_holder(&caller)?;
    let (user, made) = app.store.read(MyAccount { user: id }).await?.ok_or_else(crate::request::unauthorized)?;
    Ok(json(StatusCode::OK, &UserResponse::of(&user, made.as_ref())))
}

/// Change the caller's email (verified lately, as at sign-up) or password. A new password
/// ends the caller's other sessions; the token making the change stays valid.
#[utoipa::path(patch, path = "/user/my",
    operation_id = "partner_update_my_account", tag = "account", request_body = UserUpdate,
    responses((status = 200, description = "The account as changed", body = UserResponse),
        (status = 400, body = HttpError, description = "password required, or email not verified"),
        (status = 401, body = HttpError), (status = 403, body = HttpError),
        (status = 409, body = HttpError, description = "email already exists"),
        (status = 422, body = HttpValidationError)),
    security(("bearer" = [])))]
pub async fn update_my(
    State(app): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    request: RequestId,
    Body(bytes): Body,
) -> Result<Response, ApiError> {
    let id = account_holder(&caller)?;
    let mut errors = Errors::default();
    let body = object(&mut errors, &bytes);
    let mut fields = None;
    if body.is_object() {
        let email = optional_string(&mut errors, &body, "email").and_then(|e| email_value(&mut errors, "email", e));
        let password = optional_string(&mut errors, &body, "password");
        let given = password.as_deref().and_then(|p| password_value(&mut errors, p));
        optional_string(&mut errors, &body, "status");
        optional_string(&mut errors, &body, "default_role");
        let token = named_verification(&mut errors, &body);
        fields = Some((email, password, given, token));
    }
    errors.check()?;
    let Some((email, password, given, token)) = fields else { return Err(internal()) };
    if given == Some(false) {
        return Err(refused(AccountRefusal::PasswordRequired));
    }
    let password_hash = match password {
        Some(p) => Some(hash_password(p).await?),
        None => None,
    };
    let keep = account::secret_hash(bearer(&headers).unwrap_or_default());
    let change = AccountChange { email: email.map(|e| (e.clone(), user::normalize_email(&e))), password_hash };
    let op = UpdateMyAccount { ctx: request.context(Some(id)), user: id, change, token, keep };
    match app.store.write(op).await.map_err(|e| ApiError::from_store(e, Some(&body)))? {
        Ok((user, made)) => Ok(json(StatusCode::OK, &UserResponse::of(&user, made.as_ref()))),
        Err(r) => Err(refused(r)),
    }
}

/// The caller's profile; `full_name` is the caller's name.
#[utoipa::path(get, path = "/user/my/profile", operation_id = "partner_get_my_profile", tag = "account",
    responses(
        (status = 200, description = "The caller's profile", body = UserProfileResponse),
        (status = 401, body = HttpError), (status = 403, body = HttpError)),
    security(("bearer" = [])))]
pub async fn my_profile(State(app): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    let id = account_holder(&caller)?;
    let (user, made) = app.store.read(MyAccount { user: id }).await?.ok_or_else(crate::request::unauthorized)?;
    Ok(json(StatusCode::OK, &UserProfileResponse::of(&user, made.as_ref())))
}

/// Profile fields in the model's order, the order pydantic reports errors in.
const PROFILE_FIELDS: [&str; 8] =
    ["full_name", "job_title", "department", "phone_number", "location", "bio", "avatar_url", "avatar_initials"];

/// A merge-patch text field: absent keeps, null clears.
fn text_patch(errors: &mut Errors, body: &Value, name: &str) -> Patch<String> {
    match body.get(name) {
        None => Patch::Keep,
        Some(Value::Null) => Patch::Clear,
        Some(v) => errors.string(&["body", name], v).map_or(Patch::Keep, Patch::Set),
    }
}

/// Change the caller's profile: absent fields are kept, null clears one; `full_name`
/// renames the caller.
#[utoipa::path(patch, path = "/user/my/profile",
    operation_id = "partner_update_my_profile", tag = "account", request_body = UserProfileUpdate,
    responses(
        (status = 200, description = "The profile as changed", body = UserProfileResponse),
        (status = 401, body = HttpError), (status = 403, body = HttpError), (status = 422, body = HttpValidationError)),
    security(("bearer" = [])))]
pub async fn update_my_profile(
    State(app): State<AppState>,
    caller: Caller,
    request: RequestId,
    Body(bytes): Body,
) -> Result<Response, ApiError> {
    let id = account_holder(&caller)?;
    let mut errors = Errors::default();
    let body = object(&mut errors, &bytes);
    let mut change = ProfileChange::default();
    if body.is_object() {
        change.full_name = match body.get("full_name") {
            None => None,
            // A name cannot be removed.
            Some(v) => errors.string(&["body", "full_name"], v),
        };
        change.job_title = text_patch(&mut errors, &body, "job_title");
        change.department = text_patch(&mut errors, &body, "department");
        change.phone_number = text_patch(&mut errors, &body, "phone_number");
        change.location = text_patch(&mut errors, &body, "location");
        change.bio = text_patch(&mut errors, &body, "bio");
        change.avatar_url = text_patch(&mut errors, &body, "avatar_url");
        change.avatar_initials = text_patch(&mut errors, &body, "avatar_initials");
        errors.violations(&account::check_profile_change(&change), &body);
        errors.sort_by_fields(&PROFILE_FIELDS);
    }
    errors.check()?;
    let op = UpdateMyProfile { ctx: request.context(Some(id)), user: id, change };
    let (user, made) = app.store.write(op).await.map_err(|e| ApiError::from_store(e, Some(&body)))?;
    Ok(json(StatusCode::OK, &UserProfileResponse::of(&user, made.as_ref())))
}

#[derive(OpenApi)]
#[openapi(
    components(schemas(
        LoginInput, AuthTokens, RefreshInput, EmailCodeSendRequest, EmailCodeSendResponse, EmailCodeVerifyRequest,
        EmailCodeVerifyResponse, UserCreate, UserUpdate, UserProfileUpdate, UserResponse, UserProfileResponse
    )),
    modifiers(&BearerSecurity),
    tags((name = "account", description = "Accounts (GrowFit): sign-in, sign-up with an emailed code, one's own account")),
)]
pub struct Doc;
