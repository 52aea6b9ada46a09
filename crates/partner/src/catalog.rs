//! GrowFit's public catalogue: the model list (`GET /models`, the class form's model
//! choice) and every partner's courses (`GET /course`, the course picker). No
//! authentication, as in GrowFit.

use std::collections::HashMap;

use axum::extract::State;
use axum::response::Response;
use classhub_core::catalog::{CourseFilter, ModelFilter, fold};
use classhub_core::page::{Page, PageRequest};
use classhub_store::ops::catalog::{ListCourses, ListModels};
use classhub_web::fastapi::{ApiError, Errors, HttpValidationError, query_params};
use classhub_web::{AppState, json};
use http::{StatusCode, Uri};
use serde_json::Value;
use utoipa::{IntoParams, OpenApi};

use crate::request::page;
use crate::view::{CourseOut, ItemsPageOut, ModelOut};

/// `size` of a model page: 1..=200, default 50.
const MODEL_PAGE_MAX: i64 = 200;
const MODEL_PAGE_DEFAULT: i64 = 50;

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
struct ModelQuery {
    #[param(minimum = 1, default = 1)]
    page: Option<i64>,
    #[param(minimum = 1, maximum = 200, default = 50)]
    size: Option<i64>,
    /// Only this provider (exactly).
    provider: Option<String>,
    /// `chat`, `embedding`, `stt`, `image`, `tts` or `rerank` (exactly; any other text
    /// matches nothing).
    #[param(default = "chat")]
    modality: Option<String>,
    /// Names containing this text (ASCII letters in any case).
    q: Option<String>,
    /// Only active models; `false` lists every model.
    #[param(default = true)]
    only_active: Option<bool>,
}

/// The model catalog, by provider then name.
#[utoipa::path(get, path = "/models", operation_id = "partner_list_models", tag = "partner", params(ModelQuery),
    responses(
        (status = 200, description = "A page of the catalog's models", body = ItemsPageOut<ModelOut>),
        (status = 422, body = HttpValidationError)))]
pub async fn models(State(app): State<AppState>, uri: Uri) -> Result<Response, ApiError> {
    let query = query_params(uri.query());
    let mut errors = Errors::default();
    let int = |errors: &mut Errors, name: &str, default: i64, max: Option<i64>| {
        query.get(name).map_or(Some(default), |s| errors.int_text(&["query", name], s, Some(1), max))
    };
    let page_no = int(&mut errors, "page", 1, None);
    let size = int(&mut errors, "size", MODEL_PAGE_DEFAULT, Some(MODEL_PAGE_MAX));
    let only_active = match query.get("only_active") {
        None => Some(true),
        Some(s) => errors.boolean(&["query", "only_active"], &Value::String(s.clone())),
    };
    errors.check()?;
    let (page_no, size) = (page_no.unwrap_or(1), size.unwrap_or(MODEL_PAGE_DEFAULT));
    let filter = ModelFilter {
        provider: query.get("provider").cloned(),
        modality: Some(query.get("modality").cloned().unwrap_or_else(|| "chat".into())),
        // As GrowFit's `if q:`, an empty text filters nothing.
        name_contains: query.get("q").filter(|q| !q.is_empty()).map(|q| fold(q)),
        only_active: only_active.unwrap_or(true),
    };
    let req = PageRequest { limit: size as u32, offset: ((page_no - 1) as u64).saturating_mul(size as u64) };
    let models: Page<_> = app.store.read(ListModels { filter, page: req }).await?;
    let out = ItemsPageOut {
        items: models.items.iter().map(ModelOut::from).collect(),
        total: models.total,
        page: page_no as u64,
        size: req.limit,
    };
    Ok(json(StatusCode::OK, &out))
}

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub(crate) struct CourseQuery {
    /// Only courses with this status (exactly; any other text matches nothing).
    status: Option<String>,
    /// Titles or keys containing this text (ASCII letters in any case).
    search: Option<String>,
    #[param(minimum = 1, maximum = 100, default = 50)]
    limit: Option<i64>,
    #[param(minimum = 0, default = 0)]
    offset: Option<i64>,
}

/// A course list's filters and page from its query (`status`, `search`, `limit`,
/// `offset`); an empty `status` or `search` filters nothing, as in GrowFit.
pub(crate) fn course_query(query: &HashMap<String, String>, errors: &mut Errors) -> (CourseFilter, PageRequest) {
    let page = page(query, errors);
    let filter = CourseFilter {
        status: query.get("status").filter(|s| !s.is_empty()).cloned(),
        search: query.get("search").filter(|s| !s.is_empty()).map(|s| fold(s)),
    };
    (filter, page)
}

/// Every partner's courses, newest first (GrowFit's public course list).
#[utoipa::path(get, path = "/course",
    operation_id = "partner_list_public_courses", tag = "partner", params(CourseQuery),
    responses(
        (status = 200, description = "A page of every partner's courses", body = ItemsPageOut<CourseOut>),
        (status = 422, body = HttpValidationError)))]
pub async fn courses(State(app): State<AppState>, uri: Uri) -> Result<Response, ApiError> {
    let query = query_params(uri.query());
    let mut errors = Errors::default();
    let (filter, page) = course_query(&query, &mut errors);
    errors.check()?;
    let courses = app.store.read(ListCourses { partner_id: None, filter, page }).await?;
    Ok(json(StatusCode::OK, &ItemsPageOut::of(&courses, page, CourseOut::from)))
}

#[derive(OpenApi)]
#[openapi(components(schemas(ModelOut, CourseOut, HttpValidationError)))]
pub struct Doc;
