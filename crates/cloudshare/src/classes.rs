//! The class object and the class endpoints.

use axum::response::Response;
use classhub_core::class::Class;
use classhub_core::invite::MemberRole;
use classhub_core::lab::{self, Address, CustomField, FieldValue, LabRequest, LabSettings, LabStatus};

use classhub_core::patch::Patch;
use classhub_core::{BlueprintId, ClassId, CustomFieldId, PolicyId, ProjectId, ProjectMemberId};
use classhub_store::engine::LabSummary;
use classhub_store::ops::lab::{CreateLab, DeleteLab, GetLab, LabMembers, LabView, ListLabs, ModifyLab};
use jiff::tz::TimeZone;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::bodies::{ClassChange, ClassInput};
use crate::ids::{self, Kind};
use crate::people::StudentOut;
use crate::wire::{self, CsError, CsErrorBody, Input};
use crate::{Cs, Cx};
use classhub_web::PathText;

/// A class's postal address.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AddressOut {
    state: Option<String>,
    address1: Option<String>,
    address2: Option<String>,
    zip_code: Option<String>,
    city: Option<String>,
    country: Option<String>,
}

/// A custom field of a project, with a class's value where there is one.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FieldOut {
    id: String,
    order: i64,
    name: String,
    #[serde(rename = "type")]
    kind: i64,
    is_required: bool,
    regex: String,
    default_value: Option<String>,
    value: Option<String>,
}

impl FieldOut {
    pub fn new(f: &CustomField, value: Option<String>) -> FieldOut {
        FieldOut {
            id: ids::encode(Kind::Field, f.id.0),
            order: f.order,
            name: f.name.clone(),
            kind: f.kind,
            is_required: f.is_required,
            regex: f.regex.clone().unwrap_or_default(),
            default_value: f.default_value.clone(),
            value,
        }
    }
}

/// The full class object, in CloudShare's field order.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClassObject {
    id: String,
    name: String,
    short_id: String,
    policy_id: String,
    policy_name: String,
    is_using_class_types: bool,
    blueprint_id: String,
    blueprint_name: String,
    blueprint_token: String,
    cloud_name: &'static str,
    time_zone_id: String,
    project_id: String,
    project_name: String,
    creator_name: Option<String>,
    creator_email: Option<String>,
    instructor_vup_id: Option<String>,
    instructor_name: Option<String>,
    default_duration_in_minutes: u32,
    allow_start_date_editing: bool,
    limit_early_access: u8,
    student_passphrase: String,
    use_custom_invitation_email: bool,
    show_course_address_field: bool,
    address: Option<AddressOut>,
    custom_invitation_email_subject: Option<String>,
    custom_invitation_email_body: Option<String>,
    default_invitation_email_subject: &'static str,
    default_invitation_email_body: &'static str,
    show_permit_access_to_non_registered_student: bool,
    allow_edit_defaults_when_permit_access_to_non_registered: bool,
    permit_access_to_non_registered_student: bool,
    show_max_students_field: bool,
    max_students: Option<u32>,
    max_limit_on_max_student_field: u32,
    custom_fields_values: Vec<FieldOut>,
    instructor_email: Option<String>,
    time_zone_name: String,
    start_date: Option<String>,
    end_date: Option<String>,
    /// `upcoming`, `in session` or `expired`, from the dates.
    status: &'static str,
    self_paced: bool,
    allow_multiple_student_login: bool,
    start_date_utc_offset_minutes: Option<i32>,
    end_date_utc_offset_minutes: Option<i32>,
    student_login_url: String,
    create_date: String,
}

/// A class in the list of classes.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClassSummary {
    id: String,
    name: String,
    short_id: String,
    region_id: String,
    instructor_email: Option<String>,
    time_zone_name: String,
    start_date: Option<String>,
    end_date: Option<String>,
    status: &'static str,
}

fn zone_of(class: &Class, lab: &LabSettings) -> (TimeZone, String) {
    let tz = class.fields.timezone.as_ref().map_or(TimeZone::UTC, |z| z.time_zone());
    let name = classhub_core::windows_zones::by_windows_id(&lab.windows_zone)
        .map_or_else(|| lab.windows_zone.clone(), |z| z.display_name.to_string());
    (tz, name)
}

fn status_text(class: &Class, lab: &LabSettings) -> &'static str {
    let f = &class.fields;
    match lab::status(f.start_at, f.end_at, lab.self_paced, jiff::Timestamp::now()) {
        LabStatus::Upcoming => "upcoming",
        LabStatus::InSession => "in session",
        LabStatus::Expired => "expired",
    }
}

/// The region every class is in: classhub runs no clouds of its own.
pub const REGION_ID: i64 = 1;

