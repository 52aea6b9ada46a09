//! Students, instructors, sponsored links and invitations of a class.

use axum::response::Response;
use classhub_core::invite::MemberRole;
use classhub_core::lab::{StudentProfile, StudentState};
use classhub_core::{MembershipId, ProjectMemberId};
use classhub_store::engine::Member;
use classhub_store::ops::lab::{
    AddInstructor, AddStudent, CreateSponsoredLink, DisableSponsoredLink, GetStudent, InvitationFormat, LabInstructors,
    LabMembers, RemoveInstructor, RemoveLabStudent, SendInvitations, UpdateStudent,
};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::bodies::{DisableSponsoredLinkInput, InstructorInput, InvitationsInput, SponsoredLinkInput, StudentInput};
use crate::classes::class_id;
use crate::ids::{self, Kind};
use crate::wire::{self, CsError, CsErrorBody};
use crate::{Cs, Cx};
use classhub_web::PathText;

/// A student of a class. `status`: 0 invited, 1 registered (participated), 2 logged in.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = CsStudentOut)]
pub struct StudentOut {
    id: String,
    first_name: Option<String>,
    last_name: Option<String>,
    email: Option<String>,
    status: u8,
    #[schema(value_type = Option<String>)]
    env_status: Option<Value>,
    #[schema(value_type = Option<String>)]
    env_id: Option<Value>,
    #[schema(value_type = Vec<Object>)]
    env_commands: Vec<Value>,
}

fn state(m: &Member) -> StudentState {
    match (m.membership.logged_in_at, m.membership.invited_at) {
        (Some(_), _) => StudentState::LoggedIn,
        (None, Some(_)) => StudentState::Invited,
        (None, None) => StudentState::Registered,
    }
}

impl From<&Member> for StudentOut {
    fn from(m: &Member) -> StudentOut {
        StudentOut {
            id: ids::encode(Kind::Student, m.membership.id.0),
            first_name: m.user.first_name.clone(),
            last_name: m.user.last_name.clone(),
            email: m.user.email.clone(),
            status: match state(m) {
                StudentState::Invited => 0,
                StudentState::Registered => 1,
                StudentState::LoggedIn => 2,
            },
            env_status: None,
            env_id: None,
            env_commands: Vec::new(),
        }
    }
}

fn student_id(text: &str) -> Result<MembershipId, CsError> {
    ids::decode(Kind::Student, text).map(MembershipId).ok_or_else(|| CsError::not_found("student"))
}

fn profile(cx: &Cx, email: &str, first: &str, last: &str) -> Result<StudentProfile, CsError> {
    Ok(StudentProfile { email: cx.input.str(email)?, first_name: cx.input.str(first)?, last_name: cx.input.str(last)? })
}

/// The students of a class (`?isFull=` is accepted; the answer is the same).
#[utoipa::path(get, path = "/api/v3/class/{classId}/students",
    operation_id = "cloudshare_list_class_students", tag = "cloudshare",
    params(("classId" = String, Path), ("isFull" = Option<bool>, Query)),
    responses(
        (status = 200, description = "The class's students", body = Vec<StudentOut>),
        (status = 401, body = CsErrorBody), (status = 404, body = CsErrorBody)),
    security(("cs_sha1" = [])))]
pub async fn students(cx: Cs, path: PathText) -> Result<Response, CsError> {
    let class = path.get("classId");
    cx.input.bool("isFull")?;
    let op = LabMembers { caller: cx.caller, class_id: class_id(class)?, role: MemberRole::Student };
    let (_, students) = cx.app.store.read(op).await?;
    Ok(wire::ok(&students.iter().map(StudentOut::from).collect::<Vec<_>>()))
}

/// `{"studentId": "SD…"}`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NewStudent {
    student_id: String,
}

/// Register a student (`{email, firstName, lastName}`); `maxStudents` holds under any load.
#[utoipa::path(post, path = "/api/v3/class/{classId}/students",
    operation_id = "cloudshare_add_class_student", tag = "cloudshare", params(("classId" = String, Path)),
    request_body = StudentInput,
    responses(
        (status = 200, description = "The new student's id", body = NewStudent), (status = 400, body = CsErrorBody),
        (status = 401, body = CsErrorBody), (status = 404, body = CsErrorBody),
        (status = 409, description = "The class is full, or the request conflicts with its state", body = CsErrorBody)),
    security(("cs_sha1" = [])))]
