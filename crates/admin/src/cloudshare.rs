//! Administration of CloudShare catalogs: projects, policies, blueprints, custom fields,
//! and project members with API credentials. Ids are CloudShare-style.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::response::IntoResponse;
use axum::response::Response;
use classhub_cloudshare::ids::{self, Kind};
use classhub_core::error::Entity;
use classhub_core::lab::{
    Blueprint, BlueprintPatch, CustomField, FieldPatch, MemberRights, Policy, PolicyPatch, Project, ProjectMember,
    ProjectPatch,
};
use classhub_core::patch::Patch;
use classhub_core::user::User;
use classhub_core::{BlueprintId, CustomFieldId, PolicyId, ProjectId, ProjectMemberId};
use classhub_store::CatalogEntry;
use classhub_store::ops::catalog::{
    CatalogChange, CatalogEntryOut, CreateBlueprint, CreateCustomField, CreatePolicy, CreateProject,
    CreateProjectMember, DeleteCatalogEntry, MemberRightsPatch, UpdateCatalogEntry,
};
use classhub_store::ops::lab::{ListProjects, ProjectContents, ProjectDetail};
use classhub_web::fastapi::{ApiError, Errors, HttpError, HttpValidationError, page_of, query_params};
use classhub_web::{AppState, PathText, RequestId, json};
use http::{StatusCode, Uri};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::{Admin, JsonBody, LIST_DEFAULT, LIST_MAX, PageOut};

fn project(path: &PathText) -> Result<ProjectId, ApiError> {
    ids::decode(Kind::Project, path.get("project_id"))
        .map(ProjectId)
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "Project not found"))
}

fn failed(body: &JsonBody) -> impl Fn(classhub_store::StoreError) -> ApiError + '_ {
    move |e| ApiError::from_store(e, Some(&body.0))
}

/// A new project's id (`PR…`).
#[derive(Serialize, ToSchema)]
struct AdminProjectCreated {
    id: String,
}

/// A new policy's id (`PO…`).
#[derive(Serialize, ToSchema)]
struct AdminPolicyCreated {
    id: String,
}

/// A new custom field's id (`TF…`): one schema per kind, so that a client (or a test
/// tool following links) cannot take one kind's id for another's.
#[derive(Serialize, ToSchema)]
struct AdminFieldCreated {
    id: String,
}

/// A project as the administrator sees it.
#[derive(Serialize, ToSchema)]
pub struct AdminProjectOut {
    /// `PR…`.
    id: String,
    name: String,
    is_active: bool,
}

impl From<Project> for AdminProjectOut {
    fn from(p: Project) -> AdminProjectOut {
        AdminProjectOut { id: ids::encode(Kind::Project, p.id.0), name: p.name, is_active: p.is_active }
    }
}

/// List the CloudShare projects, in the order they were made.
#[utoipa::path(get, path = "/admin/v1/cloudshare/projects",
    operation_id = "admin_list_cloudshare_projects", tag = "admin",
    params(("limit" = Option<i64>, Query, minimum = 1, maximum = 1000), ("offset" = Option<i64>, Query, minimum = 0)),
    responses((status = 200, description = "A page of projects", body = PageOut<AdminProjectOut>),
        (status = 401, body = HttpError), (status = 422, body = HttpValidationError)),
    security(("bearer" = [])))]
pub async fn list_projects(State(app): State<AppState>, _: Admin, uri: Uri) -> Result<Response, ApiError> {
    let query = query_params(uri.query());
    let mut errors = Errors::default();
    let page = page_of(&query, LIST_DEFAULT, LIST_MAX, &mut errors);
    errors.check()?;
    let found = app.store.read(ListProjects { page }).await?;
    Ok(json(StatusCode::OK, &PageOut::of(found, page, AdminProjectOut::from)))
}

/// A policy of a project.
#[derive(Serialize, ToSchema)]
pub struct AdminPolicyOut {
    /// `PO…`.
    id: String,
    name: String,
    default_duration_minutes: u32,
    allow_environment_creation: bool,
}

