//! Look-ups: time zones, regions, projects with their blueprints and policies, countries,
//! instructors and custom fields.

use axum::response::Response;
use classhub_core::DomainError;
use classhub_core::countries::COUNTRIES;
use classhub_core::lab::{Blueprint, Policy, PolicyRequest};
use classhub_core::windows_zones::WINDOWS_ZONES;
use classhub_core::{PolicyId, ProjectId};
use classhub_store::StoreError;
use classhub_store::ops::lab::{CallerProjects, CreateProjectPolicy, PolicyInstructors, ProjectCatalog};
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};

use crate::Cs;
use crate::bodies::PolicyInput;
use crate::classes::{FieldOut, REGION_ID};
use crate::ids::{self, Kind};
use crate::wire::{self, CsError, CsErrorBody};
use classhub_web::PathText;

/// Declares the `cs_sha1` security scheme.
pub struct CsSecurity;

impl utoipa::Modify for CsSecurity {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        let scheme = ApiKeyValue::with_description(
            "Authorization",
            "cs_sha1 userapiid:<API id>;timestamp:<unix seconds>;token:<nonce>;hmac:<sha1(key + url + timestamp + token)>",
        );
        components.add_security_scheme("cs_sha1", SecurityScheme::ApiKey(ApiKey::Header(scheme)));
    }
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TimeZoneOut {
    id: &'static str,
    display_name: &'static str,
}

/// Every Windows time zone classhub maps to the tz database.
#[utoipa::path(get, path = "/api/v3/timezones", operation_id = "cloudshare_list_timezones", tag = "cloudshare",
    responses(
        (status = 200, description = "The Windows time zones", body = Vec<TimeZoneOut>),
        (status = 401, body = CsErrorBody)),
    security(("cs_sha1" = [])))]
pub async fn timezones(_: Cs) -> Result<Response, CsError> {
    let zones: Vec<TimeZoneOut> =
        WINDOWS_ZONES.iter().map(|z| TimeZoneOut { id: z.id, display_name: z.display_name }).collect();
    Ok(wire::ok(&zones))
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RegionOut {
    id: String,
    name: &'static str,
    friendly_name: &'static str,
    cloud_name: &'static str,
}

fn region() -> RegionOut {
    RegionOut {
        id: ids::encode(Kind::Region, REGION_ID),
        name: "classhub",
        friendly_name: "classhub",
        cloud_name: "classhub",
    }
}

/// The one region: classhub runs no clouds.
#[utoipa::path(get, path = "/api/v3/regions", operation_id = "cloudshare_list_regions", tag = "cloudshare",
    responses(
        (status = 200, description = "The one region", body = Vec<RegionOut>), (status = 401, body = CsErrorBody)),
    security(("cs_sha1" = [])))]
pub async fn regions(_: Cs) -> Result<Response, CsError> {
    Ok(wire::ok(&[region()]))
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProjectSummary {
    name: String,
    is_active: bool,
    id: String,
}

/// The caller's projects; `WhereUserIsProjectManager` (projects they manage) and
/// `WhereUserCanCreateClass` (active projects they instruct in) narrow the list.
#[utoipa::path(get, path = "/api/v3/projects", operation_id = "cloudshare_list_projects", tag = "cloudshare",
    params(("WhereUserIsProjectManager" = Option<bool>, Query), ("WhereUserIsProjectMember" = Option<bool>, Query),
        ("WhereUserCanCreateClass" = Option<bool>, Query)),
    responses(
        (status = 200, description = "The caller's projects", body = Vec<ProjectSummary>),
        (status = 400, body = CsErrorBody), (status = 401, body = CsErrorBody)),
    security(("cs_sha1" = [])))]
pub async fn projects(cx: Cs) -> Result<Response, CsError> {
    let manager = cx.input.bool("WhereUserIsProjectManager")?.unwrap_or(false);
    let instructs = cx.input.bool("WhereUserCanCreateClass")?.unwrap_or(false);
    cx.input.bool("WhereUserIsProjectMember")?;
    let projects = cx.app.store.read(CallerProjects { caller: cx.caller }).await?;
    let out: Vec<ProjectSummary> = projects
        .iter()
        .filter(|(p, m)| (m.can_manage || !manager) && (m.can_instruct && p.is_active || !instructs))
        .map(|(p, _)| ProjectSummary {
            name: p.name.clone(),
            is_active: p.is_active,
            id: ids::encode(Kind::Project, p.id.0),
        })
        .collect();
    Ok(wire::ok(&out))
}

