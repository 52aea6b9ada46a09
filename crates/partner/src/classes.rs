//! Class endpoints: list, create, get, patch, delete, history, and GrowFit's class cards
//! (`/summary`) and cost estimate (`/cost-estimate`).

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use classhub_core::DomainError;
use classhub_core::catalog::{self, Decimal};
use classhub_core::class::{self, ClassPatch, ClassStatus, Usage};
use classhub_core::page::Cursor;
use classhub_core::patch::Patch;
use classhub_core::time::now;
use classhub_core::{ClassId, CourseId, UserId};
use classhub_store::StoreError;
use classhub_store::engine::ClassFilter;
use classhub_store::ops::catalog::DailyFees;
use classhub_store::ops::classes::{
    ClassHistory, ClassView, CreateClass, DeleteClass, GetClass, ListClasses, UpdateClass,
};
use classhub_store::ops::users::AsCaller;
use classhub_web::cursor;
use classhub_web::fastapi::{ApiError, Errors, HttpError, HttpValidationError, query_params};
use classhub_web::{AppState, BearerSecurity, PathText, RequestId, etag, if_match, json};
use http::{HeaderMap, StatusCode, Uri, header};
use serde::Deserialize;
use serde_json::Value;
use utoipa::{IntoParams, OpenApi, ToSchema};

use crate::request::{Body, Caller, Token, ids, page, with_body};
use crate::view::{ClassOut, ClassSummaryOut, CostEstimateOut, EventOut, InviteCodeOut, PageOut};

const STATUSES: [(&str, ClassStatus); 3] =
    [("planned", ClassStatus::Planned), ("active", ClassStatus::Active), ("ended", ClassStatus::Ended)];

/// Body of `POST` (where `name` is required) and `PATCH` (a JSON merge patch: an absent
/// field keeps its value, `null` clears it). Datetimes without an offset are wall-clock
/// times in the class's time zone; a date alone is midnight there. As GrowFit's front end
/// sends them, `"string"` in `location` or `online_url` (the API docs' placeholder) is not
/// a value (the field is as if absent), and `course_id` 0 is no course.
#[derive(Deserialize, ToSchema)]
pub struct ClassBody {
    #[serde(default, with = "::serde_with::rust::double_option")]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 200)]
    name: Option<Option<Value>>,
    #[serde(default, with = "::serde_with::rust::double_option")]
    #[schema(value_type = Option<String>, pattern = "^(planned|active|ended)$")]
    status: Option<Option<Value>>,
    #[serde(default, with = "::serde_with::rust::double_option")]
    #[schema(value_type = Option<String>)]
    description: Option<Option<Value>>,
    #[serde(default, with = "::serde_with::rust::double_option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    start_at: Option<Option<Value>>,
    #[serde(default, with = "::serde_with::rust::double_option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    end_at: Option<Option<Value>>,
    #[serde(default, with = "::serde_with::rust::double_option")]
    #[schema(value_type = Option<i64>, minimum = 1, maximum = 100000)]
    capacity: Option<Option<Value>>,
    #[serde(default, with = "::serde_with::rust::double_option")]
    #[schema(value_type = Option<String>, example = "Asia/Seoul")]
    timezone: Option<Option<Value>>,
    #[serde(default, with = "::serde_with::rust::double_option")]
    #[schema(value_type = Option<String>, max_length = 500)]
    location: Option<Option<Value>>,
    #[serde(default, with = "::serde_with::rust::double_option")]
    #[schema(value_type = Option<String>, format = "uri", max_length = 2048)]
    online_url: Option<Option<Value>>,
    #[serde(default, with = "::serde_with::rust::double_option")]
    #[schema(value_type = Option<bool>)]
    invite_only: Option<Option<Value>>,
    #[serde(default, with = "::serde_with::rust::double_option")]
    #[schema(value_type = Option<i64>)]
    course_id: Option<Option<Value>>,
    #[serde(default, with = "::serde_with::rust::double_option")]
    #[schema(value_type = Option<i64>)]
    primary_model_id: Option<Option<Value>>,
    #[serde(default, with = "::serde_with::rust::double_option")]
    #[schema(value_type = Option<Vec<i64>>)]
    allowed_model_ids: Option<Option<Value>>,
    /// A decimal (a number or text) of at least 0 with at most two places; null is no
    /// limit.
    #[serde(default, with = "::serde_with::rust::double_option")]
    #[schema(value_type = Option<String>, example = "100.00")]
    budget_limit: Option<Option<Value>>,
}

