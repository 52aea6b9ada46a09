//! Sign-in and the administrator's endpoints: institutions, children, educators, health
//! professionals, families, applications, and deleting users.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use classhub_core::ocariot::{self, ChildChange, ChildProfile, Institution};
use classhub_core::password;
use classhub_core::user::{NewUser, User, UserKind};
use classhub_core::{InstitutionId, UserId};
use classhub_store::ops::ocariot::{
    AccountByUsername, AccountOf, AccountsById, CreateAccount, CreateInstitution, DeleteAccount, EnsureAdmin, KINDS,
    ListGroups, RecordLogin, ReplacePassword, UpdateChild,
};
use classhub_store::ops::security::{ReserveAttempt, SettleAttempt};
use classhub_web::{AppState, PathText, PeerAddr, RequestId, json};
use http::{HeaderMap, StatusCode};
use serde::Serialize;
use serde_json::{Map, Value, json};
use utoipa::{OpenApi, ToSchema};

use crate::auth::{self, authenticate};
use crate::bodies::{
    ApplicationInput, ChildInput, ChildUpdate, Credentials, FamilyInput, InstitutionInput, OwnerInput,
    PasswordChangeInput,
};
use crate::error::OcError;
use crate::ids::{self, Kind};
use crate::input::{self, ChildIds};
use crate::view::{ApplicationOut, ChildOut, FamilyOut, InstitutionOut, OwnerOut};
use crate::{Body, OwnerKind};

#[derive(Serialize, ToSchema)]
pub struct TokenOut {
    access_token: String,
}

/// The public key OCARIoT tokens are signed with (RS256), for an API gateway that checks
/// them.
#[utoipa::path(get, path = "/.well-known/jwks.json", operation_id = "ocariot_get_jwks", tag = "ocariot",
    responses((status = 200, description = "JSON Web Key Set", body = Object)))]
pub async fn jwks(State(app): State<AppState>) -> Response {
    json(StatusCode::OK, app.config.jwt.jwks())
}

/// Sign in with a username and password; answers a JWT valid for a day.
#[utoipa::path(post, path = "/v1/auth", operation_id = "ocariot_login", tag = "ocariot", request_body = Credentials,
    responses(
        (status = 200, description = "The access token", body = TokenOut), (status = 400, body = OcError),
        (status = 401, body = OcError),
        (status = 429, description = "Too many failed sign-ins; retry later", body = OcError)))]
pub async fn login(
    State(app): State<AppState>,
    PeerAddr(peer): PeerAddr,
    Body(bytes): Body,
) -> Result<Response, OcError> {
    let body = input::object(&bytes)?;
    let username = input::text(&body, "username")?;
    let password = input::text(&body, "password")?;
    let (Some(username), Some(password)) = (username, password) else {
        let missing: Vec<&str> = ["username", "password"].into_iter().filter(|f| !body.contains_key(*f)).collect();
        return Err(OcError::required(&missing));
    };
    // The attempt is reserved in the shared store before Argon2 runs, so that neither a
    // burst nor more processes get more guesses than the budget.
    let identity = format!("user:{username}");
    let keys = classhub_web::throttle::keys(app.config.login_policy(), Some(&identity), peer);
    app.store.write(ReserveAttempt { keys: keys.clone(), now: jiff::Timestamp::now() }).await?;
    let user = check_password(&app, &username, password).await?;
    app.store.write(SettleAttempt { keys, ok: user.is_some(), now: jiff::Timestamp::now() }).await?;
    match user {
        Some(user) => {
            if user.kind == UserKind::Child {
                let at = jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
                app.store.write(RecordLogin { child: user.id, at }).await?;
            }
            Ok(json(StatusCode::OK, &TokenOut { access_token: auth::issue(&app.config.jwt, &user)? }))
        }
        None => Err(OcError::new(StatusCode::UNAUTHORIZED, "Invalid username or password!")),
    }
}

