//! Catalogs that classes refer to: AI models and courses.

use serde::Serialize;

use crate::error::{DomainError, Violation};
use crate::ids::{CourseId, ModelId, UserId};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Model {
    pub id: ModelId,
    pub name: String,
    pub provider: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Course {
    pub id: CourseId,
    pub partner_id: UserId,
    pub title: String,
}

pub const CATALOG_TEXT_MAX_CHARS: usize = 200;

/// A catalog label: trimmed, 1..200 characters, no NUL.
pub fn label(field: &'static str, value: &str, errors: &mut Vec<Violation>) -> String {
    if let Err(p) = crate::text::label(value, CATALOG_TEXT_MAX_CHARS) {
        errors.push(Violation::new(field, p));
    }
    value.trim().to_string()
}

/// Optional catalog text (a description): no NUL, at most `max` characters.
pub fn text(field: &'static str, value: Option<&str>, max: usize, errors: &mut Vec<Violation>) {
    if let Some(Err(p)) = value.map(|v| crate::text::check(v, max)) {
        errors.push(Violation::new(field, p));
    }
}

/// Finishes a validation that collected `errors`.
pub fn done<T>(value: T, errors: Vec<Violation>) -> Result<T, DomainError> {
    if errors.is_empty() { Ok(value) } else { Err(DomainError::Invalid(errors)) }
}

/// A course belongs to a partner: its owner must be one.
pub fn decide_course(owner: Option<&crate::user::User>) -> Result<(), DomainError> {
    match owner {
        Some(u) if u.kind == crate::user::UserKind::Partner => Ok(()),
        _ => Err(DomainError::NotFound(crate::error::Entity::Partner)),
    }
}