/// A blueprint of a project.
#[derive(Serialize, ToSchema)]
pub struct AdminBlueprintOut {
    /// `BP…`.
    id: String,
    name: String,
    description: Option<String>,
    token: String,
}

/// A custom class field of a project.
#[derive(Serialize, ToSchema)]
pub struct AdminFieldOut {
    /// `TF…`.
    id: String,
    name: String,
    order: i64,
    r#type: i64,
    is_required: bool,
    regex: Option<String>,
    default_value: Option<String>,
}

/// A member of a project (never their API key).
#[derive(Serialize, ToSchema)]
pub struct AdminProjectMemberOut {
    /// The member's `VP…` id in the project.
    vup_id: String,
    /// Their user id (`/admin/v1/users/{user_id}`).
    user_id: i64,
    name: String,
    email: Option<String>,
    can_instruct: bool,
    can_manage: bool,
}

/// A project with its policies, blueprints, custom fields and members.
#[derive(Serialize, ToSchema)]
pub struct AdminProjectDetailOut {
    #[serde(flatten)]
    project: AdminProjectOut,
    policies: Vec<AdminPolicyOut>,
    blueprints: Vec<AdminBlueprintOut>,
    custom_fields: Vec<AdminFieldOut>,
    members: Vec<AdminProjectMemberOut>,
}

impl From<Policy> for AdminPolicyOut {
    fn from(p: Policy) -> AdminPolicyOut {
        AdminPolicyOut {
            id: ids::encode(Kind::Policy, p.id.0),
            name: p.name,
            default_duration_minutes: p.default_duration_minutes,
            allow_environment_creation: p.allow_environment_creation,
        }
    }
}

impl From<Blueprint> for AdminBlueprintOut {
    fn from(b: Blueprint) -> AdminBlueprintOut {
        AdminBlueprintOut {
            id: ids::encode(Kind::Blueprint, b.id.0),
            name: b.name,
            description: b.description,
            token: b.token,
        }
    }
}

impl From<CustomField> for AdminFieldOut {
    fn from(f: CustomField) -> AdminFieldOut {
        AdminFieldOut {
            id: ids::encode(Kind::Field, f.id.0),
            name: f.name,
            order: f.order,
            r#type: f.kind,
            is_required: f.is_required,
            regex: f.regex,
            default_value: f.default_value,
        }
    }
}

impl From<(ProjectMember, User)> for AdminProjectMemberOut {
    fn from((m, u): (ProjectMember, User)) -> AdminProjectMemberOut {
        AdminProjectMemberOut {
            vup_id: ids::encode(Kind::Member, m.id.0),
            user_id: u.id.0,
            name: u.name,
            email: u.email,
            can_instruct: m.can_instruct,
            can_manage: m.can_manage,
        }
    }
}

impl From<ProjectContents> for AdminProjectDetailOut {
    fn from(c: ProjectContents) -> AdminProjectDetailOut {
        AdminProjectDetailOut {
            project: c.project.into(),
            policies: c.policies.into_iter().map(Into::into).collect(),
            blueprints: c.blueprints.into_iter().map(Into::into).collect(),
            custom_fields: c.fields.into_iter().map(Into::into).collect(),
            members: c.members.into_iter().map(Into::into).collect(),
        }
    }
}

/// Show a CloudShare project with its policies, blueprints, custom fields and members.
#[utoipa::path(get, path = "/admin/v1/cloudshare/projects/{project_id}",
    operation_id = "admin_get_cloudshare_project", tag = "admin", params(("project_id" = String, Path)),
    responses((status = 200, description = "The project", body = AdminProjectDetailOut),
        (status = 401, body = HttpError), (status = 404, body = HttpError)),
    security(("bearer" = [])))]
pub async fn get_project(State(app): State<AppState>, _: Admin, path: PathText) -> Result<Response, ApiError> {
    let contents = app.store.read(ProjectDetail { project: project(&path)? }).await?;
    Ok(json(StatusCode::OK, &AdminProjectDetailOut::from(contents)))
}