/// The user these credentials belong to. Every attempt costs one Argon2 verification —
/// against the administrator's configured password, a user's hash, or a dummy hash when
/// the name is nobody's — so that the time taken does not tell names apart. Argon2 runs off
/// the request threads.
async fn check_password(app: &AppState, username: &str, password: String) -> Result<Option<User>, OcError> {
    let (user, hash) = if username == "admin" {
        (None, app.config.ocariot_admin_hash.clone())
    } else {
        match app.store.read(AccountByUsername { username }).await? {
            Some((user, Some(hash))) => (Some(user), Some(hash)),
            _ => (None, None),
        }
    };
    let checked = hash.clone();
    let ok = tokio::task::spawn_blocking(move || match checked {
        Some(h) => password::verify(&password, &h),
        None => {
            password::verify(&password, password::dummy_hash());
            false
        }
    })
    .await
    .unwrap_or(false);
    match (ok, user) {
        (true, Some(user)) => Ok(Some(user)),
        (true, None) if username == "admin" && hash.is_some() => Ok(Some(app.store.write(EnsureAdmin).await?)),
        _ => Ok(None),
    }
}

/// Reads the fields every account has. Present fields of the wrong shape are refused at
/// once; missing ones are gathered in `missing`, in the order the original reports them.
struct Account {
    username: Option<String>,
    password: Option<String>,
    institution: Option<InstitutionId>,
}

fn account(
    body: &Map<String, Value>,
    missing: &mut Vec<&'static str>,
    institution_required: bool,
) -> Result<Account, OcError> {
    let username = input::text(body, "username")?;
    if username.is_none() {
        missing.push("username");
    }
    let password = input::text(body, "password")?;
    if password.is_none() {
        missing.push("password");
    }
    let institution = match body.get("institution_id") {
        None | Some(Value::Null) => {
            if institution_required {
                missing.push("institution");
            }
            None
        }
        Some(Value::String(s)) => {
            // A well-formed id that names no institution is "not registered" in the store.
            Some(InstitutionId(input::path_id(s, "institution_id", Kind::Institution)?.unwrap_or(-1)))
        }
        Some(_) => return Err(OcError::id_format("institution_id")),
    };
    Ok(Account { username, password, institution })
}

async fn hashed(password: String) -> Result<String, OcError> {
    tokio::task::spawn_blocking(move || password::hash(&password))
        .await
        .ok()
        .and_then(Result::ok)
        .ok_or_else(|| OcError::new(StatusCode::INTERNAL_SERVER_ERROR, "An internal server error has occurred."))
}

async fn register(
    app: &AppState,
    request: &RequestId,
    kind: UserKind,
    a: Account,
    profile: Option<Value>,
    children: Option<&ChildIds>,
) -> Result<User, OcError> {
    let (Some(username), Some(password)) = (a.username, a.password) else {
        return Err(OcError::required(&["username", "password"]));
    };
    let user = NewUser {
        username: Some(username.clone()),
        password_hash: Some(hashed(password).await?),
        institution_id: a.institution,
        profile,
        ..NewUser::named(kind, username, None)
    };
    let ids = children.map(|c| c.ids.clone()).unwrap_or_default();
    let op = CreateAccount { ctx: request.context(None), user, children: ids };
    app.store.write(op).await.map_err(|e| crate::groups::refused(e, children))
}

/// Checks the caller holds `scope`.
async fn admin(app: &AppState, headers: &HeaderMap, scope: &str) -> Result<auth::Caller, OcError> {
    let caller = authenticate(app, headers).await?;
    caller.require(scope)?;
    Ok(caller)
}

/// Register an institution.
#[utoipa::path(post, path = "/v1/institutions",
    operation_id = "ocariot_create_institution", tag = "ocariot", request_body = InstitutionInput,
    responses(
        (status = 201, description = "The institution registered", body = InstitutionOut),
        (status = 400, body = OcError), (status = 401, body = OcError), (status = 403, body = OcError),
        (status = 409, description = "An institution with this name is already registered", body = OcError)),
    security(("bearer" = [])))]
