//! The admin API (`/admin/v1/…`, bearer `--admin-token`): creates the people and catalog
//! entries the dialects need, and revokes tokens. JSON, snake_case, `{"detail": …}`
//! errors. Without an admin token configured every route answers 404.

use axum::Router;
use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use classhub_core::UserId;
use classhub_core::account::{self, AccountRefusal};
use classhub_core::catalog::{Course, CoursePatch, CourseStatus, Modality, Model, NewModel};
use classhub_core::error::{DomainError, Entity};
use classhub_core::page::{Page, PageRequest};
use classhub_core::user::{NewUser, UserKind};
use classhub_store::StoreError;
use classhub_store::ops::accounts::{CreatePerson, SetPassword};
use classhub_store::ops::catalog::{CreateCourse, CreateModel};
use classhub_store::ops::users::RevokeToken;
use classhub_web::fastapi::{ApiError, Errors, HttpError, HttpValidationError};
use classhub_web::{
    AppState, BearerSecurity, Deadline, PathText, RequestId, bearer, deadline, json, read_body, secrets_match,
};
use http::StatusCode;
use http::request::Parts;
use serde::Serialize;
use serde_json::Value;
use utoipa::{OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router(state: AppState) -> Router {
    let limit = Deadline { limit: state.config.request_timeout, respond: || ApiError::timeout().into_response() };
    let (router, _) = api().split_for_parts();
    router.layer(from_fn_with_state(limit, deadline)).with_state(state)
}

pub fn openapi() -> utoipa::openapi::OpenApi {
    api().split_for_parts().1
}

/// Every admin route, declared once: the router and the document both come from here.
fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(Doc::openapi())
        .routes(routes!(create_partner, users::list_partners))
        .routes(routes!(create_student, users::list_students))
        .routes(routes!(users::list_users))
        .routes(routes!(users::get_user, users::update_user, users::delete_user))
        .routes(routes!(users::rotate_token))
        .routes(routes!(users::rotate_api_key))
        .routes(routes!(create_model, catalog::list_models))
        .routes(routes!(catalog::get_model, catalog::update_model, catalog::delete_model))
        .routes(routes!(create_course, catalog::list_courses))
        .routes(routes!(catalog::get_course, catalog::update_course, catalog::delete_course))
        .routes(routes!(revoke_token))
        .routes(routes!(set_password))
        .routes(routes!(cloudshare::create_project, cloudshare::list_projects))
        .routes(routes!(cloudshare::get_project, cloudshare::update_project, cloudshare::delete_project))
        .routes(routes!(cloudshare::create_policy))
        .routes(routes!(cloudshare::update_policy, cloudshare::delete_policy))
        .routes(routes!(cloudshare::create_blueprint))
        .routes(routes!(cloudshare::update_blueprint, cloudshare::delete_blueprint))
        .routes(routes!(cloudshare::create_custom_field))
        .routes(routes!(cloudshare::update_custom_field, cloudshare::delete_custom_field))
        .routes(routes!(cloudshare::update_member, cloudshare::delete_member))
        .routes(routes!(cloudshare::create_member))
}

mod catalog;
mod cloudshare;
mod users;
pub use cloudshare::{AdminEntryOut, AdminProjectDetailOut, AdminProjectOut};
pub use users::UserOut;

/// Entries on an admin list's page, unless asked for fewer or more (up to `LIST_MAX`).
pub(crate) const LIST_DEFAULT: u32 = 100;
pub(crate) const LIST_MAX: u32 = 1000;

/// A page of an admin list.
#[derive(Serialize, ToSchema)]
pub(crate) struct PageOut<T> {
    items: Vec<T>,
    total: u64,
    limit: u32,
    offset: u64,
}

impl<T> PageOut<T> {
    pub(crate) fn of<U>(found: Page<U>, page: PageRequest, shown: impl FnMut(U) -> T) -> PageOut<T> {
        PageOut {
            items: found.items.into_iter().map(shown).collect(),
            total: found.total,
            limit: page.limit,
            offset: page.offset,
        }
    }
}

/// A path's id (a positive integer), when it is the request's only input.
pub(crate) fn only_path_id(path: &PathText, name: &str) -> Result<i64, ApiError> {
    let mut errors = Errors::default();
    let id = path_id(path, name, &mut errors);
    errors.check()?;
    Ok(id)
}

