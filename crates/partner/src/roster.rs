//! Rosters: a class's students for its partner; redeeming, listing and leaving for students
//! (GrowFit's `/user/class/invites/redeem`, `/user/classes` and
//! `/user/class/enrollments/{enrollment_id}`; classhub's `/user/classes/{class_id}` stays).

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use classhub_core::error::Entity;
use classhub_core::invite::{CodeUnavailable, EnrollmentStatus, Membership};
use classhub_core::page::PageRequest;
use classhub_core::{ClassId, DomainError, MembershipId, UserId};
use classhub_store::engine::{Member, StudentClass};
use classhub_store::ops::invites::Redeem;
use classhub_store::ops::roster::{LeaveClass, LeaveEnrollment, ListStudents, MyEnrollments, RemoveStudent};
use classhub_web::fastapi::{ApiError, Errors, HttpError, HttpValidationError, query_params};
use classhub_web::{AppState, BearerSecurity, PathText, PeerAddr, RequestId, json, ser_opt_rfc3339, ser_rfc3339};
use http::{StatusCode, Uri};
use jiff::Timestamp;
use serde::Serialize;
use serde_json::Value;
use utoipa::{IntoParams, OpenApi, ToSchema};

use crate::request::{Body, Caller, any_ids, ids, page};
use crate::view::PageOut;

/// Enrollment statuses as the wire names them, in GrowFit's order.
pub(crate) const ENROLLMENT_STATUSES: [(&str, EnrollmentStatus); 4] = [
    ("active", EnrollmentStatus::Active),
    ("inactive", EnrollmentStatus::Inactive),
    ("completed", EnrollmentStatus::Completed),
    ("dropped", EnrollmentStatus::Dropped),
];

/// A student of a class.
#[derive(Serialize, ToSchema)]
pub struct StudentOut {
    pub user_id: i64,
    pub name: String,
    pub email: Option<String>,
    pub role: &'static str,
    #[serde(serialize_with = "ser_rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub joined_at: Timestamp,
    pub invite_code_id: Option<i64>,
}

impl From<&Member> for StudentOut {
    fn from(m: &Member) -> StudentOut {
        StudentOut {
            user_id: m.user.id.0,
            name: m.user.name.clone(),
            email: m.user.email.clone(),
            role: m.membership.role.as_str(),
            joined_at: m.membership.joined_at,
            invite_code_id: m.membership.invite_code_id.map(|c| c.0),
        }
    }
}

/// An enrollment (GrowFit's `EnrollmentResponse`); `student_id` is the student's user id.
#[derive(Serialize, ToSchema)]
pub struct EnrollmentOut {
    pub id: i64,
    pub class_id: i64,
    pub student_id: i64,
    pub invite_code_id: Option<i64>,
    #[schema(value_type = String, pattern = "^(active|inactive|completed|dropped)$")]
    pub status: &'static str,
    #[serde(serialize_with = "ser_rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub enrolled_at: Timestamp,
    #[serde(serialize_with = "ser_opt_rfc3339")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub completed_at: Option<Timestamp>,
}

impl From<&Membership> for EnrollmentOut {
    fn from(m: &Membership) -> EnrollmentOut {
        EnrollmentOut {
            id: m.id.0,
            class_id: m.class_id.0,
            student_id: m.user_id.0,
            invite_code_id: m.invite_code_id.map(|c| c.0),
            status: m.status.as_str(),
            enrolled_at: m.joined_at,
            completed_at: m.completed_at,
        }
    }
}