pub async fn create_institution(
    State(app): State<AppState>,
    headers: HeaderMap,
    request: RequestId,
    Body(bytes): Body,
) -> Result<Response, OcError> {
    admin(&app, &headers, "institutions:create").await?;
    let body = input::object(&bytes)?;
    let mut missing = Vec::new();
    let name = input::text(&body, "name")?;
    if name.is_none() {
        missing.push("name");
    }
    let kind = input::text(&body, "type")?;
    if kind.is_none() {
        missing.push("type");
    }
    let address = input::text(&body, "address")?;
    // Coordinates are text; numbers are written as text.
    let coordinate = |name: &str| match body.get(name) {
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        _ => input::text(&body, name),
    };
    let (latitude, longitude) = (coordinate("latitude")?, coordinate("longitude")?);
    let (Some(name), Some(kind)) = (name, kind) else {
        return Err(OcError::required(&missing));
    };
    let institution = Institution { id: InstitutionId(0), kind, name, address, latitude, longitude };
    let made = app.store.write(CreateInstitution { ctx: request.context(None), institution }).await?;
    Ok(json(StatusCode::CREATED, &InstitutionOut::from(&made)))
}

/// A child's age: text or a number, positive.
fn age(v: &Value) -> Result<String, OcError> {
    let text = match v {
        Value::Number(n) => n.to_string(),
        Value::String(s) if s.is_empty() => return Err(OcError::invalid("age must have at least one character!")),
        Value::String(s) => s.clone(),
        _ => return Err(OcError::invalid("age must be a string!")),
    };
    ocariot::valid_age(&text).map_err(|p| match p {
        classhub_core::Problem::BelowMin { .. } => OcError::invalid("Age cannot be less than or equal to zero!"),
        _ => OcError::invalid("Provided age is not a valid number!"),
    })
}

/// An `age_calc_date`: `YYYY-MM-DD`, not in the future (the core's rule), in the
/// original's words.
fn age_calc_date(body: &Map<String, Value>) -> Result<Option<String>, OcError> {
    let Some(d) = input::text(body, "age_calc_date")? else { return Ok(None) };
    let today = jiff::Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC).date();
    ocariot::valid_age_calc_date(&d, today).map(Some).map_err(|p| match p {
        classhub_core::Problem::InFuture => OcError::bad(
            format!("Datetime: {d}, cannot be used!"),
            "The 'age' and 'age_calc_date' fields can only receive past or present dates.",
        ),
        _ => OcError::bad(
            format!("Date: {d}, is not in valid ISO 8601 format."),
            "Date must be in the format: yyyy-MM-dd",
        ),
    })
}

const GENDERS: &str = "The names of the allowed genders are: male, female.";

/// Register a child.
#[utoipa::path(post, path = "/v1/children",
    operation_id = "ocariot_create_child", tag = "ocariot", request_body = ChildInput,
    responses(
        (status = 201, description = "The child registered", body = ChildOut), (status = 400, body = OcError),
        (status = 401, body = OcError), (status = 403, body = OcError),
        (status = 409, description = "A user with this username is already registered", body = OcError)),
    security(("bearer" = [])))]
pub async fn create_child(
    State(app): State<AppState>,
    headers: HeaderMap,
    request: RequestId,
    Body(bytes): Body,
) -> Result<Response, OcError> {
    admin(&app, &headers, "children:create").await?;
    let body = input::object(&bytes)?;
    let mut missing = Vec::new();
    let account = account(&body, &mut missing, true)?;
    let gender = match body.get("gender") {
        None => {
            missing.push("gender");
            None
        }
        Some(Value::String(g)) => Some(ocariot::valid_gender(g).map_err(|_| OcError::invalid(GENDERS))?),
        Some(_) => return Err(OcError::invalid(GENDERS)),
    };
    let age = match body.get("age") {
        None => {
            missing.push("age");
            None
        }
        Some(v) => Some(age(v)?),
    };
    let age_calc_date = age_calc_date(&body)?;
    let (Some(gender), Some(age), true) = (gender, age, missing.is_empty()) else {
        return Err(OcError::required(&missing));
    };
    let profile = ChildProfile { gender, age, age_calc_date, last_login: None, last_sync: None };
    let child = register(&app, &request, UserKind::Child, account, Some(profile.to_profile()), None).await?;
    Ok(json(StatusCode::CREATED, &ChildOut::from(&child)))
}

