//! The domain core of classhub: types and rules shared by every dialect.
//!
//! Nothing here performs I/O, speaks HTTP, knows a JSON field spelling of a dialect or
//! writes SQL. Dialects turn wire input into the commands and patches defined here; the
//! store loads state, asks this crate to decide, and writes the outcome.

pub mod account;
pub mod audit;
pub mod catalog;
pub mod class;
pub mod countries;
pub mod error;
pub mod idempotency;
pub mod ids;
pub mod invite;
pub mod lab;
pub mod ocariot;
pub mod password;

pub mod page;
pub mod patch;
pub mod roster;
pub mod secret;
pub mod text;
pub mod throttle;
pub mod time;
pub mod user;
pub mod windows_zones;

pub use error::{DomainError, Problem, Violation};
pub use ids::*;
pub use patch::Patch;