/// A path's id (a positive integer); 0 with the problem noted when it is none.
pub(crate) fn path_id(path: &PathText, name: &str, errors: &mut Errors) -> i64 {
    errors.int_text(&["path", name], path.get(name), Some(1), None).unwrap_or(0)
}

/// The administrator: the bearer of `--admin-token`.
pub(crate) struct Admin;

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Some(expected) = &state.config.admin_token else {
            return Err(ApiError::new(StatusCode::NOT_FOUND, "Not Found"));
        };
        match bearer(&parts.headers) {
            Some(token) if secrets_match(token, expected) => Ok(Admin),
            _ => Err(ApiError::unauthenticated()),
        }
    }
}

/// The body as a JSON object.
pub(crate) struct JsonBody(Value);

impl FromRequest<AppState> for JsonBody {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let bytes = read_body(req, state).await.map_err(ApiError::body)?;
        let mut errors = Errors::default();
        let body = errors.json_object(&bytes);
        errors.check()?;
        Ok(JsonBody(body.unwrap_or(Value::Null)))
    }
}

impl JsonBody {
    pub(crate) fn string(&self, errors: &mut Errors, name: &str) -> String {
        errors.required(&self.0, name).and_then(|v| errors.string(&["body", name], v)).unwrap_or_default()
    }

    pub(crate) fn int(&self, errors: &mut Errors, name: &str) -> i64 {
        errors.required(&self.0, name).and_then(|v| errors.int(&["body", name], v)).unwrap_or_default()
    }

    /// An optional field: absent or null is `None`.
    pub(crate) fn optional<T>(
        &self,
        errors: &mut Errors,
        name: &str,
        read: impl FnOnce(&mut Errors, &[&str], &Value) -> Option<T>,
    ) -> Option<T> {
        match self.0.get(name) {
            None | Some(Value::Null) => None,
            Some(v) => read(errors, &["body", name], v),
        }
    }
}

/// `{name, email, password?}` of a new partner or student. With a password, the person
/// gets an account: they sign in with their email at `POST /user/login`.
#[derive(ToSchema)]
#[allow(dead_code)]
struct NewPersonBody {
    name: String,
    email: String,
    /// At most 256 characters; the email must not be another account's.
    password: Option<String>,
}

/// A created partner or student, with its bearer token (shown only here).
#[derive(Serialize, ToSchema)]
struct PersonOut {
    id: i64,
    name: String,
    email: Option<String>,
    token: String,
}

async fn create_person(
    app: AppState,
    request: RequestId,
    body: JsonBody,
    kind: UserKind,
) -> Result<Response, ApiError> {
    let mut errors = Errors::default();
    let name = body.string(&mut errors, "name");
    let email = body.string(&mut errors, "email");
    let password = body.optional(&mut errors, "password", Errors::string);
    if let Some(p) = &password {
        password_problems(&mut errors, p);
    }
    errors.check()?;
    let password_hash = match password {
        Some(p) => Some(hashed(p).await?),
        None => None,
    };
    let op = CreatePerson { ctx: request.context(None), user: NewUser::named(kind, name, Some(email)), password_hash };
    match app.store.write(op).await.map_err(|e| ApiError::from_store(e, Some(&body.0)))? {
        Ok((user, token)) => {
            Ok(json(StatusCode::CREATED, &PersonOut { id: user.id.0, name: user.name, email: user.email, token }))
        }
        Err(refusal) => Err(account_refusal(refusal)),
    }
}

/// A password's problems: empty, or longer than an account takes.
fn password_problems(errors: &mut Errors, password: &str) {
    let problem = match account::check_password(password) {
        Ok(Ok(())) => return,
        Ok(Err(_)) => classhub_core::Problem::TooShort { min: 1 },
        Err(p) => p,
    };
    errors.violations(
        &[classhub_core::Violation::new("password", problem)],
        &serde_json::json!({ "password": password }),
    );
}

