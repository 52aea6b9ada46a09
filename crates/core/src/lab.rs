//! Virtual-lab classes (CloudShare's training classes): the project catalog they draw on,
//! their extra settings, and the rules for creating and changing them. The class itself is
//! an ordinary [`Class`](crate::class::Class): name, schedule, zone, capacity.

use jiff::{SignedDuration, Timestamp, civil};
use serde::Serialize;

use crate::class::{Class, ClassFields, ClassPatch};
use crate::error::{DomainError, Entity, Problem, Violation};
use crate::ids::{BlueprintId, CustomFieldId, PolicyId, ProjectId, ProjectMemberId, UserId};
use crate::patch::Patch;
use crate::time::{WhenInput, ZoneName};
use crate::windows_zones;

/// Largest capacity of a lab class.
pub const MAX_STUDENTS_MAX: i64 = 60;
pub const PASSPHRASE_MAX_CHARS: usize = 200;
pub const STUDENT_NAME_MAX_CHARS: usize = 100;
pub const INVITATION_SUBJECT_MAX_CHARS: usize = 500;
pub const INVITATION_BODY_MAX_CHARS: usize = 20_000;
pub const ADDRESS_PART_MAX_CHARS: usize = 200;
pub const FIELD_VALUE_MAX_CHARS: usize = 1_000;
/// Longest default class duration a policy may give: a year.
pub const POLICY_MINUTES_MAX: i64 = 525_600;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Project {
    pub id: ProjectId,
    pub name: String,
    pub is_active: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Policy {
    pub id: PolicyId,
    pub project_id: ProjectId,
    pub name: String,
    /// The runtime lease: a class's default duration.
    pub default_duration_minutes: u32,
    pub allow_environment_creation: bool,
    /// What a project manager set beyond the runtime lease, when the policy came from them.
    pub leases: Option<PolicyLeases>,
}

/// A policy's leases beyond the runtime one, kept as given (classhub runs no environments
/// for them to apply to).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyLeases {
    pub storage_minutes: u32,
    pub inactivity_handling: String,
    pub inactivity_threshold_minutes: u32,
}

/// A policy as a project manager asks for it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PolicyRequest {
    pub name: Option<String>,
    pub runtime_minutes: Option<i64>,
    pub storage_minutes: Option<i64>,
    pub inactivity_handling: Option<String>,
    pub inactivity_threshold_minutes: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Blueprint {
    pub id: BlueprintId,
    pub project_id: ProjectId,
    pub name: String,
    pub description: Option<String>,
    /// Six upper-case letters.
    pub token: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CustomField {
    pub id: CustomFieldId,
    pub project_id: ProjectId,
    pub name: String,
    pub order: i64,
    /// CloudShare's field type number, kept as given.
    pub kind: i64,
    pub is_required: bool,
    /// A pattern values must match (empty or absent: anything).
    pub regex: Option<String>,
    pub default_value: Option<String>,
}

/// A user's place in a project.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProjectMember {
    pub id: ProjectMemberId,
    pub project_id: ProjectId,
    pub user_id: UserId,
    pub can_instruct: bool,
    /// A project manager: may also create policies (and always instructs).
    pub can_manage: bool,
}

/// What a project member may do beyond reading the project's classes. A manager always
/// instructs as well.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MemberRights {
    pub can_instruct: bool,
    pub can_manage: bool,
}

impl MemberRights {
    pub fn new(can_instruct: bool, can_manage: bool) -> MemberRights {
        MemberRights { can_instruct: can_instruct || can_manage, can_manage }
    }
}

/// An email to queue: a plain-text part, and an HTML one when there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: Option<String>,
}

/// A postal address.
#[derive(Debug, Clone, Default, PartialEq, Serialize, serde::Deserialize)]
pub struct Address {
    pub address1: Option<String>,
    pub address2: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub zip_code: Option<String>,
    pub country: Option<String>,
}

/// A custom field's value on a class.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct FieldValue {
    pub field_id: CustomFieldId,
    pub value: Option<String>,
}

/// A lab class's settings beyond the ordinary class fields.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LabSettings {
    pub project_id: ProjectId,
    pub blueprint_id: BlueprintId,
    pub policy_id: PolicyId,
    /// Five lower-case letters and digits, unique; names the class in login links.
    pub short_id: String,
    /// The Windows time zone id the class was given (its IANA zone is the class's zone).
    pub windows_zone: String,
    pub passphrase: String,
    /// 0 allow early access, 1 instructor only, 2 none.
    pub limit_early_access: u8,
    pub use_custom_invitation_email: bool,
    pub custom_invitation_subject: Option<String>,
    pub custom_invitation_body: Option<String>,
    /// Students may register themselves (through a sponsored link).
    pub permit_non_registered: bool,
    pub address: Option<Address>,
    pub field_values: Vec<FieldValue>,
    pub self_paced: bool,
    pub allow_multiple_student_login: bool,
}

/// A lab class's state, derived from its dates, never stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LabStatus {
    Upcoming,
    InSession,
    Expired,
}

/// `upcoming` before the start, `in session` until the end, then `expired`; self-paced
/// classes stay in session from the start on.
pub fn status(start: Option<Timestamp>, end: Option<Timestamp>, self_paced: bool, now: Timestamp) -> LabStatus {
    match (start, end) {
        (Some(s), _) if now < s => LabStatus::Upcoming,
        (_, Some(e)) if now >= e && !self_paced => LabStatus::Expired,
        _ => LabStatus::InSession,
    }
}

/// A create or modify request, as the client wrote it. Absent fields keep their values on
/// modify; on create the required ones must be there.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LabRequest {
    pub name: Option<String>,
    pub project_id: Option<ProjectId>,
    pub blueprint_id: Option<BlueprintId>,
    pub policy_id: Option<PolicyId>,
    pub instructor: Option<ProjectMemberId>,
    /// Wall-clock times in `windows_zone` (or the stored zone).
    pub start: Option<civil::DateTime>,
    pub end: Patch<civil::DateTime>,
    pub windows_zone: Option<String>,
    pub passphrase: Option<String>,
    pub limit_early_access: Option<i64>,
    pub use_custom_invitation_email: Option<bool>,
    pub custom_invitation_subject: Patch<String>,
    pub custom_invitation_body: Patch<String>,
    pub permit_non_registered: Option<bool>,
    pub max_students: Patch<i64>,
    pub address: Patch<Address>,
    pub field_values: Option<Vec<FieldValue>>,
    pub self_paced: Option<bool>,
    pub allow_multiple_student_login: Option<bool>,
}