#[derive(ToSchema)]
#[allow(dead_code)]
struct NewProjectBody {
    name: String,
}

/// Create a CloudShare project.
#[utoipa::path(post, path = "/admin/v1/cloudshare/projects",
    operation_id = "admin_create_cloudshare_project", tag = "admin", request_body = NewProjectBody,
    responses(
        (status = 201, description = "The new project's id", body = AdminProjectCreated), (status = 401, body = HttpError),
        (status = 422, body = HttpValidationError)),
    security(("bearer" = [])))]
pub async fn create_project(
    State(app): State<AppState>,
    _: Admin,
    request: RequestId,
    body: JsonBody,
) -> Result<Response, ApiError> {
    let mut errors = Errors::default();
    let name = body.string(&mut errors, "name");
    errors.check()?;
    let p = app.store.write(CreateProject { ctx: request.context(None), name }).await.map_err(failed(&body))?;
    Ok(json(StatusCode::CREATED, &AdminProjectCreated { id: ids::encode(Kind::Project, p.id.0) }))
}

#[derive(ToSchema)]
#[allow(dead_code)]
struct NewPolicyBody {
    name: String,
    /// Length of a class when its end is not given (1..=525600).
    default_duration_minutes: i64,
}

/// Add a policy to a project.
#[utoipa::path(post, path = "/admin/v1/cloudshare/projects/{project_id}/policies",
    operation_id = "admin_create_cloudshare_policy", tag = "admin",
    params(("project_id" = String, Path)), request_body = NewPolicyBody,
    responses(
        (status = 201, description = "The new policy's id", body = AdminPolicyCreated), (status = 401, body = HttpError),
        (status = 404, body = HttpError), (status = 422, body = HttpValidationError)),
    security(("bearer" = [])))]
pub async fn create_policy(
    State(app): State<AppState>,
    _: Admin,
    path: PathText,
    request: RequestId,
    body: JsonBody,
) -> Result<Response, ApiError> {
    let project = project(&path)?;
    let mut errors = Errors::default();
    let name = body.string(&mut errors, "name");
    let minutes = body.int(&mut errors, "default_duration_minutes");
    errors.check()?;
    let op = CreatePolicy { ctx: request.context(None), project, name, default_duration_minutes: minutes };
    let p = app.store.write(op).await.map_err(failed(&body))?;
    Ok(json(StatusCode::CREATED, &AdminPolicyCreated { id: ids::encode(Kind::Policy, p.id.0) }))
}

#[derive(ToSchema)]
#[allow(dead_code)]
struct NewBlueprintBody {
    name: String,
    description: Option<String>,
}

#[derive(Serialize, ToSchema)]
struct CreatedBlueprint {
    id: String,
    /// Six upper-case letters.
    token: String,
}

/// Add a blueprint to a project.
#[utoipa::path(post, path = "/admin/v1/cloudshare/projects/{project_id}/blueprints",
    operation_id = "admin_create_cloudshare_blueprint", tag = "admin",
    params(("project_id" = String, Path)), request_body = NewBlueprintBody,
    responses(
        (status = 201, description = "The new blueprint's id and token", body = CreatedBlueprint),
        (status = 401, body = HttpError), (status = 404, body = HttpError), (status = 422, body = HttpValidationError)),
    security(("bearer" = [])))]
pub async fn create_blueprint(
    State(app): State<AppState>,
    _: Admin,
    path: PathText,
    request: RequestId,
    body: JsonBody,
) -> Result<Response, ApiError> {
    let project = project(&path)?;
    let mut errors = Errors::default();
    let name = body.string(&mut errors, "name");
    let description = body.optional(&mut errors, "description", Errors::string);
    errors.check()?;
    let op = CreateBlueprint { ctx: request.context(None), project, name, description };
    let b = app.store.write(op).await.map_err(failed(&body))?;
    Ok(json(StatusCode::CREATED, &CreatedBlueprint { id: ids::encode(Kind::Blueprint, b.id.0), token: b.token }))
}

