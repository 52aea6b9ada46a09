//! A partner's students and their enrollments (GrowFit's `/partner/{partner_id}/student`):
//! list, statistics, details, change, deactivate, archive, delete; a student's enrollments,
//! adding one, changing, completing, dropping and deleting one. A student is known by
//! their user id. Enrollments of another partner's classes are not found, as absent ones.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use classhub_core::error::{Entity, Problem};
use classhub_core::invite::Membership;
use classhub_core::patch::Patch;
use classhub_core::roster::{self, EnrollmentChange, PartnerStudent, StudentChange, StudentStats, StudentStatus};
use classhub_core::{ClassId, DomainError, InviteCodeId, MembershipId, UserId};
use classhub_store::StoreError;
use classhub_store::engine::StudentFilter;
use classhub_store::ops::students::{
    AddEnrollment, ChangeEnrollment, DeleteEnrollment, DeletePartnerStudent, EnrollmentAction, GetPartnerStudent,
    ListPartnerStudents, PartnerStudentDetails, PartnerStudentStats, StudentDetail, StudentEnrollments,
    UpdatePartnerStudent,
};
use classhub_web::fastapi::{ApiError, Errors, HttpError, HttpValidationError, query_params};
use classhub_web::{AppState, BearerSecurity, PathText, RequestId, json, ser_opt_rfc3339, ser_rfc3339};
use http::{StatusCode, Uri};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashMap;
use utoipa::{IntoParams, OpenApi, ToSchema};

use crate::request::{Body, Caller, any_ids, page_of, with_body};
use crate::roster::{ENROLLMENT_STATUSES, EnrollmentOut};

/// GrowFit's page of a student list: 200 by default, at most 500.
const LIMIT_DEFAULT: u32 = 200;
const LIMIT_MAX: u32 = 500;

const STUDENT_STATUSES: [(&str, StudentStatus); 3] =
    [("active", StudentStatus::Active), ("inactive", StudentStatus::Inactive), ("archived", StudentStatus::Archived)];

/// A partner's student (GrowFit's `StudentResponse`); `id` and `user_id` are the user's id.
#[derive(Serialize, ToSchema)]
pub struct PartnerStudentOut<'a> {
    pub id: i64,
    pub partner_id: i64,
    pub full_name: &'a str,
    pub email: Option<&'a str>,
    #[schema(value_type = String, pattern = "^(active|inactive|archived)$")]
    pub status: &'static str,
    #[serde(serialize_with = "ser_rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub joined_at: Timestamp,
    pub primary_contact: Option<&'a str>,
    pub notes: Option<&'a str>,
    pub user_id: Option<i64>,
}

impl<'a> From<&'a PartnerStudent> for PartnerStudentOut<'a> {
    fn from(s: &'a PartnerStudent) -> PartnerStudentOut<'a> {
        PartnerStudentOut {
            id: s.user_id.0,
            partner_id: s.partner_id.0,
            full_name: &s.full_name,
            email: s.email.as_deref(),
            status: s.status.as_str(),
            joined_at: s.joined_at,
            primary_contact: s.primary_contact.as_deref(),
            notes: s.notes.as_deref(),
            user_id: Some(s.user_id.0),
        }
    }
}

/// One enrollment of a student in the details list.
#[derive(Serialize, ToSchema)]
pub struct StudentEnrollmentOut<'a> {
    pub enrollment_id: i64,
    pub class_id: i64,
    pub class_name: &'a str,
    pub enrollment_status: &'static str,
}

/// A student with their enrollments (GrowFit's `StudentDetailResponse`). classhub records
/// no practice activity: `conversation_count` is 0, `total_cost` `"0"` and
/// `last_activity_at` null.
#[derive(Serialize, ToSchema)]
pub struct StudentDetailOut<'a> {
    pub id: i64,
    pub partner_id: i64,
    pub full_name: &'a str,
    pub email: Option<&'a str>,
    pub status: &'static str,
    #[serde(serialize_with = "ser_rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub joined_at: Timestamp,
    pub primary_contact: Option<&'a str>,
    pub user_id: Option<i64>,
    pub enrollments: Vec<StudentEnrollmentOut<'a>>,
    pub conversation_count: u64,
    /// A decimal, as a string.
    pub total_cost: &'static str,
    #[serde(serialize_with = "ser_opt_rfc3339")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_activity_at: Option<Timestamp>,
}