/// Body fields in the model's order, the order pydantic reports errors in.
pub(crate) const FIELDS: [&str; 14] = [
    "name",
    "status",
    "description",
    "start_at",
    "end_at",
    "capacity",
    "timezone",
    "location",
    "online_url",
    "invite_only",
    "course_id",
    "primary_model_id",
    "allowed_model_ids",
    "budget_limit",
];

/// The API docs' placeholder for a text field, which GrowFit's front end sends for a
/// location and an online URL left empty: no value.
const PLACEHOLDER: &str = "string";

fn without_placeholder(p: Patch<String>) -> Patch<String> {
    match p {
        Patch::Set(s) if s == PLACEHOLDER => Patch::Keep,
        p => p,
    }
}

/// `course_id` as GrowFit's front end sends it: 0 is no course.
fn course_or_none(p: Patch<i64>) -> Patch<i64> {
    match p {
        Patch::Set(0) => Patch::Clear,
        p => p,
    }
}

/// The class patch a body asks for. Type errors and the core's stateless field checks are
/// collected in `errors` together, as pydantic reports them.
pub(crate) fn class_patch(body: &Value, errors: &mut Errors) -> ClassPatch {
    let patch = read_patch(body, errors);
    errors.violations(&class::check_fields(&patch), body);
    errors.sort_by_fields(&FIELDS);
    patch
}

pub(crate) fn read_patch(body: &Value, errors: &mut Errors) -> ClassPatch {
    let Some(b) = errors.fields::<ClassBody>(body) else {
        return ClassPatch::default();
    };
    let name = match &b.name {
        Some(None) => {
            errors.push(
                "string_type",
                vec!["body".into(), "name".into()],
                "Input should be a valid string",
                Value::Null,
                None,
            );
            Patch::Keep
        }
        field => errors.patch(field, "name", Errors::string),
    };
    ClassPatch {
        name,
        status: errors.patch(&b.status, "status", |e, loc, v| e.one_of(loc, v, &STATUSES)),
        description: errors.patch(&b.description, "description", Errors::string),
        start_at: errors.patch(&b.start_at, "start_at", Errors::datetime),
        end_at: errors.patch(&b.end_at, "end_at", Errors::datetime),
        capacity: errors.patch(&b.capacity, "capacity", Errors::int),
        timezone: errors.patch(&b.timezone, "timezone", Errors::string),
        location: without_placeholder(errors.patch(&b.location, "location", Errors::string)),
        online_url: without_placeholder(errors.patch(&b.online_url, "online_url", Errors::string)),
        invite_only: errors.patch(&b.invite_only, "invite_only", Errors::boolean),
        course_id: course_or_none(errors.patch(&b.course_id, "course_id", Errors::int)),
        primary_model_id: errors.patch(&b.primary_model_id, "primary_model_id", Errors::int),
        allowed_model_ids: match errors.patch(&b.allowed_model_ids, "allowed_model_ids", Errors::int_list) {
            // `allowed_model_ids: null` means an empty list.
            Patch::Clear => Patch::Set(Vec::new()),
            p => p,
        },
        budget_limit: errors.patch(&b.budget_limit, "budget_limit", Errors::decimal),
    }
}

