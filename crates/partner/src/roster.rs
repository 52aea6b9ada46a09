//! Rosters: a class's students for its partner; redeeming, listing and leaving for students.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use classhub_core::error::Entity;
use classhub_core::{ClassId, DomainError, UserId};
use classhub_store::engine::Member;
use classhub_store::ops::invites::{Enrollment, Redeem};
use classhub_store::ops::roster::{LeaveClass, ListStudents, MyClasses, RemoveStudent};
use classhub_web::fastapi::{ApiError, Errors, HttpError, HttpValidationError, query_params};
use classhub_web::{AppState, BearerSecurity, PathText, PeerAddr, RequestId, json, ser_rfc3339};
use http::{StatusCode, Uri};
use jiff::Timestamp;
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};

use crate::request::{Body, Caller, ids, page};
use crate::view::{ClassOut, PageOut};

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

/// A student's enrollment in a class.
#[derive(Serialize, ToSchema)]
pub struct EnrollmentOut {
    pub id: i64,
    pub class_id: i64,
    pub user_id: i64,
    /// `active`.
    pub status: &'static str,
    #[serde(serialize_with = "ser_rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub joined_at: Timestamp,
    pub invite_code_id: Option<i64>,
}

impl From<&Enrollment> for EnrollmentOut {
    fn from(e: &Enrollment) -> EnrollmentOut {
        let m = &e.membership;
        EnrollmentOut {
            id: m.id.0,
            class_id: m.class_id.0,
            user_id: m.user_id.0,
            status: "active",
            joined_at: m.joined_at,
            invite_code_id: m.invite_code_id.map(|c| c.0),
        }
    }
}

/// `{"code": "…"}`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct RedeemBody {
    /// Case, spaces and dashes do not matter.
    code: String,
}

/// A class's students, most recently joined first.
#[utoipa::path(get, path = "/partner/{partner_id}/classes/{class_id}/students", tag = "partner",
    params(("partner_id" = i64, Path, minimum = 1), ("class_id" = i64, Path, minimum = 1),
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 100), ("offset" = Option<i64>, Query, minimum = 0)),
    responses(
        (status = 200, body = PageOut<StudentOut>),
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
#[utoipa::path(delete, path = "/partner/{partner_id}/classes/{class_id}/students/{user_id}", tag = "partner",
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

/// Join a class with an invite code. 201 with a new enrollment; 200 with the existing one
/// (no use of the code consumed) when already a member.
#[utoipa::path(post, path = "/user/class/invites/redeem", tag = "student", request_body = RedeemBody,
    responses(
        (status = 201, body = EnrollmentOut), (status = 200, body = EnrollmentOut),
        (status = 401, body = HttpError), (status = 403, body = HttpError),
        (status = 404, body = HttpError, description = "invalid invite code"),
        (status = 409, body = HttpError, description = "class has ended, or is full"),
        (status = 410, body = HttpError, description = "code disabled, expired or used up"),
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
    let op = Redeem { ctx: request.context(Some(student)), student, code: code.unwrap_or_default(), throttle };
    match app.store.write(op).await? {
        Ok(e) => {
            let status = if e.created { StatusCode::CREATED } else { StatusCode::OK };
            Ok(json(status, &EnrollmentOut::from(&e)))
        }
        Err(DomainError::NotFound(Entity::InviteCode)) => {
            Err(ApiError::new(StatusCode::NOT_FOUND, "invalid invite code"))
        }
        Err(refusal) => Err(ApiError::from_domain(refusal, None)),
    }
}

/// The student's classes, most recently joined first (without their codes).
#[utoipa::path(get, path = "/user/classes", tag = "student",
    params(("limit" = Option<i64>, Query, minimum = 1, maximum = 100), ("offset" = Option<i64>, Query, minimum = 0)),
    responses(
        (status = 200, body = PageOut<ClassOut>),
        (status = 401, body = HttpError), (status = 403, body = HttpError), (status = 422, body = HttpValidationError)),
    security(("bearer" = [])))]
pub async fn my_classes(State(app): State<AppState>, caller: Caller, uri: Uri) -> Result<Response, ApiError> {
    let student = caller.as_student()?;
    let query = query_params(uri.query());
    let mut errors = Errors::default();
    let page = page(&query, &mut errors);
    errors.check()?;
    let classes = app.store.read(MyClasses { user: student, page }).await?;
    Ok(json(StatusCode::OK, &PageOut::of(&classes, page, ClassOut::bare)))
}

/// Leave a class.
#[utoipa::path(delete, path = "/user/classes/{class_id}", tag = "student",
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
    paths(students, remove_student, redeem, my_classes, leave),
    components(schemas(StudentOut, EnrollmentOut, RedeemBody)),
    modifiers(&BearerSecurity),
    tags((name = "student", description = "Students of the partner API: joining with invite codes")),
)]
pub struct Doc;
