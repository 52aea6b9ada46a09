//! The request bodies, as the document describes them: the handlers read each field with
//! the original's own messages (`input`), so these types describe, they do not parse.
#![allow(dead_code)]

use utoipa::ToSchema;

/// A username and a password.
#[derive(ToSchema)]
pub struct Credentials {
    username: String,
    password: String,
}

/// A password change: the current password and the new one (at least one character each).
#[derive(ToSchema)]
pub struct PasswordChangeInput {
    old_password: String,
    new_password: String,
}

/// A new institution.
#[derive(ToSchema)]
pub struct InstitutionInput {
    /// The kind of institution (a school, say).
    r#type: String,
    name: String,
    address: Option<String>,
    /// Text or a number.
    latitude: Option<String>,
    longitude: Option<String>,
}

/// `male` or `female`.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum Gender {
    Male,
    Female,
}

/// A new child.
#[derive(ToSchema)]
pub struct ChildInput {
    username: String,
    password: String,
    /// The institution's id (24 hex characters).
    #[schema(pattern = "^[0-9a-fA-F]{24}$")]
    institution_id: String,
    gender: Gender,
    /// Years, above zero (text or a number).
    age: String,
    /// The day `age` was true on, `YYYY-MM-DD`, not in the future.
    #[schema(format = Date)]
    age_calc_date: Option<String>,
}

/// A change of a child: the fields present replace the stored ones (the password has its
/// own route).
#[derive(ToSchema)]
pub struct ChildUpdate {
    gender: Option<Gender>,
    age: Option<String>,
    #[schema(format = Date)]
    age_calc_date: Option<String>,
}

/// A new educator or health professional.
#[derive(ToSchema)]
pub struct OwnerInput {
    username: String,
    password: String,
    #[schema(pattern = "^[0-9a-fA-F]{24}$")]
    institution_id: String,
}

/// A new family, with its children's ids.
#[derive(ToSchema)]
pub struct FamilyInput {
    username: String,
    password: String,
    #[schema(pattern = "^[0-9a-fA-F]{24}$")]
    institution_id: String,
    children: Option<Vec<String>>,
}

/// A new application account.
#[derive(ToSchema)]
pub struct ApplicationInput {
    username: String,
    password: String,
    application_name: String,
    #[schema(pattern = "^[0-9a-fA-F]{24}$")]
    institution_id: Option<String>,
}

/// A child of a group: its id, or an object with it.
#[derive(ToSchema)]
#[serde(untagged)]
pub enum ChildRef {
    /// 24 hex characters.
    Id(String),
    User {
        id: String,
    },
}

/// A new children group.
#[derive(ToSchema)]
pub struct GroupInput {
    /// Unique among the owner's groups.
    name: String,
    school_class: Option<String>,
    children: Option<Vec<ChildRef>>,
}

/// A change of a children group: the fields present replace the stored ones; `children`
/// replaces the list.
#[derive(ToSchema)]
pub struct GroupChange {
    name: Option<String>,
    school_class: Option<String>,
    children: Option<Vec<ChildRef>>,
}