/// Hashes a password with Argon2id, off the request threads.
async fn hashed(password: String) -> Result<String, ApiError> {
    tokio::task::spawn_blocking(move || classhub_core::password::hash(&password))
        .await
        .ok()
        .and_then(Result::ok)
        .ok_or_else(|| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error"))
}

/// An account rule's refusal: another account has the email, or the user has none.
fn account_refusal(r: AccountRefusal) -> ApiError {
    let status = match r {
        AccountRefusal::EmailTaken | AccountRefusal::NoEmail => StatusCode::CONFLICT,
        _ => StatusCode::BAD_REQUEST,
    };
    ApiError::new(status, r.to_string())
}

/// Create a partner (instructor) and its bearer token; with a password, an account too.
#[utoipa::path(post, path = "/admin/v1/partners",
    operation_id = "admin_create_partner", tag = "admin", request_body = NewPersonBody,
    responses(
        (status = 201, description = "The partner, with its bearer token", body = PersonOut),
        (status = 401, body = HttpError),
        (status = 409, body = HttpError, description = "email already exists (with a password)"),
        (status = 422, body = HttpValidationError)),
    security(("bearer" = [])))]
async fn create_partner(
    State(app): State<AppState>,
    _: Admin,
    request: RequestId,
    body: JsonBody,
) -> Result<Response, ApiError> {
    create_person(app, request, body, UserKind::Partner).await
}

/// Create a student and its bearer token; with a password, an account too.
#[utoipa::path(post, path = "/admin/v1/students",
    operation_id = "admin_create_student", tag = "admin", request_body = NewPersonBody,
    responses(
        (status = 201, description = "The student, with its bearer token", body = PersonOut),
        (status = 401, body = HttpError),
        (status = 409, body = HttpError, description = "email already exists (with a password)"),
        (status = 422, body = HttpValidationError)),
    security(("bearer" = [])))]
async fn create_student(
    State(app): State<AppState>,
    _: Admin,
    request: RequestId,
    body: JsonBody,
) -> Result<Response, ApiError> {
    create_person(app, request, body, UserKind::Student).await
}

/// A model for the catalog. Only `name` (GrowFit's `model_name`) and `provider` are
/// required; the rest default as in GrowFit (a chat model, active, no prices). The cost
/// estimate reads `default_pricing.daily_fee_per_student` (KRW per student and day).
#[derive(ToSchema)]
#[allow(dead_code)]
struct NewModelBody {
    name: String,
    provider: String,
    #[schema(pattern = "^(chat|embedding|stt|image|tts|rerank)$", default = "chat")]
    modality: Option<String>,
    #[schema(default = false)]
    supports_parallel: Option<bool>,
    #[schema(value_type = Option<Object>)]
    default_pricing: Option<Value>,
    #[schema(default = true)]
    is_active: Option<bool>,
}

/// A model of the catalog.
#[derive(Serialize, ToSchema)]
pub struct AdminModelOut {
    id: i64,
    name: String,
    provider: String,
    modality: &'static str,
    supports_parallel: bool,
    #[schema(value_type = Option<Object>)]
    default_pricing: Option<serde_json::Map<String, Value>>,
    is_active: bool,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    updated_at: String,
}

pub(crate) const MODALITIES: [(&str, Modality); 6] = [
    ("chat", Modality::Chat),
    ("embedding", Modality::Embedding),
    ("stt", Modality::Stt),
    ("image", Modality::Image),
    ("tts", Modality::Tts),
    ("rerank", Modality::Rerank),
];

/// Add an AI model to the catalog (at most one per provider and name: 409).
#[utoipa::path(post, path = "/admin/v1/models",
    operation_id = "admin_create_model", tag = "admin", request_body = NewModelBody,
    responses(
        (status = 201, description = "The model added", body = AdminModelOut), (status = 401, body = HttpError),
        (status = 409, description = "The catalog already has a model of this provider and name", body = HttpError),
        (status = 422, body = HttpValidationError)),
    security(("bearer" = [])))]