#[derive(ToSchema)]
#[allow(dead_code)]
struct NewFieldBody {
    name: String,
    order: i64,
    #[schema(rename = "type")]
    kind: i64,
    is_required: bool,
    /// A pattern values must match; must compile.
    regex: Option<String>,
    default_value: Option<String>,
}

/// Add a custom class field to a project.
#[utoipa::path(post, path = "/admin/v1/cloudshare/projects/{project_id}/custom-fields",
    operation_id = "admin_create_cloudshare_custom_field", tag = "admin",
    params(("project_id" = String, Path)), request_body = NewFieldBody,
    responses(
        (status = 201, description = "The new custom field's id", body = AdminFieldCreated), (status = 401, body = HttpError),
        (status = 404, body = HttpError), (status = 422, body = HttpValidationError)),
    security(("bearer" = [])))]
pub async fn create_custom_field(
    State(app): State<AppState>,
    _: Admin,
    path: PathText,
    request: RequestId,
    body: JsonBody,
) -> Result<Response, ApiError> {
    let project = project(&path)?;
    let mut errors = Errors::default();
    let field = CustomField {
        id: CustomFieldId(0),
        project_id: project,
        name: body.string(&mut errors, "name"),
        order: body.int(&mut errors, "order"),
        kind: body.int(&mut errors, "type"),
        is_required: errors
            .required(&body.0, "is_required")
            .and_then(|v| errors.boolean(&["body", "is_required"], v))
            .unwrap_or(false),
        regex: body.optional(&mut errors, "regex", Errors::string),
        default_value: body.optional(&mut errors, "default_value", Errors::string),
    };
    errors.check()?;
    let f = app.store.write(CreateCustomField { ctx: request.context(None), field }).await.map_err(failed(&body))?;
    Ok(json(StatusCode::CREATED, &AdminFieldCreated { id: ids::encode(Kind::Field, f.id.0) }))
}

#[derive(ToSchema)]
#[allow(dead_code)]
struct NewMemberBody {
    name: String,
    email: String,
    /// Projects (`PR…`) the member belongs to.
    project_ids: Vec<String>,
    /// Whether the member can instruct (create and run classes).
    can_instruct: bool,
    /// Whether the member manages the projects (may also create policies; implies
    /// `can_instruct`). Default false.
    can_manage: Option<bool>,
}

/// A project member's ids and API credentials; the key is shown only here.
#[derive(Serialize, ToSchema)]
struct MemberOut {
    /// The member's `VP…` id in each project.
    vup_ids: BTreeMap<String, String>,
    api_id: String,
    api_key: String,
}

/// Create a project member (an instructor or manager) with API credentials.
#[utoipa::path(post, path = "/admin/v1/cloudshare/members",
    operation_id = "admin_create_cloudshare_member", tag = "admin", request_body = NewMemberBody,
    responses(
        (status = 201, description = "The member's ids and API credentials", body = MemberOut),
        (status = 401, body = HttpError), (status = 404, body = HttpError), (status = 422, body = HttpValidationError)),
    security(("bearer" = [])))]
