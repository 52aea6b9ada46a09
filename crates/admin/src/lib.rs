//! The admin API (`/admin/v1/…`, bearer `--admin-token`): creates the people and catalog
//! entries the dialects need, and revokes tokens. JSON, snake_case, `{"detail": …}`
//! errors. Without an admin token configured every route answers 404.

use axum::Router;
use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use classhub_core::UserId;
use classhub_core::user::{NewUser, UserKind};
use classhub_store::ops::catalog::{CreateCourse, CreateModel};
use classhub_store::ops::users::{CreateUser, RevokeToken};
use classhub_web::fastapi::{ApiError, Errors, HttpError, HttpValidationError};
use classhub_web::{AppState, BearerSecurity, Deadline, RequestId, bearer, deadline, json, read_body, secrets_match};
use http::StatusCode;
use http::request::Parts;
use serde::Serialize;
use serde_json::Value;
use utoipa::{OpenApi, ToSchema};

pub fn router(state: AppState) -> Router {
    let limit = Deadline { limit: state.config.request_timeout, respond: || ApiError::timeout().into_response() };
    Router::new()
        .route("/admin/v1/partners", post(create_partner))
        .route("/admin/v1/students", post(create_student))
        .route("/admin/v1/models", post(create_model))
        .route("/admin/v1/courses", post(create_course))
        .route("/admin/v1/tokens/revoke", post(revoke_token))
        .route("/admin/v1/cloudshare/projects", post(cloudshare::create_project))
        .route("/admin/v1/cloudshare/projects/{project_id}/policies", post(cloudshare::create_policy))
        .route("/admin/v1/cloudshare/projects/{project_id}/blueprints", post(cloudshare::create_blueprint))
        .route("/admin/v1/cloudshare/projects/{project_id}/custom-fields", post(cloudshare::create_custom_field))
        .route("/admin/v1/cloudshare/members", post(cloudshare::create_member))
        .layer(from_fn_with_state(limit, deadline))
        .with_state(state)
}

pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = Doc::openapi();
    doc.merge(cloudshare::Doc::openapi());
    doc
}

mod cloudshare;

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

/// `{name, email}` of a new partner or student.
#[derive(ToSchema)]
#[allow(dead_code)]
struct NewPersonBody {
    name: String,
    email: String,
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
    errors.check()?;
    let op = CreateUser { ctx: request.context(None), user: NewUser::named(kind, name, Some(email)) };
    let (user, token) = app.store.write(op).await.map_err(|e| ApiError::from_store(e, Some(&body.0)))?;
    Ok(json(StatusCode::CREATED, &PersonOut { id: user.id.0, name: user.name, email: user.email, token }))
}

/// Create a partner (instructor) and its bearer token.
#[utoipa::path(post, path = "/admin/v1/partners", tag = "admin", request_body = NewPersonBody,
    responses((status = 201, body = PersonOut), (status = 401, body = HttpError), (status = 422, body = HttpValidationError)),
    security(("bearer" = [])))]
async fn create_partner(
    State(app): State<AppState>,
    _: Admin,
    request: RequestId,
    body: JsonBody,
) -> Result<Response, ApiError> {
    create_person(app, request, body, UserKind::Partner).await
}

/// Create a student and its bearer token.
#[utoipa::path(post, path = "/admin/v1/students", tag = "admin", request_body = NewPersonBody,
    responses((status = 201, body = PersonOut), (status = 401, body = HttpError), (status = 422, body = HttpValidationError)),
    security(("bearer" = [])))]
async fn create_student(
    State(app): State<AppState>,
    _: Admin,
    request: RequestId,
    body: JsonBody,
) -> Result<Response, ApiError> {
    create_person(app, request, body, UserKind::Student).await
}

#[derive(ToSchema)]
#[allow(dead_code)]
struct NewModelBody {
    name: String,
    provider: String,
}

#[derive(Serialize, ToSchema)]
struct ModelOut {
    id: i64,
    name: String,
    provider: String,
}

/// Add an AI model to the catalog.
#[utoipa::path(post, path = "/admin/v1/models", tag = "admin", request_body = NewModelBody,
    responses((status = 201, body = ModelOut), (status = 401, body = HttpError), (status = 422, body = HttpValidationError)),
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
    errors.check()?;
    let model = app
        .store
        .write(CreateModel { ctx: request.context(None), name, provider })
        .await
        .map_err(|e| ApiError::from_store(e, Some(&body.0)))?;
    Ok(json(StatusCode::CREATED, &ModelOut { id: model.id.0, name: model.name, provider: model.provider }))
}

#[derive(ToSchema)]
#[allow(dead_code)]
struct NewCourseBody {
    partner_id: i64,
    title: String,
}

#[derive(Serialize, ToSchema)]
struct CourseOut {
    id: i64,
    partner_id: i64,
    title: String,
}

/// Create a course of a partner.
#[utoipa::path(post, path = "/admin/v1/courses", tag = "admin", request_body = NewCourseBody,
    responses((status = 201, body = CourseOut), (status = 401, body = HttpError), (status = 404, body = HttpError),
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
    let title = body.string(&mut errors, "title");
    errors.check()?;
    let op = CreateCourse { ctx: request.context(None), partner_id: UserId(partner_id.unwrap_or(0)), title };
    let course = app.store.write(op).await.map_err(|e| ApiError::from_store(e, Some(&body.0)))?;
    Ok(json(StatusCode::CREATED, &CourseOut { id: course.id.0, partner_id: course.partner_id.0, title: course.title }))
}

#[derive(ToSchema)]
#[allow(dead_code)]
struct RevokeBody {
    token: String,
}

/// Revoke a bearer token; it stops working at once.
#[utoipa::path(post, path = "/admin/v1/tokens/revoke", tag = "admin", request_body = RevokeBody,
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

#[derive(OpenApi)]
#[openapi(
    paths(create_partner, create_student, create_model, create_course, revoke_token),
    components(schemas(HttpError, HttpValidationError)),
    modifiers(&BearerSecurity),
    tags((name = "admin", description = "Administration (bearer --admin-token)")),
)]
struct Doc;