pub async fn add_student(cx: Cs, path: PathText) -> Result<Response, CsError> {
    let class = path.get("classId");
    let op = AddStudent {
        ctx: cx.ctx(),
        caller: cx.caller,
        class_id: class_id(class)?,
        profile: profile(&cx, "email", "firstName", "lastName")?,
    };
    let m = cx.app.store.write(op).await?;
    Ok(wire::ok(&NewStudent { student_id: ids::encode(Kind::Student, m.id.0) }))
}

/// One student.
#[utoipa::path(get, path = "/api/v3/class/{classId}/students/{studentId}",
    operation_id = "cloudshare_get_class_student", tag = "cloudshare",
    params(("classId" = String, Path), ("studentId" = String, Path)),
    responses(
        (status = 200, description = "The student", body = StudentOut), (status = 401, body = CsErrorBody),
        (status = 404, body = CsErrorBody)),
    security(("cs_sha1" = [])))]
pub async fn student(cx: Cs, path: PathText) -> Result<Response, CsError> {
    let class = path.get("classId");
    let student = path.get("studentId");
    let op = GetStudent { caller: cx.caller, class_id: class_id(class)?, student: student_id(student)? };
    let m = cx.app.store.read(op).await?;
    Ok(wire::ok(&StudentOut::from(&m)))
}

/// Change a student's names, and email while the student has not logged in.
#[utoipa::path(put, path = "/api/v3/class/{classId}/students/{studentId}",
    operation_id = "cloudshare_update_class_student", tag = "cloudshare",
    params(("classId" = String, Path), ("studentId" = String, Path)), request_body = StudentInput,
    responses(
        (status = 200, description = "The student as changed", body = StudentOut), (status = 400, body = CsErrorBody),
        (status = 401, body = CsErrorBody), (status = 404, body = CsErrorBody)),
    security(("cs_sha1" = [])))]
pub async fn update_student(cx: Cs, path: PathText) -> Result<Response, CsError> {
    let class = path.get("classId");
    let student = path.get("studentId");
    let op = UpdateStudent {
        ctx: cx.ctx(),
        caller: cx.caller,
        class_id: class_id(class)?,
        student: student_id(student)?,
        profile: profile(&cx, "email", "firstName", "lastName")?,
    };
    let m = cx.app.store.write(op).await?;
    Ok(wire::ok(&StudentOut::from(&m)))
}

/// Remove a student; the seat is free again.
#[utoipa::path(delete, path = "/api/v3/class/{classId}/students/{studentId}",
    operation_id = "cloudshare_remove_class_student", tag = "cloudshare",
    params(("classId" = String, Path), ("studentId" = String, Path)),
    responses(
        (status = 200, description = "Removed (an empty object)", body = Object), (status = 401, body = CsErrorBody),
        (status = 404, body = CsErrorBody)),
    security(("cs_sha1" = [])))]
pub async fn remove_student(cx: Cs, path: PathText) -> Result<Response, CsError> {
    let class = path.get("classId");
    let student = path.get("studentId");
    let op = RemoveLabStudent {
        ctx: cx.ctx(),
        caller: cx.caller,
        class_id: class_id(class)?,
        student: student_id(student)?,
    };
    cx.app.store.write(op).await?;
    Ok(wire::empty())
}

/// `{"loginUrl": …}`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LoginUrl {
    login_url: String,
}

/// A link that signs a student in (`{classId, studentEmail, studentFirstName,
/// studentLastName, registrationInfo, preRegisterStudent}`).
#[utoipa::path(post, path = "/api/v3/class/sponsoredlink",
    operation_id = "cloudshare_create_sponsored_link", tag = "cloudshare", request_body = SponsoredLinkInput,
    responses(
        (status = 200, description = "The link that signs the student in", body = LoginUrl),
        (status = 400, body = CsErrorBody), (status = 401, body = CsErrorBody), (status = 404, body = CsErrorBody),
        (status = 409, description = "The class is full, or the request conflicts with its state", body = CsErrorBody)),
    security(("cs_sha1" = [])))]