pub async fn create_member(
    State(app): State<AppState>,
    _: Admin,
    request: RequestId,
    body: JsonBody,
) -> Result<Response, ApiError> {
    let mut errors = Errors::default();
    let name = body.string(&mut errors, "name");
    let email = body.string(&mut errors, "email");
    let can_instruct =
        errors.required(&body.0, "can_instruct").and_then(|v| errors.boolean(&["body", "can_instruct"], v));
    let can_manage = match body.0.get("can_manage") {
        None | Some(Value::Null) => Some(false),
        Some(v) => errors.boolean(&["body", "can_manage"], v),
    };
    let mut projects = Vec::new();
    match errors.required(&body.0, "project_ids") {
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                let index = i.to_string();
                match item.as_str().and_then(|s| ids::decode(Kind::Project, s)) {
                    Some(id) => projects.push(ProjectId(id)),
                    None => errors.push(
                        "value_error",
                        vec!["body".into(), "project_ids".into(), i.into()],
                        "Value error, not a project id (PR…)",
                        item.clone(),
                        Some(serde_json::json!({ "error": format!("item {index} is not a project id") })),
                    ),
                }
            }
        }
        Some(other) => errors.push(
            "list_type",
            vec!["body".into(), "project_ids".into()],
            "Input should be a valid list",
            other.clone(),
            None,
        ),
        None => {}
    }
    errors.check()?;
    let op = CreateProjectMember {
        ctx: request.context(None),
        name,
        email,
        projects,
        rights: MemberRights::new(can_instruct.unwrap_or(false), can_manage.unwrap_or(false)),
        secrets: app.config.secrets.clone(),
    };
    let m = app.store.write(op).await.map_err(failed(&body))?;
    let vup_ids =
        m.memberships.iter().map(|(p, v)| (ids::encode(Kind::Project, p.0), ids::encode(Kind::Member, v.0))).collect();
    Ok(json(StatusCode::CREATED, &MemberOut { vup_ids, api_id: m.api_id, api_key: m.api_key }))
}

/// The id the path names as `name`, of `kind` (`PO…`, `BP…`, `TF…`, `VP…`).
fn path_entry(path: &PathText, kind: Kind, name: &str, entity: Entity) -> Result<i64, ApiError> {
    ids::decode(kind, path.get(name)).ok_or_else(|| ApiError::not_found(entity))
}

fn policy_in(path: &PathText) -> Result<PolicyId, ApiError> {
    path_entry(path, Kind::Policy, "policy_id", Entity::Policy).map(PolicyId)
}

fn blueprint_in(path: &PathText) -> Result<BlueprintId, ApiError> {
    path_entry(path, Kind::Blueprint, "blueprint_id", Entity::Blueprint).map(BlueprintId)
}

fn field_in(path: &PathText) -> Result<CustomFieldId, ApiError> {
    path_entry(path, Kind::Field, "field_id", Entity::CustomField).map(CustomFieldId)
}

fn member_in(path: &PathText) -> Result<ProjectMemberId, ApiError> {
    path_entry(path, Kind::Member, "vup_id", Entity::ProjectMember).map(ProjectMemberId)
}

/// Applies a change to an entry of `project`, answering with the entry as changed.
async fn change(
    app: &AppState,
    request: &RequestId,
    project: ProjectId,
    change: CatalogChange,
    body: &JsonBody,
) -> Result<Response, ApiError> {
    let op = UpdateCatalogEntry { ctx: request.context(None), project, change };
    let changed = app.store.write(op).await.map_err(failed(body))?;
    Ok(json(StatusCode::OK, &AdminEntryOut::from(changed)))
}

/// A catalog entry as changed, as the admin API and the CLI show it.
#[derive(Serialize)]
#[serde(untagged)]
pub enum AdminEntryOut {
    Project(AdminProjectOut),
    Policy(AdminPolicyOut),
    Blueprint(AdminBlueprintOut),
    CustomField(AdminFieldOut),
    Member(AdminProjectMemberOut),
}

impl From<CatalogEntryOut> for AdminEntryOut {
    fn from(out: CatalogEntryOut) -> AdminEntryOut {
        match out {
            CatalogEntryOut::Project(p) => AdminEntryOut::Project(p.into()),
            CatalogEntryOut::Policy(p) => AdminEntryOut::Policy(p.into()),
            CatalogEntryOut::Blueprint(b) => AdminEntryOut::Blueprint(b.into()),
            CatalogEntryOut::CustomField(f) => AdminEntryOut::CustomField(f.into()),
            CatalogEntryOut::Member(m) => AdminEntryOut::Member(m.into()),
        }
    }
}