/// One of a student's classes (GrowFit's `StudentClassResponse`).
#[derive(Serialize, ToSchema)]
pub struct StudentClassOut<'a> {
    pub enrollment_id: i64,
    pub class_id: i64,
    pub class_title: &'a str,
    pub primary_model_id: Option<i64>,
    pub allowed_model_ids: Vec<i64>,
    pub course_title: Option<&'a str>,
    /// Always null: classhub has no organisations.
    #[schema(value_type = Option<String>)]
    pub org_name: Option<&'a str>,
    /// The class's partner.
    pub teacher_name: &'a str,
    #[serde(serialize_with = "ser_opt_rfc3339")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub class_start_at: Option<Timestamp>,
    #[serde(serialize_with = "ser_opt_rfc3339")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub class_end_at: Option<Timestamp>,
    #[schema(value_type = String, pattern = "^(active|inactive|completed|dropped)$")]
    pub enrollment_status: &'static str,
    #[serde(serialize_with = "ser_rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub enrolled_at: Timestamp,
    #[serde(serialize_with = "ser_opt_rfc3339")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub completed_at: Option<Timestamp>,
    /// Always null: classhub records no activity.
    #[serde(serialize_with = "ser_opt_rfc3339")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_activity_at: Option<Timestamp>,
}

impl<'a> From<&'a StudentClass> for StudentClassOut<'a> {
    fn from(s: &'a StudentClass) -> StudentClassOut<'a> {
        let (m, c) = (&s.enrollment, &s.class);
        StudentClassOut {
            enrollment_id: m.id.0,
            class_id: c.id.0,
            class_title: &c.fields.name,
            primary_model_id: c.fields.primary_model_id.map(|m| m.0),
            allowed_model_ids: c.fields.allowed_model_ids.iter().map(|m| m.0).collect(),
            course_title: s.course_title.as_deref(),
            org_name: None,
            teacher_name: &s.teacher_name,
            class_start_at: c.fields.start_at,
            class_end_at: c.fields.end_at,
            enrollment_status: m.status.as_str(),
            enrolled_at: m.joined_at,
            completed_at: m.completed_at,
            last_activity_at: None,
        }
    }
}

/// A page of a student's classes, in GrowFit's field order.
#[derive(Serialize, ToSchema)]
pub struct StudentClassPage<'a> {
    pub items: Vec<StudentClassOut<'a>>,
    pub total: u64,
    /// `offset / limit + 1`.
    pub page: u64,
    /// The `limit` asked for.
    pub size: u32,
}

impl<'a> StudentClassPage<'a> {
    fn of(page: &'a classhub_core::page::Page<StudentClass>, req: PageRequest) -> StudentClassPage<'a> {
        StudentClassPage {
            items: page.items.iter().map(StudentClassOut::from).collect(),
            total: page.total,
            page: req.offset / u64::from(req.limit.max(1)) + 1,
            size: req.limit,
        }
    }
}

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
struct MyClassesQuery {
    /// Only enrollments with this status; without it, active and completed ones.
    #[param(pattern = "^(active|inactive|completed|dropped)$")]
    status: Option<String>,
    #[param(minimum = 1, maximum = 100, default = 50)]
    limit: Option<i64>,
    #[param(minimum = 0, default = 0)]
    offset: Option<i64>,
}

/// `{"code": "…"}`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct RedeemBody {
    /// Case, spaces and dashes do not matter.
    code: String,
}

/// A class's students (those holding a seat: not dropped), most recently joined first.
#[utoipa::path(get, path = "/partner/{partner_id}/classes/{class_id}/students",
    operation_id = "partner_list_class_students", tag = "partner",
    params(("partner_id" = i64, Path, minimum = 1), ("class_id" = i64, Path, minimum = 1),
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 100), ("offset" = Option<i64>, Query, minimum = 0)),
    responses(
        (status = 200, description = "A page of the class's students", body = PageOut<StudentOut>),
        (status = 401, body = HttpError), (status = 403, body = HttpError), (status = 404, body = HttpError),
        (status = 422, body = HttpValidationError)),
    security(("bearer" = [])))]
pub async fn students(
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
    let members = app.store.read(ListStudents { owner, class_id: ClassId(class_id), page }).await?;
    Ok(json(StatusCode::OK, &PageOut::of(&members, page, StudentOut::from)))
}

