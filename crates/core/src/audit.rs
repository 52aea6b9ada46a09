//! The audit trail: every mutation, written in the transaction that makes it.

use jiff::Timestamp;
use serde::Serialize;

use crate::ids::{AuditEventId, ClassId, UserId};

/// Who is acting, for which request, and when. Every write carries one.
#[derive(Debug, Clone, PartialEq)]
pub struct Context {
    pub actor: Option<UserId>,
    pub request_id: Option<String>,
    pub now: Timestamp,
}

impl Context {
    pub fn new(actor: Option<UserId>, request_id: Option<String>) -> Context {
        Context { actor, request_id, now: crate::time::now() }
    }
}

/// What happened, as `entity.verb`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Action {
    #[serde(rename = "class.create")]
    ClassCreate,
    #[serde(rename = "class.update")]
    ClassUpdate,
    #[serde(rename = "class.delete")]
    ClassDelete,
    #[serde(rename = "invite_code.create")]
    InviteCodeCreate,
    #[serde(rename = "invite_code.update")]
    InviteCodeUpdate,
    #[serde(rename = "membership.create")]
    MembershipCreate,
    #[serde(rename = "membership.delete")]
    MembershipDelete,
    /// A member's place changed: their order, their sign-in.
    #[serde(rename = "membership.update")]
    MembershipUpdate,
    /// An invitation email was queued for a member.
    #[serde(rename = "invitation.send")]
    InvitationSend,
    #[serde(rename = "user.create")]
    UserCreate,
    #[serde(rename = "user.update")]
    UserUpdate,
    #[serde(rename = "user.delete")]
    UserDelete,
    #[serde(rename = "token.revoke")]
    TokenRevoke,
    /// A user's API tokens were replaced by a new one.
    #[serde(rename = "token.rotate")]
    TokenRotate,
    #[serde(rename = "model.create")]
    ModelCreate,
    #[serde(rename = "model.update")]
    ModelUpdate,
    #[serde(rename = "model.delete")]
    ModelDelete,
    #[serde(rename = "course.create")]
    CourseCreate,
    #[serde(rename = "course.update")]
    CourseUpdate,
    #[serde(rename = "course.delete")]
    CourseDelete,
    /// A CloudShare catalog entry: project, policy, blueprint, custom field (and, for
    /// changes, a member's place in a project).
    #[serde(rename = "catalog.create")]
    CatalogCreate,
    #[serde(rename = "catalog.update")]
    CatalogUpdate,
    #[serde(rename = "catalog.delete")]
    CatalogDelete,
    /// A partner's record of a student (GrowFit's students): made, changed, deleted.
    #[serde(rename = "student.create")]
    StudentCreate,
    #[serde(rename = "student.update")]
    StudentUpdate,
    #[serde(rename = "student.delete")]
    StudentDelete,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::ClassCreate => "class.create",
            Action::ClassUpdate => "class.update",
            Action::ClassDelete => "class.delete",
            Action::InviteCodeCreate => "invite_code.create",
            Action::InviteCodeUpdate => "invite_code.update",
            Action::MembershipCreate => "membership.create",
            Action::MembershipDelete => "membership.delete",
            Action::MembershipUpdate => "membership.update",
            Action::InvitationSend => "invitation.send",
            Action::UserCreate => "user.create",
            Action::UserUpdate => "user.update",
            Action::UserDelete => "user.delete",

            Action::TokenRevoke => "token.revoke",
            Action::TokenRotate => "token.rotate",
            Action::ModelCreate => "model.create",
            Action::ModelUpdate => "model.update",
            Action::ModelDelete => "model.delete",
            Action::CourseCreate => "course.create",
            Action::CourseUpdate => "course.update",
            Action::CourseDelete => "course.delete",
            Action::CatalogCreate => "catalog.create",
            Action::CatalogUpdate => "catalog.update",
            Action::CatalogDelete => "catalog.delete",
            Action::StudentCreate => "student.create",
            Action::StudentUpdate => "student.update",
            Action::StudentDelete => "student.delete",
        }
    }
}

/// An event to record. `before`/`after` are snapshots of the entity (absent on create and
/// delete respectively); secrets never appear in them.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAuditEvent {
    pub action: Action,
    /// The class the event belongs to, so its owner can read it in the class history.
    pub class_id: Option<ClassId>,
    pub entity_id: i64,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
}

impl NewAuditEvent {
    /// An event with snapshots of `before` and `after`.
    pub fn of<T: Serialize>(
        action: Action,
        class_id: Option<ClassId>,
        entity_id: i64,
        before: Option<&T>,
        after: Option<&T>,
    ) -> NewAuditEvent {
        let snap = |v: Option<&T>| v.and_then(|v| serde_json::to_value(v).ok());
        NewAuditEvent { action, class_id, entity_id, before: snap(before), after: snap(after) }
    }
}

/// A recorded event.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEvent {
    pub id: AuditEventId,
    pub at: Timestamp,
    pub actor_id: Option<UserId>,
    pub action: String,
    pub class_id: Option<ClassId>,
    pub entity_id: i64,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
    pub request_id: Option<String>,
}