fn project_id(text: &str) -> Result<ProjectId, CsError> {
    ids::decode(Kind::Project, text).map(ProjectId).ok_or_else(|| CsError::not_found("project"))
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProjectOut {
    name: String,
    id: String,
    is_active: bool,
    regions: Vec<RegionOut>,
    #[schema(value_type = Vec<Object>)]
    teams: Vec<serde_json::Value>,
    can_create_class: bool,
    /// The caller manages the project: may create its policies.
    can_add_policy: bool,
}

/// A project's details.
#[utoipa::path(get, path = "/api/v3/projects/{projectId}",
    operation_id = "cloudshare_get_project", tag = "cloudshare", params(("projectId" = String, Path)),
    responses(
        (status = 200, description = "The project", body = ProjectOut), (status = 401, body = CsErrorBody),
        (status = 404, body = CsErrorBody)),
    security(("cs_sha1" = [])))]
pub async fn project(cx: Cs, path: PathText) -> Result<Response, CsError> {
    let id = path.get("projectId");
    let c = cx.app.store.read(ProjectCatalog { caller: cx.caller, project: project_id(id)? }).await?;
    Ok(wire::ok(&ProjectOut {
        name: c.project.name,
        id: ids::encode(Kind::Project, c.project.id.0),
        is_active: c.project.is_active,
        regions: vec![region()],
        teams: Vec::new(),
        can_create_class: c.member.can_instruct,
        can_add_policy: c.member.can_manage,
    }))
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BlueprintOut {
    name: String,
    description: Option<String>,
    id: String,
    token: String,
}

impl From<&Blueprint> for BlueprintOut {
    fn from(b: &Blueprint) -> BlueprintOut {
        BlueprintOut {
            name: b.name.clone(),
            description: b.description.clone(),
            id: ids::encode(Kind::Blueprint, b.id.0),
            token: b.token.clone(),
        }
    }
}

/// A project's blueprints.
#[utoipa::path(get, path = "/api/v3/projects/{projectId}/blueprints",
    operation_id = "cloudshare_list_blueprints", tag = "cloudshare", params(("projectId" = String, Path)),
    responses(
        (status = 200, description = "The project's blueprints", body = Vec<BlueprintOut>),
        (status = 401, body = CsErrorBody), (status = 404, body = CsErrorBody)),
    security(("cs_sha1" = [])))]
pub async fn blueprints(cx: Cs, path: PathText) -> Result<Response, CsError> {
    let project = path.get("projectId");
    let c = cx.app.store.read(ProjectCatalog { caller: cx.caller, project: project_id(project)? }).await?;
    Ok(wire::ok(&c.blueprints.iter().map(BlueprintOut::from).collect::<Vec<_>>()))
}

/// One blueprint of a project.
#[utoipa::path(get, path = "/api/v3/projects/{projectId}/blueprints/{blueprintId}",
    operation_id = "cloudshare_get_blueprint", tag = "cloudshare",
    params(("projectId" = String, Path), ("blueprintId" = String, Path)),
    responses(
        (status = 200, description = "The blueprint", body = BlueprintOut), (status = 401, body = CsErrorBody),
        (status = 404, body = CsErrorBody)),
    security(("cs_sha1" = [])))]
pub async fn blueprint(cx: Cs, path: PathText) -> Result<Response, CsError> {
    let project = path.get("projectId");
    let blueprint = path.get("blueprintId");
    let c = cx.app.store.read(ProjectCatalog { caller: cx.caller, project: project_id(project)? }).await?;
    let id = ids::decode(Kind::Blueprint, blueprint).ok_or_else(|| CsError::not_found("blueprint"))?;
    let b = c.blueprints.iter().find(|b| b.id.0 == id).ok_or_else(|| CsError::not_found("blueprint"))?;
    Ok(wire::ok(&BlueprintOut::from(b)))
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PolicyOut {
    name: String,
    project_id: String,
    allow_environment_creation: bool,
    id: String,
    default_duration_in_minutes: u32,
}

impl From<&Policy> for PolicyOut {
    fn from(p: &Policy) -> PolicyOut {
        PolicyOut {
            name: p.name.clone(),
            project_id: ids::encode(Kind::Project, p.project_id.0),
            allow_environment_creation: p.allow_environment_creation,
            id: ids::encode(Kind::Policy, p.id.0),
            default_duration_in_minutes: p.default_duration_minutes,
        }
    }
}

/// A project's policies.
#[utoipa::path(get, path = "/api/v3/projects/{projectId}/policies",
    operation_id = "cloudshare_list_policies", tag = "cloudshare", params(("projectId" = String, Path)),
    responses(
        (status = 200, description = "The project's policies", body = Vec<PolicyOut>),
        (status = 401, body = CsErrorBody), (status = 404, body = CsErrorBody)),
    security(("cs_sha1" = [])))]