/// Change a child's gender, age or age date.
#[utoipa::path(patch, path = "/v1/children/{child_id}",
    operation_id = "ocariot_update_child", tag = "ocariot", params(("child_id" = String, Path)),
    request_body = ChildUpdate,
    responses(
        (status = 200, description = "The child as changed", body = ChildOut), (status = 400, body = OcError),
        (status = 401, body = OcError), (status = 403, body = OcError), (status = 404, body = OcError)),
    security(("bearer" = [])))]
pub async fn update_child(
    State(app): State<AppState>,
    headers: HeaderMap,
    path: PathText,
    request: RequestId,
    Body(bytes): Body,
) -> Result<Response, OcError> {
    admin(&app, &headers, "children:update").await?;
    let text = path.get("child_id");
    let id = input::path_id(text, "child_id", Kind::User)?;
    let body = input::object(&bytes)?;
    if body.contains_key("password") {
        return Err(OcError::bad(
            "This parameter could not be updated.",
            format!(
                "A specific route to update user password already exists.Access: PATCH /users/{text}/password to update your password."
            ),
        ));
    }
    let gender = match body.get("gender") {
        None => None,
        Some(Value::String(g)) => Some(ocariot::valid_gender(g).map_err(|_| OcError::invalid(GENDERS))?),
        Some(_) => return Err(OcError::invalid(GENDERS)),
    };
    let change = ChildChange {
        gender,
        age: body.get("age").map(age).transpose()?,
        age_calc_date: age_calc_date(&body)?,
        last_sync: None,
    };
    let Some(id) = id else {
        return Err(OcError::not_found(StatusCode::NOT_FOUND, "Child"));
    };
    let child = app.store.write(UpdateChild { ctx: request.context(None), child: UserId(id), change }).await?;
    Ok(json(StatusCode::OK, &ChildOut::from(&child)))
}

/// Shared by educators and health professionals.
async fn create_owner(
    app: AppState,
    headers: HeaderMap,
    request: RequestId,
    bytes: &[u8],
    owner: OwnerKind,
) -> Result<Response, OcError> {
    admin(&app, &headers, owner.create_scope()).await?;
    let body = input::object(bytes)?;
    let mut missing = Vec::new();
    let account = account(&body, &mut missing, true)?;
    if !missing.is_empty() {
        return Err(OcError::required(&missing));
    }
    let user = register(&app, &request, owner.kind(), account, None, None).await?;
    Ok(json(StatusCode::CREATED, &OwnerOut::new(&user, &[])))
}

/// Register an educator.
#[utoipa::path(post, path = "/v1/educators",
    operation_id = "ocariot_create_educator", tag = "ocariot", request_body = OwnerInput,
    responses(
        (status = 201, description = "The educator registered", body = OwnerOut), (status = 400, body = OcError),
        (status = 401, body = OcError), (status = 403, body = OcError),
        (status = 409, description = "A user with this username is already registered", body = OcError)),
    security(("bearer" = [])))]
pub async fn create_educator(
    State(app): State<AppState>,
    headers: HeaderMap,
    request: RequestId,
    Body(bytes): Body,
) -> Result<Response, OcError> {
    create_owner(app, headers, request, &bytes, OwnerKind::Educator).await
}

/// Register a health professional.
#[utoipa::path(post, path = "/v1/healthprofessionals",
    operation_id = "ocariot_create_health_professional", tag = "ocariot", request_body = OwnerInput,
    responses(
        (status = 201, description = "The health professional registered", body = OwnerOut),
        (status = 400, body = OcError), (status = 401, body = OcError), (status = 403, body = OcError),
        (status = 409, description = "A user with this username is already registered", body = OcError)),
    security(("bearer" = [])))]