impl ClassObject {
    pub fn new(v: &LabView, public_base: &str) -> ClassObject {
        let (tz, zone_name) = zone_of(&v.class, &v.lab);
        let f = &v.class.fields;
        let l = &v.lab;
        let date = |t: Option<jiff::Timestamp>| t.map(|t| wire::format_date(t, &tz));
        let offset = |t: Option<jiff::Timestamp>| t.map(|t| wire::offset_minutes(t, &tz));
        let value = |d: &CustomField| l.field_values.iter().find(|x| x.field_id == d.id).and_then(|x| x.value.clone());
        let fields = v.fields.iter().map(|d| FieldOut::new(d, value(d))).collect();
        ClassObject {
            id: ids::encode(Kind::Class, v.class.id.0),
            name: f.name.clone(),
            short_id: l.short_id.clone(),
            policy_id: ids::encode(Kind::Policy, v.policy.id.0),
            policy_name: v.policy.name.clone(),
            is_using_class_types: false,
            blueprint_id: ids::encode(Kind::Blueprint, v.blueprint.id.0),
            blueprint_name: v.blueprint.name.clone(),
            blueprint_token: v.blueprint.token.clone(),
            cloud_name: "classhub",
            time_zone_id: l.windows_zone.clone(),
            project_id: ids::encode(Kind::Project, v.project.id.0),
            project_name: v.project.name.clone(),
            creator_name: v.creator.as_ref().map(|u| u.name.clone()),
            creator_email: v.creator.as_ref().and_then(|u| u.email.clone()),
            instructor_vup_id: v.instructor.as_ref().map(|(m, _)| ids::encode(Kind::Member, m.id.0)),
            instructor_name: v.instructor.as_ref().map(|(_, u)| u.name.clone()),
            default_duration_in_minutes: v.policy.default_duration_minutes,
            allow_start_date_editing: true,
            limit_early_access: l.limit_early_access,
            student_passphrase: l.passphrase.clone(),
            use_custom_invitation_email: l.use_custom_invitation_email,
            show_course_address_field: true,
            address: l.address.clone().map(|a| AddressOut {
                state: a.state,
                address1: a.address1,
                address2: a.address2,
                zip_code: a.zip_code,
                city: a.city,
                country: a.country,
            }),
            custom_invitation_email_subject: l.custom_invitation_subject.clone(),
            custom_invitation_email_body: l.custom_invitation_body.clone(),
            default_invitation_email_subject: lab::DEFAULT_INVITATION_SUBJECT,
            default_invitation_email_body: lab::DEFAULT_INVITATION_BODY,
            show_permit_access_to_non_registered_student: true,
            allow_edit_defaults_when_permit_access_to_non_registered: true,
            permit_access_to_non_registered_student: l.permit_non_registered,
            show_max_students_field: true,
            max_students: f.capacity,
            max_limit_on_max_student_field: lab::MAX_STUDENTS_MAX as u32,
            custom_fields_values: fields,
            instructor_email: v.instructor.as_ref().and_then(|(_, u)| u.email.clone()),
            time_zone_name: zone_name,
            start_date: date(f.start_at),
            end_date: date(f.end_at),
            status: status_text(&v.class, l),
            self_paced: l.self_paced,
            allow_multiple_student_login: l.allow_multiple_student_login,
            start_date_utc_offset_minutes: offset(f.start_at),
            end_date_utc_offset_minutes: offset(f.end_at),
            student_login_url: classhub_store::ops::lab::login_url(public_base, &l.short_id),
            create_date: wire::rfc1123(v.class.created_at),
        }
    }
}

impl ClassSummary {
    fn new(v: &LabSummary) -> ClassSummary {
        let (tz, zone_name) = zone_of(&v.class, &v.lab);
        let f = &v.class.fields;
        ClassSummary {
            id: ids::encode(Kind::Class, v.class.id.0),
            name: f.name.clone(),
            short_id: v.lab.short_id.clone(),
            region_id: ids::encode(Kind::Region, REGION_ID),
            instructor_email: v.lead_email.clone(),
            time_zone_name: zone_name,
            start_date: f.start_at.map(|t| wire::format_date(t, &tz)),
            end_date: f.end_at.map(|t| wire::format_date(t, &tz)),
            status: status_text(&v.class, &v.lab),
        }
    }
}

/// A class id from the path (unknown or malformed: 404).
pub fn class_id(text: &str) -> Result<ClassId, CsError> {
    ids::decode(Kind::Class, text).map(ClassId).ok_or_else(|| CsError::not_found("class"))
}