pub async fn policies(cx: Cs, path: PathText) -> Result<Response, CsError> {
    let project = path.get("projectId");
    let c = cx.app.store.read(ProjectCatalog { caller: cx.caller, project: project_id(project)? }).await?;
    Ok(wire::ok(&c.policies.iter().map(PolicyOut::from).collect::<Vec<_>>()))
}

/// A new policy of a project the caller manages (`{name, projectId, runtimeLeaseMinutes,
/// storageLeaseMinutes, inactivityHandlingType, inactivityThresholdTime}`, the Go SDK's
/// `CreateProjectPolicy`); the runtime lease is the default duration of its classes.
#[utoipa::path(post, path = "/api/v3/policies",
    operation_id = "cloudshare_create_policy", tag = "cloudshare", request_body = PolicyInput,
    responses(
        (status = 200, description = "The policy created", body = PolicyOut), (status = 400, body = CsErrorBody),
        (status = 401, body = CsErrorBody), (status = 403, body = CsErrorBody)),
    security(("cs_sha1" = [])))]
pub async fn create_policy(cx: Cs) -> Result<Response, CsError> {
    let input = &cx.input;
    let project = input.id("projectId", Kind::Project)?.ok_or_else(|| CsError::bad_request("projectId is required"))?;
    let minutes = |key: &str| -> Result<Option<i64>, CsError> { Ok(input.int(key)?.flatten()) };
    let request = PolicyRequest {
        name: input.str("name")?,
        runtime_minutes: minutes("runtimeLeaseMinutes")?,
        storage_minutes: minutes("storageLeaseMinutes")?,
        inactivity_handling: input.str("inactivityHandlingType")?,
        inactivity_threshold_minutes: minutes("inactivityThresholdTime")?,
    };
    let op = CreateProjectPolicy { ctx: cx.ctx(), caller: cx.caller, project: ProjectId(project), request };
    let renames = [
        ("default_duration_minutes", "runtimeLeaseMinutes"),
        ("storage_lease_minutes", "storageLeaseMinutes"),
        ("inactivity_handling", "inactivityHandlingType"),
        ("inactivity_threshold_minutes", "inactivityThresholdTime"),
    ];
    let policy = cx.app.store.write(op).await.map_err(|e| match e {
        // A project the caller is not in is, to them, one that does not exist.
        StoreError::Domain(DomainError::NotFound(_)) => CsError::bad_request("projectId: unknown project"),
        other => CsError::from_store_in(other, &renames),
    })?;
    Ok(wire::ok(&PolicyOut::from(&policy)))
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StateOut {
    code: &'static str,
    english_name: &'static str,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CountryOut {
    code: &'static str,
    english_name: &'static str,
    states: Vec<StateOut>,
}

/// ISO 3166 countries, with the states of the United States, Canada and Australia.
#[utoipa::path(get, path = "/api/v3/class/actions/countries",
    operation_id = "cloudshare_list_countries", tag = "cloudshare", params(("fullCountriesList" = Option<bool>, Query)),
    responses(
        (status = 200, description = "The countries, with their states", body = Vec<CountryOut>),
        (status = 401, body = CsErrorBody)),
    security(("cs_sha1" = [])))]
pub async fn countries(cx: Cs) -> Result<Response, CsError> {
    cx.input.bool("fullCountriesList")?;
    let out: Vec<CountryOut> = COUNTRIES
        .iter()
        .map(|c| CountryOut {
            code: c.code,
            english_name: c.english_name,
            states: c.states.iter().map(|s| StateOut { code: s.code, english_name: s.english_name }).collect(),
        })
        .collect();
    Ok(wire::ok(&out))
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = CsMemberOut)]
pub struct MemberOut {
    id: String,
    name: String,
    email: Option<String>,
}

