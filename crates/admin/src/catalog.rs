//! The GrowFit catalog as the administrator looks after it: every partner's courses (list,
//! show, change, archive through `status`, delete) and the model catalog (list).

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use classhub_core::catalog::{CourseFilter, ModelFilter, ModelPatch, fold};
use classhub_core::{CourseId, ModelId, UserId};
use classhub_store::ops::catalog::{
    CourseById, DeleteCourse, DeleteModel, GetModel, ListCourses, ListModels, UpdateCourse, UpdateModel,
};
use classhub_web::fastapi::{ApiError, Errors, HttpError, HttpValidationError, page_of, query_params};
use classhub_web::{AppState, PathText, RequestId, json};
use http::{StatusCode, Uri};
use utoipa::{IntoParams, ToSchema};

use crate::{
    Admin, AdminCourseOut, AdminModelOut, JsonBody, LIST_DEFAULT, LIST_MAX, MODALITIES, PageOut, course_patch,
    course_refusal, only_path_id, path_id, pricing,
};

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
struct CourseQuery {
    /// Only this partner's courses.
    partner_id: Option<i64>,
    #[param(pattern = "^(draft|active|archived)$")]
    status: Option<String>,
    /// Titles or keys containing this text (ignoring case).
    q: Option<String>,
    #[param(minimum = 1, maximum = 1000, default = 100)]
    limit: Option<i64>,
    #[param(minimum = 0, default = 0)]
    offset: Option<i64>,
}

/// List every partner's courses, newest first.
#[utoipa::path(get, path = "/admin/v1/courses", operation_id = "admin_list_courses", tag = "admin",
    params(CourseQuery),
    responses((status = 200, description = "A page of courses", body = PageOut<AdminCourseOut>), (status = 401, body = HttpError),
        (status = 422, body = HttpValidationError)),
    security(("bearer" = [])))]
pub(crate) async fn list_courses(State(app): State<AppState>, _: Admin, uri: Uri) -> Result<Response, ApiError> {
    let query = query_params(uri.query());
    let mut errors = Errors::default();
    let page = page_of(&query, LIST_DEFAULT, LIST_MAX, &mut errors);
    let partner = query.get("partner_id").and_then(|p| errors.int_text(&["query", "partner_id"], p, Some(1), None));
    errors.check()?;
    let filter = CourseFilter { status: query.get("status").cloned(), search: query.get("q").map(|q| fold(q)) };
    let found = app.store.read(ListCourses { partner_id: partner.map(UserId), filter, page }).await?;
    Ok(json(StatusCode::OK, &PageOut::of(found, page, AdminCourseOut::from)))
}

/// Show a course.
#[utoipa::path(get, path = "/admin/v1/courses/{course_id}", operation_id = "admin_get_course", tag = "admin",
    params(("course_id" = i64, Path, minimum = 1)),
    responses((status = 200, description = "The course", body = AdminCourseOut), (status = 401, body = HttpError),
        (status = 404, body = HttpError), (status = 422, body = HttpValidationError)),
    security(("bearer" = [])))]
pub(crate) async fn get_course(State(app): State<AppState>, _: Admin, path: PathText) -> Result<Response, ApiError> {
    let id = CourseId(only_path_id(&path, "course_id")?);
    let course = app.store.read(CourseById { course_id: id }).await?;
    Ok(json(StatusCode::OK, &AdminCourseOut::from(course)))
}

/// A change of a course: the fields present replace the stored ones.
#[derive(ToSchema)]
#[allow(dead_code)]
struct CoursePatchBody {
    title: Option<String>,
    /// Unique among the partner's courses.
    course_key: Option<String>,
    /// `archived` takes a course out of use without deleting it.
    #[schema(pattern = "^(draft|active|archived)$")]
    status: Option<String>,
    #[schema(format = Date)]
    start_date: Option<String>,
    #[schema(format = Date)]
    end_date: Option<String>,
    description: Option<String>,
}

