//! Leaving and removing: who may go, and what goes with them.

use crate::error::{DomainError, Entity};
use crate::invite::{MemberRole, Membership};

/// A member of `role` leaves or is removed: they must be one (else `missing` is not found,
/// so that a repeated request changes nothing and says so).
pub fn decide_removal(
    membership: Option<Membership>,
    role: MemberRole,
    missing: Entity,
) -> Result<Membership, DomainError> {
    membership.filter(|m| m.role == role).ok_or(DomainError::NotFound(missing))
}

/// Whether a member's leaving frees a seat: students hold seats, instructors do not.
pub fn frees_seat(m: &Membership) -> bool {
    m.role == MemberRole::Student
}