async fn delete(
    app: &AppState,
    request: &RequestId,
    project: ProjectId,
    entry: CatalogEntry,
) -> Result<Response, ApiError> {
    app.store.write(DeleteCatalogEntry { ctx: request.context(None), project, entry }).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// A field of a change that `null` clears.
fn text_patch(body: &JsonBody, errors: &mut Errors, name: &str) -> Patch<String> {
    match body.0.get(name) {
        None => Patch::Keep,
        Some(Value::Null) => Patch::Clear,
        Some(v) => errors.string(&["body", name], v).map_or(Patch::Keep, Patch::Set),
    }
}

#[derive(ToSchema)]
#[allow(dead_code)]
struct ProjectPatchBody {
    name: Option<String>,
    /// `false`: nobody can create classes in the project (its classes stay); `true` again.
    is_active: Option<bool>,
}

/// Rename a project, or disable (`"is_active": false`) and enable it.
#[utoipa::path(patch, path = "/admin/v1/cloudshare/projects/{project_id}",
    operation_id = "admin_update_cloudshare_project", tag = "admin",
    params(("project_id" = String, Path)), request_body = ProjectPatchBody,
    responses((status = 200, description = "The project as changed", body = AdminProjectOut),
        (status = 401, body = HttpError), (status = 404, body = HttpError), (status = 422, body = HttpValidationError)),
    security(("bearer" = [])))]
pub async fn update_project(
    State(app): State<AppState>,
    _: Admin,
    path: PathText,
    request: RequestId,
    body: JsonBody,
) -> Result<Response, ApiError> {
    let id = project(&path)?;
    let mut errors = Errors::default();
    let patch = ProjectPatch {
        name: body.optional(&mut errors, "name", Errors::string),
        is_active: body.optional(&mut errors, "is_active", Errors::boolean),
    };
    errors.check()?;
    change(&app, &request, id, CatalogChange::Project(id, patch), &body).await
}

/// Delete a project with its policies, blueprints, custom fields and memberships; refused
/// while it has classes (disable it instead).
#[utoipa::path(delete, path = "/admin/v1/cloudshare/projects/{project_id}",
    operation_id = "admin_delete_cloudshare_project", tag = "admin", params(("project_id" = String, Path)),
    responses((status = 204, description = "Deleted"), (status = 401, body = HttpError),
        (status = 404, body = HttpError), (status = 409, description = "The project has classes", body = HttpError)),
    security(("bearer" = [])))]
pub async fn delete_project(
    State(app): State<AppState>,
    _: Admin,
    path: PathText,
    request: RequestId,
) -> Result<Response, ApiError> {
    let id = project(&path)?;
    delete(&app, &request, id, CatalogEntry::Project(id)).await
}

#[derive(ToSchema)]
#[allow(dead_code)]
struct PolicyPatchBody {
    name: Option<String>,
    /// Length of a new class when its end is not given (1..=525600); classes made before
    /// keep their end.
    default_duration_minutes: Option<i64>,
}

/// Change a policy.
#[utoipa::path(patch, path = "/admin/v1/cloudshare/projects/{project_id}/policies/{policy_id}",
    operation_id = "admin_update_cloudshare_policy", tag = "admin",
    params(("project_id" = String, Path), ("policy_id" = String, Path)), request_body = PolicyPatchBody,
    responses((status = 200, description = "The policy as changed", body = AdminPolicyOut),
        (status = 401, body = HttpError), (status = 404, body = HttpError), (status = 422, body = HttpValidationError)),
    security(("bearer" = [])))]
pub async fn update_policy(
    State(app): State<AppState>,
    _: Admin,
    path: PathText,
    request: RequestId,
    body: JsonBody,
) -> Result<Response, ApiError> {
    let (project, id) = (project(&path)?, policy_in(&path)?);
    let mut errors = Errors::default();
    let patch = PolicyPatch {
        name: body.optional(&mut errors, "name", Errors::string),
        default_duration_minutes: body.optional(&mut errors, "default_duration_minutes", Errors::int),
    };
    errors.check()?;
    change(&app, &request, project, CatalogChange::Policy(id, patch), &body).await
}