impl<'a> From<&'a StudentDetail> for StudentDetailOut<'a> {
    fn from(d: &'a StudentDetail) -> StudentDetailOut<'a> {
        let s = &d.student;
        StudentDetailOut {
            id: s.user_id.0,
            partner_id: s.partner_id.0,
            full_name: &s.full_name,
            email: s.email.as_deref(),
            status: s.status.as_str(),
            joined_at: s.joined_at,
            primary_contact: s.primary_contact.as_deref(),
            user_id: Some(s.user_id.0),
            enrollments: d
                .enrollments
                .iter()
                .map(|(m, class_name)| StudentEnrollmentOut {
                    enrollment_id: m.id.0,
                    class_id: m.class_id.0,
                    class_name,
                    enrollment_status: m.status.as_str(),
                })
                .collect(),
            conversation_count: 0,
            total_cost: "0",
            last_activity_at: None,
        }
    }
}

/// The partner's students counted (GrowFit's `StudentStatsResponse`).
#[derive(Serialize, ToSchema)]
pub struct StudentStatsOut {
    pub total_students: u64,
    pub active_students: u64,
    /// Students with a completed enrollment in one of the partner's classes.
    pub completed_students: u64,
    /// Active students per hundred, one decimal, as a string (`"66.7"`).
    pub engagement_rate: String,
}

impl From<&StudentStats> for StudentStatsOut {
    fn from(s: &StudentStats) -> StudentStatsOut {
        let tenths = s.engagement_tenths();
        StudentStatsOut {
            total_students: s.total,
            active_students: s.active,
            completed_students: s.completed,
            engagement_rate: format!("{}.{}", tenths / 10, tenths % 10),
        }
    }
}

/// `PATCH /{student_id}`: present fields change (`null` clears an email, a contact or notes).
#[derive(Deserialize, ToSchema)]
pub struct StudentUpdateBody {
    #[serde(default, with = "::serde_with::rust::double_option")]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 200)]
    full_name: Option<Option<Value>>,
    #[serde(default, with = "::serde_with::rust::double_option")]
    #[schema(value_type = Option<String>, format = "email")]
    email: Option<Option<Value>>,
    #[serde(default, with = "::serde_with::rust::double_option")]
    #[schema(value_type = Option<String>, pattern = "^(active|inactive|archived)$")]
    status: Option<Option<Value>>,
    #[serde(default, with = "::serde_with::rust::double_option")]
    #[schema(value_type = Option<String>, max_length = 200)]
    primary_contact: Option<Option<Value>>,
    #[serde(default, with = "::serde_with::rust::double_option")]
    #[schema(value_type = Option<String>, max_length = 2000)]
    notes: Option<Option<Value>>,
    /// The student's user id: it may be restated, not changed.
    #[serde(default, with = "::serde_with::rust::double_option")]
    #[schema(value_type = Option<i64>)]
    user_id: Option<Option<Value>>,
}

const STUDENT_FIELDS: [&str; 6] = ["full_name", "email", "status", "primary_contact", "notes", "user_id"];

fn student_change(body: &Value, errors: &mut Errors) -> StudentChange {
    let Some(b) = errors.fields::<StudentUpdateBody>(body) else {
        return StudentChange::default();
    };
    let change = StudentChange {
        full_name: errors.patch(&b.full_name, "full_name", Errors::string),
        email: errors.patch(&b.email, "email", Errors::string),
        status: errors.patch(&b.status, "status", |e, loc, v| e.one_of(loc, v, &STUDENT_STATUSES)),
        primary_contact: errors.patch(&b.primary_contact, "primary_contact", Errors::string),
        notes: errors.patch(&b.notes, "notes", Errors::string),
        user_id: errors.patch(&b.user_id, "user_id", Errors::int),
    };
    errors.violations(&roster::check_student_change(&change), body);
    errors.sort_by_fields(&STUDENT_FIELDS);
    change
}