/// Remove a student from a class; the seat is free again.
#[utoipa::path(delete, path = "/partner/{partner_id}/classes/{class_id}/students/{user_id}",
    operation_id = "partner_remove_class_student", tag = "partner",
    params(("partner_id" = i64, Path, minimum = 1), ("class_id" = i64, Path, minimum = 1), ("user_id" = i64, Path, minimum = 1)),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, body = HttpError), (status = 403, body = HttpError), (status = 404, body = HttpError),
        (status = 422, body = HttpValidationError)),
    security(("bearer" = [])))]
pub async fn remove_student(
    State(app): State<AppState>,
    caller: Caller,
    path: PathText,
    request: RequestId,
) -> Result<Response, ApiError> {
    let mut errors = Errors::default();
    let [partner_id, class_id, user_id] = ids(&path, ["partner_id", "class_id", "user_id"], &mut errors);
    errors.check()?;
    let owner = caller.as_partner(partner_id)?;
    let op = RemoveStudent {
        ctx: request.context(Some(owner)),
        owner,
        class_id: ClassId(class_id),
        student: UserId(user_id),
    };
    app.store.write(op).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Join a class with an invite code (a student's or a partner's token). 201 with a new
/// enrollment; 200 with the existing one (no use of the code consumed) when already
/// enrolled.
#[utoipa::path(post, path = "/user/class/invites/redeem",
    operation_id = "partner_redeem_invite_code", tag = "student", request_body = RedeemBody,
    responses(
        (status = 201, description = "The new enrollment", body = EnrollmentOut),
        (status = 200,
            description = "Already enrolled: the existing enrollment (the code is not used)", body = EnrollmentOut),
        (status = 400, body = HttpError,
            description = "invalid_code_format (cannot be a code), invalid_or_expired_code (unknown, disabled, expired or used up)"),
        (status = 401, body = HttpError), (status = 403, body = HttpError),
        (status = 409, body = HttpError, description = "class has ended, or is full"),
        (status = 422, body = HttpValidationError),
        (status = 429, body = HttpError, headers(("Retry-After" = String)), description = "too many failed attempts")),
    security(("bearer" = [])))]
pub async fn redeem(
    State(app): State<AppState>,
    caller: Caller,
    PeerAddr(peer): PeerAddr,
    request: RequestId,
    Body(bytes): Body,
) -> Result<Response, ApiError> {
    let student = caller.as_student()?;
    let mut errors = Errors::default();
    let code = errors.json_object(&bytes).and_then(|body| {
        let v = errors.required(&body, "code")?.clone();
        errors.string(&["body", "code"], &v)
    });
    errors.check()?;
    // Guesses (unknown or unusable codes) count per student at an address and per address,
    // in the store that every process shares.
    let identity = format!("student:{}", student.0);
    let throttle = classhub_web::throttle::keys(app.config.redeem_policy(), Some(&identity), peer);
    let op = Redeem {
        ctx: request.context(Some(student)),
        student,
        code: code.unwrap_or_default(),
        throttle,
        code_length: app.config.invite_code_length,
    };
    match app.store.write(op).await? {
        Ok(e) => {
            let status = if e.created { StatusCode::CREATED } else { StatusCode::OK };
            Ok(json(status, &EnrollmentOut::from(&e.membership)))
        }
        Err(DomainError::CodeUnavailable(CodeUnavailable::Malformed)) => {
            Err(ApiError::new(StatusCode::BAD_REQUEST, "invalid_code_format"))
        }
        Err(DomainError::NotFound(Entity::InviteCode) | DomainError::CodeUnavailable(_)) => {
            Err(ApiError::new(StatusCode::BAD_REQUEST, "invalid_or_expired_code"))
        }
        Err(refusal) => Err(ApiError::from_domain(refusal, None)),
    }
}