/// What the store found out about the catalog entries a request names, within the
/// class's project.
#[derive(Debug, Clone, Default)]
pub struct LabFacts {
    pub policy: Option<Policy>,
    pub blueprint: Option<Blueprint>,
    pub instructor: Option<ProjectMember>,
    /// The project's custom field definitions.
    pub fields: Vec<CustomField>,
    pub enrolled: u32,
}

/// A lab class as stored: its ordinary fields and its lab settings.
#[derive(Debug, Clone, PartialEq)]
pub struct LabClass {
    pub fields: ClassFields,
    pub lab: LabSettings,
}

/// Every field a new lab class needs is there.
pub fn check_required(req: &LabRequest) -> Result<(), DomainError> {
    let mut errors = Vec::new();
    for (field, present) in [
        ("name", req.name.is_some()),
        ("project_id", req.project_id.is_some()),
        ("blueprint_id", req.blueprint_id.is_some()),
        ("policy_id", req.policy_id.is_some()),
        ("instructor", req.instructor.is_some()),
        ("start_at", req.start.is_some()),
        ("timezone", req.windows_zone.is_some()),
        ("passphrase", req.passphrase.is_some()),
        ("limit_early_access", req.limit_early_access.is_some()),
    ] {
        if !present {
            errors.push(Violation::new(field, Problem::Required));
        }
    }
    if errors.is_empty() { Ok(()) } else { Err(DomainError::Invalid(errors)) }
}

/// The class and lab settings of a new lab class. Checks every rule; `short_id` is the
/// fresh short id the store drew.
pub fn create(req: &LabRequest, facts: &LabFacts, short_id: String) -> Result<LabClass, DomainError> {
    check_required(req)?;
    let (Some(project_id), Some(policy), Some(blueprint)) = (req.project_id, &facts.policy, &facts.blueprint) else {
        let mut errors = Vec::new();
        if facts.blueprint.is_none() {
            errors.push(Violation::new("blueprint_id", Problem::NotInProject(Entity::Blueprint)));
        }
        if facts.policy.is_none() {
            errors.push(Violation::new("policy_id", Problem::NotInProject(Entity::Policy)));
        }
        return Err(DomainError::Invalid(errors));
    };
    let lab = LabSettings {
        project_id,
        blueprint_id: blueprint.id,
        policy_id: policy.id,
        short_id,
        windows_zone: String::new(),
        passphrase: String::new(),
        limit_early_access: 0,
        use_custom_invitation_email: false,
        custom_invitation_subject: None,
        custom_invitation_body: None,
        permit_non_registered: false,
        address: None,
        field_values: Vec::new(),
        self_paced: false,
        allow_multiple_student_login: false,
    };
    let fields = ClassFields::blank();
    // Every field's default for a class that has none yet: required fields are present.
    let mut req = req.clone();
    if req.end.is_keep() {
        req.end = Patch::Clear;
    }
    let mut created = apply(&LabClass { fields, lab }, &req, facts, true)?;
    if created.fields.end_at.is_none()
        && let Some(start) = created.fields.start_at
    {
        let minutes = i64::from(policy.default_duration_minutes);
        created.fields.end_at = start.checked_add(SignedDuration::from_mins(minutes)).ok();
    }
    Ok(created)
}

/// A lab class after a modify request: fields present replace the stored ones, absent
/// ones stay; the project, blueprint and policy cannot change.
pub fn modify(current: &LabClass, req: &LabRequest, facts: &LabFacts) -> Result<LabClass, DomainError> {
    let mut errors = Vec::new();
    let lab = &current.lab;
    if req.project_id.is_some_and(|p| p != lab.project_id) {
        errors.push(Violation::new("project_id", Problem::Immutable));
    }
    if req.blueprint_id.is_some_and(|b| b != lab.blueprint_id) {
        errors.push(Violation::new("blueprint_id", Problem::Immutable));
    }
    if req.policy_id.is_some_and(|p| p != lab.policy_id) {
        errors.push(Violation::new("policy_id", Problem::Immutable));
    }
    if !errors.is_empty() {
        return Err(DomainError::Invalid(errors));
    }
    apply(current, req, facts, false)
}