/// `POST /{student_id}/enrollments`. The path names the student; `enrolled_at` and
/// `completed_at` are read and not used (the enrollment starts now), as in GrowFit.
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)] // `class_id` and `student_id` are read as required fields, before this.
pub struct EnrollmentCreateBody {
    /// One of the partner's classes.
    #[schema(value_type = i64)]
    class_id: Option<Value>,
    #[schema(value_type = i64)]
    student_id: Option<Value>,
    /// One of the class's codes, which the enrollment then uses once.
    #[serde(default, with = "::serde_with::rust::double_option")]
    #[schema(value_type = Option<i64>)]
    invite_code_id: Option<Option<Value>>,
    /// `active` unless given; `dropped` takes no seat.
    #[serde(default, with = "::serde_with::rust::double_option")]
    #[schema(value_type = Option<String>, pattern = "^(active|inactive|completed|dropped)$")]
    status: Option<Option<Value>>,
    #[serde(default, with = "::serde_with::rust::double_option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    enrolled_at: Option<Option<Value>>,
    #[serde(default, with = "::serde_with::rust::double_option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    completed_at: Option<Option<Value>>,
}

/// `PATCH /enrollments/{enrollment_id}`: present fields change. Class, student and code
/// may be restated, not changed (a code may be cleared); status and enrolment time cannot
/// be null.
#[derive(Deserialize, ToSchema)]
pub struct EnrollmentUpdateBody {
    #[serde(default, with = "::serde_with::rust::double_option")]
    #[schema(value_type = Option<i64>)]
    class_id: Option<Option<Value>>,
    #[serde(default, with = "::serde_with::rust::double_option")]
    #[schema(value_type = Option<i64>)]
    student_id: Option<Option<Value>>,
    #[serde(default, with = "::serde_with::rust::double_option")]
    #[schema(value_type = Option<i64>)]
    invite_code_id: Option<Option<Value>>,
    #[serde(default, with = "::serde_with::rust::double_option")]
    #[schema(value_type = Option<String>, pattern = "^(active|inactive|completed|dropped)$")]
    status: Option<Option<Value>>,
    #[serde(default, with = "::serde_with::rust::double_option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    enrolled_at: Option<Option<Value>>,
    #[serde(default, with = "::serde_with::rust::double_option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    completed_at: Option<Option<Value>>,
}

const ENROLLMENT_FIELDS: [&str; 6] =
    ["class_id", "student_id", "invite_code_id", "status", "enrolled_at", "completed_at"];

/// A datetime given with an offset is that instant; without one (GrowFit's naive datetimes),
/// UTC.
fn instant(e: &mut Errors, loc: &[&str], v: &Value) -> Option<Timestamp> {
    e.datetime(loc, v).and_then(|w| w.resolve(None).ok())
}

/// What an enrollment body asks for.
struct NewEnrollmentRequest {
    class_id: i64,
    status: Option<classhub_core::invite::EnrollmentStatus>,
    code: Option<InviteCodeId>,
}

fn enrollment_create(body: &Value, errors: &mut Errors) -> NewEnrollmentRequest {
    let class_id = errors.required(body, "class_id").cloned().and_then(|v| errors.int(&["body", "class_id"], &v));
    if let Some(v) = errors.required(body, "student_id").cloned() {
        errors.int(&["body", "student_id"], &v);
    }
    let mut req = NewEnrollmentRequest { class_id: class_id.unwrap_or(0), status: None, code: None };
    if let Some(b) = errors.fields::<EnrollmentCreateBody>(body) {
        req.code = errors.patch(&b.invite_code_id, "invite_code_id", Errors::int).set_value().map(|c| InviteCodeId(*c));
        req.status =
            errors.patch(&b.status, "status", |e, loc, v| e.one_of(loc, v, &ENROLLMENT_STATUSES)).set_value().copied();
        errors.patch(&b.enrolled_at, "enrolled_at", instant);
        errors.patch(&b.completed_at, "completed_at", instant);
    }
    errors.sort_by_fields(&ENROLLMENT_FIELDS);
    req
}

