//! The partner dialect: the classes API of an AI-practice platform, as its FastAPI
//! original speaks it — snake_case JSON, RFC 3339 UTC datetimes, `{"detail": …}` errors,
//! pydantic-style 422s. This crate only translates; rules live in the core.

mod classes;
mod codes;
#[cfg(test)]
mod patch_properties;
mod request;
mod roster;
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
        .route("/user/class/invites/redeem", post(roster::redeem))
        .route("/user/classes", get(roster::my_classes))
        .route("/user/classes/{class_id}", delete(roster::leave))
        .layer(from_fn_with_state(limit, deadline))
        .with_state(state)
}

/// The partner API's OpenAPI description.
pub fn openapi() -> utoipa::openapi::OpenApi {
    use utoipa::OpenApi;
    let mut doc = classes::Doc::openapi();
    doc.merge(codes::Doc::openapi());
    doc.merge(roster::Doc::openapi());
    doc
}
