//! A partner's courses (GrowFit's `/partner/{partner_id}/course`): list, create, read,
//! change (`null` or absent keeps a field, as in GrowFit), delete.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use classhub_core::CourseId;
use classhub_core::catalog::{CoursePatch, CourseStatus};
use classhub_core::error::{DomainError, Entity};
use classhub_store::StoreError;
use classhub_store::ops::catalog::{CreateCourse, DeleteCourse, GetCourse, ListCourses, UpdateCourse};
use classhub_web::fastapi::{ApiError, Errors, HttpError, HttpValidationError, query_params};
use classhub_web::{AppState, BearerSecurity, PathText, RequestId, json};
use http::{StatusCode, Uri};
use serde_json::Value;
use utoipa::{OpenApi, ToSchema};

use crate::catalog::{CourseQuery, course_query};
use crate::request::{Body, Caller, ids, with_body};
use crate::view::{CourseOut, ItemsPageOut};

const STATUSES: [(&str, CourseStatus); 3] =
    [("draft", CourseStatus::Draft), ("active", CourseStatus::Active), ("archived", CourseStatus::Archived)];

/// Body fields in GrowFit's order (the order errors are reported in).
const FIELDS: [&str; 6] = ["title", "course_key", "status", "start_date", "end_date", "description"];

/// Body of `POST` (`title` and `course_key` required) and `PATCH` (every field optional;
/// `null` keeps, as absent does).
#[derive(ToSchema)]
#[allow(dead_code)]
struct CourseBody {
    #[schema(min_length = 1, max_length = 200)]
    title: String,
    /// Unique among the partner's courses.
    #[schema(min_length = 1, max_length = 200)]
    course_key: String,
    #[schema(pattern = "^(draft|active|archived)$", default = "draft")]
    status: Option<String>,
    #[schema(format = Date)]
    start_date: Option<String>,
    #[schema(format = Date)]
    end_date: Option<String>,
    description: Option<String>,
}

/// The course a body asks for: each field read if present and not null.
fn course_patch(body: &Value, errors: &mut Errors, creating: bool) -> CoursePatch {
    if creating {
        errors.required(body, "title");
        errors.required(body, "course_key");
    }
    let field = |name: &str| body.get(name).filter(|v| !v.is_null());
    let title = field("title").and_then(|v| errors.string(&["body", "title"], v));
    let course_key = field("course_key").and_then(|v| errors.string(&["body", "course_key"], v));
    // `null` in a required field is a type error, as pydantic reports it.
    if creating {
        for name in ["title", "course_key"] {
            if body.get(name).is_some_and(Value::is_null) {
                errors.string(&["body", name], &Value::Null);
            }
        }
    }
    let patch = CoursePatch {
        title,
        course_key,
        status: field("status").and_then(|v| errors.one_of(&["body", "status"], v, &STATUSES)),
        start_date: field("start_date").and_then(|v| errors.date(&["body", "start_date"], v)),
        end_date: field("end_date").and_then(|v| errors.date(&["body", "end_date"], v)),
        description: field("description").and_then(|v| errors.string(&["body", "description"], v)),
    };
    errors.violations(&classhub_core::catalog::check_course_fields(&patch), body);
    errors.sort_by_fields(&FIELDS);
    patch
}

/// A duplicate key is a 409 that names it (GrowFit answered 500).
fn course_error(e: StoreError, body: &Value, patch: &CoursePatch) -> ApiError {
    match (e, &patch.course_key) {
        (StoreError::Domain(DomainError::AlreadyExists(Entity::Course)), Some(key)) => ApiError::new(
            StatusCode::CONFLICT,
            format!("course_key {:?} is already used by another course of this partner", key.trim()),
        ),
        (e, _) => ApiError::from_store(e, Some(body)),
    }
}

/// The partner's courses, newest first.
#[utoipa::path(get, path = "/partner/{partner_id}/course", operation_id = "partner_list_courses", tag = "partner",
    params(("partner_id" = i64, Path, minimum = 1), CourseQuery),
    responses(
        (status = 200, description = "A page of the partner's courses", body = ItemsPageOut<CourseOut>),
        (status = 401, body = HttpError), (status = 403, body = HttpError), (status = 422, body = HttpValidationError)),
    security(("bearer" = [])))]
pub async fn list(State(app): State<AppState>, caller: Caller, path: PathText, uri: Uri) -> Result<Response, ApiError> {
    let query = query_params(uri.query());
    let mut errors = Errors::default();
    let [partner_id] = ids(&path, ["partner_id"], &mut errors);
    let (filter, page) = course_query(&query, &mut errors);
    errors.check()?;
    let owner = caller.as_partner(partner_id)?;
    let courses = app.store.read(ListCourses { partner_id: Some(owner), filter, page }).await?;
    Ok(json(StatusCode::OK, &ItemsPageOut::of(&courses, page, CourseOut::from)))
}

