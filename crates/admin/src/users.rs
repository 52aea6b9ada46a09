//! Users of every kind, as an administrator looks them up and looks after them: list,
//! show, rename, change a partner's or student's email, disable and enable, delete, and
//! replace their API token.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use classhub_core::UserId;
use classhub_core::error::Entity;
use classhub_core::page::PageRequest;
use classhub_core::user::{User, UserFilter, UserKind, UserPatch};
use classhub_store::ops::accounts::UpdateUser;
use classhub_store::ops::catalog::RotateApiKey;
use classhub_store::ops::users::{DeleteUser, ListUsers, RotateToken};
use classhub_web::fastapi::{ApiError, Errors, HttpError, HttpValidationError, page_of, query_params};
use classhub_web::{AppState, PathText, RequestId, json, ser_opt_rfc3339, ser_rfc3339};
use http::{StatusCode, Uri};
use serde::Serialize;
use utoipa::{IntoParams, ToSchema};

use crate::{Admin, JsonBody, LIST_DEFAULT, LIST_MAX, PageOut, account_refusal, only_path_id, path_id};

/// A user as the administrator sees them (never a secret).
#[derive(Serialize, ToSchema)]
pub struct UserOut {
    id: i64,
    #[schema(
        pattern = "^(admin|partner|student|educator|health_professional|child|family|application|project_member|class_student)$"
    )]
    kind: &'static str,
    name: String,
    email: Option<String>,
    /// Login name (OCARIoT users).
    username: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
    #[serde(serialize_with = "ser_rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    created_at: jiff::Timestamp,
    /// When an administrator disabled the user; null while they are enabled.
    #[serde(serialize_with = "ser_opt_rfc3339")]
    #[schema(value_type = Option<String>, format = DateTime)]
    disabled_at: Option<jiff::Timestamp>,
}

impl From<User> for UserOut {
    fn from(u: User) -> UserOut {
        UserOut {
            id: u.id.0,
            kind: u.kind.as_str(),
            name: u.name,
            email: u.email,
            username: u.username,
            first_name: u.first_name,
            last_name: u.last_name,
            created_at: u.created_at,
            disabled_at: u.disabled_at,
        }
    }
}

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
struct UserQuery {
    /// Only users of this kind.
    #[param(
        pattern = "^(admin|partner|student|educator|health_professional|child|family|application|project_member|class_student)$"
    )]
    kind: Option<String>,
    /// Only users whose name, email or login name contains this text (ignoring case).
    q: Option<String>,
    /// Only disabled users (`true`) or enabled ones (`false`).
    disabled: Option<bool>,
    #[param(minimum = 1, maximum = 1000, default = 100)]
    limit: Option<i64>,
    #[param(minimum = 0, default = 0)]
    offset: Option<i64>,
}

/// Partners or students: the same list, of one kind.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
struct PersonQuery {
    q: Option<String>,
    disabled: Option<bool>,
    #[param(minimum = 1, maximum = 1000, default = 100)]
    limit: Option<i64>,
    #[param(minimum = 0, default = 0)]
    offset: Option<i64>,
}

async fn list(app: AppState, uri: &Uri, kind: Option<UserKind>) -> Result<Response, ApiError> {
    let query = query_params(uri.query());
    let mut errors = Errors::default();
    let page: PageRequest = page_of(&query, LIST_DEFAULT, LIST_MAX, &mut errors);
    let kinds: Vec<(&str, UserKind)> = UserKind::ALL.iter().map(|k| (k.as_str(), *k)).collect();
    let kind = match (kind, query.get("kind")) {
        (Some(k), _) => Some(k),
        (None, Some(k)) => errors.one_of(&["query", "kind"], &k.as_str().into(), &kinds),
        (None, None) => None,
    };
    let disabled = query.get("disabled").and_then(|d| errors.boolean(&["query", "disabled"], &d.as_str().into()));
    errors.check()?;
    let filter = UserFilter { kind, query: query.get("q").filter(|q| !q.is_empty()).cloned(), disabled };
    let found = app.store.read(ListUsers { filter, page }).await?;
    Ok(json(StatusCode::OK, &PageOut::of(found, page, UserOut::from)))
}

