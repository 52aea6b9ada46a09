//! The OCARIoT dialect: children groups of educators and health professionals behind the
//! OCARIoT gateway's JWTs and scopes, with the original's exact messages. This crate only
//! translates; the rules live in the core (`classhub_core::ocariot`).

mod accounts;
mod auth;
mod bodies;
mod error;
mod groups;
pub mod ids;
mod input;
mod view;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::response::{IntoResponse, Response};
use classhub_core::user::UserKind;
use classhub_web::idempotency::{KeyRefusal, Keyed, KeyedRoutes, guarded};
use classhub_web::{AppState, BodyError, Deadline, read_body};
use http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use error::OcError;

pub fn router(state: AppState) -> Router {
    let limit = Deadline {
        limit: state.config.request_timeout,
        respond: || OcError::new(StatusCode::REQUEST_TIMEOUT, "Request timeout.").into_response(),
    };
    let (router, _) = api().split_for_parts();
    guarded::<Keys>(router, limit, state)
}

/// OCARIoT's `Idempotency-Key`s: held per token's user, on every create (not on sign-in,
/// whose answer is a credential).
struct Keys;

impl Keyed for Keys {
    const NAME: &'static str = "ocariot";

    fn refuse(refusal: KeyRefusal) -> axum::response::Response {
        match refusal {
            KeyRefusal::Store(e) => OcError::from(e),
            KeyRefusal::Body(e) => body_error(e),
        }
        .into_response()
    }
}

impl KeyedRoutes for Keys {
    fn takes_key(path: &str) -> bool {
        path.starts_with("/v1/") && path != "/v1/auth"
    }

    async fn client(app: &AppState, headers: &http::HeaderMap) -> Option<i64> {
        auth::authenticate(app, headers).await.ok().map(|caller| caller.id().0)
    }
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
    api().split_for_parts().1
}

/// Every OCARIoT route, declared once: the router and the document both come from here.
fn api() -> OpenApiRouter<AppState> {
    use utoipa::OpenApi;
    OpenApiRouter::with_openapi(accounts::Doc::openapi())
        .routes(routes!(accounts::login))
        .routes(routes!(accounts::jwks))
        .routes(routes!(accounts::create_institution))
        .routes(routes!(accounts::create_child))
        .routes(routes!(accounts::update_child))
        .routes(routes!(accounts::create_educator))
        .routes(routes!(accounts::get_educator))
        .routes(routes!(accounts::create_health_professional))
        .routes(routes!(accounts::get_health_professional))
        .routes(routes!(accounts::create_family))
        .routes(routes!(accounts::create_application))
        .routes(routes!(accounts::delete_user))
        .routes(routes!(accounts::change_password, accounts::put_password))
        .routes(routes!(groups::educator_create, groups::educator_list))
        .routes(routes!(groups::educator_get, groups::educator_update, groups::educator_delete))
        .routes(routes!(groups::professional_create, groups::professional_list))
        .routes(routes!(groups::professional_get, groups::professional_update, groups::professional_delete))
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
        read_body(req, state).await.map(Body).map_err(body_error)
    }
}

fn body_error(e: BodyError) -> OcError {
    match e {
        BodyError::TooLarge => OcError::new(StatusCode::PAYLOAD_TOO_LARGE, "Request body too large."),
        BodyError::Unreadable => OcError::body(),
    }
}