/// The caller's classes (a student's, or a partner's own enrollments): enrollments with
/// `status`, or active and completed ones, most recently enrolled first.
#[utoipa::path(get, path = "/user/classes",
    operation_id = "partner_list_my_classes", tag = "student", params(MyClassesQuery),
    responses(
        (status = 200, description = "A page of the caller's classes", body = StudentClassPage),
        (status = 401, body = HttpError), (status = 403, body = HttpError), (status = 422, body = HttpValidationError)),
    security(("bearer" = [])))]
pub async fn my_classes(State(app): State<AppState>, caller: Caller, uri: Uri) -> Result<Response, ApiError> {
    let student = caller.as_student()?;
    let query = query_params(uri.query());
    let mut errors = Errors::default();
    let statuses = match query.get("status") {
        Some(s) => errors
            .one_of(&["query", "status"], &Value::from(s.as_str()), &ENROLLMENT_STATUSES)
            .map_or_else(Vec::new, |s| vec![s]),
        None => vec![EnrollmentStatus::Active, EnrollmentStatus::Completed],
    };
    let page = page(&query, &mut errors);
    errors.check()?;
    let classes = app.store.read(MyEnrollments { user: student, statuses, page }).await?;
    Ok(json(StatusCode::OK, &StudentClassPage::of(&classes, page)))
}

/// End one of the caller's enrollments; its seat is free again.
#[utoipa::path(delete, path = "/user/class/enrollments/{enrollment_id}",
    operation_id = "partner_leave_enrollment", tag = "student",
    params(("enrollment_id" = i64, Path)),
    responses(
        (status = 204, description = "Left"),
        (status = 401, body = HttpError), (status = 403, body = HttpError),
        (status = 404, body = HttpError, description = "enrollment not found"),
        (status = 422, body = HttpValidationError)),
    security(("bearer" = [])))]
pub async fn leave_enrollment(
    State(app): State<AppState>,
    caller: Caller,
    path: PathText,
    request: RequestId,
) -> Result<Response, ApiError> {
    let mut errors = Errors::default();
    let [enrollment_id] = any_ids(&path, ["enrollment_id"], &mut errors);
    errors.check()?;
    let student = caller.as_student()?;
    let op = LeaveEnrollment { ctx: request.context(Some(student)), student, enrollment: MembershipId(enrollment_id) };
    match app.store.write(op).await {
        Ok(()) => Ok(StatusCode::NO_CONTENT.into_response()),
        Err(classhub_store::StoreError::Domain(DomainError::NotFound(Entity::Membership))) => {
            Err(ApiError::new(StatusCode::NOT_FOUND, "enrollment not found"))
        }
        Err(e) => Err(e.into()),
    }
}

/// Leave a class.
#[utoipa::path(delete, path = "/user/classes/{class_id}", operation_id = "partner_leave_class", tag = "student",
    params(("class_id" = i64, Path, minimum = 1)),
    responses(
        (status = 204, description = "Left"),
        (status = 401, body = HttpError), (status = 403, body = HttpError), (status = 404, body = HttpError),
        (status = 422, body = HttpValidationError)),
    security(("bearer" = [])))]
pub async fn leave(
    State(app): State<AppState>,
    caller: Caller,
    path: PathText,
    request: RequestId,
) -> Result<Response, ApiError> {
    let mut errors = Errors::default();
    let [class_id] = ids(&path, ["class_id"], &mut errors);
    errors.check()?;
    let student = caller.as_student()?;
    app.store.write(LeaveClass { ctx: request.context(Some(student)), student, class_id: ClassId(class_id) }).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(OpenApi)]
#[openapi(
    components(schemas(StudentOut, EnrollmentOut, RedeemBody, StudentClassOut, StudentClassPage)),
    modifiers(&BearerSecurity),
    tags((name = "student", description = "Students of the partner API: joining with invite codes")),
)]
pub struct Doc;