fn apply(current: &LabClass, req: &LabRequest, facts: &LabFacts, creating: bool) -> Result<LabClass, DomainError> {
    let mut errors = Vec::new();
    let mut next = current.clone();

    // Name and capacity follow the ordinary class rules (maxStudents is capacity).
    let patch = ClassPatch {
        name: req.name.clone().map_or(Patch::Keep, Patch::Set),
        capacity: req.max_students.clone(),
        ..ClassPatch::default()
    };
    errors.extend(crate::class::check_fields(&patch));
    if let Some(name) = &req.name
        && let Ok(n) = crate::class::valid_name(name)
    {
        next.fields.name = n;
    }
    match req.max_students {
        Patch::Keep => {}
        Patch::Clear => next.fields.capacity = None,
        Patch::Set(m) if m > MAX_STUDENTS_MAX => {
            errors.push(Violation::new("capacity", Problem::AboveMax { max: MAX_STUDENTS_MAX }))
        }
        Patch::Set(m) => {
            if let Ok(c) = crate::class::valid_capacity(m) {
                next.fields.capacity = Some(c);
            }
        }
    }

    // The zone, then the dates read in it.
    let mut zone_ok = true;
    if let Some(id) = &req.windows_zone {
        match windows_zones::by_windows_id(id).and_then(|z| ZoneName::parse(z.iana).ok().map(|n| (z, n))) {
            Some((z, name)) => {
                next.lab.windows_zone = z.id.to_string();
                next.fields.timezone = Some(name);
            }
            None => {
                zone_ok = false;
                errors.push(Violation::new("timezone", Problem::UnknownTimeZone(id.clone())));
            }
        }
    }
    if zone_ok {
        let zone = next.fields.timezone.clone();
        let stored_zone = current.fields.timezone.clone();
        let resolve =
            |field: &'static str, dt: civil::DateTime, stored: Option<Timestamp>, errors: &mut Vec<Violation>| {
                // A wall-clock minute that names the stored instant (as the class shows it, in
                // its stored zone) keeps that instant: clients write back what they read, and
                // what they read has minutes only.
                if stored.is_some_and(|s| shown_minute(s, stored_zone.as_ref()) == Some(dt)) {
                    return stored;
                }
                WhenInput::Local(dt).resolve(zone.as_ref()).map_err(|p| errors.push(Violation::new(field, p))).ok()
            };
        if let Some(dt) = req.start
            && let Some(ts) = resolve("start_at", dt, current.fields.start_at, &mut errors)
        {
            next.fields.start_at = Some(ts);
        }
        match req.end {
            Patch::Keep => {}
            Patch::Clear => next.fields.end_at = None,
            Patch::Set(dt) => {
                if let Some(ts) = resolve("end_at", dt, current.fields.end_at, &mut errors) {
                    next.fields.end_at = Some(ts);
                }
            }
        }
        if let (Some(s), Some(e)) = (next.fields.start_at, next.fields.end_at)
            && e <= s
        {
            errors.push(Violation::new("end_at", Problem::EndNotAfterStart));
        }
    }

    if let Some(p) = &req.passphrase {
        match crate::text::check(p, PASSPHRASE_MAX_CHARS) {
            Ok(()) if p.trim().is_empty() => errors.push(Violation::new("passphrase", Problem::TooShort { min: 1 })),
            Ok(()) => next.lab.passphrase = p.clone(),
            Err(problem) => errors.push(Violation::new("passphrase", problem)),
        }
    }
    if let Some(l) = req.limit_early_access {
        match u8::try_from(l) {
            Ok(v @ 0..=2) => next.lab.limit_early_access = v,
            _ => errors.push(Violation::new("limit_early_access", Problem::NotOneOf(&["0", "1", "2"]))),
        }
    }
    if let Some(m) = req.instructor {
        match &facts.instructor {
            Some(member) if member.id == m && member.project_id == next.lab.project_id && member.can_instruct => {}
            _ => errors.push(Violation::new("instructor", Problem::NotAnInstructor)),
        }
    }
    if let Some(b) = req.use_custom_invitation_email {
        next.lab.use_custom_invitation_email = b;
    }
    next.lab.custom_invitation_subject =
        req.custom_invitation_subject.clone().apply(next.lab.custom_invitation_subject);
    next.lab.custom_invitation_body = req.custom_invitation_body.clone().apply(next.lab.custom_invitation_body);
    for (field, value, max) in [
        ("custom_invitation_subject", &next.lab.custom_invitation_subject, INVITATION_SUBJECT_MAX_CHARS),
        ("custom_invitation_body", &next.lab.custom_invitation_body, INVITATION_BODY_MAX_CHARS),
    ] {
        match value.as_deref().map(|v| crate::text::check(v, max)) {
            Some(Err(problem)) => errors.push(Violation::new(field, problem)),
            _ if next.lab.use_custom_invitation_email && value.as_deref().is_none_or(|s| s.trim().is_empty()) => {
                errors.push(Violation::new(field, Problem::RequiredWhen("use_custom_invitation_email")))
            }
            _ => {}
        }
    }
    if let Some(b) = req.permit_non_registered {
        next.lab.permit_non_registered = b;
    }
    if let Patch::Set(a) = &req.address {
        let parts = [&a.address1, &a.address2, &a.city, &a.state, &a.zip_code, &a.country];
        if let Some(problem) =
            parts.into_iter().flatten().find_map(|p| crate::text::check(p, ADDRESS_PART_MAX_CHARS).err())
        {
            errors.push(Violation::new("address", problem));
        }
    }
    next.lab.address = req.address.clone().apply(next.lab.address);
    if let Some(b) = req.self_paced {
        next.lab.self_paced = b;
    }
    if let Some(b) = req.allow_multiple_student_login {
        next.lab.allow_multiple_student_login = b;
    }
    if let Some(values) = &req.field_values {
        next.lab.field_values = values.clone();
    }
    if creating || req.field_values.is_some() {
        check_field_values(&next.lab.field_values, &facts.fields, &mut errors);
    }

    if !errors.is_empty() {
        return Err(DomainError::Invalid(errors));
    }
    if let Some(capacity) = next.fields.capacity
        && capacity < facts.enrolled
        && next.fields.capacity != current.fields.capacity
    {
        return Err(DomainError::CapacityBelowEnrolled { capacity, enrolled: facts.enrolled });
    }
    Ok(next)
}

/// Every value names a field of the project; required fields have a non-empty value; a
/// field's pattern, when it has one, matches its value. A value's problem is reported at
/// its position in the list.
fn check_field_values(values: &[FieldValue], fields: &[CustomField], errors: &mut Vec<Violation>) {
    const FIELD: &str = "field_values";
    for (i, v) in values.iter().enumerate() {
        let Some(field) = fields.iter().find(|f| f.id == v.field_id) else {
            errors.push(Violation::at(FIELD, i, Problem::NotInProject(Entity::CustomField)));
            continue;
        };
        let value = v.value.as_deref().unwrap_or("");
        if let Err(problem) = crate::text::check(value, FIELD_VALUE_MAX_CHARS) {
            errors.push(Violation::at(FIELD, i, problem));
            continue;
        }
        if let Some(pattern) = field.regex.as_deref().filter(|p| !p.is_empty())
            && !value.is_empty()
        {
            match regex::Regex::new(pattern) {
                Ok(re) if re.is_match(value) => {}
                Ok(_) => errors.push(Violation::at(
                    FIELD,
                    i,
                    Problem::PatternMismatch { name: field.name.clone(), pattern: pattern.to_string() },
                )),
                Err(_) => errors.push(Violation::at(FIELD, i, Problem::PatternBroken(field.name.clone()))),
            }
        }
    }
    for field in fields.iter().filter(|f| f.is_required) {
        let given = values.iter().find(|v| v.field_id == field.id).and_then(|v| v.value.as_deref());
        if given.is_none_or(|s| s.trim().is_empty()) {
            errors.push(Violation::new(FIELD, Problem::ValueRequired(field.name.clone())));
        }
    }
}

/// A new policy: a label and a default class duration of 1 minute to a year.
pub fn check_policy(name: &str, minutes: i64) -> Result<(String, u32), DomainError> {
    let mut errors = Vec::new();
    let name = crate::catalog::label("name", name, &mut errors);
    if minutes < 1 {
        errors.push(Violation::new("default_duration_minutes", Problem::BelowMin { min: 1 }));
    } else if minutes > POLICY_MINUTES_MAX {
        errors.push(Violation::new("default_duration_minutes", Problem::AboveMax { max: POLICY_MINUTES_MAX }));
    }
    crate::catalog::done((name, u32::try_from(minutes).unwrap_or(u32::MAX)), errors)
}