pub async fn create_health_professional(
    State(app): State<AppState>,
    headers: HeaderMap,
    request: RequestId,
    Body(bytes): Body,
) -> Result<Response, OcError> {
    create_owner(app, headers, request, &bytes, OwnerKind::HealthProfessional).await
}

/// Shared by educators and health professionals: the administrator, or the user themself.
async fn get_owner(app: AppState, headers: HeaderMap, path: PathText, owner: OwnerKind) -> Result<Response, OcError> {
    let caller = authenticate(&app, &headers).await?;
    caller.require(owner.read_scope())?;
    let text = path.get(owner.param());
    if input::id_shaped(text) && caller.user.kind != UserKind::Admin && !caller.is(text) {
        return Err(OcError::forbidden());
    }
    let id = input::path_id(text, owner.param(), Kind::User)?;
    let user = match id {
        Some(id) => app.store.read(AccountOf { id: UserId(id), kinds: owner.kinds() }).await?,
        None => None,
    };
    let user = user.ok_or_else(|| OcError::not_found(StatusCode::NOT_FOUND, owner.title()))?;
    let groups = app.store.read(ListGroups { owner: user.id }).await?;
    Ok(json(StatusCode::OK, &OwnerOut::new(&user, &groups)))
}

/// An educator with their groups.
#[utoipa::path(get, path = "/v1/educators/{educator_id}",
    operation_id = "ocariot_get_educator", tag = "ocariot", params(("educator_id" = String, Path)),
    responses(
        (status = 200, description = "The educator, with their groups", body = OwnerOut),
        (status = 400, body = OcError), (status = 401, body = OcError), (status = 403, body = OcError),
        (status = 404, body = OcError)),
    security(("bearer" = [])))]
pub async fn get_educator(
    State(app): State<AppState>,
    headers: HeaderMap,
    path: PathText,
) -> Result<Response, OcError> {
    get_owner(app, headers, path, OwnerKind::Educator).await
}

/// A health professional with their groups.
#[utoipa::path(get, path = "/v1/healthprofessionals/{healthprofessional_id}",
    operation_id = "ocariot_get_health_professional", tag = "ocariot",
    params(("healthprofessional_id" = String, Path)),
    responses(
        (status = 200, description = "The health professional, with their groups", body = OwnerOut),
        (status = 400, body = OcError), (status = 401, body = OcError), (status = 403, body = OcError),
        (status = 404, body = OcError)),
    security(("bearer" = [])))]
pub async fn get_health_professional(
    State(app): State<AppState>,
    headers: HeaderMap,
    path: PathText,
) -> Result<Response, OcError> {
    get_owner(app, headers, path, OwnerKind::HealthProfessional).await
}

/// Register a family (with its children, when given).
#[utoipa::path(post, path = "/v1/families",
    operation_id = "ocariot_create_family", tag = "ocariot", request_body = FamilyInput,
    responses(
        (status = 201, description = "The family registered", body = FamilyOut), (status = 400, body = OcError),
        (status = 401, body = OcError), (status = 403, body = OcError),
        (status = 409, description = "A user with this username is already registered", body = OcError)),
    security(("bearer" = [])))]
pub async fn create_family(
    State(app): State<AppState>,
    headers: HeaderMap,
    request: RequestId,
    Body(bytes): Body,
) -> Result<Response, OcError> {
    admin(&app, &headers, "families:create").await?;
    let body = input::object(&bytes)?;
    let mut missing = Vec::new();
    let account = account(&body, &mut missing, true)?;
    let children = body.get("children").map(ChildIds::parse).transpose()?;
    if !missing.is_empty() {
        return Err(OcError::required(&missing));
    }
    let ids = children.as_ref().map(|c| ocariot::distinct_children(&c.ids)).unwrap_or_default();
    let profile = json!({ "children": ids.iter().map(|u| u.0).collect::<Vec<_>>() });
    let user = register(&app, &request, UserKind::Family, account, Some(profile), children.as_ref()).await?;
    let children = app.store.read(AccountsById { ids }).await?;
    let out = FamilyOut {
        id: ids::encode(Kind::User, user.id.0),
        username: user.username.clone(),
        institution_id: user.institution_id.map(|i| ids::encode(Kind::Institution, i.0)),
        children: children.iter().map(ChildOut::from).collect(),
    };
    Ok(json(StatusCode::CREATED, &out))
}