/// A class body with its `ETag`.
fn class_response(status: StatusCode, view: &ClassView) -> Response {
    let mut res = json(status, &ClassOut::full(view, now()));
    res.headers_mut().insert(header::ETAG, etag(view.class.version));
    res
}

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
struct ListQuery {
    /// Only classes of this course.
    course_id: Option<i64>,
    /// Only classes with this status.
    #[param(pattern = "^(planned|active|ended)$")]
    status: Option<String>,
    #[param(minimum = 1, maximum = 100, default = 50)]
    limit: Option<i64>,
    #[param(minimum = 0, default = 0)]
    offset: Option<i64>,
}

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
struct PageQuery {
    #[param(minimum = 1, maximum = 100, default = 50)]
    limit: Option<i64>,
    #[param(minimum = 0, default = 0)]
    offset: Option<i64>,
}

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
struct CreateQuery {
    /// Overrides the body's `course_id` (0: no course).
    course_id: Option<i64>,
}

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
struct SummaryQuery {
    /// Only classes with this status (any text, as in GrowFit: one that is no status
    /// matches nothing).
    status: Option<String>,
    #[param(minimum = 1, maximum = 100, default = 50)]
    limit: Option<i64>,
    #[param(minimum = 0, default = 0)]
    offset: Option<i64>,
    /// Continue after the last class of a page: the opaque cursor of that page's
    /// `Link: <…>; rel="next"` header (instead of `offset`; as fast at any depth, and
    /// never repeating or skipping a class when others are added meanwhile).
    after: Option<String>,
}

/// List the partner's classes, newest first. A page followed by more classes names the
/// next one in a `Link` header.
#[utoipa::path(get, path = "/partner/{partner_id}/classes", operation_id = "partner_list_classes", tag = "partner",
    params(("partner_id" = i64, Path, minimum = 1), ListQuery),
    responses(
        (status = 200, description = "A page of the partner's classes", body = PageOut<ClassOut>,
            headers(("Link" = String, description = "`<…&after=…>; rel=\"next\"` when more classes follow"))),
        (status = 401, body = HttpError), (status = 403, body = HttpError), (status = 422, body = HttpValidationError)),
    security(("bearer" = [])))]
pub async fn list(State(app): State<AppState>, caller: Caller, path: PathText, uri: Uri) -> Result<Response, ApiError> {
    let query = query_params(uri.query());
    let mut errors = Errors::default();
    let [partner_id] = ids(&path, ["partner_id"], &mut errors);
    let mut page = page(&query, &mut errors);
    let course_id = query.get("course_id").and_then(|s| errors.int_text(&["query", "course_id"], s, None, None));
    let status =
        query.get("status").and_then(|s| errors.one_of(&["query", "status"], &Value::from(s.as_str()), &STATUSES));
    let after = query.get("after").and_then(|text| {
        let problem = match (cursor::decode(text), query.contains_key("offset")) {
            (Some(c), false) => return Some(c),
            (Some(_), true) => "offset and after cannot be combined",
            (None, _) => "not a cursor of this list",
        };
        let ctx = serde_json::json!({ "error": problem });
        errors.push(
            "value_error",
            vec!["query".into(), "after".into()],
            format!("Value error, {problem}"),
            Value::from(text.as_str()),
            Some(ctx),
        );
        None
    });
    errors.check()?;
    let owner = caller.as_partner(partner_id)?;
    let filter = ClassFilter { course_id: course_id.map(CourseId), status };
    if let Some(c) = &after {
        page.offset = c.position;
    }
    let classes = app.store.read(ListClasses { owner, filter, page, after }).await?;
    let now = now();
    let mut res = json(StatusCode::OK, &PageOut::of(&classes, page, |v| ClassOut::full(v, now)));
    let last = classes.items.last().map(|v| (v.class.created_at, v.class.id.0));
    if let Some(next) = Cursor::after_page(page, classes.items.len(), classes.total, last) {
        let mut params = vec![("limit", page.limit.to_string())];
        params.extend(["course_id", "status"].into_iter().filter_map(|k| Some((k, query.get(k)?.clone()))));
        if let Some(link) = cursor::next_link(uri.path(), &params, &next) {
            res.headers_mut().insert(header::LINK, link);
        }
    }
    Ok(res)
}

/// Create a class, with one student invite code.
#[utoipa::path(post, path = "/partner/{partner_id}/classes", operation_id = "partner_create_class", tag = "partner",
    params(("partner_id" = i64, Path, minimum = 1), CreateQuery),
    request_body = ClassBody,
    responses(
        (status = 201,
            description = "The class created, with its invite code", body = ClassOut, headers(("ETag" = String))),
        (status = 401, body = HttpError), (status = 403, body = HttpError), (status = 422, body = HttpValidationError)),
    security(("bearer" = [])))]