/// Delete a policy; refused while classes use it.
#[utoipa::path(delete, path = "/admin/v1/cloudshare/projects/{project_id}/policies/{policy_id}",
    operation_id = "admin_delete_cloudshare_policy", tag = "admin",
    params(("project_id" = String, Path), ("policy_id" = String, Path)),
    responses((status = 204, description = "Deleted"), (status = 401, body = HttpError),
        (status = 404, body = HttpError), (status = 409, description = "Classes use the policy", body = HttpError)),
    security(("bearer" = [])))]
pub async fn delete_policy(
    State(app): State<AppState>,
    _: Admin,
    path: PathText,
    request: RequestId,
) -> Result<Response, ApiError> {
    let (project, id) = (project(&path)?, policy_in(&path)?);
    delete(&app, &request, project, CatalogEntry::Policy(id)).await
}

#[derive(ToSchema)]
#[allow(dead_code)]
struct BlueprintPatchBody {
    name: Option<String>,
    /// `null` removes the description.
    description: Option<String>,
}

/// Change a blueprint (its token stays).
#[utoipa::path(patch, path = "/admin/v1/cloudshare/projects/{project_id}/blueprints/{blueprint_id}",
    operation_id = "admin_update_cloudshare_blueprint", tag = "admin",
    params(("project_id" = String, Path), ("blueprint_id" = String, Path)), request_body = BlueprintPatchBody,
    responses((status = 200, description = "The blueprint as changed", body = AdminBlueprintOut),
        (status = 401, body = HttpError), (status = 404, body = HttpError), (status = 422, body = HttpValidationError)),
    security(("bearer" = [])))]
pub async fn update_blueprint(
    State(app): State<AppState>,
    _: Admin,
    path: PathText,
    request: RequestId,
    body: JsonBody,
) -> Result<Response, ApiError> {
    let (project, id) = (project(&path)?, blueprint_in(&path)?);
    let mut errors = Errors::default();
    let patch = BlueprintPatch {
        name: body.optional(&mut errors, "name", Errors::string),
        description: text_patch(&body, &mut errors, "description"),
    };
    errors.check()?;
    change(&app, &request, project, CatalogChange::Blueprint(id, patch), &body).await
}

/// Delete a blueprint; refused while classes use it.
#[utoipa::path(delete, path = "/admin/v1/cloudshare/projects/{project_id}/blueprints/{blueprint_id}",
    operation_id = "admin_delete_cloudshare_blueprint", tag = "admin",
    params(("project_id" = String, Path), ("blueprint_id" = String, Path)),
    responses((status = 204, description = "Deleted"), (status = 401, body = HttpError),
        (status = 404, body = HttpError), (status = 409, description = "Classes use the blueprint", body = HttpError)),
    security(("bearer" = [])))]
pub async fn delete_blueprint(
    State(app): State<AppState>,
    _: Admin,
    path: PathText,
    request: RequestId,
) -> Result<Response, ApiError> {
    let (project, id) = (project(&path)?, blueprint_in(&path)?);
    delete(&app, &request, project, CatalogEntry::Blueprint(id)).await
}

#[derive(ToSchema)]
#[allow(dead_code)]
struct FieldPatchBody {
    name: Option<String>,
    order: Option<i64>,
    #[schema(rename = "type")]
    kind: Option<i64>,
    /// Applies from the next change of a class; values classes hold stay.
    is_required: Option<bool>,
    /// `null` removes the pattern; a pattern must compile.
    regex: Option<String>,
    /// `null` removes the default.
    default_value: Option<String>,
}

/// Change a custom class field.
#[utoipa::path(patch, path = "/admin/v1/cloudshare/projects/{project_id}/custom-fields/{field_id}",
    operation_id = "admin_update_cloudshare_custom_field", tag = "admin",
    params(("project_id" = String, Path), ("field_id" = String, Path)), request_body = FieldPatchBody,
    responses((status = 200, description = "The custom field as changed", body = AdminFieldOut),
        (status = 401, body = HttpError), (status = 404, body = HttpError), (status = 422, body = HttpValidationError)),
    security(("bearer" = [])))]