/// Register an application.
#[utoipa::path(post, path = "/v1/applications",
    operation_id = "ocariot_create_application", tag = "ocariot", request_body = ApplicationInput,
    responses(
        (status = 201, description = "The application registered", body = ApplicationOut),
        (status = 400, body = OcError), (status = 401, body = OcError), (status = 403, body = OcError),
        (status = 409, description = "A user with this username is already registered", body = OcError)),
    security(("bearer" = [])))]
pub async fn create_application(
    State(app): State<AppState>,
    headers: HeaderMap,
    request: RequestId,
    Body(bytes): Body,
) -> Result<Response, OcError> {
    admin(&app, &headers, "applications:create").await?;
    let body = input::object(&bytes)?;
    let mut missing = Vec::new();
    let account = account(&body, &mut missing, false)?;
    let name = input::text(&body, "application_name")?;
    if name.is_none() {
        missing.push("application_name");
    }
    if !missing.is_empty() {
        return Err(OcError::required(&missing));
    }
    let user =
        register(&app, &request, UserKind::Application, account, Some(json!({ "application_name": name })), None)
            .await?;
    Ok(json(StatusCode::CREATED, &ApplicationOut::from(&user)))
}

/// Delete a user. A child leaves every group; an educator's or health professional's
/// groups go with them; their tokens stop working. 204 also for an unknown user.
#[utoipa::path(delete, path = "/v1/users/{user_id}",
    operation_id = "ocariot_delete_user", tag = "ocariot", params(("user_id" = String, Path)),
    responses((status = 204, description = "Deleted"), (status = 400, body = OcError), (status = 401, body = OcError),
        (status = 403, body = OcError)),
    security(("bearer" = [])))]
pub async fn delete_user(
    State(app): State<AppState>,
    headers: HeaderMap,
    path: PathText,
    request: RequestId,
) -> Result<Response, OcError> {
    let caller = admin(&app, &headers, "users:delete").await?;
    let text = path.get("user_id");
    if caller.is(text) {
        return Err(OcError::forbidden());
    }
    if let Some(id) = input::path_id(text, "user_id", Kind::User)? {
        app.store.write(DeleteAccount { ctx: request.context(Some(caller.id())), id: UserId(id) }).await?;
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Change a user's password, given the current one (the original account service's
/// `PATCH /v1/users/{user_id}/password`). The user themself, or the administrator for any
/// other user; failed guesses of the current password are throttled as sign-ins are.
#[utoipa::path(patch, path = "/v1/users/{user_id}/password",
    operation_id = "ocariot_change_password", tag = "ocariot", params(("user_id" = String, Path)),
    request_body = PasswordChangeInput,
    responses((status = 204, description = "Changed"),
        (status = 400, body = OcError, description = "A field is missing or empty, or the old password does not match"),
        (status = 401, body = OcError), (status = 403, body = OcError), (status = 404, body = OcError),
        (status = 429, body = OcError)),
    security(("bearer" = [])))]
pub async fn change_password(
    State(app): State<AppState>,
    PeerAddr(peer): PeerAddr,
    headers: HeaderMap,
    path: PathText,
    request: RequestId,
    Body(bytes): Body,
) -> Result<Response, OcError> {
    password_change(&app, peer, &headers, path.get("user_id"), &request, &bytes).await
}

/// Change a user's password, given the current one: the same as `PATCH` (the original's
/// controller answers `PUT`, its documentation `PATCH`).
#[utoipa::path(put, path = "/v1/users/{user_id}/password",
    operation_id = "ocariot_put_password", tag = "ocariot", params(("user_id" = String, Path)),
    request_body = PasswordChangeInput,
    responses((status = 204, description = "Changed"),
        (status = 400, body = OcError, description = "A field is missing or empty, or the old password does not match"),
        (status = 401, body = OcError), (status = 403, body = OcError), (status = 404, body = OcError),
        (status = 429, body = OcError)),
    security(("bearer" = [])))]