pub async fn create(
    State(app): State<AppState>,
    caller: Caller,
    path: PathText,
    uri: Uri,
    request: RequestId,
    Body(bytes): Body,
) -> Result<Response, ApiError> {
    let query = query_params(uri.query());
    let mut errors = Errors::default();
    let [partner_id] = ids(&path, ["partner_id"], &mut errors);
    let course = query.get("course_id").and_then(|s| errors.int_text(&["query", "course_id"], s, None, None));
    let (owner, body, mut patch) = with_body(&caller, partner_id, errors, &bytes, |body, errors| {
        errors.required(body, "name");
        class_patch(body, errors)
    })?;
    if let Some(c) = course {
        patch.course_id = course_or_none(Patch::Set(c));
    }
    let op =
        CreateClass { ctx: request.context(Some(owner)), owner, patch, code_length: app.config.invite_code_length };
    let view = app.store.write(op).await.map_err(|e| create_error(e, &body, query.get("course_id")))?;
    Ok(class_response(StatusCode::CREATED, &view))
}

/// A refused creation; a course that does not exist is reported where it was given (the
/// query's `course_id` wins over the body's).
fn create_error(e: StoreError, body: &Value, query_course: Option<&String>) -> ApiError {
    match (e, query_course) {
        (StoreError::Domain(DomainError::Invalid(violations)), Some(text)) => {
            let mut errors = Errors::default();
            for v in &violations {
                if v.field == "course_id" {
                    let msg = v.problem.to_string();
                    let loc = vec!["query".into(), "course_id".into()];
                    let ctx = Some(serde_json::json!({ "error": msg }));
                    errors.push("value_error", loc, format!("Value error, {msg}"), Value::String(text.clone()), ctx);
                } else {
                    errors.violations(std::slice::from_ref(v), body);
                }
            }
            ApiError::validation(errors.items)
        }
        (e, _) => ApiError::from_store(e, Some(body)),
    }
}

/// Read a class.
#[utoipa::path(get, path = "/partner/{partner_id}/classes/{class_id}",
    operation_id = "partner_get_class", tag = "partner",
    params(("partner_id" = i64, Path, minimum = 1), ("class_id" = i64, Path, minimum = 1)),
    responses(
        (status = 200, description = "The class", body = ClassOut, headers(("ETag" = String))),
        (status = 401, body = HttpError), (status = 403, body = HttpError), (status = 404, body = HttpError),
        (status = 422, body = HttpValidationError)),
    security(("bearer" = [])))]
pub async fn get(State(app): State<AppState>, Token(token): Token, path: PathText) -> Result<Response, ApiError> {
    let mut errors = Errors::default();
    let [partner_id, class_id] = ids(&path, ["partner_id", "class_id"], &mut errors);
    // The class is read with the token's check (one round trip), and shown only to the
    // partner of the path, once the token is known to be theirs.
    let op = GetClass { owner: UserId(partner_id), class_id: ClassId(class_id) };
    let (principal, view) = app.store.read(AsCaller { token: &token, now: now(), op }).await?;
    let caller = Caller::named(principal)?;
    errors.check()?;
    caller.as_partner(partner_id)?;
    Ok(class_response(StatusCode::OK, &view?))
}

/// Change a class with a JSON merge patch. With `If-Match`, only if the class is still at
/// that version.
#[utoipa::path(patch, path = "/partner/{partner_id}/classes/{class_id}",
    operation_id = "partner_update_class", tag = "partner",
    params(("partner_id" = i64, Path, minimum = 1), ("class_id" = i64, Path, minimum = 1),
        ("If-Match" = Option<String>, Header, nullable = false, description = "ETag the change is based on")),
    request_body = ClassBody,
    responses(
        (status = 200, description = "The class as changed", body = ClassOut, headers(("ETag" = String))),
        (status = 401, body = HttpError), (status = 403, body = HttpError), (status = 404, body = HttpError),
        (status = 409,
            description = "A status change not allowed, or a capacity below the students enrolled", body = HttpError),
        (status = 412, description = "The class changed since the ETag given in If-Match", body = HttpError),
        (status = 422, body = HttpValidationError)),
    security(("bearer" = [])))]
