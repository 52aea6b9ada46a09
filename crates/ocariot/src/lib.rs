//! The OCARIoT dialect: children groups of educators and health professionals behind the
//! OCARIoT gateway's JWTs and scopes, with the original's exact messages. This crate only
//! translates; the rules live in the core (`classhub_core::ocariot`).

mod accounts;
mod auth;
mod error;
mod groups;
pub mod ids;
mod input;
mod view;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, patch, post};
use classhub_core::user::UserKind;
use classhub_web::{AppState, BodyError, Deadline, deadline, read_body};
use http::StatusCode;

pub use error::OcError;

pub fn router(state: AppState) -> Router {
    let limit = Deadline {
        limit: state.config.request_timeout,
        respond: || OcError::new(StatusCode::REQUEST_TIMEOUT, "Request timeout.").into_response(),
    };
    Router::new()
        .route("/v1/auth", post(accounts::login))
        .route("/.well-known/jwks.json", get(accounts::jwks))
        .route("/v1/institutions", post(accounts::create_institution))
        .route("/v1/children", post(accounts::create_child))
        .route("/v1/children/{child_id}", patch(accounts::update_child))
        .route("/v1/educators", post(accounts::create_educator))
        .route("/v1/educators/{educator_id}", get(accounts::get_educator))
        .route("/v1/healthprofessionals", post(accounts::create_health_professional))
        .route("/v1/healthprofessionals/{healthprofessional_id}", get(accounts::get_health_professional))
        .route("/v1/families", post(accounts::create_family))
        .route("/v1/applications", post(accounts::create_application))
        .route("/v1/users/{user_id}", delete(accounts::delete_user))
        .route("/v1/educators/{educator_id}/children/groups", post(groups::educator_create).get(groups::educator_list))
        .route(
            "/v1/educators/{educator_id}/children/groups/{group_id}",
            get(groups::educator_get).patch(groups::educator_update).delete(groups::educator_delete),
        )
        .route(
            "/v1/healthprofessionals/{healthprofessional_id}/children/groups",
            post(groups::professional_create).get(groups::professional_list),
        )
        .route(
            "/v1/healthprofessionals/{healthprofessional_id}/children/groups/{group_id}",
            get(groups::professional_get).patch(groups::professional_update).delete(groups::professional_delete),
        )
        .layer(from_fn_with_state(limit, deadline))
        .with_state(state)
}

/// Whether a path is this dialect's (for the server's fallbacks).
pub fn handles(path: &str) -> bool {
    path == "/v1" || path.starts_with("/v1/")
}

/// An unknown path, as the account service answers it.
pub fn not_found(path: &str) -> Response {
    OcError::described(
        StatusCode::NOT_FOUND,
        format!("{path} not found."),
        format!("Specified resource: {path} was not found or does not exist."),
    )
    .into_response()
}

/// A known path with another method.
pub fn method_not_allowed(method: &str, path: &str) -> Response {
    OcError::new(StatusCode::METHOD_NOT_ALLOWED, format!("{method} is not allowed on {path}.")).into_response()
}

pub fn openapi() -> utoipa::openapi::OpenApi {
    use utoipa::OpenApi;
    let mut doc = accounts::Doc::openapi();
    doc.merge(groups::Doc::openapi());
    doc
}

/// Educators and health professionals own groups the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OwnerKind {
    Educator,
    HealthProfessional,
}

impl OwnerKind {
    fn kind(self) -> UserKind {
        match self {
            OwnerKind::Educator => UserKind::Educator,
            OwnerKind::HealthProfessional => UserKind::HealthProfessional,
        }
    }

    fn kinds(self) -> &'static [UserKind] {
        match self {
            OwnerKind::Educator => &[UserKind::Educator],
            OwnerKind::HealthProfessional => &[UserKind::HealthProfessional],
        }
    }

    fn param(self) -> &'static str {
        match self {
            OwnerKind::Educator => "educator_id",
            OwnerKind::HealthProfessional => "healthprofessional_id",
        }
    }

    fn title(self) -> &'static str {
        match self {
            OwnerKind::Educator => "Educator",
            OwnerKind::HealthProfessional => "Health Professional",
        }
    }

    fn create_scope(self) -> &'static str {
        match self {
            OwnerKind::Educator => "educators:create",
            OwnerKind::HealthProfessional => "healthprofessionals:create",
        }
    }

    fn read_scope(self) -> &'static str {
        match self {
            OwnerKind::Educator => "educators:read",
            OwnerKind::HealthProfessional => "healthprofessionals:read",
        }
    }
}

/// The request body, within the size limit.
pub(crate) struct Body(pub Bytes);

impl FromRequest<AppState> for Body {
    type Rejection = OcError;
    async fn from_request(req: Request, state: &AppState) -> Result<Self, OcError> {
        read_body(req, state).await.map(Body).map_err(|e| match e {
            BodyError::TooLarge => OcError::new(StatusCode::PAYLOAD_TOO_LARGE, "Request body too large."),
            BodyError::Unreadable => OcError::body(),
        })
    }
}