/// Longest inactivity-handling name.
pub const INACTIVITY_HANDLING_MAX_CHARS: usize = 100;

/// A policy a project member asks for: only managers of the project may make one (others
/// are refused; a project they are not in does not exist for them); then a name, a runtime
/// lease as `check_policy` allows, and the other leases within a year.
pub fn decide_project_policy(
    member: Option<&ProjectMember>,
    request: &PolicyRequest,
) -> Result<(String, u32, PolicyLeases), DomainError> {
    match member {
        None => return Err(DomainError::NotFound(Entity::Project)),
        Some(m) if !m.can_manage => return Err(DomainError::Forbidden),
        Some(_) => {}
    }
    let mut errors = Vec::new();
    let minutes = |field: &'static str, value: Option<i64>, min: i64, errors: &mut Vec<Violation>| match value {
        None => {
            errors.push(Violation::new(field, Problem::Required));
            0
        }
        Some(v) if v < min => {
            errors.push(Violation::new(field, Problem::BelowMin { min }));
            0
        }
        Some(v) if v > POLICY_MINUTES_MAX => {
            errors.push(Violation::new(field, Problem::AboveMax { max: POLICY_MINUTES_MAX }));
            0
        }
        Some(v) => u32::try_from(v).unwrap_or(u32::MAX),
    };
    let name = match &request.name {
        Some(n) => crate::catalog::label("name", n, &mut errors),
        None => {
            errors.push(Violation::new("name", Problem::Required));
            String::new()
        }
    };
    let runtime = minutes("default_duration_minutes", request.runtime_minutes, 1, &mut errors);
    let storage = minutes("storage_lease_minutes", request.storage_minutes.or(Some(0)), 0, &mut errors);
    let threshold =
        minutes("inactivity_threshold_minutes", request.inactivity_threshold_minutes.or(Some(0)), 0, &mut errors);
    let handling = request.inactivity_handling.clone().unwrap_or_default();
    crate::catalog::text("inactivity_handling", Some(&handling), INACTIVITY_HANDLING_MAX_CHARS, &mut errors);
    let leases = PolicyLeases {
        storage_minutes: storage,
        inactivity_handling: handling,
        inactivity_threshold_minutes: threshold,
    };
    crate::catalog::done((name, runtime, leases), errors)
}

/// What an administrator changes of a project (`None`: unchanged).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProjectPatch {
    pub name: Option<String>,
    /// `false`: nobody can create classes in the project; its classes stay.
    pub is_active: Option<bool>,
}

/// The project after `patch`, its name checked as a new one's is.
pub fn apply_project_patch(current: &Project, patch: ProjectPatch) -> Result<Project, DomainError> {
    let mut errors = Vec::new();
    let name = patch.name.map_or_else(|| current.name.clone(), |n| crate::catalog::label("name", &n, &mut errors));
    let is_active = patch.is_active.unwrap_or(current.is_active);
    crate::catalog::done(Project { id: current.id, name, is_active }, errors)
}

/// What an administrator changes of a policy (`None`: unchanged).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PolicyPatch {
    pub name: Option<String>,
    pub default_duration_minutes: Option<i64>,
}

/// The policy after `patch`, checked as `check_policy` checks a new one. Classes made
/// before keep the end they were given.
pub fn apply_policy_patch(current: &Policy, patch: PolicyPatch) -> Result<Policy, DomainError> {
    let name = patch.name.unwrap_or_else(|| current.name.clone());
    let minutes = patch.default_duration_minutes.unwrap_or(i64::from(current.default_duration_minutes));
    let (name, default_duration_minutes) = check_policy(&name, minutes)?;
    Ok(Policy { name, default_duration_minutes, ..current.clone() })
}

/// What an administrator changes of a blueprint; its token never changes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BlueprintPatch {
    pub name: Option<String>,
    pub description: Patch<String>,
}

pub fn apply_blueprint_patch(current: &Blueprint, patch: BlueprintPatch) -> Result<Blueprint, DomainError> {
    let mut errors = Vec::new();
    let name = patch.name.map_or_else(|| current.name.clone(), |n| crate::catalog::label("name", &n, &mut errors));
    let description = patch.description.apply(current.description.clone());
    crate::catalog::text("description", description.as_deref(), BLUEPRINT_DESCRIPTION_MAX_CHARS, &mut errors);
    crate::catalog::done(Blueprint { name, description, ..current.clone() }, errors)
}

/// Longest blueprint description.
pub const BLUEPRINT_DESCRIPTION_MAX_CHARS: usize = 2_000;

/// What an administrator changes of a custom field definition. Values classes already
/// hold stay as they are; the pattern and `is_required` apply to the next change of a class.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FieldPatch {
    pub name: Option<String>,
    pub order: Option<i64>,
    pub kind: Option<i64>,
    pub is_required: Option<bool>,
    pub regex: Patch<String>,
    pub default_value: Patch<String>,
}

/// The custom field after `patch`, checked as a new one is.
pub fn apply_field_patch(current: &CustomField, patch: FieldPatch) -> Result<CustomField, DomainError> {
    let after = CustomField {
        name: patch.name.unwrap_or_else(|| current.name.clone()),
        order: patch.order.unwrap_or(current.order),
        kind: patch.kind.unwrap_or(current.kind),
        is_required: patch.is_required.unwrap_or(current.is_required),
        regex: patch.regex.apply(current.regex.clone()),
        default_value: patch.default_value.apply(current.default_value.clone()),
        ..current.clone()
    };
    check_field(after)
}

/// A custom field definition as it may be stored: a label, a default value of at most
/// [`FIELD_VALUE_MAX_CHARS`], a pattern that compiles.
pub fn check_field(field: CustomField) -> Result<CustomField, DomainError> {
    let mut errors = Vec::new();
    let name = crate::catalog::label("name", &field.name, &mut errors);
    crate::catalog::text("default_value", field.default_value.as_deref(), FIELD_VALUE_MAX_CHARS, &mut errors);
    let field = crate::catalog::done(CustomField { name, ..field }, errors)?;
    check_pattern(field.regex.as_deref())?;
    Ok(field)
}

/// A member's rights after a change (`None`: unchanged); a manager always instructs.
pub fn apply_rights(current: &ProjectMember, can_instruct: Option<bool>, can_manage: Option<bool>) -> ProjectMember {
    let rights =
        MemberRights::new(can_instruct.unwrap_or(current.can_instruct), can_manage.unwrap_or(current.can_manage));
    ProjectMember { can_instruct: rights.can_instruct, can_manage: rights.can_manage, ..current.clone() }
}