pub async fn update_custom_field(
    State(app): State<AppState>,
    _: Admin,
    path: PathText,
    request: RequestId,
    body: JsonBody,
) -> Result<Response, ApiError> {
    let (project, id) = (project(&path)?, field_in(&path)?);
    let mut errors = Errors::default();
    let patch = FieldPatch {
        name: body.optional(&mut errors, "name", Errors::string),
        order: body.optional(&mut errors, "order", Errors::int),
        kind: body.optional(&mut errors, "type", Errors::int),
        is_required: body.optional(&mut errors, "is_required", Errors::boolean),
        regex: text_patch(&body, &mut errors, "regex"),
        default_value: text_patch(&body, &mut errors, "default_value"),
    };
    errors.check()?;
    change(&app, &request, project, CatalogChange::CustomField(id, patch), &body).await
}

/// Delete a custom class field; the values classes hold for it are no longer shown.
#[utoipa::path(delete, path = "/admin/v1/cloudshare/projects/{project_id}/custom-fields/{field_id}",
    operation_id = "admin_delete_cloudshare_custom_field", tag = "admin",
    params(("project_id" = String, Path), ("field_id" = String, Path)),
    responses((status = 204, description = "Deleted"), (status = 401, body = HttpError), (status = 404, body = HttpError)),
    security(("bearer" = [])))]
pub async fn delete_custom_field(
    State(app): State<AppState>,
    _: Admin,
    path: PathText,
    request: RequestId,
) -> Result<Response, ApiError> {
    let (project, id) = (project(&path)?, field_in(&path)?);
    delete(&app, &request, project, CatalogEntry::CustomField(id)).await
}

#[derive(ToSchema)]
#[allow(dead_code)]
struct MemberPatchBody {
    can_instruct: Option<bool>,
    /// A manager always instructs as well.
    can_manage: Option<bool>,
}

/// Change a member's rights in a project.
#[utoipa::path(patch, path = "/admin/v1/cloudshare/projects/{project_id}/members/{vup_id}",
    operation_id = "admin_update_cloudshare_member", tag = "admin",
    params(("project_id" = String, Path), ("vup_id" = String, Path)), request_body = MemberPatchBody,
    responses((status = 200, description = "The member as changed", body = AdminProjectMemberOut),
        (status = 401, body = HttpError), (status = 404, body = HttpError), (status = 422, body = HttpValidationError)),
    security(("bearer" = [])))]
pub async fn update_member(
    State(app): State<AppState>,
    _: Admin,
    path: PathText,
    request: RequestId,
    body: JsonBody,
) -> Result<Response, ApiError> {
    let (project, id) = (project(&path)?, member_in(&path)?);
    let mut errors = Errors::default();
    let patch = MemberRightsPatch {
        can_instruct: body.optional(&mut errors, "can_instruct", Errors::boolean),
        can_manage: body.optional(&mut errors, "can_manage", Errors::boolean),
    };
    errors.check()?;
    change(&app, &request, project, CatalogChange::Member(id, patch), &body).await
}

/// Take a member out of a project. The person stays (`/admin/v1/users/{user_id}`); classes
/// they instruct keep them listed, and they can no longer reach the project.
#[utoipa::path(delete, path = "/admin/v1/cloudshare/projects/{project_id}/members/{vup_id}",
    operation_id = "admin_delete_cloudshare_member", tag = "admin",
    params(("project_id" = String, Path), ("vup_id" = String, Path)),
    responses((status = 204, description = "Removed from the project"), (status = 401, body = HttpError),
        (status = 404, body = HttpError)),
    security(("bearer" = [])))]
pub async fn delete_member(
    State(app): State<AppState>,
    _: Admin,
    path: PathText,
    request: RequestId,
) -> Result<Response, ApiError> {
    let (project, id) = (project(&path)?, member_in(&path)?);
    delete(&app, &request, project, CatalogEntry::Member(id)).await
}
