//! Internal identifiers. Every entity has an integer id assigned by the store; dialects
//! that show other id formats map them reversibly.

use serde::{Deserialize, Serialize};

macro_rules! id_type {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {$(
        $(#[$doc])*
        #[derive(Debug, Default, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }
    )*};
}

id_type!(
    /// A person or application of any kind.
    UserId,
    /// A class (also an OCARIoT children group or a CloudShare class).
    ClassId,
    InviteCodeId,
    MembershipId,
    ModelId,
    CourseId,
    AuditEventId,
    /// CloudShare catalogs.
    ProjectId,
    PolicyId,
    BlueprintId,
    CustomFieldId,
    /// A user's membership of a CloudShare project (a "VP" id).
    ProjectMemberId,
    OutboxId,
    InstitutionId,
);