/// List users of every kind, in id order (filter by kind, text, disabled).
#[utoipa::path(get, path = "/admin/v1/users", operation_id = "admin_list_users", tag = "admin",
    params(UserQuery),
    responses((status = 200, description = "A page of users", body = PageOut<UserOut>), (status = 401, body = HttpError),
        (status = 422, body = HttpValidationError)),
    security(("bearer" = [])))]
pub(crate) async fn list_users(State(app): State<AppState>, _: Admin, uri: Uri) -> Result<Response, ApiError> {
    list(app, &uri, None).await
}

/// List partners, in id order.
#[utoipa::path(get, path = "/admin/v1/partners", operation_id = "admin_list_partners", tag = "admin",
    params(PersonQuery),
    responses((status = 200, description = "A page of partners", body = PageOut<UserOut>), (status = 401, body = HttpError),
        (status = 422, body = HttpValidationError)),
    security(("bearer" = [])))]
pub(crate) async fn list_partners(State(app): State<AppState>, _: Admin, uri: Uri) -> Result<Response, ApiError> {
    list(app, &uri, Some(UserKind::Partner)).await
}

/// List students, in id order.
#[utoipa::path(get, path = "/admin/v1/students", operation_id = "admin_list_students", tag = "admin",
    params(PersonQuery),
    responses((status = 200, description = "A page of students", body = PageOut<UserOut>), (status = 401, body = HttpError),
        (status = 422, body = HttpValidationError)),
    security(("bearer" = [])))]
pub(crate) async fn list_students(State(app): State<AppState>, _: Admin, uri: Uri) -> Result<Response, ApiError> {
    list(app, &uri, Some(UserKind::Student)).await
}

fn only_user_id(path: &PathText) -> Result<UserId, ApiError> {
    only_path_id(path, "user_id").map(UserId)
}

/// Show a user.
#[utoipa::path(get, path = "/admin/v1/users/{user_id}", operation_id = "admin_get_user", tag = "admin",
    params(("user_id" = i64, Path, minimum = 1)),
    responses((status = 200, description = "The user", body = UserOut), (status = 401, body = HttpError),
        (status = 404, body = HttpError), (status = 422, body = HttpValidationError)),
    security(("bearer" = [])))]
pub(crate) async fn get_user(State(app): State<AppState>, _: Admin, path: PathText) -> Result<Response, ApiError> {
    let id = only_user_id(&path)?;
    let found = app.store.read(classhub_store::ops::accounts::MyAccount { user: id }).await?;
    let (user, _) = found.ok_or_else(|| ApiError::not_found(Entity::User))?;
    Ok(json(StatusCode::OK, &UserOut::from(user)))
}

/// `{"name"?, "email"?, "disabled"?}`: the fields present change.
#[derive(ToSchema)]
#[allow(dead_code)]
struct UserPatchBody {
    name: Option<String>,
    /// Partners and students only; it is also their account's sign-in name.
    email: Option<String>,
    /// A disabled user's tokens, API keys and passwords stop working until enabled again.
    disabled: Option<bool>,
}

/// Change a user's name or email, or disable or enable them.
#[utoipa::path(patch, path = "/admin/v1/users/{user_id}", operation_id = "admin_update_user", tag = "admin",
    params(("user_id" = i64, Path, minimum = 1)), request_body = UserPatchBody,
    responses((status = 200, description = "The user as changed", body = UserOut), (status = 401, body = HttpError),
        (status = 404, body = HttpError),
        (status = 409, body = HttpError, description = "another account has the email"),
        (status = 422, body = HttpValidationError)),
    security(("bearer" = [])))]