/// Reads a create or modify body. (A date written back exactly as the class shows it keeps
/// its stored instant: the core's rule for wall-clock minutes.)
fn lab_request(input: &Input) -> Result<LabRequest, CsError> {
    let date = |key: &str| -> Result<Option<jiff::civil::DateTime>, CsError> {
        match input.str(key)? {
            Some(text) if !text.trim().is_empty() => wire::parse_date(key, &text).map(Some),
            _ => Ok(None),
        }
    };
    let text_patch = |key: &str| -> Result<Patch<String>, CsError> {
        Ok(match (input.has(key), input.str(key)?) {
            (false, _) => Patch::Keep,
            (true, None) => Patch::Clear,
            (true, Some(s)) => Patch::Set(s),
        })
    };
    let address = match input.raw("address") {
        None => Patch::Keep,
        Some(Value::Null) => Patch::Clear,
        Some(Value::Object(_)) => {
            let a = Input::nested(input.raw("address").cloned().unwrap_or(Value::Null), "address");
            Patch::Set(Address {
                address1: a.str("address1")?,
                address2: a.str("address2")?,
                city: a.str("city")?,
                state: a.str("state")?,
                zip_code: a.str("zipCode")?,
                country: a.str("country")?,
            })
        }
        Some(_) => return Err(CsError::bad_request("address must be an object")),
    };
    let field_values = match input.raw("customFieldsValues") {
        None | Some(Value::Null) => None,
        Some(Value::Array(items)) => {
            let mut out = Vec::new();
            for (i, item) in items.iter().enumerate() {
                let f = Input::nested(item.clone(), &format!("customFieldsValues[{i}]"));
                let id = f.id("id", Kind::Field)?.ok_or_else(|| {
                    CsError::bad_request(format!("customFieldsValues[{i}].id is required (a TF… id of the project)"))
                })?;
                // `regex` and the other descriptive keys may come back in any shape; only
                // the value counts.
                out.push(FieldValue { field_id: CustomFieldId(id), value: f.str("value")? });
            }
            Some(out)
        }
        Some(_) => return Err(CsError::bad_request("customFieldsValues must be a list")),
    };
    Ok(LabRequest {
        name: input.str("name")?,
        project_id: input.id("projectId", Kind::Project)?.map(ProjectId),
        blueprint_id: input.id("blueprintId", Kind::Blueprint)?.map(BlueprintId),
        policy_id: input.id("policyId", Kind::Policy)?.map(PolicyId),
        instructor: input.id("instructorVupId", Kind::Member)?.map(ProjectMemberId),
        start: date("startDate")?,
        end: date("endDate")?.map_or(Patch::Keep, Patch::Set),
        windows_zone: input.str("timeZoneId")?,
        passphrase: input.str("studentPassphrase")?,
        limit_early_access: input.int("limitEarlyAccess")?.flatten(),
        use_custom_invitation_email: input.bool("useCustomInvitationEmail")?,
        custom_invitation_subject: text_patch("customInvitationEmailSubject")?,
        custom_invitation_body: text_patch("customInvitationEmailBody")?,
        permit_non_registered: input.bool("permitAccessToNonRegisteredStudent")?,
        max_students: match input.int("maxStudents")? {
            None => Patch::Keep,
            Some(None) => Patch::Clear,
            Some(Some(n)) => Patch::Set(n),
        },
        address,
        field_values,
        self_paced: input.bool("selfPaced")?,
        allow_multiple_student_login: input.bool("allowMultipleStudentLogin")?,
    })
}

fn base(cx: &Cx) -> &str {
    &cx.app.config.public_base_url
}

/// List the classes of the caller's projects.
#[utoipa::path(get, path = "/api/v3/class", operation_id = "cloudshare_list_classes", tag = "cloudshare",
    responses(
        (status = 200, description = "The classes", body = Vec<ClassSummary>), (status = 401, body = CsErrorBody)),
    security(("cs_sha1" = [])))]
pub async fn list(cx: Cs) -> Result<Response, CsError> {
    let classes = cx.app.store.read(ListLabs { caller: cx.caller }).await?;
    Ok(wire::ok(&classes.iter().map(ClassSummary::new).collect::<Vec<_>>()))
}

/// Read a class.
#[utoipa::path(get, path = "/api/v3/class/{classId}",
    operation_id = "cloudshare_get_class", tag = "cloudshare", params(("classId" = String, Path)),
    responses(
        (status = 200, description = "The class", body = ClassObject), (status = 401, body = CsErrorBody),
        (status = 404, body = CsErrorBody)),
    security(("cs_sha1" = [])))]
pub async fn get(cx: Cs, path: PathText) -> Result<Response, CsError> {
    let id = path.get("classId");
    let view = cx.app.store.read(GetLab { caller: cx.caller, class_id: class_id(id)? }).await?;
    Ok(wire::ok(&ClassObject::new(&view, base(&cx))))
}