fn enrollment_change(body: &Value, errors: &mut Errors) -> EnrollmentChange {
    let Some(b) = errors.fields::<EnrollmentUpdateBody>(body) else {
        return EnrollmentChange::default();
    };
    let change = EnrollmentChange {
        class_id: errors.patch(&b.class_id, "class_id", Errors::int).map(ClassId),
        student_id: errors.patch(&b.student_id, "student_id", Errors::int).map(UserId),
        invite_code_id: errors.patch(&b.invite_code_id, "invite_code_id", Errors::int).map(InviteCodeId),
        status: errors.patch(&b.status, "status", |e, loc, v| e.one_of(loc, v, &ENROLLMENT_STATUSES)),
        enrolled_at: errors.patch(&b.enrolled_at, "enrolled_at", instant),
        completed_at: errors.patch(&b.completed_at, "completed_at", instant),
    };
    errors.sort_by_fields(&ENROLLMENT_FIELDS);
    change
}

/// GrowFit's words for what this API refuses; the rest as every partner route says it.
fn refusal(e: StoreError, body: Option<&Value>) -> ApiError {
    match e {
        StoreError::Domain(DomainError::NotFound(Entity::Student)) => {
            ApiError::new(StatusCode::NOT_FOUND, "student not found")
        }
        StoreError::Domain(DomainError::NotFound(Entity::Membership)) => {
            ApiError::new(StatusCode::NOT_FOUND, "enrollment not found")
        }
        StoreError::Domain(DomainError::CodeUnavailable(_)) => {
            ApiError::new(StatusCode::BAD_REQUEST, "invalid_or_expired_code")
        }
        e => ApiError::from_store(e, body),
    }
}

/// The list filters: `status` as given, `q` anywhere in the name, email or contact (both
/// ignored when empty, as in GrowFit).
fn filter(query: &HashMap<String, String>) -> StudentFilter {
    let given = |k: &str| query.get(k).filter(|v| !v.is_empty()).cloned();
    StudentFilter { status: given("status"), search: given("q") }
}

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
struct StudentListQuery {
    /// Only students with this status (`active`, `inactive`, `archived`).
    status: Option<String>,
    /// Text in the name, email or contact (case of ASCII letters ignored).
    q: Option<String>,
    #[param(minimum = 1, maximum = 500, default = 200)]
    limit: Option<i64>,
    #[param(minimum = 0, default = 0)]
    offset: Option<i64>,
}

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
struct EnrollmentListQuery {
    /// Only enrollments with this status.
    status: Option<String>,
    #[param(minimum = 1, maximum = 500, default = 200)]
    limit: Option<i64>,
    #[param(minimum = 0, default = 0)]
    offset: Option<i64>,
}

/// The partner's students, most recently joined first (a plain list).
#[utoipa::path(get, path = "/partner/{partner_id}/student",
    operation_id = "partner_list_students", tag = "partner-students",
    params(("partner_id" = i64, Path), StudentListQuery),
    responses(
        (status = 200, description = "The partner's students", body = Vec<PartnerStudentOut>),
        (status = 401, body = HttpError), (status = 403, body = HttpError), (status = 422, body = HttpValidationError)),
    security(("bearer" = [])))]
pub async fn list(State(app): State<AppState>, caller: Caller, path: PathText, uri: Uri) -> Result<Response, ApiError> {
    let query = query_params(uri.query());
    let mut errors = Errors::default();
    let [partner_id] = any_ids(&path, ["partner_id"], &mut errors);
    let page = page_of(&query, LIMIT_DEFAULT, LIMIT_MAX, &mut errors);
    errors.check()?;
    let partner = caller.as_partner(partner_id)?;
    let students = app.store.read(ListPartnerStudents { partner, filter: filter(&query), page }).await?;
    Ok(json(StatusCode::OK, &students.iter().map(PartnerStudentOut::from).collect::<Vec<_>>()))
}

/// How many students the partner has, how many are active, how many completed a class.
#[utoipa::path(get, path = "/partner/{partner_id}/student/stats",
    operation_id = "partner_get_student_stats", tag = "partner-students",
    params(("partner_id" = i64, Path, minimum = 1)),
    responses(
        (status = 200, description = "The partner's student counts", body = StudentStatsOut),
        (status = 401, body = HttpError), (status = 403, body = HttpError), (status = 422, body = HttpValidationError)),
    security(("bearer" = [])))]