async fn create_model(
    State(app): State<AppState>,
    _: Admin,
    request: RequestId,
    body: JsonBody,
) -> Result<Response, ApiError> {
    let mut errors = Errors::default();
    let name = body.string(&mut errors, "name");
    let provider = body.string(&mut errors, "provider");
    let mut model = NewModel::named(name, provider);
    if let Some(m) = body.optional(&mut errors, "modality", |e, loc, v| e.one_of(loc, v, &MODALITIES)) {
        model.modality = m;
    }
    if let Some(b) = body.optional(&mut errors, "supports_parallel", Errors::boolean) {
        model.supports_parallel = b;
    }
    model.default_pricing = body.optional(&mut errors, "default_pricing", pricing);
    if let Some(b) = body.optional(&mut errors, "is_active", Errors::boolean) {
        model.is_active = b;
    }
    errors.check()?;
    let m = app
        .store
        .write(CreateModel { ctx: request.context(None), model })
        .await
        .map_err(|e| ApiError::from_store(e, Some(&body.0)))?;
    Ok(json(StatusCode::CREATED, &AdminModelOut::from(m)))
}

/// A model's prices: a JSON object.
pub(crate) fn pricing(e: &mut Errors, loc: &[&str], v: &Value) -> Option<serde_json::Map<String, Value>> {
    match v {
        Value::Object(m) => Some(m.clone()),
        _ => {
            let loc = loc.iter().map(|&l| l.into()).collect();
            e.push("dict_type", loc, "Input should be a valid dictionary", v.clone(), None);
            None
        }
    }
}

impl From<Model> for AdminModelOut {
    fn from(m: Model) -> AdminModelOut {
        AdminModelOut {
            id: m.id.0,
            name: m.name,
            provider: m.provider,
            modality: m.modality.as_str(),
            supports_parallel: m.supports_parallel,
            default_pricing: m.default_pricing,
            is_active: m.is_active,
            created_at: classhub_web::rfc3339(m.created_at),
            updated_at: classhub_web::rfc3339(m.updated_at),
        }
    }
}

/// A course of a partner. Without `course_key` the course gets `course-N`.
#[derive(ToSchema)]
#[allow(dead_code)]
struct NewCourseBody {
    partner_id: i64,
    title: String,
    course_key: Option<String>,
    #[schema(pattern = "^(draft|active|archived)$", default = "draft")]
    status: Option<String>,
    #[schema(format = Date)]
    start_date: Option<String>,
    #[schema(format = Date)]
    end_date: Option<String>,
    description: Option<String>,
}

/// A course.
#[derive(Serialize, ToSchema)]
pub struct AdminCourseOut {
    id: i64,
    partner_id: i64,
    title: String,
    course_key: String,
    status: &'static str,
    #[schema(format = Date)]
    start_date: Option<String>,
    #[schema(format = Date)]
    end_date: Option<String>,
    description: Option<String>,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    updated_at: String,
}

const COURSE_STATUSES: [(&str, CourseStatus); 3] =
    [("draft", CourseStatus::Draft), ("active", CourseStatus::Active), ("archived", CourseStatus::Archived)];

/// Create a course of a partner (a key the partner already uses: 409).
#[utoipa::path(post, path = "/admin/v1/courses",
    operation_id = "admin_create_course", tag = "admin", request_body = NewCourseBody,
    responses(
        (status = 201, description = "The course created", body = AdminCourseOut), (status = 401, body = HttpError),
        (status = 404, body = HttpError),
        (status = 409, description = "The partner already has a course with this key", body = HttpError),
        (status = 422, body = HttpValidationError)),
    security(("bearer" = [])))]
async fn create_course(
    State(app): State<AppState>,
    _: Admin,
    request: RequestId,
    body: JsonBody,
) -> Result<Response, ApiError> {
    let mut errors = Errors::default();
    let partner_id = errors.required(&body.0, "partner_id").and_then(|v| errors.int(&["body", "partner_id"], v));
    let patch = course_patch(&body, &mut errors, true);
    errors.check()?;
    let key = patch.course_key.as_deref().map(str::trim).map(str::to_string);
    let op = CreateCourse { ctx: request.context(None), partner_id: UserId(partner_id.unwrap_or(0)), patch };
    let c = app.store.write(op).await.map_err(|e| course_refusal(e, key, &body.0))?;
    Ok(json(StatusCode::CREATED, &AdminCourseOut::from(c)))
}

impl From<Course> for AdminCourseOut {
    fn from(c: Course) -> AdminCourseOut {
        AdminCourseOut {
            id: c.id.0,
            partner_id: c.partner_id.0,
            title: c.fields.title,
            course_key: c.fields.course_key,
            status: c.fields.status.as_str(),
            start_date: c.fields.start_date.map(|d| d.to_string()),
            end_date: c.fields.end_date.map(|d| d.to_string()),
            description: c.fields.description,
            created_at: classhub_web::rfc3339(c.created_at),
            updated_at: classhub_web::rfc3339(c.updated_at),
        }
    }
}

