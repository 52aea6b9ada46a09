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
use axum::response::IntoResponse;
use classhub_web::fastapi::ApiError;
use classhub_web::idempotency::{KeyRefusal, Keyed, KeyedRoutes, guarded};
use classhub_web::{AppState, Deadline};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use roster::{EnrollmentOut, StudentOut};
pub use view::{ClassOut, EventOut, InviteCodeOut, PageOut};

/// Every route of the partner API, declared once: the router and the OpenAPI document both
/// come from here. The module `Doc`s contribute the tags, schemas and security scheme.
fn api() -> OpenApiRouter<AppState> {
    use utoipa::OpenApi;
    let mut doc = classes::Doc::openapi();
    doc.merge(codes::Doc::openapi());
    doc.merge(roster::Doc::openapi());
    doc.merge(catalog::Doc::openapi());
    doc.merge(courses::Doc::openapi());
    doc.merge(students::Doc::openapi());
    doc.merge(accounts::Doc::openapi());
    OpenApiRouter::with_openapi(doc)
        .routes(routes!(classes::list, classes::create))
        .routes(routes!(classes::get, classes::update, classes::delete))
        .routes(routes!(classes::history))
        .routes(routes!(codes::list, codes::create))
        .routes(routes!(codes::update))
        .routes(routes!(roster::students))
        .routes(routes!(roster::remove_student))
        .routes(routes!(students::list))
        .routes(routes!(students::stats))
        .routes(routes!(students::detail))
        .routes(routes!(students::get, students::update, students::delete))
        .routes(routes!(students::deactivate))
        .routes(routes!(students::archive))
        .routes(routes!(students::enrollments, students::enroll))
        .routes(routes!(students::update_enrollment, students::delete_enrollment))
        .routes(routes!(students::complete))
        .routes(routes!(students::drop_enrollment))
        .routes(routes!(roster::leave_enrollment))
        .routes(routes!(roster::redeem))
        .routes(routes!(roster::my_classes))
        .routes(routes!(roster::leave))
        // Accounts (GrowFit)
        .routes(routes!(accounts::login))
        .routes(routes!(accounts::refresh))
        .routes(routes!(accounts::send_code))
        .routes(routes!(accounts::verify_code))
        .routes(routes!(accounts::signup))
        .routes(routes!(accounts::my, accounts::update_my))
        .routes(routes!(accounts::my_profile, accounts::update_my_profile))
        // Catalogue and courses (GrowFit); `summary` and `cost-estimate` win over `{class_id}`.
        .routes(routes!(classes::summary))
        .routes(routes!(classes::cost_estimate))
        .routes(routes!(courses::list, courses::create))
        .routes(routes!(courses::get, courses::update, courses::delete))
        .routes(routes!(catalog::models))
        .routes(routes!(catalog::courses))
}

/// The partner API's routes.
pub fn router(state: AppState) -> Router {
    let limit = Deadline { limit: state.config.request_timeout, respond: || ApiError::timeout().into_response() };
    let (router, _) = api().split_for_parts();
    guarded::<Keys>(router, limit, state)
}

/// The partner API's `Idempotency-Key`s: held per signed-in user, on the routes that create
/// or join.
struct Keys;

impl Keyed for Keys {
    const NAME: &'static str = "partner";

    fn refuse(refusal: KeyRefusal) -> axum::response::Response {
        match refusal {
            KeyRefusal::Store(e) => ApiError::from_store(e, None),
            KeyRefusal::Body(e) => ApiError::body(e),
        }
        .into_response()
    }
}

impl KeyedRoutes for Keys {
    fn takes_key(path: &str) -> bool {
        matches!(
            path,
            "/partner/{partner_id}/classes"
                | "/partner/{partner_id}/classes/{class_id}/invite-codes"
                | "/partner/{partner_id}/course"
                | "/partner/{partner_id}/student/{student_id}/enrollments"
                | "/user/class/invites/redeem"
        )
    }

    async fn client(app: &AppState, headers: &http::HeaderMap) -> Option<i64> {
        let token = classhub_web::bearer(headers)?;
        let now = classhub_core::time::now();
        let principal = app.store.read(classhub_store::ops::users::Authenticate { token, now }).await.ok()??;
        Some(principal.user_id.0)
    }
}

/// The partner API's OpenAPI description.
pub fn openapi() -> utoipa::openapi::OpenApi {
    api().split_for_parts().1
}