pub async fn stats(State(app): State<AppState>, caller: Caller, path: PathText) -> Result<Response, ApiError> {
    let mut errors = Errors::default();
    let [partner_id] = any_ids(&path, ["partner_id"], &mut errors);
    errors.check()?;
    let partner = caller.as_partner(partner_id)?;
    let stats = app.store.read(PartnerStudentStats { partner }).await?;
    Ok(json(StatusCode::OK, &StudentStatsOut::from(&stats)))
}

/// The partner's students with their enrollments, most recently joined first.
#[utoipa::path(get, path = "/partner/{partner_id}/student/detail",
    operation_id = "partner_list_student_details", tag = "partner-students",
    params(("partner_id" = i64, Path, minimum = 1), StudentListQuery),
    responses(
        (status = 200, description = "The partner's students with their enrollments", body = Vec<StudentDetailOut>),
        (status = 401, body = HttpError), (status = 403, body = HttpError), (status = 422, body = HttpValidationError)),
    security(("bearer" = [])))]
pub async fn detail(
    State(app): State<AppState>,
    caller: Caller,
    path: PathText,
    uri: Uri,
) -> Result<Response, ApiError> {
    let query = query_params(uri.query());
    let mut errors = Errors::default();
    let [partner_id] = any_ids(&path, ["partner_id"], &mut errors);
    let page = page_of(&query, LIMIT_DEFAULT, LIMIT_MAX, &mut errors);
    errors.check()?;
    let partner = caller.as_partner(partner_id)?;
    let details = app.store.read(PartnerStudentDetails { partner, filter: filter(&query), page }).await?;
    Ok(json(StatusCode::OK, &details.iter().map(StudentDetailOut::from).collect::<Vec<_>>()))
}

/// One of the partner's students.
#[utoipa::path(get, path = "/partner/{partner_id}/student/{student_id}",
    operation_id = "partner_get_student", tag = "partner-students",
    params(("partner_id" = i64, Path), ("student_id" = i64, Path)),
    responses(
        (status = 200, description = "The student", body = PartnerStudentOut), (status = 401, body = HttpError),
        (status = 403, body = HttpError), (status = 404, body = HttpError, description = "student not found"),
        (status = 422, body = HttpValidationError)),
    security(("bearer" = [])))]
pub async fn get(State(app): State<AppState>, caller: Caller, path: PathText) -> Result<Response, ApiError> {
    let mut errors = Errors::default();
    let [partner_id, student_id] = any_ids(&path, ["partner_id", "student_id"], &mut errors);
    errors.check()?;
    let partner = caller.as_partner(partner_id)?;
    let student =
        app.store.read(GetPartnerStudent { partner, user: UserId(student_id) }).await.map_err(|e| refusal(e, None))?;
    Ok(json(StatusCode::OK, &PartnerStudentOut::from(&student)))
}

/// Runs a change of a student and answers with it.
async fn write_student(
    app: &AppState,
    request: &RequestId,
    partner: UserId,
    student_id: i64,
    change: StudentChange,
    body: Option<&Value>,
) -> Result<Response, ApiError> {
    let op = UpdatePartnerStudent { ctx: request.context(Some(partner)), partner, user: UserId(student_id), change };
    match app.store.write(op).await {
        Ok(student) => Ok(json(StatusCode::OK, &PartnerStudentOut::from(&student))),
        // A name or status set to null: GrowFit's database refuses it, and says so.
        Err(StoreError::Domain(DomainError::Invalid(v))) if v.iter().any(|v| v.problem == Problem::Required) => {
            Err(ApiError::new(StatusCode::CONFLICT, "student conflict within partner"))
        }
        Err(e) => Err(refusal(e, body)),
    }
}

/// Change a student's name, email, status, contact or notes.
#[utoipa::path(patch, path = "/partner/{partner_id}/student/{student_id}",
    operation_id = "partner_update_student", tag = "partner-students",
    params(("partner_id" = i64, Path), ("student_id" = i64, Path)),
    request_body = StudentUpdateBody,
    responses(
        (status = 200, description = "The student as changed", body = PartnerStudentOut),
        (status = 401, body = HttpError), (status = 403, body = HttpError),
        (status = 404, body = HttpError, description = "student not found"),
        (status = 409, body = HttpError, description = "student conflict within partner (a null name or status)"),
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
    let [partner_id, student_id] = any_ids(&path, ["partner_id", "student_id"], &mut errors);
    let (partner, body, change) = with_body(&caller, partner_id, errors, &bytes, student_change)?;
    write_student(&app, &request, partner, student_id, change, Some(&body)).await
}