/// Classes are created only in an active project (a member of an inactive one is told so).
pub fn decide_project_open(project: Option<&Project>) -> Result<(), DomainError> {
    match project {
        Some(p) if !p.is_active => Err(DomainError::invalid("project_id", Problem::Inactive(Entity::Project))),
        _ => Ok(()),
    }
}

/// A project, policy or blueprint may be deleted only while no class uses it (classes
/// cannot be without one); an administrator disables a project instead.
pub fn decide_removal(entity: Entity, classes: u64) -> Result<(), DomainError> {
    if classes > 0 { Err(DomainError::InUse { entity, classes }) } else { Ok(()) }
}

/// Checks a custom field definition's pattern.
pub fn check_pattern(pattern: Option<&str>) -> Result<(), DomainError> {
    match pattern.filter(|p| !p.is_empty()) {
        Some(p) => {
            crate::text::check(p, FIELD_VALUE_MAX_CHARS).map_err(|problem| DomainError::invalid("regex", problem))?;
            regex::Regex::new(p)
                .map(drop)
                .map_err(|e| DomainError::invalid("regex", Problem::Other(format!("regex does not compile: {e}"))))
        }
        None => Ok(()),
    }
}

pub const DEFAULT_INVITATION_SUBJECT: &str = "${CourseName} - Virtual Lab Access";
pub const DEFAULT_INVITATION_BODY: &str =
    "You have been invited to access your own private ${BlueprintName} virtual lab (using CloudShare)";

/// The values an invitation's placeholders are filled with.
#[derive(Debug, Clone, Default)]
pub struct InvitationValues<'a> {
    pub course_name: &'a str,
    pub blueprint_name: &'a str,
    pub first_name: &'a str,
    pub email: &'a str,
    pub student_passphrase: &'a str,
    pub start_time: &'a str,
    pub time_zone: &'a str,
    pub student_login_url: &'a str,
}

/// An invitation: the class's template (its custom one when it uses one, else the default)
/// with every placeholder filled in, as plain text and as HTML. A template that does not
/// place the sign-in link itself — the default never does — is followed by what a student
/// needs to join: the personal sign-in link, the passphrase, and when the class starts.
pub fn invitation(lab: &LabSettings, v: &InvitationValues<'_>) -> Email {
    let (subject, body) = if lab.use_custom_invitation_email {
        (
            lab.custom_invitation_subject.as_deref().unwrap_or(DEFAULT_INVITATION_SUBJECT),
            lab.custom_invitation_body.as_deref().unwrap_or(DEFAULT_INVITATION_BODY),
        )
    } else {
        (DEFAULT_INVITATION_SUBJECT, DEFAULT_INVITATION_BODY)
    };
    let fill = |t: &str| {
        t.replace("${CourseName}", v.course_name)
            .replace("${BlueprintName}", v.blueprint_name)
            .replace("${FirstName}", v.first_name)
            .replace("${Email}", v.email)
            .replace("${StudentPassphrase}", v.student_passphrase)
            .replace("${StartTime}", v.start_time)
            .replace("${TimeZone}", v.time_zone)
            .replace("${StudentLoginUrl}", v.student_login_url)
    };
    let intro = fill(body);
    let mut text = intro.clone();
    let mut html = format!("<p>{}</p>", paragraph_html(&intro));
    if !body.contains("${StudentLoginUrl}") {
        let mut lines = vec![format!("Sign in to {}: {}", v.course_name, v.student_login_url)];
        let mut html_lines = vec![format!(
            "<a href=\"{}\">Sign in to {}</a>",
            escape_html(v.student_login_url),
            escape_html(v.course_name)
        )];
        if !v.student_passphrase.is_empty() {
            lines.push(format!("Passphrase: {}", v.student_passphrase));
            html_lines.push(format!("Passphrase: <b>{}</b>", escape_html(v.student_passphrase)));
        }
        if !v.start_time.is_empty() {
            let when = if v.time_zone.is_empty() {
                v.start_time.to_string()
            } else {
                format!("{} {}", v.start_time, v.time_zone)
            };
            lines.push(format!("Starts: {when}"));
            html_lines.push(format!("Starts: {}", escape_html(&when)));
        }
        text = format!("{text}\n\n{}\n", lines.join("\n"));
        html.push_str(&format!("<p>{}</p>", html_lines.join("<br>")));
    }
    let html = format!("<!doctype html><html><body>{html}</body></html>");
    Email { to: v.email.to_string(), subject: fill(subject), text, html: Some(html) }
}

/// What an instructor's invitation says.
#[derive(Debug, Clone, Default)]
pub struct InstructorInvitation<'a> {
    pub course_name: &'a str,
    pub blueprint_name: &'a str,
    pub name: &'a str,
    pub email: &'a str,
    pub start_time: &'a str,
    pub time_zone: &'a str,
    /// Where the class's students sign in.
    pub class_url: &'a str,
}

/// The email telling a member they instruct a class now.
pub fn instructor_invitation(v: &InstructorInvitation<'_>) -> Email {
    let when = match (v.start_time.is_empty(), v.time_zone.is_empty()) {
        (true, _) => String::new(),
        (false, true) => format!(", starting {}", v.start_time),
        (false, false) => format!(", starting {} {}", v.start_time, v.time_zone),
    };
    let text = format!(
        "{}, you have been added as an instructor of {} ({} virtual lab){when}.\n\nStudents sign in at {}\n",
        v.name, v.course_name, v.blueprint_name, v.class_url
    );
    let html = format!(
        "<!doctype html><html><body><p>{}, you have been added as an instructor of <b>{}</b> ({} virtual lab){}.</p>\
         <p>Students sign in at <a href=\"{url}\">{url}</a></p></body></html>",
        escape_html(v.name),
        escape_html(v.course_name),
        escape_html(v.blueprint_name),
        escape_html(&when),
        url = escape_html(v.class_url),
    );
    Email { to: v.email.to_string(), subject: format!("{} - Instructor Access", v.course_name), text, html: Some(html) }
}

/// Text as HTML: escaped, its line breaks kept.
fn paragraph_html(text: &str) -> String {
    escape_html(text).replace("\r\n", "\n").replace('\n', "<br>")
}

/// Text escaped for HTML content and attribute values.
pub fn escape_html(text: &str) -> String {
    html_escape::encode_double_quoted_attribute(text).into_owned()
}