pub(crate) async fn update_user(
    State(app): State<AppState>,
    _: Admin,
    path: PathText,
    request: RequestId,
    body: JsonBody,
) -> Result<Response, ApiError> {
    let mut errors = Errors::default();
    let id = UserId(path_id(&path, "user_id", &mut errors));
    let patch = UserPatch {
        name: body.optional(&mut errors, "name", Errors::string),
        disabled: body.optional(&mut errors, "disabled", Errors::boolean),
    };
    let email = body.optional(&mut errors, "email", Errors::string);
    errors.check()?;
    let op = UpdateUser { ctx: request.context(None), user: id, patch, email };
    match app.store.write(op).await.map_err(|e| ApiError::from_store(e, Some(&body.0)))? {
        Ok(user) => Ok(json(StatusCode::OK, &UserOut::from(user))),
        Err(refusal) => Err(account_refusal(refusal)),
    }
}

/// Delete a user: they leave every class they are in, and the classes they own go too.
#[utoipa::path(delete, path = "/admin/v1/users/{user_id}", operation_id = "admin_delete_user", tag = "admin",
    params(("user_id" = i64, Path, minimum = 1)),
    responses((status = 204, description = "Deleted"), (status = 401, body = HttpError),
        (status = 404, body = HttpError), (status = 422, body = HttpValidationError)),
    security(("bearer" = [])))]
pub(crate) async fn delete_user(
    State(app): State<AppState>,
    _: Admin,
    path: PathText,
    request: RequestId,
) -> Result<Response, ApiError> {
    let id = only_user_id(&path)?;
    app.store.write(DeleteUser { ctx: request.context(None), user: id }).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// A user's new API token (shown only here).
#[derive(Serialize, ToSchema)]
struct NewTokenOut {
    id: i64,
    token: String,
}

/// Replace a user's API tokens with a new one: the old ones stop working at once.
#[utoipa::path(post, path = "/admin/v1/users/{user_id}/token", operation_id = "admin_rotate_token", tag = "admin",
    params(("user_id" = i64, Path, minimum = 1)),
    responses((status = 201, description = "The new token", body = NewTokenOut), (status = 401, body = HttpError),
        (status = 404, body = HttpError), (status = 422, body = HttpValidationError)),
    security(("bearer" = [])))]
pub(crate) async fn rotate_token(
    State(app): State<AppState>,
    _: Admin,
    path: PathText,
    request: RequestId,
) -> Result<Response, ApiError> {
    let id = only_user_id(&path)?;
    let (user, token) = app.store.write(RotateToken { ctx: request.context(None), user: id }).await?;
    Ok(json(StatusCode::CREATED, &NewTokenOut { id: user.id.0, token }))
}

/// A CloudShare member's new API credentials (the key is shown only here).
#[derive(Serialize, ToSchema)]
struct NewApiKeyOut {
    id: i64,
    api_id: String,
    api_key: String,
}

/// Replace a CloudShare project member's API keys with a new one: requests signed with the
/// old ones are refused at once.
#[utoipa::path(post, path = "/admin/v1/users/{user_id}/api-key", operation_id = "admin_rotate_api_key", tag = "admin",
    params(("user_id" = i64, Path, minimum = 1)),
    responses((status = 201, description = "The new API id and key", body = NewApiKeyOut),
        (status = 401, body = HttpError),
        (status = 404, body = HttpError, description = "no CloudShare project member has this id"),
        (status = 422, body = HttpValidationError)),
    security(("bearer" = [])))]
pub(crate) async fn rotate_api_key(
    State(app): State<AppState>,
    _: Admin,
    path: PathText,
    request: RequestId,
) -> Result<Response, ApiError> {
    let id = only_user_id(&path)?;
    let op = RotateApiKey { ctx: request.context(None), user: id, secrets: app.config.secrets.clone() };
    let (api_id, api_key) = app.store.write(op).await?;
    Ok(json(StatusCode::CREATED, &NewApiKeyOut { id: id.0, api_id, api_key }))
}