/// Sets a student's status (deactivate, archive).
async fn set_status(
    app: &AppState,
    caller: &Caller,
    path: &PathText,
    request: &RequestId,
    status: StudentStatus,
) -> Result<Response, ApiError> {
    let mut errors = Errors::default();
    let [partner_id, student_id] = any_ids(path, ["partner_id", "student_id"], &mut errors);
    errors.check()?;
    let partner = caller.as_partner(partner_id)?;
    let change = StudentChange { status: Patch::Set(status), ..StudentChange::default() };
    write_student(app, request, partner, student_id, change, None).await
}

/// Mark a student inactive (a label: their enrollments stay as they are).
#[utoipa::path(post, path = "/partner/{partner_id}/student/{student_id}/deactivate",
    operation_id = "partner_deactivate_student", tag = "partner-students",
    params(("partner_id" = i64, Path), ("student_id" = i64, Path)),
    responses(
        (status = 200, description = "The student, now inactive", body = PartnerStudentOut),
        (status = 401, body = HttpError), (status = 403, body = HttpError),
        (status = 404, body = HttpError, description = "student not found"), (status = 422, body = HttpValidationError)),
    security(("bearer" = [])))]
pub async fn deactivate(
    State(app): State<AppState>,
    caller: Caller,
    path: PathText,
    request: RequestId,
) -> Result<Response, ApiError> {
    set_status(&app, &caller, &path, &request, StudentStatus::Inactive).await
}

/// Mark a student archived.
#[utoipa::path(post, path = "/partner/{partner_id}/student/{student_id}/archive",
    operation_id = "partner_archive_student", tag = "partner-students",
    params(("partner_id" = i64, Path), ("student_id" = i64, Path)),
    responses(
        (status = 200, description = "The student, now archived", body = PartnerStudentOut),
        (status = 401, body = HttpError), (status = 403, body = HttpError),
        (status = 404, body = HttpError, description = "student not found"), (status = 422, body = HttpValidationError)),
    security(("bearer" = [])))]
pub async fn archive(
    State(app): State<AppState>,
    caller: Caller,
    path: PathText,
    request: RequestId,
) -> Result<Response, ApiError> {
    set_status(&app, &caller, &path, &request, StudentStatus::Archived).await
}

/// Delete a student with their enrollments in the partner's classes (their seats are free
/// again).
#[utoipa::path(delete, path = "/partner/{partner_id}/student/{student_id}",
    operation_id = "partner_delete_student", tag = "partner-students",
    params(("partner_id" = i64, Path), ("student_id" = i64, Path)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, body = HttpError), (status = 403, body = HttpError),
        (status = 404, body = HttpError, description = "student not found"), (status = 422, body = HttpValidationError)),
    security(("bearer" = [])))]
pub async fn delete(
    State(app): State<AppState>,
    caller: Caller,
    path: PathText,
    request: RequestId,
) -> Result<Response, ApiError> {
    let mut errors = Errors::default();
    let [partner_id, student_id] = any_ids(&path, ["partner_id", "student_id"], &mut errors);
    errors.check()?;
    let partner = caller.as_partner(partner_id)?;
    let op = DeletePartnerStudent { ctx: request.context(Some(partner)), partner, user: UserId(student_id) };
    app.store.write(op).await.map_err(|e| refusal(e, None))?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// A student's enrollments in the partner's classes, most recent first (a plain list).
#[utoipa::path(get, path = "/partner/{partner_id}/student/{student_id}/enrollments",
    operation_id = "partner_list_student_enrollments", tag = "partner-students",
    params(("partner_id" = i64, Path), ("student_id" = i64, Path), EnrollmentListQuery),
    responses(
        (status = 200, description = "The student's enrollments", body = Vec<EnrollmentOut>),
        (status = 401, body = HttpError), (status = 403, body = HttpError),
        (status = 404, body = HttpError, description = "student not found"), (status = 422, body = HttpValidationError)),
    security(("bearer" = [])))]