/// Change a course (archive it with `"status": "archived"`).
#[utoipa::path(patch, path = "/admin/v1/courses/{course_id}", operation_id = "admin_update_course", tag = "admin",
    params(("course_id" = i64, Path, minimum = 1)), request_body = CoursePatchBody,
    responses((status = 200, description = "The course as changed", body = AdminCourseOut),
        (status = 401, body = HttpError), (status = 404, body = HttpError),
        (status = 409, description = "Another course of the partner has this key", body = HttpError),
        (status = 422, body = HttpValidationError)),
    security(("bearer" = [])))]
pub(crate) async fn update_course(
    State(app): State<AppState>,
    _: Admin,
    path: PathText,
    request: RequestId,
    body: JsonBody,
) -> Result<Response, ApiError> {
    let mut errors = Errors::default();
    let id = CourseId(path_id(&path, "course_id", &mut errors));
    let patch = course_patch(&body, &mut errors, false);
    errors.check()?;
    // A course never changes partner: whose it is, read first, stays true.
    let course = app.store.read(CourseById { course_id: id }).await?;
    let key = patch.course_key.as_deref().map(str::trim).map(str::to_string);
    let op = UpdateCourse { ctx: request.context(None), partner_id: course.partner_id, course_id: id, patch };
    let changed = app.store.write(op).await.map_err(|e| course_refusal(e, key, &body.0))?;
    Ok(json(StatusCode::OK, &AdminCourseOut::from(changed)))
}

/// Delete a course; the classes in it stay, without a course.
#[utoipa::path(delete, path = "/admin/v1/courses/{course_id}", operation_id = "admin_delete_course", tag = "admin",
    params(("course_id" = i64, Path, minimum = 1)),
    responses((status = 204, description = "Deleted"), (status = 401, body = HttpError),
        (status = 404, body = HttpError), (status = 422, body = HttpValidationError)),
    security(("bearer" = [])))]
pub(crate) async fn delete_course(
    State(app): State<AppState>,
    _: Admin,
    path: PathText,
    request: RequestId,
) -> Result<Response, ApiError> {
    let id = CourseId(only_path_id(&path, "course_id")?);
    let course = app.store.read(CourseById { course_id: id }).await?;
    app.store.write(DeleteCourse { ctx: request.context(None), partner_id: course.partner_id, course_id: id }).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
struct ModelQuery {
    provider: Option<String>,
    #[param(pattern = "^(chat|embedding|stt|image|tts|rerank)$")]
    modality: Option<String>,
    /// Names containing this text (ignoring case).
    q: Option<String>,
    /// Only active models (`true`); otherwise every model.
    active: Option<bool>,
    #[param(minimum = 1, maximum = 1000, default = 100)]
    limit: Option<i64>,
    #[param(minimum = 0, default = 0)]
    offset: Option<i64>,
}

/// List the model catalog, newest first, inactive models too unless `active=true`.
#[utoipa::path(get, path = "/admin/v1/models", operation_id = "admin_list_models", tag = "admin",
    params(ModelQuery),
    responses((status = 200, description = "A page of models", body = PageOut<AdminModelOut>), (status = 401, body = HttpError),
        (status = 422, body = HttpValidationError)),
    security(("bearer" = [])))]
pub(crate) async fn list_models(State(app): State<AppState>, _: Admin, uri: Uri) -> Result<Response, ApiError> {
    let query = query_params(uri.query());
    let mut errors = Errors::default();
    let page = page_of(&query, LIST_DEFAULT, LIST_MAX, &mut errors);
    let active = query.get("active").and_then(|a| errors.boolean(&["query", "active"], &a.as_str().into()));
    errors.check()?;
    let filter = ModelFilter {
        provider: query.get("provider").cloned(),
        modality: query.get("modality").cloned(),
        name_contains: query.get("q").map(|q| fold(q)),
        only_active: active == Some(true),
    };
    let found = app.store.read(ListModels { filter, page }).await?;
    Ok(json(StatusCode::OK, &PageOut::of(found, page, AdminModelOut::from)))
}

