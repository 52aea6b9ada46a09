//! The partner dialect: the classes API of an AI-practice platform, as its FastAPI
//! original speaks it — snake_case JSON, RFC 3339 UTC datetimes, `{"detail": …}` errors,
//! pydantic-style 422s. This crate only translates; rules live in the core.

mod accounts;
mod catalog;
mod classes;
mod codes;
mod courses;
#[cfg(test)]
mod patch_properties;
mod request;
mod roster;
mod students;
mod view;

use axum::Router;
use axum::middleware::from_fn_with_state;
use axum::response::IntoResponse;
use axum::routing::{delete, get, patch, post};
use classhub_web::fastapi::ApiError;
use classhub_web::{AppState, Deadline, deadline};

pub use roster::{EnrollmentOut, StudentOut};
pub use view::{ClassOut, EventOut, InviteCodeOut, PageOut};

/// The partner API's routes.
pub fn router(state: AppState) -> Router {
    let limit = Deadline { limit: state.config.request_timeout, respond: || ApiError::timeout().into_response() };
    Router::new()
        .route("/partner/{partner_id}/classes", get(classes::list).post(classes::create))
        .route(
            "/partner/{partner_id}/classes/{class_id}",
            get(classes::get).patch(classes::update).delete(classes::delete),
        )
        .route("/partner/{partner_id}/classes/{class_id}/history", get(classes::history))
        .route("/partner/{partner_id}/classes/{class_id}/invite-codes", get(codes::list).post(codes::create))
        .route("/partner/{partner_id}/classes/{class_id}/invite-codes/{code_id}", patch(codes::update))
        .route("/partner/{partner_id}/classes/{class_id}/students", get(roster::students))
        .route("/partner/{partner_id}/classes/{class_id}/students/{user_id}", delete(roster::remove_student))
        .route("/partner/{partner_id}/student", get(students::list))
        .route("/partner/{partner_id}/student/stats", get(students::stats))
        .route("/partner/{partner_id}/student/detail", get(students::detail))
        .route(
            "/partner/{partner_id}/student/{student_id}",
            get(students::get).patch(students::update).delete(students::delete),
        )
        .route("/partner/{partner_id}/student/{student_id}/deactivate", post(students::deactivate))
        .route("/partner/{partner_id}/student/{student_id}/archive", post(students::archive))
        .route(
            "/partner/{partner_id}/student/{student_id}/enrollments",
            get(students::enrollments).post(students::enroll),
        )
        .route(
            "/partner/{partner_id}/student/enrollments/{enrollment_id}",
            patch(students::update_enrollment).delete(students::delete_enrollment),
        )
        .route("/partner/{partner_id}/student/enrollments/{enrollment_id}/complete", post(students::complete))
        .route("/partner/{partner_id}/student/enrollments/{enrollment_id}/drop", post(students::drop_enrollment))
        .route("/user/class/enrollments/{enrollment_id}", delete(roster::leave_enrollment))
        .route("/user/class/invites/redeem", post(roster::redeem))
        .route("/user/classes", get(roster::my_classes))
        .route("/user/classes/{class_id}", delete(roster::leave))
        // Accounts (GrowFit)
        .route("/user/login", post(accounts::login))
        .route("/user/token/refresh", post(accounts::refresh))
        .route("/user/email/send-code", post(accounts::send_code))
        .route("/user/email/verify-code", post(accounts::verify_code))
        .route("/user/signup", post(accounts::signup))
        .route("/user/my", get(accounts::my).patch(accounts::update_my))
        .route("/user/my/profile", get(accounts::my_profile).patch(accounts::update_my_profile))
        // Catalogue and courses (GrowFit); `summary` and `cost-estimate` win over `{class_id}`.
        .route("/partner/{partner_id}/classes/summary", get(classes::summary))
        .route("/partner/{partner_id}/classes/cost-estimate", post(classes::cost_estimate))
        .route("/partner/{partner_id}/course", get(courses::list).post(courses::create))
        .route(
            "/partner/{partner_id}/course/{course_id}",
            get(courses::get).patch(courses::update).delete(courses::delete),
        )
        .route("/models", get(catalog::models))
        .route("/course", get(catalog::courses))
        .layer(from_fn_with_state(limit, deadline))
        .with_state(state)
}

/// The partner API's OpenAPI description.
pub fn openapi() -> utoipa::openapi::OpenApi {
    use utoipa::OpenApi;
    let mut doc = classes::Doc::openapi();
    doc.merge(codes::Doc::openapi());
    doc.merge(roster::Doc::openapi());
    doc.merge(catalog::Doc::openapi());
    doc.merge(courses::Doc::openapi());
    doc.merge(students::Doc::openapi());
    doc.merge(accounts::Doc::openapi());
    doc
}