pub async fn enrollments(
    State(app): State<AppState>,
    caller: Caller,
    path: PathText,
    uri: Uri,
) -> Result<Response, ApiError> {
    let query = query_params(uri.query());
    let mut errors = Errors::default();
    let [partner_id, student_id] = any_ids(&path, ["partner_id", "student_id"], &mut errors);
    let page = page_of(&query, LIMIT_DEFAULT, LIMIT_MAX, &mut errors);
    errors.check()?;
    let partner = caller.as_partner(partner_id)?;
    let status = query.get("status").filter(|s| !s.is_empty()).cloned();
    let op = StudentEnrollments { partner, user: UserId(student_id), status, page };
    let list = app.store.read(op).await.map_err(|e| refusal(e, None))?;
    Ok(json(StatusCode::OK, &list.iter().map(EnrollmentOut::from).collect::<Vec<_>>()))
}

/// Enroll a student in one of the partner's classes: 201 with the new enrollment, 200 with
/// the existing one (in any status, unchanged).
#[utoipa::path(post, path = "/partner/{partner_id}/student/{student_id}/enrollments",
    operation_id = "partner_enroll_student", tag = "partner-students",
    params(("partner_id" = i64, Path), ("student_id" = i64, Path)),
    request_body = EnrollmentCreateBody,
    responses(
        (status = 201, description = "The new enrollment", body = EnrollmentOut),
        (status = 200, description = "Already enrolled: the existing enrollment, unchanged", body = EnrollmentOut),
        (status = 400, body = HttpError, description = "invalid_or_expired_code (the code named)"),
        (status = 401, body = HttpError), (status = 403, body = HttpError),
        (status = 404, body = HttpError, description = "student not found, or Class not found"),
        (status = 409, body = HttpError, description = "class is full"), (status = 422, body = HttpValidationError)),
    security(("bearer" = [])))]
pub async fn enroll(
    State(app): State<AppState>,
    caller: Caller,
    path: PathText,
    request: RequestId,
    Body(bytes): Body,
) -> Result<Response, ApiError> {
    let mut errors = Errors::default();
    let [partner_id, student_id] = any_ids(&path, ["partner_id", "student_id"], &mut errors);
    let (partner, body, req) = with_body(&caller, partner_id, errors, &bytes, enrollment_create)?;
    let op = AddEnrollment {
        ctx: request.context(Some(partner)),
        partner,
        user: UserId(student_id),
        class_id: ClassId(req.class_id),
        status: req.status,
        code: req.code,
    };
    let e = app.store.write(op).await.map_err(|e| refusal(e, Some(&body)))?;
    let status = if e.created { StatusCode::CREATED } else { StatusCode::OK };
    Ok(json(status, &EnrollmentOut::from(&e.membership)))
}

/// Runs an action on an enrollment and answers with it.
async fn act(
    app: &AppState,
    request: &RequestId,
    partner: UserId,
    enrollment_id: i64,
    action: EnrollmentAction,
    body: Option<&Value>,
) -> Result<Response, ApiError> {
    let op = ChangeEnrollment {
        ctx: request.context(Some(partner)),
        partner,
        enrollment: MembershipId(enrollment_id),
        action,
    };
    let m: Membership = app.store.write(op).await.map_err(|e| refusal(e, body))?;
    Ok(json(StatusCode::OK, &EnrollmentOut::from(&m)))
}

/// Change an enrollment's status, times or code.
#[utoipa::path(patch, path = "/partner/{partner_id}/student/enrollments/{enrollment_id}",
    operation_id = "partner_update_enrollment", tag = "partner-students",
    params(("partner_id" = i64, Path), ("enrollment_id" = i64, Path)),
    request_body = EnrollmentUpdateBody,
    responses(
        (status = 200, description = "The enrollment as changed", body = EnrollmentOut),
        (status = 401, body = HttpError), (status = 403, body = HttpError),
        (status = 404, body = HttpError, description = "enrollment not found"),
        (status = 409, body = HttpError, description = "class is full (a dropped enrollment taking a seat again)"),
        (status = 422, body = HttpValidationError)),
    security(("bearer" = [])))]
