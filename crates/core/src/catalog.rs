//! Catalogs that classes refer to: AI models and courses.

use serde::Serialize;

use crate::error::{DomainError, Problem, Violation};
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

/// A catalog label: trimmed, 1..200 characters.
pub fn label(field: &'static str, value: &str, errors: &mut Vec<Violation>) -> String {
    let v = value.trim();
    if v.is_empty() {
        errors.push(Violation::new(field, Problem::TooShort { min: 1 }));
    } else if v.chars().count() > CATALOG_TEXT_MAX_CHARS {
        errors.push(Violation::new(field, Problem::TooLong { max: CATALOG_TEXT_MAX_CHARS }));
    }
    v.to_string()
}

/// Finishes a validation that collected `errors`.
pub fn done<T>(value: T, errors: Vec<Violation>) -> Result<T, DomainError> {
    if errors.is_empty() { Ok(value) } else { Err(DomainError::Invalid(errors)) }
}
