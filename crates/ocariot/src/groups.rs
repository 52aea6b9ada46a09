//! Children groups of an educator or a health professional. Checks run in the spec's
//! order: token (401), scope (403), owner (403, when the path id looks like an id), id
//! formats (400), owner registered (400), body (400), required fields (400, on create),
//! duplicate name (409), children registered (400), the group itself (404).

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use classhub_core::ocariot::natural_cmp;
use classhub_core::{ClassId, DomainError, UserId};
use classhub_store::StoreError;
use classhub_store::ops::ocariot::{AccountOf, CreateGroup, DeleteGroup, GetGroup, ListGroups, UpdateGroup};
use classhub_web::fastapi::query_params;
use classhub_web::{AppState, PathText, RequestId, json};
use http::header::HeaderValue;
use http::{HeaderMap, StatusCode, Uri};
use serde_json::{Map, Value};

use crate::auth::{Caller, authenticate};
use crate::error::OcError;
use crate::ids::Kind;

use crate::bodies::{GroupChange, GroupInput};
use crate::input::{self, ChildIds};
use crate::view::GroupOut;
use crate::{Body, OwnerKind};

/// Steps up to the owner's registration: the caller, the scope, ownership, id formats, the
/// owner. Returns the owner (None when not registered) and the group id, if in the path.
async fn owner_of(
    app: &AppState,
    headers: &HeaderMap,
    path: &PathText,
    owner: OwnerKind,
    scope: &str,
) -> Result<(Option<UserId>, Option<ClassId>), OcError> {
    let caller: Caller = authenticate(app, headers).await?;
    caller.require(scope)?;
    let text = path.get(owner.param());
    if input::id_shaped(text) && (caller.user.kind != owner.kind() || !caller.is(text)) {
        return Err(OcError::forbidden());
    }
    let id = input::path_id(text, owner.param(), Kind::User)?;
    let group = match path.0.iter().any(|(k, _)| k == "group_id") {
        // A well-formed group id that names nothing still reaches the checks after it.
        true => Some(ClassId(input::path_id(path.get("group_id"), "group_id", Kind::Group)?.unwrap_or(-1))),
        false => None,
    };
    let user = match id {
        Some(id) => app.store.read(AccountOf { id: UserId(id), kinds: owner.kinds() }).await?,
        None => None,
    };
    Ok((user.map(|u| u.id), group))
}

fn registered(owner: Option<UserId>, kind: OwnerKind) -> Result<UserId, OcError> {
    owner.ok_or_else(|| OcError::not_found(StatusCode::BAD_REQUEST, kind.title()))
}

/// A group body's fields, as given.
struct GroupFields {
    name: Option<String>,
    school_class: Option<String>,
    children: Option<ChildIds>,
}

/// Step 3: the body's fields, each of the right shape.
fn fields(body: &Map<String, Value>) -> Result<GroupFields, OcError> {
    Ok(GroupFields {
        name: input::text(body, "name")?,
        school_class: input::text(body, "school_class")?,
        children: body.get("children").map(ChildIds::parse).transpose()?,
    })
}

/// Store refusals in OCARIoT's words; unregistered children named as the client wrote them.
pub(crate) fn refused(e: StoreError, children: Option<&ChildIds>) -> OcError {
    match (e, children) {
        (StoreError::Domain(DomainError::UnknownMembers(ids)), Some(c)) => {
            let texts: Vec<String> = ids.iter().map(|id| c.text(*id)).collect();
            OcError::bad(
                "It is necessary for children to be registered before proceeding.",
                format!("The following IDs were verified without registration: {}", texts.join(", ")),
            )
        }
        (e, _) => e.into(),
    }
}

async fn create(
    app: AppState,
    headers: HeaderMap,
    path: PathText,
    request: RequestId,
    bytes: &[u8],
    owner: OwnerKind,
) -> Result<Response, OcError> {
    let (found, _) = owner_of(&app, &headers, &path, owner, "childrengroups:create").await?;
    let owner_id = registered(found, owner)?;
    let body = input::object(bytes)?;
    let GroupFields { name, school_class, children } = fields(&body)?;
    let mut missing = Vec::new();
    if name.is_none() {
        missing.push("name");
    }
    if children.as_ref().is_none_or(ChildIds::is_empty) {
        missing.push("Collection with children IDs");
    }
    let (Some(name), Some(kids), true) = (name, children.as_ref(), missing.is_empty()) else {
        return Err(OcError::required(&missing));
    };
    let op = CreateGroup {
        ctx: request.context(Some(owner_id)),
        owner: owner_id,
        name,
        school_class,
        children: kids.ids.clone(),
    };
    let group = app.store.write(op).await.map_err(|e| refused(e, children.as_ref()))?;
    Ok(json(StatusCode::CREATED, &GroupOut::from(&group)))
}

