//! Invite-code endpoints of a class: list, create, change.

use axum::extract::State;
use axum::response::Response;
use classhub_core::invite::{CodeRequest, CodeSwitch};
use classhub_core::time::now;
use classhub_core::{ClassId, InviteCodeId};
use classhub_store::ops::invites::{CreateCode, ListCodes, UpdateCode};
use classhub_web::fastapi::{ApiError, Errors, HttpError, HttpValidationError, query_params};
use classhub_web::{AppState, BearerSecurity, PathText, RequestId, json};
use http::{StatusCode, Uri};
use serde::Deserialize;
use serde_json::Value;
use utoipa::{IntoParams, OpenApi, ToSchema};

use crate::request::{Body, Caller, ids, page, with_body};
use crate::view::{InviteCodeOut, PageOut};

const SWITCHES: [(&str, CodeSwitch); 2] = [("active", CodeSwitch::Active), ("disabled", CodeSwitch::Disabled)];

/// Body of `POST …/invite-codes` (all optional; an empty body is `{}`) and
/// `PATCH …/invite-codes/{code_id}` (a merge patch: `null` clears the expiry or the limit).
#[derive(Deserialize, ToSchema)]
pub struct CodeBody {
    /// New codes: the role the code grants; only `student` for now.
    #[serde(default, with = "::serde_with::rust::double_option")]
    #[schema(value_type = Option<String>, pattern = "^student$")]
    target_role: Option<Option<Value>>,
    /// Changes: `active` or `disabled`.
    #[serde(default, with = "::serde_with::rust::double_option")]
    #[schema(value_type = Option<String>, pattern = "^(active|disabled)$")]
    status: Option<Option<Value>>,
    /// In the future; without an offset, wall-clock time in the class's zone.
    #[serde(default, with = "::serde_with::rust::double_option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    expires_at: Option<Option<Value>>,
    /// 1..=1,000,000; null for unlimited.
    #[serde(default, with = "::serde_with::rust::double_option")]
    #[schema(value_type = Option<i64>, minimum = 1, maximum = 1000000)]
    max_uses: Option<Option<Value>>,
}

pub(crate) fn code_request(body: &Value, errors: &mut Errors, changing: bool) -> CodeRequest {
    let Some(b) = errors.fields::<CodeBody>(body) else {
        return CodeRequest::default();
    };
    let mut req = CodeRequest {
        expires_at: errors.patch(&b.expires_at, "expires_at", Errors::datetime),
        max_uses: errors.patch(&b.max_uses, "max_uses", Errors::int),
        ..CodeRequest::default()
    };
    if changing {
        if let Some(Some(v)) = &b.status {
            req.switch = errors.one_of(&["body", "status"], v, &SWITCHES);
        }
    } else if let Some(v) = &b.target_role {
        req.target_role = errors.string(&["body", "target_role"], v.as_ref().unwrap_or(&Value::Null));
    }
    req
}

/// An empty body means `{}`: every field of a new code is optional.
fn or_empty_object(bytes: &[u8]) -> &[u8] {
    if bytes.iter().all(u8::is_ascii_whitespace) { b"{}" } else { bytes }
}

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
struct CodeListQuery {
    /// Only codes that are enabled and not expired.
    active_only: Option<bool>,
    #[param(minimum = 1, maximum = 100, default = 50)]
    limit: Option<i64>,
    #[param(minimum = 0, default = 0)]
    offset: Option<i64>,
}

/// List a class's invite codes, newest first.
#[utoipa::path(get, path = "/partner/{partner_id}/classes/{class_id}/invite-codes",
    operation_id = "partner_list_invite_codes", tag = "partner",
    params(("partner_id" = i64, Path, minimum = 1), ("class_id" = i64, Path, minimum = 1), CodeListQuery),
    responses(
        (status = 200, description = "A page of the class's invite codes", body = PageOut<InviteCodeOut>),
        (status = 401, body = HttpError), (status = 403, body = HttpError), (status = 404, body = HttpError),
        (status = 422, body = HttpValidationError)),
    security(("bearer" = [])))]