pub async fn sponsored_link(cx: Cs) -> Result<Response, CsError> {
    let class = class_id(&cx.input.required_str("classId")?)?;
    cx.input.required_str("studentEmail")?;
    let op = CreateSponsoredLink {
        ctx: cx.ctx(),
        caller: cx.caller,
        class_id: class,
        profile: profile(&cx, "studentEmail", "studentFirstName", "studentLastName")?,
        pre_register: cx.input.bool("preRegisterStudent")?.unwrap_or(false),
    };
    let renames = [("email", "studentEmail"), ("first_name", "studentFirstName"), ("last_name", "studentLastName")];
    let (lab, token) = cx.app.store.write(op).await.map_err(|e| CsError::from_store_in(e, &renames))?;
    let url = classhub_store::ops::lab::login_url(&cx.app.config.public_base_url, &lab.short_id);
    Ok(wire::ok(&LoginUrl { login_url: format!("{url}?token={token}") }))
}

/// Stop a student's links working (`{classId, studentEmail, unregisterStudent}`).
#[utoipa::path(post, path = "/api/v3/class/disablesponsoredlink",
    operation_id = "cloudshare_disable_sponsored_link", tag = "cloudshare", request_body = DisableSponsoredLinkInput,
    responses(
        (status = 200, description = "The student's links no longer work (an empty object)", body = Object),
        (status = 400, body = CsErrorBody), (status = 401, body = CsErrorBody), (status = 404, body = CsErrorBody)),
    security(("cs_sha1" = [])))]
pub async fn disable_sponsored_link(cx: Cs) -> Result<Response, CsError> {
    let op = DisableSponsoredLink {
        ctx: cx.ctx(),
        caller: cx.caller,
        class_id: class_id(&cx.input.required_str("classId")?)?,
        email: cx.input.required_str("studentEmail")?,
        unregister: cx.input.bool("unregisterStudent")?.unwrap_or(false),
    };
    cx.app.store.write(op).await?;
    Ok(wire::empty())
}

/// Queue an invitation email to each student (`{classId, studentIds}`).
#[utoipa::path(post, path = "/api/v3/class/actions/sendinvitations",
    operation_id = "cloudshare_send_invitations", tag = "cloudshare",
    params(("isMultiple" = Option<bool>, Query)), request_body = InvitationsInput,
    responses(
        (status = 200, description = "The invitations are queued (an empty object)", body = Object),
        (status = 400, body = CsErrorBody), (status = 401, body = CsErrorBody), (status = 404, body = CsErrorBody)),
    security(("cs_sha1" = [])))]
pub async fn send_invitations(cx: Cs) -> Result<Response, CsError> {
    let class = class_id(&cx.input.required_str("classId")?)?;
    cx.input.bool("isMultiple")?;
    let students = match cx.input.raw("studentIds") {
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(student_id).unwrap_or_else(|| Err(CsError::bad_request("studentIds must be ids"))))
            .collect::<Result<Vec<_>, _>>()?,
        Some(Value::String(one)) => vec![student_id(one)?],
        _ => return Err(CsError::bad_request("studentIds is required")),
    };
    let op =
        SendInvitations { ctx: cx.ctx(), caller: cx.caller, class_id: class, students, format: invitation_format(&cx) };
    cx.app.store.write(op).await?;
    Ok(wire::empty())
}

/// A class-instructor link.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InstructorOut {
    id: String,
    vup_id: Option<String>,
    email: Option<String>,
    name: String,
    is_lead_instructor: bool,
    is_invited: bool,
    is_env_creation_disabled: bool,
}

/// A class's instructors (`?classId=`); the first is the lead.
#[utoipa::path(get, path = "/api/v3/instructors/class",
    operation_id = "cloudshare_list_class_instructors", tag = "cloudshare", params(("classId" = String, Query)),
    responses(
        (status = 200, description = "The class's instructors, the lead first", body = Vec<InstructorOut>),
        (status = 401, body = CsErrorBody), (status = 404, body = CsErrorBody)),
    security(("cs_sha1" = [])))]
