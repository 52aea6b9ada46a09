//! The database's invariants, checked: what `classhub check` reports.

use crate::engine::Read;
use crate::{ReadOp, Result};

/// Every invariant that does not hold, described (empty: all hold): seat counts equal
/// students, seats within capacity, class counts equal classes, uses within limits and at
/// least the members who joined with the code, group names unique per owner, a lab class
/// has an instructor, a lab student's email key is their email.
pub struct BrokenInvariants;

impl ReadOp for BrokenInvariants {
    type Out = Vec<String>;
    async fn run<R: Read>(&self, r: &R) -> Result<Vec<String>> {
        r.broken_invariants().await
    }
}