pub async fn update(
    State(app): State<AppState>,
    caller: Caller,
    path: PathText,
    headers: HeaderMap,
    request: RequestId,
    Body(bytes): Body,
) -> Result<Response, ApiError> {
    let mut errors = Errors::default();
    let [partner_id, class_id] = ids(&path, ["partner_id", "class_id"], &mut errors);
    let (owner, body, patch) = with_body(&caller, partner_id, errors, &bytes, class_patch)?;
    let op = UpdateClass {
        ctx: request.context(Some(owner)),
        owner,
        class_id: ClassId(class_id),
        patch,
        if_match: if_match(&headers),
    };
    let view = app.store.write(op).await.map_err(|e| ApiError::from_store(e, Some(&body)))?;
    Ok(class_response(StatusCode::OK, &view))
}

/// Delete a class with its codes and roster.
#[utoipa::path(delete, path = "/partner/{partner_id}/classes/{class_id}",
    operation_id = "partner_delete_class", tag = "partner",
    params(("partner_id" = i64, Path, minimum = 1), ("class_id" = i64, Path, minimum = 1),
        ("If-Match" = Option<String>, Header, nullable = false, description = "ETag the deletion is based on")),
    responses(
        (status = 204, description = "Deleted"), (status = 401, body = HttpError), (status = 403, body = HttpError),
        (status = 404, body = HttpError),
        (status = 412, description = "The class changed since the ETag given in If-Match", body = HttpError),
        (status = 422, body = HttpValidationError)),
    security(("bearer" = [])))]
pub async fn delete(
    State(app): State<AppState>,
    caller: Caller,
    path: PathText,
    headers: HeaderMap,
    request: RequestId,
) -> Result<Response, ApiError> {
    let mut errors = Errors::default();
    let [partner_id, class_id] = ids(&path, ["partner_id", "class_id"], &mut errors);
    errors.check()?;
    let owner = caller.as_partner(partner_id)?;
    let op = DeleteClass {
        ctx: request.context(Some(owner)),
        owner,
        class_id: ClassId(class_id),
        if_match: if_match(&headers),
    };
    app.store.write(op).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The class's audit history, newest first.
#[utoipa::path(get, path = "/partner/{partner_id}/classes/{class_id}/history",
    operation_id = "partner_list_class_history", tag = "partner",
    params(("partner_id" = i64, Path, minimum = 1), ("class_id" = i64, Path, minimum = 1), PageQuery),
    responses(
        (status = 200, description = "A page of the class's events, newest first", body = PageOut<EventOut>),
        (status = 401, body = HttpError), (status = 403, body = HttpError), (status = 404, body = HttpError),
        (status = 422, body = HttpValidationError)),
    security(("bearer" = [])))]
pub async fn history(
    State(app): State<AppState>,
    caller: Caller,
    path: PathText,
    uri: Uri,
) -> Result<Response, ApiError> {
    let query = query_params(uri.query());
    let mut errors = Errors::default();
    let [partner_id, class_id] = ids(&path, ["partner_id", "class_id"], &mut errors);
    let page = page(&query, &mut errors);
    errors.check()?;
    let owner = caller.as_partner(partner_id)?;
    let events = app.store.read(ClassHistory { owner, class_id: ClassId(class_id), page }).await?;
    Ok(json(StatusCode::OK, &PageOut::of(&events, page, EventOut::from)))
}

/// The partner's classes as cards, newest first: a bare list (GrowFit's class summary).
/// classhub records no AI usage, so conversations, costs and budget use are zero.
#[utoipa::path(get, path = "/partner/{partner_id}/classes/summary",
    operation_id = "partner_list_class_summaries", tag = "partner",
    params(("partner_id" = i64, Path, minimum = 1), SummaryQuery),
    responses(
        (status = 200, description = "The partner's classes as cards", body = Vec<ClassSummaryOut>),
        (status = 401, body = HttpError), (status = 403, body = HttpError), (status = 422, body = HttpValidationError)),
    security(("bearer" = [])))]