/// Whether a text could be a short id (five lower-case letters and digits); anything else
/// names no class and is not looked up.
pub fn short_id_shaped(s: &str) -> bool {
    s.len() == 5 && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// A fresh short id: five lower-case letters and digits.
pub fn generate_short_id(rng: &mut impl rand::Rng) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    (0..5).map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char).collect()
}

/// A fresh blueprint token: six upper-case letters.
pub fn generate_blueprint_token(rng: &mut impl rand::Rng) -> String {
    (0..6).map(|_| rng.random_range(b'A'..=b'Z') as char).collect()
}

/// Where a student of a lab class stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum StudentState {
    /// Registered, not yet invited.
    Registered,
    /// An invitation has been queued.
    Invited,
    /// Signed in (through a sponsored link).
    LoggedIn,
}

/// A student's name and email, as given.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct StudentProfile {
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
}

/// A checked profile: a plausible email (lower-cased) and names of at most 100 characters.
pub fn check_profile(p: &StudentProfile, creating: bool) -> Result<StudentProfile, DomainError> {
    let mut errors = Vec::new();
    let email = p.email.as_deref().map(crate::user::normalize_email);
    match &email {
        None if creating => errors.push(Violation::new("email", Problem::Required)),
        Some(e) => {
            if let Err(problem) = crate::user::valid_email(e) {
                errors.push(Violation::new("email", problem));
            }
        }
        None => {}
    }
    let name = |field: &'static str, v: &Option<String>, errors: &mut Vec<Violation>| {
        let v = v.as_ref().map(|s| s.trim().to_string());
        if let Some(Err(problem)) = v.as_deref().map(|s| crate::text::check(s, STUDENT_NAME_MAX_CHARS)) {
            errors.push(Violation::new(field, problem));
        }
        v
    };
    let first_name = name("first_name", &p.first_name, &mut errors);
    let last_name = name("last_name", &p.last_name, &mut errors);
    if errors.is_empty() {
        Ok(StudentProfile { email, first_name, last_name })
    } else {
        Err(DomainError::Invalid(errors))
    }
}

/// A lab class's instant as the class shows it: the wall-clock minute in `zone` (UTC when
/// none).
fn shown_minute(ts: Timestamp, zone: Option<&ZoneName>) -> Option<civil::DateTime> {
    let tz = zone.map_or(jiff::tz::TimeZone::UTC, ZoneName::time_zone);
    ts.to_zoned(tz).datetime().with().second(0).subsec_nanosecond(0).build().ok()
}

/// Who may do what with a lab class: members of its project may read it, members who can
/// instruct may change it (the others are refused), and anyone else is told it does not
/// exist.
pub fn access(member: Option<&ProjectMember>, manage: bool) -> Result<(), DomainError> {
    match member {
        None => Err(DomainError::NotFound(Entity::Class)),
        Some(m) if manage && !m.can_instruct => Err(DomainError::Forbidden),
        Some(_) => Ok(()),
    }
}

/// A new student of a class: a valid profile (`check_profile` made it), an email no student
/// of the class has yet, and a free seat — refused in that order.
pub fn decide_new_student(email_taken: bool, class: &Class) -> Result<(), DomainError> {
    if email_taken {
        return Err(DomainError::AlreadyExists(Entity::Student));
    }
    if class.is_full() {
        return Err(DomainError::ClassFull);
    }
    Ok(())
}

/// A student's profile after a checked change: names change freely; the email only while
/// the student has not signed in, and not to an email another student of the class has.
/// `None` when nothing changes.
pub fn decide_student_change(
    current: &StudentProfile,
    change: &StudentProfile,
    logged_in: bool,
    email_taken: bool,
) -> Result<Option<StudentProfile>, DomainError> {
    let after = StudentProfile {
        email: change.email.clone().or_else(|| current.email.clone()),
        first_name: change.first_name.clone().or_else(|| current.first_name.clone()),
        last_name: change.last_name.clone().or_else(|| current.last_name.clone()),
    };
    if after.email != current.email {
        if logged_in {
            return Err(DomainError::invalid("email", Problem::LockedAfterLogin));
        }
        if email_taken {
            return Err(DomainError::AlreadyExists(Entity::Student));
        }
    }
    Ok((after != *current).then_some(after))
}

/// Whether making a sponsored link registers its student: not when already registered;
/// when asked to, or when the class lets students register themselves (a seat is needed);
/// otherwise the link is refused.
pub fn decide_link(
    registered: bool,
    pre_register: bool,
    lab: &LabSettings,
    class: &Class,
) -> Result<bool, DomainError> {
    if registered {
        return Ok(false);
    }
    if !(pre_register || lab.permit_non_registered) {
        return Err(DomainError::invalid("email", Problem::NotRegistered));
    }
    decide_new_student(false, class)?;
    Ok(true)
}

/// A sponsored link as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Link {
    pub class_id: crate::ids::ClassId,
    pub email: String,
    pub disabled: bool,
}

/// Signing in with a sponsored link: the link must be live and of this class; a student who
/// is not registered (removed since) is registered again when the class permits it.
/// Returns whether to register.
pub fn decide_login(
    link: Option<&Link>,
    class: &Class,
    lab: &LabSettings,
    registered: bool,
) -> Result<bool, DomainError> {
    let unknown = || DomainError::NotFound(Entity::SponsoredLink);
    link.filter(|l| l.class_id == class.id && !l.disabled).ok_or_else(unknown)?;
    if registered {
        return Ok(false);
    }
    if !lab.permit_non_registered {
        return Err(unknown());
    }
    decide_new_student(false, class)?;
    Ok(true)
}

/// A new instructor of a class: a member of the class's project who can instruct, not an
/// instructor of it already.
pub fn decide_new_instructor(
    member: Option<&ProjectMember>,
    project: ProjectId,
    already: bool,
) -> Result<(), DomainError> {
    member.filter(|m| m.project_id == project && m.can_instruct).ok_or(DomainError::NotFound(Entity::ProjectMember))?;
    if already {
        return Err(DomainError::AlreadyExists(Entity::Instructor));
    }
    Ok(())
}

/// A class keeps at least one instructor.
pub fn decide_instructor_removal(instructors: usize) -> Result<(), DomainError> {
    if instructors <= 1 { Err(DomainError::invalid("instructor", Problem::LastInstructor)) } else { Ok(()) }
}