/// Create a course (status `draft` unless given).
#[utoipa::path(post, path = "/partner/{partner_id}/course", operation_id = "partner_create_course", tag = "partner",
    params(("partner_id" = i64, Path, minimum = 1)),
    request_body = CourseBody,
    responses(
        (status = 201, description = "The course created", body = CourseOut), (status = 401, body = HttpError),
        (status = 403, body = HttpError),
        (status = 409, description = "course_key is already used by another course of this partner", body = HttpError),
        (status = 422, body = HttpValidationError)),
    security(("bearer" = [])))]
pub async fn create(
    State(app): State<AppState>,
    caller: Caller,
    path: PathText,
    request: RequestId,
    Body(bytes): Body,
) -> Result<Response, ApiError> {
    let mut errors = Errors::default();
    let [partner_id] = ids(&path, ["partner_id"], &mut errors);
    let (owner, body, patch) = with_body(&caller, partner_id, errors, &bytes, |b, e| course_patch(b, e, true))?;
    let op = CreateCourse { ctx: request.context(Some(owner)), partner_id: owner, patch: patch.clone() };
    let course = app.store.write(op).await.map_err(|e| course_error(e, &body, &patch))?;
    Ok(json(StatusCode::CREATED, &CourseOut::from(&course)))
}

/// Read one of the partner's courses.
#[utoipa::path(get, path = "/partner/{partner_id}/course/{course_id}",
    operation_id = "partner_get_course", tag = "partner",
    params(("partner_id" = i64, Path, minimum = 1), ("course_id" = i64, Path, minimum = 1)),
    responses(
        (status = 200, description = "The course", body = CourseOut),
        (status = 401, body = HttpError), (status = 403, body = HttpError), (status = 404, body = HttpError),
        (status = 422, body = HttpValidationError)),
    security(("bearer" = [])))]
pub async fn get(State(app): State<AppState>, caller: Caller, path: PathText) -> Result<Response, ApiError> {
    let mut errors = Errors::default();
    let [partner_id, course_id] = ids(&path, ["partner_id", "course_id"], &mut errors);
    errors.check()?;
    let owner = caller.as_partner(partner_id)?;
    let course = app.store.read(GetCourse { partner_id: owner, course_id: CourseId(course_id) }).await?;
    Ok(json(StatusCode::OK, &CourseOut::from(&course)))
}

/// Change one of the partner's courses: a field absent or `null` keeps its value.
#[utoipa::path(patch, path = "/partner/{partner_id}/course/{course_id}",
    operation_id = "partner_update_course", tag = "partner",
    params(("partner_id" = i64, Path, minimum = 1), ("course_id" = i64, Path, minimum = 1)),
    request_body = CourseBody,
    responses(
        (status = 200, description = "The course as changed", body = CourseOut), (status = 401, body = HttpError),
        (status = 403, body = HttpError), (status = 404, body = HttpError),
        (status = 409, description = "course_key is already used by another course of this partner", body = HttpError),
        (status = 422, body = HttpValidationError)),
    security(("bearer" = [])))]
pub async fn update(
    State(app): State<AppState>,
    caller: Caller,
    path: PathText,
    request: RequestId,
    Body(bytes): Body,
) -> Result<Response, ApiError> {
    let mut errors = Errors::default();
    let [partner_id, course_id] = ids(&path, ["partner_id", "course_id"], &mut errors);
    let (owner, body, patch) = with_body(&caller, partner_id, errors, &bytes, |b, e| course_patch(b, e, false))?;
    let op = UpdateCourse {
        ctx: request.context(Some(owner)),
        partner_id: owner,
        course_id: CourseId(course_id),
        patch: patch.clone(),
    };
    let course = app.store.write(op).await.map_err(|e| course_error(e, &body, &patch))?;
    Ok(json(StatusCode::OK, &CourseOut::from(&course)))
}

/// Delete one of the partner's courses; classes that name it keep existing without one.
#[utoipa::path(delete, path = "/partner/{partner_id}/course/{course_id}",
    operation_id = "partner_delete_course", tag = "partner",
    params(("partner_id" = i64, Path, minimum = 1), ("course_id" = i64, Path, minimum = 1)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, body = HttpError), (status = 403, body = HttpError), (status = 404, body = HttpError),
        (status = 422, body = HttpValidationError)),
    security(("bearer" = [])))]
pub async fn delete(
    State(app): State<AppState>,
    caller: Caller,
    path: PathText,
    request: RequestId,
) -> Result<Response, ApiError> {
    let mut errors = Errors::default();
    let [partner_id, course_id] = ids(&path, ["partner_id", "course_id"], &mut errors);
    errors.check()?;
    let owner = caller.as_partner(partner_id)?;
    let op = DeleteCourse { ctx: request.context(Some(owner)), partner_id: owner, course_id: CourseId(course_id) };
    app.store.write(op).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(OpenApi)]
#[openapi(
    components(schemas(CourseBody, CourseOut, HttpError, HttpValidationError)),
    modifiers(&BearerSecurity),
)]
pub struct Doc;