pub async fn put_password(
    State(app): State<AppState>,
    PeerAddr(peer): PeerAddr,
    headers: HeaderMap,
    path: PathText,
    request: RequestId,
    Body(bytes): Body,
) -> Result<Response, OcError> {
    password_change(&app, peer, &headers, path.get("user_id"), &request, &bytes).await
}

async fn password_change(
    app: &AppState,
    peer: Option<std::net::IpAddr>,
    headers: &HeaderMap,
    user_id: &str,
    request: &RequestId,
    bytes: &[u8],
) -> Result<Response, OcError> {
    let caller = authenticate(app, headers).await?;
    let id = input::path_id(user_id, "user_id", Kind::User)?;
    // The administrator's own password is configuration, not a stored one.
    let by_admin = caller.user.kind == UserKind::Admin;
    if caller.is(user_id) == by_admin {
        return Err(OcError::forbidden());
    }
    let body = input::object(bytes)?;
    let (old, new) = passwords(&body)?;
    let not_found = || OcError::not_found(StatusCode::NOT_FOUND, "User");
    let user = match id {
        Some(id) => app.store.read(AccountOf { id: UserId(id), kinds: &KINDS }).await?.ok_or_else(not_found)?,
        None => return Err(not_found()),
    };
    let username = user.username.clone().ok_or_else(not_found)?;
    let Some((_, Some(stored))) = app.store.read(AccountByUsername { username: &username }).await? else {
        return Err(OcError::forbidden());
    };
    let identity = format!("user:{username}");
    let keys = classhub_web::throttle::keys(app.config.login_policy(), Some(&identity), peer);
    app.store.write(ReserveAttempt { keys: keys.clone(), now: jiff::Timestamp::now() }).await?;
    let checked = check_password(app, &username, old).await?;
    app.store.write(SettleAttempt { keys, ok: checked.is_some(), now: jiff::Timestamp::now() }).await?;
    let mismatch = || {
        OcError::bad(
            "Password does not match!",
            "The old password parameter does not match with the actual user password.",
        )
    };
    if checked.is_none() {
        return Err(mismatch());
    }
    let op = ReplacePassword {
        ctx: request.context(Some(caller.id())),
        user: user.id,
        expected: stored,
        password_hash: hashed(new).await?,
    };
    // Another change since the check was made: the old password no longer matches.
    if !app.store.write(op).await? {
        return Err(mismatch());
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The old and new passwords, checked as the original does: an empty one at once, then
/// the missing ones together.
fn passwords(body: &Map<String, Value>) -> Result<(String, String), OcError> {
    let field = |name: &str| match body.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(OcError::invalid(format!("{name} must be a string!"))),
    };
    let (old, new) = (field("old_password")?, field("new_password")?);
    if old.as_deref() == Some("") {
        return Err(OcError::bad(
            "Old password field is invalid...",
            "The old password must have at least one character.",
        ));
    }
    if new.as_deref() == Some("") {
        return Err(OcError::bad(
            "New password field is invalid...",
            "The new password must have at least one character.",
        ));
    }
    match (old, new) {
        (Some(old), Some(new)) => Ok((old, new)),
        (old, new) => {
            let missing: Vec<&str> = [("old_password", old.is_none()), ("new_password", new.is_none())]
                .iter()
                .filter(|m| m.1)
                .map(|m| m.0)
                .collect();
            Err(OcError::bad(
                crate::error::REQUIRED_FIELDS,
                format!("Change password validation failed: {} is required!", missing.join(", ")),
            ))
        }
    }
}

#[derive(OpenApi)]
#[openapi(
    components(schemas(OcError, TokenOut, ChildOut, OwnerOut, FamilyOut, ApplicationOut, InstitutionOut)),
    tags((name = "ocariot", description = "OCARIoT: users, and children groups of educators and health professionals")),
)]
pub struct Doc;