/// The instructors in their new order when `lead` becomes the lead (first) instructor: the
/// others keep their order after it.
pub fn lead_first(current: &[UserId], lead: UserId) -> Vec<UserId> {
    std::iter::once(lead).chain(current.iter().copied().filter(|u| *u != lead)).collect()
}

/// The display name of a student: first and last name, else the email.
pub fn student_name(p: &StudentProfile) -> String {
    let joined = [p.first_name.as_deref(), p.last_name.as_deref()]
        .into_iter()
        .flatten()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    if joined.is_empty() { p.email.clone().unwrap_or_default() } else { joined }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::ClassId;

    fn policy() -> Policy {
        Policy {
            id: PolicyId(1),
            project_id: ProjectId(1),
            name: "2 hours".into(),
            default_duration_minutes: 120,
            allow_environment_creation: true,
            leases: None,
        }
    }

    fn facts() -> LabFacts {
        LabFacts {
            policy: Some(policy()),
            blueprint: Some(Blueprint {
                id: BlueprintId(1),
                project_id: ProjectId(1),
                name: "bp".into(),
                description: None,
                token: "ABCDEF".into(),
            }),
            instructor: Some(ProjectMember {
                id: ProjectMemberId(1),
                project_id: ProjectId(1),
                user_id: UserId(1),
                can_instruct: true,
                can_manage: false,
            }),
            fields: vec![CustomField {
                id: CustomFieldId(1),
                project_id: ProjectId(1),
                name: "clientId".into(),
                order: 1,
                kind: 0,
                is_required: true,
                regex: Some("^[0-9]+$".into()),
                default_value: None,
            }],
            enrolled: 0,
        }
    }

    fn request() -> LabRequest {
        LabRequest {
            name: Some("Lab".into()),
            project_id: Some(ProjectId(1)),
            blueprint_id: Some(BlueprintId(1)),
            policy_id: Some(PolicyId(1)),
            instructor: Some(ProjectMemberId(1)),
            start: Some("2030-02-11T00:00:00".parse().unwrap()),
            windows_zone: Some("Eastern Standard Time".into()),
            passphrase: Some("secret".into()),
            limit_early_access: Some(0),
            field_values: Some(vec![FieldValue { field_id: CustomFieldId(1), value: Some("1234".into()) }]),
            ..LabRequest::default()
        }
    }

    fn messages(r: Result<LabClass, DomainError>) -> Vec<String> {
        match r {
            Err(DomainError::Invalid(v)) => v
                .into_iter()
                .map(|v| match v.index {
                    Some(i) => format!("{}[{i}]: {}", v.field, v.problem),
                    None => format!("{}: {}", v.field, v.problem),
                })
                .collect(),
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    #[test]
    fn create_reads_dates_in_the_windows_zone_and_defaults_the_end() {
        let c = create(&request(), &facts(), "ab12c".into()).unwrap();
        assert_eq!(c.fields.timezone.as_ref().unwrap().as_str(), "America/New_York");
        assert_eq!(c.fields.start_at.unwrap().to_string(), "2030-02-11T05:00:00Z");
        assert_eq!(c.fields.end_at.unwrap().to_string(), "2030-02-11T07:00:00Z");
        assert_eq!(c.lab.windows_zone, "Eastern Standard Time");
    }

    #[test]
    fn create_requires_its_fields() {
        let m = messages(create(&LabRequest::default(), &facts(), "x".into()));
        assert_eq!(m.len(), 9);
        assert_eq!(m[0], "name: field required");
    }

    #[test]
    fn create_checks_values() {
        let mut r = request();
        r.limit_early_access = Some(3);
        r.max_students = Patch::Set(61);
        r.windows_zone = Some("Mars Standard Time".into());
        r.field_values = Some(vec![FieldValue { field_id: CustomFieldId(1), value: Some("abc".into()) }]);
        let m = messages(create(&r, &facts(), "x".into()));
        assert_eq!(
            m,
            [
                "capacity: must be less than or equal to 60",
                "timezone: unknown time zone \"Mars Standard Time\"",
                "limit_early_access: must be 0, 1 or 2",
                "field_values[0]: clientId does not match its pattern ^[0-9]+$",
            ]
        );
        let mut r = request();
        r.field_values = Some(vec![]);
        r.end = Patch::Set("2030-02-10T00:00:00".parse().unwrap());
        r.use_custom_invitation_email = Some(true);
        let m = messages(create(&r, &facts(), "x".into()));
        assert_eq!(
            m,
            [
                "end_at: end_at must be after start_at",
                "custom_invitation_subject: is required when use_custom_invitation_email is true",
                "custom_invitation_body: is required when use_custom_invitation_email is true",
                "field_values: clientId is required",
            ]
        );
    }

    #[test]
    fn modify_keeps_what_is_absent_and_refuses_catalog_changes() {
        let c = create(&request(), &facts(), "ab12c".into()).unwrap();
        let m = modify(&c, &LabRequest { name: Some("New".into()), ..LabRequest::default() }, &facts()).unwrap();
        assert_eq!((m.fields.name.as_str(), m.fields.start_at), ("New", c.fields.start_at));
        let r = LabRequest { policy_id: Some(PolicyId(2)), ..LabRequest::default() };
        assert_eq!(messages(modify(&c, &r, &facts())), ["policy_id: cannot be changed"]);
        let full = LabFacts { enrolled: 3, ..facts() };
        let r = LabRequest { max_students: Patch::Set(2), ..LabRequest::default() };
        assert_eq!(modify(&c, &r, &full), Err(DomainError::CapacityBelowEnrolled { capacity: 2, enrolled: 3 }));
        let _ = ClassId(0);
    }

    #[test]
    fn the_minute_a_class_shows_keeps_its_instant() {
        let mut c = create(&request(), &facts(), "ab12c".into()).unwrap();
        let stored: Timestamp = "2030-02-11T05:00:42.5Z".parse().unwrap();
        c.fields.start_at = Some(stored);
        let same = LabRequest { start: Some("2030-02-11T00:00:00".parse().unwrap()), ..LabRequest::default() };
        assert_eq!(modify(&c, &same, &facts()).unwrap().fields.start_at, Some(stored));
        let other = LabRequest { start: Some("2030-02-11T00:01:00".parse().unwrap()), ..LabRequest::default() };
        assert_eq!(modify(&c, &other, &facts()).unwrap().fields.start_at.unwrap().to_string(), "2030-02-11T05:01:00Z");
    }

    #[test]
    fn decisions() {
        let member = |can_instruct| ProjectMember {
            id: ProjectMemberId(1),
            project_id: ProjectId(1),
            user_id: UserId(1),
            can_instruct,
            can_manage: false,
        };
        assert_eq!(access(None, false), Err(DomainError::NotFound(Entity::Class)));
        assert_eq!(access(Some(&member(false)), true), Err(DomainError::Forbidden));
        assert_eq!(access(Some(&member(false)), false), Ok(()));
        assert_eq!(
            decide_new_instructor(Some(&member(true)), ProjectId(2), false),
            Err(DomainError::NotFound(Entity::ProjectMember))
        );
        assert_eq!(
            decide_new_instructor(Some(&member(true)), ProjectId(1), true),
            Err(DomainError::AlreadyExists(Entity::Instructor))
        );
        assert!(decide_instructor_removal(1).is_err() && decide_instructor_removal(2).is_ok());
        let u = |v: &[i64]| v.iter().map(|&i| UserId(i)).collect::<Vec<_>>();
        assert_eq!(lead_first(&u(&[1, 2, 3]), UserId(3)), u(&[3, 1, 2]));
        assert_eq!(lead_first(&u(&[1, 2]), UserId(9)), u(&[9, 1, 2]));
        let p = |e: &str| StudentProfile { email: Some(e.into()), first_name: None, last_name: None };
        assert_eq!(
            decide_student_change(&p("a@x"), &p("b@x"), true, false),
            Err(DomainError::invalid("email", Problem::LockedAfterLogin))
        );
        assert_eq!(
            decide_student_change(&p("a@x"), &p("b@x"), false, true),
            Err(DomainError::AlreadyExists(Entity::Student))
        );
        assert_eq!(decide_student_change(&p("a@x"), &p("a@x"), true, false), Ok(None));
    }

    #[test]
    fn only_managers_make_policies() {
        let member = |can_manage| ProjectMember {
            id: ProjectMemberId(1),
            project_id: ProjectId(1),
            user_id: UserId(1),
            can_instruct: true,
            can_manage,
        };
        let request = PolicyRequest {
            name: Some(" 3 days ".into()),
            runtime_minutes: Some(4320),
            storage_minutes: Some(4320),
            inactivity_handling: Some("SuspendTheEnvironment".into()),
            inactivity_threshold_minutes: Some(15),
        };
        assert_eq!(decide_project_policy(None, &request), Err(DomainError::NotFound(Entity::Project)));
        assert_eq!(decide_project_policy(Some(&member(false)), &request), Err(DomainError::Forbidden));
        let (name, runtime, leases) = decide_project_policy(Some(&member(true)), &request).unwrap();
        assert_eq!(
            (name.as_str(), runtime, leases.storage_minutes, leases.inactivity_threshold_minutes),
            ("3 days", 4320, 4320, 15)
        );
        let bad = PolicyRequest { name: None, runtime_minutes: Some(0), storage_minutes: Some(-1), ..request };
        let Err(DomainError::Invalid(v)) = decide_project_policy(Some(&member(true)), &bad) else { panic!() };
        let fields: Vec<&str> = v.iter().map(|v| v.field).collect();
        assert_eq!(fields, ["name", "default_duration_minutes", "storage_lease_minutes"]);
    }

    #[test]
    fn status_follows_the_dates() {
        let t = |s: &str| Some(s.parse::<Timestamp>().unwrap());
        let (start, end) = (t("2030-01-01T00:00:00Z"), t("2030-01-02T00:00:00Z"));
        assert_eq!(status(start, end, false, t("2029-12-31T00:00:00Z").unwrap()), LabStatus::Upcoming);
        assert_eq!(status(start, end, false, t("2030-01-01T12:00:00Z").unwrap()), LabStatus::InSession);
        assert_eq!(status(start, end, false, t("2030-01-03T00:00:00Z").unwrap()), LabStatus::Expired);
        assert_eq!(status(start, end, true, t("2030-01-03T00:00:00Z").unwrap()), LabStatus::InSession);
    }

    #[test]
    fn invitations_fill_placeholders() {
        let c = create(&request(), &facts(), "ab12c".into()).unwrap();
        let v = InvitationValues {
            course_name: "Lab <1>",
            blueprint_name: "Linux",
            email: "ann@example.com",
            student_passphrase: "open sesame",
            start_time: "02/11/2030 09:00 AM",
            time_zone: "(UTC-05:00) Eastern Time (US & Canada)",
            student_login_url: "https://h/Class/ab12c?token=t&x=1",
            ..InvitationValues::default()
        };
        let email = invitation(&c.lab, &v);
        assert_eq!((email.to.as_str(), email.subject.as_str()), ("ann@example.com", "Lab <1> - Virtual Lab Access"));
        assert_eq!(
            email.text,
            "You have been invited to access your own private Linux virtual lab (using CloudShare)\n\n\
             Sign in to Lab <1>: https://h/Class/ab12c?token=t&x=1\nPassphrase: open sesame\n\
             Starts: 02/11/2030 09:00 AM (UTC-05:00) Eastern Time (US & Canada)\n"
        );
        let html = email.html.unwrap();
        assert!(
            html.contains("<a href=\"https://h/Class/ab12c?token=t&amp;x=1\">Sign in to Lab &lt;1&gt;</a>"),
            "{html}"
        );
        // A custom template that places the link itself gets no details appended.
        let mut lab = c.lab.clone();
        lab.use_custom_invitation_email = true;
        lab.custom_invitation_subject = Some("${CourseName}".into());
        lab.custom_invitation_body = Some("Hi ${FirstName}\nGo: ${StudentLoginUrl} (${StudentPassphrase})".into());
        let custom = invitation(&lab, &InvitationValues { first_name: "Ann", ..v });
        assert_eq!(custom.text, "Hi Ann\nGo: https://h/Class/ab12c?token=t&x=1 (open sesame)");
        assert!(
            custom.html.unwrap().contains("<p>Hi Ann<br>Go: https://h/Class/ab12c?token=t&amp;x=1 (open sesame)</p>")
        );
    }

    #[test]
    fn generated_ids() {
        let mut rng = rand::rng();
        let s = generate_short_id(&mut rng);
        assert!(s.len() == 5 && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()));
        let t = generate_blueprint_token(&mut rng);
        assert!(t.len() == 6 && t.bytes().all(|b| b.is_ascii_uppercase()));
        assert!(check_pattern(Some("(")).is_err());
        assert!(check_pattern(Some("^a+$")).is_ok());
    }
}
