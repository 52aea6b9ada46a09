//! OCARIoT's error body: `{"code", "message", "description"?, "redirect_link"?}`, keys absent
//! (not null) when there is nothing to say.

use axum::response::{IntoResponse, Response};
use classhub_core::error::{DomainError, Entity};
use classhub_store::StoreError;
use http::StatusCode;
use http::header::{HeaderValue, RETRY_AFTER};
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct OcError {
    pub code: u16,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redirect_link: Option<String>,
    /// Headers of the answer (`Retry-After`, the RateLimit fields).
    #[serde(skip)]
    pub headers: Vec<(http::header::HeaderName, HeaderValue)>,
}

pub const INVALID_FIELDS: &str = "One or more request fields are invalid...";
pub const REQUIRED_FIELDS: &str = "Required fields were not provided...";
pub const ID_DESCRIPTION: &str = "A 24-byte hex ID similar to this: 507f191e810c19729de860ea is expected.";

impl OcError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> OcError {
        OcError {
            code: status.as_u16(),
            message: message.into(),
            description: None,
            redirect_link: None,
            headers: Vec::new(),
        }
    }

    pub fn described(status: StatusCode, message: impl Into<String>, description: impl Into<String>) -> OcError {
        OcError { description: Some(description.into()), ..OcError::new(status, message) }
    }

    pub fn bad(message: impl Into<String>, description: impl Into<String>) -> OcError {
        OcError::described(StatusCode::BAD_REQUEST, message, description)
    }

    /// `{field} must be a string!` and the like.
    pub fn invalid(description: impl Into<String>) -> OcError {
        OcError::bad(INVALID_FIELDS, description)
    }

    /// The fields named are missing: `a, b are required!`.
    pub fn required(fields: &[&str]) -> OcError {
        OcError::bad(REQUIRED_FIELDS, format!("{} are required!", fields.join(", ")))
    }

    /// A path id that is not 24 hex characters.
    pub fn id_format(param: &str) -> OcError {
        OcError::bad(format!("Parameter {{{param}}} is not in valid format!"), ID_DESCRIPTION)
    }

    /// The gateway's 401, with its reason.
    pub fn unauthorized(description: &str) -> OcError {
        OcError {
            redirect_link: Some("/auth".into()),
            ..OcError::described(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", description)
        }
    }

    pub fn forbidden() -> OcError {
        OcError::described(StatusCode::FORBIDDEN, "FORBIDDEN", "Authorization failed due to insufficient permissions.")
    }

    pub fn body() -> OcError {
        OcError::bad(
            "Unable to process request body!",
            "Please verify that the JSON provided in the request body has a valid format and try again.",
        )
    }

    /// `X not found!` with its description.
    pub fn not_found(status: StatusCode, what: &str) -> OcError {
        OcError::described(
            status,
            format!("{what} not found!"),
            format!("{what} not found or already removed. A new operation for the same resource is not required."),
        )
    }
}

impl IntoResponse for OcError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut res = classhub_web::json(status, &self);
        for (k, v) in self.headers {
            res.headers_mut().insert(k, v);
        }
        res
    }
}

/// The name OCARIoT messages give an entity.
pub fn title(entity: Entity) -> &'static str {
    match entity {
        Entity::Child => "Child",
        Entity::Educator => "Educator",
        Entity::HealthProfessional => "Health Professional",
        Entity::Group => "Children Group",
        Entity::Institution => "Institution",
        _ => "User",
    }
}

impl From<StoreError> for OcError {
    fn from(e: StoreError) -> OcError {
        match e {
            StoreError::Domain(d) => d.into(),
            StoreError::Unavailable(m) | StoreError::Retry(m) => {
                tracing::warn!(error = %m, "store unavailable");
                OcError {
                    headers: vec![(RETRY_AFTER, HeaderValue::from(1))],
                    ..OcError::described(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "Service temporarily unavailable.",
                        "The database cannot be reached; please try again shortly.",
                    )
                }
            }
            StoreError::Internal(m) => {
                tracing::error!(error = %m, "store failure");
                OcError::described(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "An internal server error has occurred.",
                    "Check all parameters of the operation being requested.",
                )
            }
        }
    }
}

impl From<DomainError> for OcError {
    fn from(e: DomainError) -> OcError {
        match e {
            DomainError::AlreadyExists(entity) => {
                OcError::new(StatusCode::CONFLICT, format!("{} is already registered...", title(entity)))
            }
            DomainError::NotFound(Entity::Institution) => OcError::bad(
                "The institution provided does not have a registration.",
                "It is necessary that the institution be registered before trying again.",
            ),
            DomainError::NotFound(entity) => OcError::not_found(StatusCode::NOT_FOUND, title(entity)),
            DomainError::UnknownMembers(ids) => {
                let ids: Vec<String> = ids.iter().map(|u| crate::ids::encode(crate::ids::Kind::User, u.0)).collect();
                OcError::bad(
                    "It is necessary for children to be registered before proceeding.",
                    format!("The following IDs were verified without registration: {}", ids.join(", ")),
                )
            }
            DomainError::Forbidden => OcError::forbidden(),
            DomainError::Throttled(t) => OcError {
                headers: classhub_web::throttle::refusal_headers(&t).to_vec(),
                ..OcError::described(
                    StatusCode::TOO_MANY_REQUESTS,
                    "Too many failed login attempts!",
                    "Wait a while before trying again.",
                )
            },
            // In the account service's words: `name must have at most 200 characters!`.
            DomainError::Invalid(v) => {
                OcError::invalid(v.iter().map(|v| format!("{} {}!", v.field, v.problem)).collect::<Vec<_>>().join(" "))
            }
            key @ DomainError::IdempotencyKeyMalformed => {
                OcError::bad(key.to_string(), "Send a key of 1 to 255 visible characters.")
            }
            key @ DomainError::IdempotencyKeyReused => OcError::new(StatusCode::UNPROCESSABLE_ENTITY, key.to_string()),
            key @ DomainError::IdempotencyKeyInFlight => OcError {
                headers: vec![(RETRY_AFTER, HeaderValue::from(1))],
                ..OcError::new(StatusCode::CONFLICT, key.to_string())
            },
            other => OcError::new(StatusCode::CONFLICT, other.to_string()),
        }
    }
}