pub async fn list(State(app): State<AppState>, caller: Caller, path: PathText, uri: Uri) -> Result<Response, ApiError> {
    let query = query_params(uri.query());
    let mut errors = Errors::default();
    let [partner_id, class_id] = ids(&path, ["partner_id", "class_id"], &mut errors);
    let active_only = match query.get("active_only") {
        Some(v) => errors.boolean(&["query", "active_only"], &Value::from(v.as_str())).unwrap_or(false),
        None => false,
    };
    let page = page(&query, &mut errors);
    errors.check()?;
    let owner = caller.as_partner(partner_id)?;
    let codes = app.store.read(ListCodes { owner, class_id: ClassId(class_id), active_only, page }).await?;
    let now = now();
    Ok(json(StatusCode::OK, &PageOut::of(&codes, page, |c| InviteCodeOut::new(c, now))))
}

/// Create an invite code for a class.
#[utoipa::path(post, path = "/partner/{partner_id}/classes/{class_id}/invite-codes",
    operation_id = "partner_create_invite_code", tag = "partner",
    params(("partner_id" = i64, Path, minimum = 1), ("class_id" = i64, Path, minimum = 1)),
    request_body = CodeBody,
    responses(
        (status = 201, description = "The invite code created", body = InviteCodeOut),
        (status = 401, body = HttpError), (status = 403, body = HttpError), (status = 404, body = HttpError),
        (status = 422, body = HttpValidationError)),
    security(("bearer" = [])))]
pub async fn create(
    State(app): State<AppState>,
    caller: Caller,
    path: PathText,
    request: RequestId,
    Body(bytes): Body,
) -> Result<Response, ApiError> {
    let mut errors = Errors::default();
    let [partner_id, class_id] = ids(&path, ["partner_id", "class_id"], &mut errors);
    let (owner, body, req) =
        with_body(&caller, partner_id, errors, or_empty_object(&bytes), |b, e| code_request(b, e, false))?;
    let op = CreateCode {
        ctx: request.context(Some(owner)),
        owner,
        class_id: ClassId(class_id),
        request: req,
        code_length: app.config.invite_code_length,
    };
    let code = app.store.write(op).await.map_err(|e| ApiError::from_store(e, Some(&body)))?;
    Ok(json(StatusCode::CREATED, &InviteCodeOut::new(&code, now())))
}

/// Enable or disable a code, or change its expiry or use limit.
#[utoipa::path(patch, path = "/partner/{partner_id}/classes/{class_id}/invite-codes/{code_id}",
    operation_id = "partner_update_invite_code", tag = "partner",
    params(("partner_id" = i64, Path, minimum = 1), ("class_id" = i64, Path, minimum = 1), ("code_id" = i64, Path, minimum = 1)),
    request_body = CodeBody,
    responses(
        (status = 200, description = "The invite code as changed", body = InviteCodeOut),
        (status = 401, body = HttpError), (status = 403, body = HttpError), (status = 404, body = HttpError),
        (status = 409, description = "max_uses is below the uses already made", body = HttpError),
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
    let [partner_id, class_id, code_id] = ids(&path, ["partner_id", "class_id", "code_id"], &mut errors);
    let (owner, body, req) = with_body(&caller, partner_id, errors, &bytes, |b, e| code_request(b, e, true))?;
    let op = UpdateCode {
        ctx: request.context(Some(owner)),
        owner,
        class_id: ClassId(class_id),
        code_id: InviteCodeId(code_id),
        request: req,
    };
    let code = app.store.write(op).await.map_err(|e| ApiError::from_store(e, Some(&body)))?;
    Ok(json(StatusCode::OK, &InviteCodeOut::new(&code, now())))
}

#[derive(OpenApi)]
#[openapi(components(schemas(CodeBody)), modifiers(&BearerSecurity))]
pub struct Doc;