async fn list(
    app: AppState,
    headers: HeaderMap,
    path: PathText,
    uri: Uri,
    owner: OwnerKind,
) -> Result<Response, OcError> {
    let (found, _) = owner_of(&app, &headers, &path, owner, "childrengroups:read").await?;
    let owner_id = registered(found, owner)?;
    let groups = app.store.read(ListGroups { owner: owner_id }).await?;
    let total = groups.len();
    let query = query_params(uri.query());
    let page = input::count(query.get("page"), 1);
    let limit = input::count(query.get("limit"), 100);
    let mut shown: Vec<GroupOut> = groups
        .iter()
        .map(GroupOut::from)
        .filter(|g| {
            query.iter().filter(|(k, _)| !matches!(k.as_str(), "page" | "limit" | "sort" | "fields")).all(|(k, v)| {
                match k.as_str() {
                    "name" => g.name == *v,
                    "school_class" => g.school_class.as_deref() == Some(v.as_str()),
                    "id" => g.id == *v,
                    // Any other field matches nothing, as the original's query on it would.
                    _ => false,
                }
            })
        })
        .collect();
    match query.get("sort").map(String::as_str) {
        Some("name") => shown.sort_by(|a, b| natural_cmp(&a.name, &b.name)),
        Some("-name") => shown.sort_by(|a, b| natural_cmp(&b.name, &a.name)),
        _ => {}
    }
    let skip = usize::try_from(page.saturating_sub(1).saturating_mul(limit)).unwrap_or(usize::MAX);
    let page: Vec<GroupOut> = shown.into_iter().skip(skip).take(usize::try_from(limit).unwrap_or(usize::MAX)).collect();
    let mut res = json(StatusCode::OK, &page);
    res.headers_mut().insert("x-total-count", HeaderValue::from(total));
    Ok(res)
}

async fn get(app: AppState, headers: HeaderMap, path: PathText, owner: OwnerKind) -> Result<Response, OcError> {
    let (found, group) = owner_of(&app, &headers, &path, owner, "childrengroups:read").await?;
    let owner_id = registered(found, owner)?;
    let group = group.unwrap_or(ClassId(-1));
    let view = app.store.read(GetGroup { owner: owner_id, group }).await?;
    Ok(json(StatusCode::OK, &GroupOut::from(&view)))
}

async fn update(
    app: AppState,
    headers: HeaderMap,
    path: PathText,
    request: RequestId,
    bytes: &[u8],
    owner: OwnerKind,
) -> Result<Response, OcError> {
    let (found, group) = owner_of(&app, &headers, &path, owner, "childrengroups:update").await?;
    let owner_id = registered(found, owner)?;
    let body = input::object(bytes)?;
    let GroupFields { name, school_class, children } = fields(&body)?;
    let op = UpdateGroup {
        ctx: request.context(Some(owner_id)),
        owner: owner_id,
        group: group.unwrap_or(ClassId(-1)),
        name,
        school_class,
        children: children.as_ref().map(|c| c.ids.clone()),
    };
    let view = app.store.write(op).await.map_err(|e| refused(e, children.as_ref()))?;
    Ok(json(StatusCode::OK, &GroupOut::from(&view)))
}

