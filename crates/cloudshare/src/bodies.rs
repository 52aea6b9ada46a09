//! The request bodies, as the document describes them. Handlers read bodies leniently
//! (keys in any case, numbers and booleans as text: `wire::Input`), so these types are
//! descriptions, not parsers; the dispatcher ties the two together: in debug builds it logs
//! an error when an endpoint reads a name its documented body and query lack, or succeeds
//! without reading a documented name the request carried (`audit_names`, which the
//! schemathesis run in CI fails on).
#![allow(dead_code)]

use utoipa::ToSchema;

/// A class's postal address.
#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct AddressInput {
    address1: Option<String>,
    address2: Option<String>,
    city: Option<String>,
    state: Option<String>,
    zip_code: Option<String>,
    /// A country code of `GET /class/actions/countries`.
    country: Option<String>,
}

/// The value of one of the project's custom fields.
#[derive(ToSchema)]
pub struct FieldValueInput {
    /// A `TF…` id of the project's fields.
    id: String,
    value: Option<String>,
}

/// A new class. `endDate` defaults to `startDate` plus the policy's duration.
#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct ClassInput {
    name: Option<String>,
    /// `PJ…`.
    project_id: Option<String>,
    /// `BP…`.
    blueprint_id: Option<String>,
    /// `PO…`.
    policy_id: Option<String>,
    /// `VP…`: a member of the project who can instruct.
    instructor_vup_id: Option<String>,
    /// `MM/DD/YYYY hh:mm AM` (or ISO 8601), in the class's time zone.
    start_date: Option<String>,
    end_date: Option<String>,
    /// A Windows time zone id of `GET /timezones`.
    time_zone_id: Option<String>,
    student_passphrase: Option<String>,
    /// Minutes before the start when students may enter.
    limit_early_access: Option<i64>,
    use_custom_invitation_email: Option<bool>,
    custom_invitation_email_subject: Option<String>,
    custom_invitation_email_body: Option<String>,
    permit_access_to_non_registered_student: Option<bool>,
    /// Seats; `null` for no limit.
    #[schema(minimum = 0)]
    max_students: Option<i64>,
    address: Option<AddressInput>,
    custom_fields_values: Option<Vec<FieldValueInput>>,
    self_paced: Option<bool>,
    allow_multiple_student_login: Option<bool>,
}

/// A change of a class: the fields present replace the stored ones.
#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct ClassChange {
    /// The class (`CL…`); equal to the URL's when the URL has one.
    id: String,
    #[serde(flatten)]
    fields: ClassInput,
}

/// A student's profile.
#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct StudentInput {
    #[schema(format = "email")]
    email: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
}

/// A link that signs a student in.
#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct SponsoredLinkInput {
    class_id: String,
    #[schema(format = "email")]
    student_email: String,
    student_first_name: Option<String>,
    student_last_name: Option<String>,
    /// Register the student now rather than at the first sign-in.
    pre_register_student: Option<bool>,
}

/// Disables a student's sponsored link.
#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct DisableSponsoredLinkInput {
    class_id: String,
    #[schema(format = "email")]
    student_email: String,
    /// Remove the student from the class as well.
    unregister_student: Option<bool>,
}

/// Students to invite by email.
#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct InvitationsInput {
    class_id: String,
    /// `SD…` ids (one id as a string is read too).
    student_ids: Vec<String>,
}

/// An instructor to add to a class.
#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct InstructorInput {
    class_id: String,
    /// `VP…`: a member of the class's project who can instruct (`vupId` is read too).
    instructor_vup_id: Option<String>,
    vup_id: Option<String>,
    /// Queue the instructor's invitation email.
    send_invite_now: Option<bool>,
    disable_env_creation: Option<bool>,
}

/// A new policy of a project the caller manages (the Go SDK's `CreateProjectPolicy`).
#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct PolicyInput {
    name: Option<String>,
    project_id: String,
    /// The default duration of its classes.
    runtime_lease_minutes: Option<i64>,
    storage_lease_minutes: Option<i64>,
    inactivity_handling_type: Option<String>,
    inactivity_threshold_time: Option<i64>,
}