/// Show a model of the catalog.
#[utoipa::path(get, path = "/admin/v1/models/{model_id}", operation_id = "admin_get_model", tag = "admin",
    params(("model_id" = i64, Path, minimum = 1)),
    responses((status = 200, description = "The model", body = AdminModelOut), (status = 401, body = HttpError),
        (status = 404, body = HttpError), (status = 422, body = HttpValidationError)),
    security(("bearer" = [])))]
pub(crate) async fn get_model(State(app): State<AppState>, _: Admin, path: PathText) -> Result<Response, ApiError> {
    let id = ModelId(only_path_id(&path, "model_id")?);
    Ok(json(StatusCode::OK, &AdminModelOut::from(app.store.read(GetModel { id }).await?)))
}

/// A change of a model: the fields present replace the stored ones; `default_pricing: null`
/// clears the prices.
#[derive(ToSchema)]
#[allow(dead_code)]
struct ModelPatchBody {
    name: Option<String>,
    provider: Option<String>,
    #[schema(pattern = "^(chat|embedding|stt|image|tts|rerank)$")]
    modality: Option<String>,
    supports_parallel: Option<bool>,
    #[schema(value_type = Option<Object>)]
    default_pricing: Option<serde_json::Value>,
    /// `false` takes the model out of the class form (`GET /models`); `true` puts it back.
    is_active: Option<bool>,
}

/// Change a model, or disable (`"is_active": false`) and enable it.
#[utoipa::path(patch, path = "/admin/v1/models/{model_id}", operation_id = "admin_update_model", tag = "admin",
    params(("model_id" = i64, Path, minimum = 1)), request_body = ModelPatchBody,
    responses((status = 200, description = "The model as changed", body = AdminModelOut),
        (status = 401, body = HttpError), (status = 404, body = HttpError),
        (status = 409, description = "Another model has this provider and name", body = HttpError),
        (status = 422, body = HttpValidationError)),
    security(("bearer" = [])))]
pub(crate) async fn update_model(
    State(app): State<AppState>,
    _: Admin,
    path: PathText,
    request: RequestId,
    body: JsonBody,
) -> Result<Response, ApiError> {
    let mut errors = Errors::default();
    let id = ModelId(path_id(&path, "model_id", &mut errors));
    let patch = ModelPatch {
        name: body.optional(&mut errors, "name", Errors::string),
        provider: body.optional(&mut errors, "provider", Errors::string),
        modality: body.optional(&mut errors, "modality", |e, loc, v| e.one_of(loc, v, &MODALITIES)),
        supports_parallel: body.optional(&mut errors, "supports_parallel", Errors::boolean),
        default_pricing: match body.0.get("default_pricing") {
            None => None,
            Some(serde_json::Value::Null) => Some(None),
            Some(v) => pricing(&mut errors, &["body", "default_pricing"], v).map(Some),
        },
        is_active: body.optional(&mut errors, "is_active", Errors::boolean),
    };
    errors.check()?;
    let op = UpdateModel { ctx: request.context(None), id, patch };
    let model = app.store.write(op).await.map_err(|e| ApiError::from_store(e, Some(&body.0)))?;
    Ok(json(StatusCode::OK, &AdminModelOut::from(model)))
}

/// Delete a model from the catalog. Classes that name it stay, without it (their next
/// allowed model becomes primary); disabling it (`is_active`) keeps it in those classes.
#[utoipa::path(delete, path = "/admin/v1/models/{model_id}", operation_id = "admin_delete_model", tag = "admin",
    params(("model_id" = i64, Path, minimum = 1)),
    responses((status = 204, description = "Deleted"), (status = 401, body = HttpError),
        (status = 404, body = HttpError), (status = 422, body = HttpValidationError)),
    security(("bearer" = [])))]
pub(crate) async fn delete_model(
    State(app): State<AppState>,
    _: Admin,
    path: PathText,
    request: RequestId,
) -> Result<Response, ApiError> {
    let id = ModelId(only_path_id(&path, "model_id")?);
    app.store.write(DeleteModel { ctx: request.context(None), id }).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