/// The course fields of a body (`title` required when `new`), as creating and changing
/// a course read them.
pub(crate) fn course_patch(body: &JsonBody, errors: &mut Errors, new: bool) -> CoursePatch {
    CoursePatch {
        title: if new { Some(body.string(errors, "title")) } else { body.optional(errors, "title", Errors::string) },
        course_key: body.optional(errors, "course_key", Errors::string),
        status: body.optional(errors, "status", |e, loc, v| e.one_of(loc, v, &COURSE_STATUSES)),
        start_date: body.optional(errors, "start_date", Errors::date),
        end_date: body.optional(errors, "end_date", Errors::date),
        description: body.optional(errors, "description", Errors::string),
    }
}

/// A course write's failure: a key another course of the partner has is 409, naming it.
pub(crate) fn course_refusal(e: StoreError, key: Option<String>, body: &Value) -> ApiError {
    match (e, key) {
        (StoreError::Domain(DomainError::AlreadyExists(Entity::Course)), Some(key)) => ApiError::new(
            StatusCode::CONFLICT,
            format!("course_key {key:?} is already used by another course of this partner"),
        ),
        (e, _) => ApiError::from_store(e, Some(body)),
    }
}

#[derive(ToSchema)]
#[allow(dead_code)]
struct RevokeBody {
    token: String,
}

/// Revoke a bearer token; it stops working at once.
#[utoipa::path(post, path = "/admin/v1/tokens/revoke",
    operation_id = "admin_revoke_token", tag = "admin", request_body = RevokeBody,
    responses((status = 204, description = "Revoked"), (status = 401, body = HttpError), (status = 404, body = HttpError),
        (status = 422, body = HttpValidationError)),
    security(("bearer" = [])))]
async fn revoke_token(
    State(app): State<AppState>,
    _: Admin,
    request: RequestId,
    body: JsonBody,
) -> Result<Response, ApiError> {
    let mut errors = Errors::default();
    let token = body.string(&mut errors, "token");
    errors.check()?;
    app.store.write(RevokeToken { ctx: request.context(None), token }).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `{"password"}`.
#[derive(ToSchema)]
#[allow(dead_code)]
struct PasswordBody {
    /// At most 256 characters.
    password: String,
}

/// Set a partner's or student's password. A user without an account gets one, with their
/// email (which no other account may have). Their sign-in sessions end (with their refresh
/// tokens); their API tokens stay.
#[utoipa::path(put, path = "/admin/v1/users/{user_id}/password",
    operation_id = "admin_set_password", tag = "admin", request_body = PasswordBody,
    params(("user_id" = i64, Path, minimum = 1)),
    responses((status = 204, description = "Set"), (status = 401, body = HttpError),
        (status = 404, body = HttpError, description = "no partner or student has this id"),
        (status = 409, body = HttpError, description = "the user has no email, or another account has it"),
        (status = 422, body = HttpValidationError)),
    security(("bearer" = [])))]
async fn set_password(
    State(app): State<AppState>,
    _: Admin,
    path: PathText,
    request: RequestId,
    body: JsonBody,
) -> Result<Response, ApiError> {
    let mut errors = Errors::default();
    let user_id = UserId(path_id(&path, "user_id", &mut errors));
    let password = errors.required(&body.0, "password").cloned().and_then(|v| errors.string(&["body", "password"], &v));
    if let Some(p) = &password {
        password_problems(&mut errors, p);
    }
    errors.check()?;
    let password_hash = hashed(password.unwrap_or_default()).await?;
    let op = SetPassword { ctx: request.context(None), user: user_id, password_hash };
    match app.store.write(op).await? {
        Ok(_) => Ok(StatusCode::NO_CONTENT.into_response()),
        Err(refusal) => Err(account_refusal(refusal)),
    }
}

#[derive(OpenApi)]
#[openapi(
    components(schemas(HttpError, HttpValidationError)),
    modifiers(&BearerSecurity),
    tags((name = "admin", description = "Administration (bearer --admin-token)")),
)]
struct Doc;