async fn delete(
    app: AppState,
    headers: HeaderMap,
    path: PathText,
    request: RequestId,
    owner: OwnerKind,
) -> Result<Response, OcError> {
    let (found, group) = owner_of(&app, &headers, &path, owner, "childrengroups:delete").await?;
    // An owner or group that does not exist is already gone.
    if let (Some(owner_id), Some(group)) = (found, group) {
        app.store.write(DeleteGroup { ctx: request.context(Some(owner_id)), owner: owner_id, group }).await?;
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The routes of both owner kinds, each documented on its own path. Each states its summary
/// as well: utoipa reads none from a `concat!` doc comment.
macro_rules! routes {
    ($kind:expr, $prefix:literal, $param:literal, $tag:literal, $id:literal,
     $create:ident, $list:ident, $get:ident, $update:ident, $delete:ident) => {
        #[doc = concat!("Create a children group of a", $tag, ".")]
        #[utoipa::path(post, path = concat!("/v1/", $prefix, "/{", $param, "}/children/groups"), tag = "ocariot",
            operation_id = concat!("ocariot_create_", $id, "_children_group"),
            summary = concat!("Create a children group of a", $tag, "."),
            params(($param = String, Path)), request_body = GroupInput,
            responses((status = 201, description = "The group created", body = GroupOut), (status = 400, body = OcError),
                (status = 401, body = OcError), (status = 403, body = OcError),
                (status = 409, description = "The owner already has a group of this name", body = OcError)),
            security(("bearer" = [])))]
        pub async fn $create(State(app): State<AppState>, headers: HeaderMap, path: PathText, request: RequestId, Body(bytes): Body) -> Result<Response, OcError> {
            create(app, headers, path, request, &bytes, $kind).await
        }

        #[doc = concat!("List the children groups of a", $tag, " (header X-Total-Count).")]
        #[utoipa::path(get, path = concat!("/v1/", $prefix, "/{", $param, "}/children/groups"), tag = "ocariot",
            operation_id = concat!("ocariot_list_", $id, "_children_groups"),
            summary = concat!("List the children groups of a", $tag, " (header X-Total-Count)."),
            params(($param = String, Path), ("page" = Option<String>, Query), ("limit" = Option<String>, Query),
                ("sort" = Option<String>, Query, description = "name or -name")),
            responses((status = 200, description = "A page of the groups", body = Vec<GroupOut>,
                headers(("X-Total-Count" = u64))), (status = 400, body = OcError),
                (status = 401, body = OcError), (status = 403, body = OcError)),
            security(("bearer" = [])))]
        pub async fn $list(State(app): State<AppState>, headers: HeaderMap, path: PathText, uri: Uri) -> Result<Response, OcError> {
            list(app, headers, path, uri, $kind).await
        }

        #[doc = concat!("A children group of a", $tag, ".")]
        #[utoipa::path(get, path = concat!("/v1/", $prefix, "/{", $param, "}/children/groups/{group_id}"), tag = "ocariot",
            operation_id = concat!("ocariot_get_", $id, "_children_group"),
            summary = concat!("A children group of a", $tag, "."),
            params(($param = String, Path), ("group_id" = String, Path)),
            responses((status = 200, description = "The group", body = GroupOut), (status = 400, body = OcError),
                (status = 401, body = OcError), (status = 403, body = OcError), (status = 404, body = OcError)),
            security(("bearer" = [])))]
        pub async fn $get(State(app): State<AppState>, headers: HeaderMap, path: PathText) -> Result<Response, OcError> {
            get(app, headers, path, $kind).await
        }

        #[doc = concat!("Change a children group of a", $tag, " (children replace the list).")]
        #[utoipa::path(patch, path = concat!("/v1/", $prefix, "/{", $param, "}/children/groups/{group_id}"), tag = "ocariot",
            operation_id = concat!("ocariot_update_", $id, "_children_group"),
            summary = concat!("Change a children group of a", $tag, " (children replace the list)."),
            params(($param = String, Path), ("group_id" = String, Path)), request_body = GroupChange,
            responses((status = 200, description = "The group as changed", body = GroupOut), (status = 400, body = OcError),
                (status = 401, body = OcError), (status = 403, body = OcError), (status = 404, body = OcError),
                (status = 409, description = "The owner already has a group of this name", body = OcError)),
            security(("bearer" = [])))]
        pub async fn $update(State(app): State<AppState>, headers: HeaderMap, path: PathText, request: RequestId, Body(bytes): Body) -> Result<Response, OcError> {
            update(app, headers, path, request, &bytes, $kind).await
        }

        #[doc = concat!("Delete a children group of a", $tag, " (204 also when it does not exist).")]
        #[utoipa::path(delete, path = concat!("/v1/", $prefix, "/{", $param, "}/children/groups/{group_id}"), tag = "ocariot",
            operation_id = concat!("ocariot_delete_", $id, "_children_group"),
            summary = concat!("Delete a children group of a", $tag, " (204 also when it does not exist)."),
            params(($param = String, Path), ("group_id" = String, Path)),
            responses((status = 204, description = "Deleted"), (status = 400, body = OcError), (status = 401, body = OcError),
                (status = 403, body = OcError), (status = 404, body = OcError)),
            security(("bearer" = [])))]
        pub async fn $delete(State(app): State<AppState>, headers: HeaderMap, path: PathText, request: RequestId) -> Result<Response, OcError> {
            delete(app, headers, path, request, $kind).await
        }
    };
}

routes!(
    OwnerKind::Educator,
    "educators",
    "educator_id",
    "n educator",
    "educator",
    educator_create,
    educator_list,
    educator_get,
    educator_update,
    educator_delete
);
routes!(
    OwnerKind::HealthProfessional,
    "healthprofessionals",
    "healthprofessional_id",
    " health professional",
    "health_professional",
    professional_create,
    professional_list,
    professional_get,
    professional_update,
    professional_delete
);