pub async fn summary(
    State(app): State<AppState>,
    caller: Caller,
    path: PathText,
    uri: Uri,
) -> Result<Response, ApiError> {
    let query = query_params(uri.query());
    let mut errors = Errors::default();
    let [partner_id] = ids(&path, ["partner_id"], &mut errors);
    let page = page(&query, &mut errors);
    errors.check()?;
    let owner = caller.as_partner(partner_id)?;
    // GrowFit compares the text: an empty one filters nothing, one that is no status
    // matches nothing.
    let views = match query.get("status").map(String::as_str).filter(|s| !s.is_empty()) {
        Some(s) => match ClassStatus::parse(s) {
            Some(status) => {
                let filter = ClassFilter { course_id: None, status: Some(status) };
                app.store.read(ListClasses { owner, filter, page, after: None }).await?.items
            }
            None => Vec::new(),
        },
        None => app.store.read(ListClasses { owner, filter: ClassFilter::default(), page, after: None }).await?.items,
    };
    let now = now();
    let cards: Vec<ClassSummaryOut> = views
        .iter()
        .map(|v| ClassSummaryOut::new(&v.class, class::summarize(&v.class, &v.codes, Usage::NONE, now)))
        .collect();
    Ok(json(StatusCode::OK, &cards))
}

/// Body of `POST …/cost-estimate`.
#[derive(ToSchema)]
#[allow(dead_code)]
struct CostEstimateBody {
    #[schema(minimum = 1, maximum = 100000)]
    expected_students: i64,
    #[schema(minimum = 1, maximum = 1000)]
    model_count: i64,
    #[schema(minimum = 1, maximum = 36600)]
    days: i64,
}

const ESTIMATE_FIELDS: [(&str, i64); 3] = [
    ("expected_students", catalog::ESTIMATE_STUDENTS_MAX),
    ("model_count", catalog::ESTIMATE_MODELS_MAX),
    ("days", catalog::ESTIMATE_DAYS_MAX),
];

/// What a class would cost (KRW): 5000 per student, and per student and day the daily fees
/// of the `model_count` dearest priced active chat models of the catalog (1500 for each
/// model the catalog has no price for), × 0.7. Without prices, GrowFit's figures.
#[utoipa::path(post, path = "/partner/{partner_id}/classes/cost-estimate",
    operation_id = "partner_estimate_class_cost", tag = "partner",
    params(("partner_id" = i64, Path, minimum = 1)),
    request_body = CostEstimateBody,
    responses(
        (status = 200, description = "The estimated cost", body = CostEstimateOut),
        (status = 401, body = HttpError), (status = 403, body = HttpError), (status = 422, body = HttpValidationError)),
    security(("bearer" = [])))]
pub async fn cost_estimate(
    State(app): State<AppState>,
    caller: Caller,
    path: PathText,
    Body(bytes): Body,
) -> Result<Response, ApiError> {
    let mut errors = Errors::default();
    let [partner_id] = ids(&path, ["partner_id"], &mut errors);
    let (_, _, [students, models, days]) = with_body(&caller, partner_id, errors, &bytes, |body, errors| {
        ESTIMATE_FIELDS.map(|(name, max)| {
            let loc = ["body", name];
            let n = errors.required(body, name).and_then(|v| errors.int(&loc, v));
            let bounded = n.map(|n| catalog::bounded(n, 1, max));
            match bounded {
                Some(Ok(n)) => n,
                Some(Err(p)) => {
                    errors.violations(&[classhub_core::Violation::new(name, p)], body);
                    0
                }
                None => 0,
            }
        })
    })?;
    let fees: Vec<Decimal> = app.store.read(DailyFees).await?;
    let estimate = catalog::estimate_cost(students, models, days, &fees)
        .ok_or_else(|| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error"))?;
    Ok(json(StatusCode::OK, &CostEstimateOut::from(estimate)))
}

#[derive(OpenApi)]
#[openapi(
    components(schemas(ClassBody, ClassOut, InviteCodeOut, EventOut, ClassSummaryOut, CostEstimateBody,
        CostEstimateOut, HttpError, HttpValidationError)),
    modifiers(&BearerSecurity),
    tags((name = "partner", description = "Classes of the partner API (FastAPI style)")),
)]
pub struct Doc;