pub async fn update_enrollment(
    State(app): State<AppState>,
    caller: Caller,
    path: PathText,
    request: RequestId,
    Body(bytes): Body,
) -> Result<Response, ApiError> {
    let mut errors = Errors::default();
    let [partner_id, enrollment_id] = any_ids(&path, ["partner_id", "enrollment_id"], &mut errors);
    let (partner, body, change) = with_body(&caller, partner_id, errors, &bytes, enrollment_change)?;
    act(&app, &request, partner, enrollment_id, EnrollmentAction::Change(change), Some(&body)).await
}

/// Path ids of an enrollment action, and the partner.
fn enrollment_path(caller: &Caller, path: &PathText) -> Result<(UserId, i64), ApiError> {
    let mut errors = Errors::default();
    let [partner_id, enrollment_id] = any_ids(path, ["partner_id", "enrollment_id"], &mut errors);
    errors.check()?;
    Ok((caller.as_partner(partner_id)?, enrollment_id))
}

/// Complete an enrollment (`completed_at` is now).
#[utoipa::path(post, path = "/partner/{partner_id}/student/enrollments/{enrollment_id}/complete",
    operation_id = "partner_complete_enrollment",
    tag = "partner-students", params(("partner_id" = i64, Path), ("enrollment_id" = i64, Path)),
    responses(
        (status = 200, description = "The enrollment, now completed", body = EnrollmentOut),
        (status = 401, body = HttpError), (status = 403, body = HttpError),
        (status = 404, body = HttpError, description = "enrollment not found"),
        (status = 409, body = HttpError, description = "class is full (a dropped enrollment taking a seat again)"),
        (status = 422, body = HttpValidationError)),
    security(("bearer" = [])))]
pub async fn complete(
    State(app): State<AppState>,
    caller: Caller,
    path: PathText,
    request: RequestId,
) -> Result<Response, ApiError> {
    let (partner, id) = enrollment_path(&caller, &path)?;
    act(&app, &request, partner, id, EnrollmentAction::Complete, None).await
}

/// Drop an enrollment: its seat is free again; it stays, dropped.
#[utoipa::path(post, path = "/partner/{partner_id}/student/enrollments/{enrollment_id}/drop",
    operation_id = "partner_drop_enrollment",
    tag = "partner-students", params(("partner_id" = i64, Path), ("enrollment_id" = i64, Path)),
    responses(
        (status = 200, description = "The enrollment, now dropped", body = EnrollmentOut),
        (status = 401, body = HttpError), (status = 403, body = HttpError),
        (status = 404, body = HttpError, description = "enrollment not found"),
        (status = 422, body = HttpValidationError)),
    security(("bearer" = [])))]
pub async fn drop_enrollment(
    State(app): State<AppState>,
    caller: Caller,
    path: PathText,
    request: RequestId,
) -> Result<Response, ApiError> {
    let (partner, id) = enrollment_path(&caller, &path)?;
    act(&app, &request, partner, id, EnrollmentAction::Drop, None).await
}

/// Delete an enrollment; its seat is free again.
#[utoipa::path(delete, path = "/partner/{partner_id}/student/enrollments/{enrollment_id}",
    operation_id = "partner_delete_enrollment", tag = "partner-students",
    params(("partner_id" = i64, Path), ("enrollment_id" = i64, Path)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, body = HttpError), (status = 403, body = HttpError),
        (status = 404, body = HttpError, description = "enrollment not found"), (status = 422, body = HttpValidationError)),
    security(("bearer" = [])))]
pub async fn delete_enrollment(
    State(app): State<AppState>,
    caller: Caller,
    path: PathText,
    request: RequestId,
) -> Result<Response, ApiError> {
    let (partner, id) = enrollment_path(&caller, &path)?;
    let op = DeleteEnrollment { ctx: request.context(Some(partner)), partner, enrollment: MembershipId(id) };
    app.store.write(op).await.map_err(|e| refusal(e, None))?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(OpenApi)]
#[openapi(
    components(schemas(
        PartnerStudentOut, StudentDetailOut, StudentEnrollmentOut, StudentStatsOut, StudentUpdateBody,
        EnrollmentCreateBody, EnrollmentUpdateBody
    )),
    modifiers(&BearerSecurity),
    tags((name = "partner-students", description = "A partner's students and their enrollments (GrowFit)")),
)]
pub struct Doc;