pub async fn instructors(cx: Cs) -> Result<Response, CsError> {
    let class = class_id(&cx.input.required_str("classId")?)?;
    let list = cx.app.store.read(LabInstructors { caller: cx.caller, class_id: class }).await?;
    let out: Vec<InstructorOut> = list
        .iter()
        .enumerate()
        .map(|(i, (m, pm))| InstructorOut {
            id: ids::encode(Kind::Instructor, m.membership.id.0),
            vup_id: pm.as_ref().map(|pm| ids::encode(Kind::Member, pm.id.0)),
            email: m.user.email.clone(),
            name: m.user.name.clone(),
            is_lead_instructor: i == 0,
            is_invited: m.membership.invited_at.is_some(),
            is_env_creation_disabled: m.membership.env_creation_disabled,
        })
        .collect();
    Ok(wire::ok(&out))
}

/// Add an instructor (`{instructorVupId, classId, sendInviteNow, disableEnvCreation}`; `vupId`
/// is read as well): a member of the class's project who can instruct. `sendInviteNow`
/// queues the instructor's invitation email.
#[utoipa::path(post, path = "/api/v3/instructors",
    operation_id = "cloudshare_add_class_instructor", tag = "cloudshare", request_body = InstructorInput,
    responses(
        (status = 200, description = "The instructor added", body = InstructorOut), (status = 400, body = CsErrorBody),
        (status = 401, body = CsErrorBody), (status = 404, body = CsErrorBody),
        (status = 409, description = "The request conflicts with the class's state", body = CsErrorBody)),
    security(("cs_sha1" = [])))]
pub async fn add_instructor(cx: Cs) -> Result<Response, CsError> {
    let class = class_id(&cx.input.required_str("classId")?)?;
    let key = if cx.input.has("instructorVupId") || !cx.input.has("vupId") { "instructorVupId" } else { "vupId" };
    let member = cx.input.id(key, Kind::Member)?.ok_or_else(|| CsError::bad_request(format!("{key} is required")))?;
    let op = AddInstructor {
        ctx: cx.ctx(),
        caller: cx.caller,
        class_id: class,
        member: ProjectMemberId(member),
        disable_env_creation: cx.input.bool("disableEnvCreation")?.unwrap_or(false),
        invite: cx.input.bool("sendInviteNow")?.unwrap_or(false).then(|| invitation_format(&cx)),
    };
    let m = cx.app.store.write(op).await?;
    let list = cx.app.store.read(LabInstructors { caller: cx.caller, class_id: class }).await?;
    let position = list.iter().position(|(x, _)| x.membership.id == m.id).unwrap_or(list.len());
    let (member_row, pm) = list.get(position).cloned().ok_or_else(|| CsError::not_found("instructor"))?;
    Ok(wire::ok(&InstructorOut {
        id: ids::encode(Kind::Instructor, m.id.0),
        vup_id: pm.map(|pm| ids::encode(Kind::Member, pm.id.0)),
        email: member_row.user.email.clone(),
        name: member_row.user.name.clone(),
        is_lead_instructor: position == 0,
        is_invited: m.invited_at.is_some(),
        is_env_creation_disabled: m.env_creation_disabled,
    }))
}

/// How this server writes invitations: its public links, and CloudShare's dates.
fn invitation_format(cx: &Cx) -> InvitationFormat {
    InvitationFormat { public_base: cx.app.config.public_base_url.clone(), format_start: wire::format_date_in }
}

/// Remove an instructor from a class (a class keeps at least one).
#[utoipa::path(delete, path = "/api/v3/instructors/{ciId}",
    operation_id = "cloudshare_remove_class_instructor", tag = "cloudshare", params(("ciId" = String, Path)),
    responses(
        (status = 200, description = "Removed (an empty object)", body = Object), (status = 400, body = CsErrorBody),
        (status = 401, body = CsErrorBody), (status = 404, body = CsErrorBody)),
    security(("cs_sha1" = [])))]
pub async fn remove_instructor(cx: Cs, path: PathText) -> Result<Response, CsError> {
    let id = path.get("ciId");
    let instructor =
        ids::decode(Kind::Instructor, id).map(MembershipId).ok_or_else(|| CsError::not_found("instructor"))?;
    cx.app.store.write(RemoveInstructor { ctx: cx.ctx(), caller: cx.caller, instructor }).await?;
    Ok(wire::empty())
}