/// The members of a policy's project who can instruct (`?policyId=`).
#[utoipa::path(get, path = "/api/v3/class/actions/instructors",
    operation_id = "cloudshare_list_policy_instructors", tag = "cloudshare", params(("policyId" = String, Query)),
    responses(
        (status = 200, description = "The members of the policy's project who can instruct", body = Vec<MemberOut>),
        (status = 400, body = CsErrorBody), (status = 401, body = CsErrorBody), (status = 404, body = CsErrorBody)),
    security(("cs_sha1" = [])))]
pub async fn instructors(cx: Cs) -> Result<Response, CsError> {
    let policy = cx.input.id("policyId", Kind::Policy)?.ok_or_else(|| CsError::bad_request("policyId is required"))?;
    let members = cx.app.store.read(PolicyInstructors { caller: cx.caller, policy: PolicyId(policy) }).await?;
    let out: Vec<MemberOut> = members
        .iter()
        .map(|(m, u)| MemberOut { id: ids::encode(Kind::Member, m.id.0), name: u.name.clone(), email: u.email.clone() })
        .collect();
    Ok(wire::ok(&out))
}

/// A project's custom field definitions (`?projectId=`).
#[utoipa::path(get, path = "/api/v3/class/actions/customfields",
    operation_id = "cloudshare_list_custom_fields", tag = "cloudshare", params(("projectId" = String, Query)),
    responses(
        (status = 200, description = "The project's custom field definitions", body = Vec<FieldOut>),
        (status = 400, body = CsErrorBody), (status = 401, body = CsErrorBody), (status = 404, body = CsErrorBody)),
    security(("cs_sha1" = [])))]
pub async fn custom_fields(cx: Cs) -> Result<Response, CsError> {
    let project =
        cx.input.id("projectId", Kind::Project)?.ok_or_else(|| CsError::bad_request("projectId is required"))?;
    let c = cx.app.store.read(ProjectCatalog { caller: cx.caller, project: ProjectId(project) }).await?;
    Ok(wire::ok(&c.fields.iter().map(|f| FieldOut::new(f, None)).collect::<Vec<_>>()))
}

/// Validates the caller's credentials: signed like every other request.
#[utoipa::path(get, path = "/api/v3/ping", operation_id = "cloudshare_ping", tag = "cloudshare",
    responses(
        (status = 200, description = "The credentials are valid", body = Pong),
        (status = 401, body = CsErrorBody)),
    security(("cs_sha1" = [])))]
pub async fn ping(_: Cs) -> Response {
    wire::ok(&Pong { result: "Pong" })
}

/// `{"result": "Pong"}`.
#[derive(Serialize, ToSchema)]
pub struct Pong {
    result: &'static str,
}

/// What the endpoints' declarations leave to the document: the tag and the scheme.
#[derive(OpenApi)]
#[openapi(modifiers(&CsSecurity), tags((name = "cloudshare", description = SIGNING)))]
pub struct Doc;

/// The CloudShare tag's text in `/docs` and `/redoc`.
const SIGNING: &str = "CloudShare REST API v3: training classes, their students and instructors.

**Every request is signed by the client, one signature per request**, so \"Try it out\" here cannot \
call these operations: the `Authorization` header is `cs_sha1 userapiid:<API id>;timestamp:<unix \
seconds>;token:<10 random letters or digits>;hmac:<hex SHA-1 of API key + full URL + timestamp + \
token>`, where the URL is exactly the one requested (scheme, host, path and query). A token is \
accepted once, and the timestamp must be within a few minutes of the server's clock \
(`--signature-skew`). Use CloudShare's own SDKs (PyPI `cloudshare`, npm `cloudshare`, \
`github.com/cloudshare/go-sdk`), which sign every request, or sign as they do:

```python
import hashlib, random, string, time, requests
def call(method, url, api_id, api_key, body=None):
    ts = str(int(time.time()))
    token = ''.join(random.choices(string.ascii_letters + string.digits, k=10))
    hmac = hashlib.sha1((api_key + url + ts + token).encode()).hexdigest()
    auth = f'cs_sha1 userapiid:{api_id};timestamp:{ts};token:{token};hmac:{hmac}'
    return requests.request(method, url, json=body, headers={'Authorization': auth})
```

API ids and keys are a project member's (`POST /admin/v1/cloudshare/members`). Paths and methods \
match in any case; ids are shown as CloudShare shows them (`CL…`, `SD…`, `PJ…`).";