/// Create a class. `endDate` defaults to `startDate` plus the policy's duration.
#[utoipa::path(post, path = "/api/v3/class",
    operation_id = "cloudshare_create_class", tag = "cloudshare", request_body = ClassInput,
    responses(
        (status = 200, description = "The class created", body = ClassObject), (status = 400, body = CsErrorBody),
        (status = 401, body = CsErrorBody), (status = 403, body = CsErrorBody)),
    security(("cs_sha1" = [])))]
pub async fn create(cx: Cs) -> Result<Response, CsError> {
    let request = lab_request(&cx.input)?;
    let view = cx.app.store.write(CreateLab { ctx: cx.ctx(), caller: cx.caller, request }).await?;
    Ok(wire::ok(&ClassObject::new(&view, base(&cx))))
}

/// Modify a class: fields present replace the stored ones. `id` goes in the body, and must
/// equal the URL's.
#[utoipa::path(put, path = "/api/v3/class/{classId}",
    operation_id = "cloudshare_modify_class", tag = "cloudshare", params(("classId" = String, Path)),
    request_body = ClassChange,
    responses(
        (status = 200, description = "The class as modified", body = ClassObject), (status = 400, body = CsErrorBody),
        (status = 401, body = CsErrorBody), (status = 403, body = CsErrorBody), (status = 404, body = CsErrorBody)),
    security(("cs_sha1" = [])))]
pub async fn modify(cx: Cs, path: PathText) -> Result<Response, CsError> {
    modify_class(&cx, Some(path.get("classId"))).await
}

/// Modify the class whose `id` the body gives (the reference's older form).
#[utoipa::path(put, path = "/api/v3/class",
    operation_id = "cloudshare_modify_class_by_body", tag = "cloudshare", request_body = ClassChange,
    responses(
        (status = 200, description = "The class as modified", body = ClassObject), (status = 400, body = CsErrorBody),
        (status = 401, body = CsErrorBody), (status = 403, body = CsErrorBody), (status = 404, body = CsErrorBody)),
    security(("cs_sha1" = [])))]
pub async fn modify_by_body(cx: Cs) -> Result<Response, CsError> {
    modify_class(&cx, None).await
}

async fn modify_class(cx: &Cx, path_id: Option<&str>) -> Result<Response, CsError> {
    // The reference: the id goes in the body, and in the URL too when the URL has one.
    let id = cx.input.required_str("id")?;
    if path_id.is_some_and(|p| p != id) {
        return Err(CsError::bad_request("id in the body differs from the class id of the URL"));
    }
    let class_id = class_id(&id)?;
    let request = lab_request(&cx.input)?;
    let view = cx.app.store.write(ModifyLab { ctx: cx.ctx(), caller: cx.caller, class_id, request }).await?;
    Ok(wire::ok(&ClassObject::new(&view, base(cx))))
}

/// Delete a class.
#[utoipa::path(delete, path = "/api/v3/class/{classId}",
    operation_id = "cloudshare_delete_class", tag = "cloudshare", params(("classId" = String, Path)),
    responses(
        (status = 200, description = "Deleted (an empty object)", body = Object), (status = 401, body = CsErrorBody),
        (status = 404, body = CsErrorBody)),
    security(("cs_sha1" = [])))]
pub async fn delete(cx: Cs, path: PathText) -> Result<Response, CsError> {
    let id = path.get("classId");
    cx.app.store.write(DeleteLab { ctx: cx.ctx(), caller: cx.caller, class_id: class_id(id)? }).await?;
    Ok(wire::empty())
}

/// A class with its students.
#[derive(Serialize, ToSchema)]
pub struct Detailed {
    class: ClassObject,
    students: Vec<StudentOut>,
}

/// A class and its students (`?classId=`).
#[utoipa::path(get, path = "/api/v3/class/actions/getdetailed",
    operation_id = "cloudshare_get_class_details", tag = "cloudshare", params(("classId" = String, Query)),
    responses(
        (status = 200, description = "The class and its students", body = Detailed), (status = 401, body = CsErrorBody),
        (status = 404, body = CsErrorBody)),
    security(("cs_sha1" = [])))]
pub async fn detailed(cx: Cs) -> Result<Response, CsError> {
    let id = cx.input.required_str("classId")?;
    let op = LabMembers { caller: cx.caller, class_id: class_id(&id)?, role: MemberRole::Student };
    let (view, students) = cx.app.store.read(op).await?;
    let body = Detailed {
        class: ClassObject::new(&view, base(&cx)),
        students: students.iter().map(StudentOut::from).collect(),
    };
    Ok(wire::ok(&body))
}
