//! The primitives transaction scripts (in `ops`) are written with: reads on any connection,
//! writes inside a transaction. They are implemented once, in `sql`, over either engine;
//! they move rows and decide nothing.
//!
//! Writes that must change exactly one row check it: when a row a script locked or read is
//! not there to change, they answer [`StoreError::Retry`], and the whole transaction runs
//! again and decides afresh.
#![allow(async_fn_in_trait)]

use classhub_core::audit::{AuditEvent, Context, NewAuditEvent};
use classhub_core::catalog::{Course, Model};
use classhub_core::class::{Class, ClassFields, ClassKind, ClassStatus};
use classhub_core::invite::{InviteCode, MemberRole, Membership};
use classhub_core::lab::{
    Blueprint, CustomField, Email, LabSettings, Link, MemberRights, Policy, PolicyLeases, Project, ProjectMember,
    StudentProfile,
};
use classhub_core::ocariot::Institution;
use classhub_core::page::{Page, PageRequest};
use classhub_core::throttle::Counter;
use classhub_core::user::{NewUser, Principal, User};
use classhub_core::{
    BlueprintId, ClassId, CourseId, InstitutionId, InviteCodeId, MembershipId, ModelId, OutboxId, PolicyId, ProjectId,
    ProjectMemberId, UserId,
};
use jiff::Timestamp;

use crate::StoreError;

pub type Result<T> = std::result::Result<T, StoreError>;

/// Filters of a class list.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClassFilter {
    pub course_id: Option<CourseId>,
    pub status: Option<ClassStatus>,
}

/// A member of a class with the user behind it.
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    pub membership: Membership,
    pub user: User,
}

/// A new invite code row.
#[derive(Debug, Clone, PartialEq)]
pub struct NewCode<'a> {
    pub class_id: ClassId,
    pub code: &'a str,
    pub target_role: classhub_core::invite::MemberRole,
    pub max_uses: Option<u32>,
    pub expires_at: Option<Timestamp>,
    pub created_by: UserId,
}

/// A new membership row.
#[derive(Debug, Clone, PartialEq)]
pub struct NewMember<'a> {
    pub class_id: ClassId,
    pub user_id: UserId,
    pub role: MemberRole,
    pub code: Option<InviteCodeId>,
    /// A lab student's email (lower-cased): one per class, held by a unique index.
    pub email: Option<&'a str>,
}

/// API credentials (CloudShare `cs_sha1`): who holds them, and the sealed key.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiCredential {
    pub principal: Principal,
    pub sealed_key: Vec<u8>,
}

/// A lab class as lists show it.
#[derive(Debug, Clone, PartialEq)]
pub struct LabSummary {
    pub class: Class,
    pub lab: LabSettings,
    /// The lead instructor's email, while they are a member of the project.
    pub lead_email: Option<String>,
}

/// An email waiting in the outbox.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxMessage {
    pub id: OutboxId,
    pub email: Email,
    pub attempts: u32,
}

/// Reads; available on reader connections and inside write transactions.
pub trait Read {
    /// The user holding an unrevoked token with this hash.
    async fn principal_by_token(&mut self, hash: &[u8; 32]) -> Result<Option<Principal>>;
    async fn user(&mut self, id: UserId) -> Result<Option<User>>;
    /// Of these ids, the users that exist.
    async fn users(&mut self, ids: &[UserId]) -> Result<Vec<User>>;
    /// The user with this login name, and their password hash.
    async fn user_by_username(&mut self, username: &str) -> Result<Option<(User, Option<String>)>>;
    /// Whether anyone has been created yet (the demo seeds only an empty database).
    async fn has_users(&mut self) -> Result<bool>;

    async fn class(&mut self, id: ClassId) -> Result<Option<Class>>;
    /// A page of an owner's classes, newest first.
    async fn classes(&mut self, owner: UserId, filter: &ClassFilter, page: PageRequest) -> Result<Page<Class>>;
    /// A page of the classes a user is a member of, most recently joined first.
    async fn classes_of_member(&mut self, user: UserId, page: PageRequest) -> Result<Page<Class>>;
    /// Every class an owner has, newest first.
    async fn classes_owned(&mut self, owner: UserId) -> Result<Vec<Class>>;
    /// The owner's group with exactly this name.
    async fn group_named(&mut self, owner: UserId, name: &str) -> Result<Option<ClassId>>;

    /// Codes of these classes, each class's newest first.
    async fn codes_of(&mut self, classes: &[ClassId]) -> Result<Vec<InviteCode>>;
    /// A page of one class's codes, newest first; with `active_at`, only codes that are
    /// enabled and unexpired at that instant.
    async fn codes_page(
        &mut self,
        class: ClassId,
        active_at: Option<Timestamp>,
        page: PageRequest,
    ) -> Result<Page<InviteCode>>;
    async fn code(&mut self, id: InviteCodeId) -> Result<Option<InviteCode>>;
    /// The code with this (normalised) value.
    async fn code_by_value(&mut self, code: &str) -> Result<Option<InviteCode>>;

    async fn membership(&mut self, class: ClassId, user: UserId) -> Result<Option<Membership>>;
    /// Every membership of a user.
    async fn memberships_of(&mut self, user: UserId) -> Result<Vec<Membership>>;
    /// A page of a class's members, most recently joined first.
    async fn members(&mut self, class: ClassId, page: PageRequest) -> Result<Page<Member>>;
    /// A class's members of one role, in their order.
    async fn members_by_role(&mut self, class: ClassId, role: MemberRole) -> Result<Vec<Member>>;
    async fn member(&mut self, id: MembershipId) -> Result<Option<Member>>;
    /// The lab student of a class with this (lower-cased) email.
    async fn member_by_email(&mut self, class: ClassId, email: &str) -> Result<Option<Member>>;

    /// A page of a class's audit events, newest first.
    async fn history(&mut self, class: ClassId, page: PageRequest) -> Result<Page<AuditEvent>>;

    /// Of `ids`, those present in the model catalog.
    async fn existing_models(&mut self, ids: &[ModelId]) -> Result<Vec<ModelId>>;
    async fn course(&mut self, id: CourseId) -> Result<Option<Course>>;

    /// The unrevoked credentials with this API id.
    async fn api_credential(&mut self, api_id: &str) -> Result<Option<ApiCredential>>;
    async fn project(&mut self, id: ProjectId) -> Result<Option<Project>>;
    /// The projects a user belongs to, with the membership, by project id.
    async fn projects_of(&mut self, user: UserId) -> Result<Vec<(Project, ProjectMember)>>;
    /// A user's membership of one project.
    async fn project_membership(&mut self, user: UserId, project: ProjectId) -> Result<Option<ProjectMember>>;
    async fn policies(&mut self, project: ProjectId) -> Result<Vec<Policy>>;
    async fn policy(&mut self, id: PolicyId) -> Result<Option<Policy>>;
    async fn blueprints(&mut self, project: ProjectId) -> Result<Vec<Blueprint>>;
    async fn blueprint(&mut self, id: BlueprintId) -> Result<Option<Blueprint>>;
    async fn blueprint_token_exists(&mut self, token: &str) -> Result<bool>;
    /// A project's custom field definitions, by order.
    async fn custom_fields(&mut self, project: ProjectId) -> Result<Vec<CustomField>>;
    async fn project_member(&mut self, id: ProjectMemberId) -> Result<Option<(ProjectMember, User)>>;
    async fn project_members(&mut self, project: ProjectId) -> Result<Vec<(ProjectMember, User)>>;
    async fn lab(&mut self, class: ClassId) -> Result<Option<LabSettings>>;
    /// The lab classes of the projects this user is a member of, newest first, with their
    /// lead instructor's email.
    async fn labs_of(&mut self, user: UserId) -> Result<Vec<LabSummary>>;
    async fn class_by_short_id(&mut self, short_id: &str) -> Result<Option<ClassId>>;
    async fn sponsored_link(&mut self, hash: &[u8; 32]) -> Result<Option<Link>>;

    async fn institution(&mut self, id: InstitutionId) -> Result<Option<Institution>>;
    async fn institution_named(&mut self, name: &str) -> Result<Option<Institution>>;
    async fn setting(&mut self, name: &str) -> Result<Option<Vec<u8>>>;

    /// The database's invariants that do not hold, each described (empty: all hold).
    async fn broken_invariants(&mut self) -> Result<Vec<String>>;

    /// One sealed API key, if any is stored (to check a server key against).
    async fn any_sealed_api_key(&mut self) -> Result<Option<Vec<u8>>>;

    /// The throttle counters of these keys (`None` for a key never counted), in their order.
    async fn throttles(&mut self, keys: &[[u8; 32]]) -> Result<Vec<Option<Counter>>>;
}

/// Writes, inside one transaction. An error returned from a script rolls back everything
/// the script wrote.
pub trait Tx: Read {
    /// The class, locked against concurrent writers until the transaction ends. Every
    /// script that changes a class or its rows takes this lock first (see `ops`).
    async fn class_for_update(&mut self, id: ClassId) -> Result<Option<Class>>;
    /// The user, locked likewise (scripts that rewrite a user's attributes).
    async fn user_for_update(&mut self, id: UserId) -> Result<Option<User>>;
    async fn insert_class(
        &mut self,
        owner: UserId,
        kind: ClassKind,
        fields: &ClassFields,
        now: Timestamp,
    ) -> Result<Class>;
    /// Stores new fields, bumping the version and `updated_at`.
    async fn update_class(&mut self, id: ClassId, fields: &ClassFields, now: Timestamp) -> Result<Class>;
    /// Bumps the version of a class whose representation changed without its fields
    /// changing (its codes or lab settings did).
    async fn touch_class(&mut self, id: ClassId) -> Result<()>;
    async fn delete_class(&mut self, id: ClassId) -> Result<()>;
    /// Changes an owner's class count (for list totals).
    async fn add_to_class_count(&mut self, owner: UserId, delta: i64) -> Result<()>;

    /// Takes a seat if one is free: the guarded `UPDATE … WHERE member_count < capacity`.
    /// Returns false when the class is full.
    async fn take_seat(&mut self, class: ClassId) -> Result<bool>;
    async fn free_seat(&mut self, class: ClassId) -> Result<()>;

    async fn code_exists(&mut self, code: &str) -> Result<bool>;
    async fn insert_code(&mut self, code: NewCode<'_>, now: Timestamp) -> Result<InviteCode>;
    async fn update_code(&mut self, code: &InviteCode) -> Result<()>;
    /// Consumes one use if the code is usable at `now`: the guarded
    /// `UPDATE … WHERE used_count < max_uses`. Returns false when it is not.
    async fn use_code(&mut self, id: InviteCodeId, now: Timestamp) -> Result<bool>;

    async fn insert_membership(&mut self, m: NewMember<'_>, now: Timestamp) -> Result<Membership>;
    /// Deletes one membership; false when it was already gone.
    async fn delete_membership(&mut self, id: MembershipId) -> Result<bool>;
    /// Gives a class's members of `role` the positions of `users`' order.
    async fn order_members(&mut self, class: ClassId, role: MemberRole, users: &[UserId]) -> Result<()>;
    /// Makes `users`, in this order, the class's members of `role`; the seat count follows.
    async fn replace_members(
        &mut self,
        class: ClassId,
        role: MemberRole,
        users: &[UserId],
        now: Timestamp,
    ) -> Result<()>;
    async fn set_env_creation_disabled(&mut self, id: MembershipId, disabled: bool) -> Result<()>;
    async fn set_member_times(
        &mut self,
        id: MembershipId,
        invited_at: Option<Timestamp>,
        logged_in_at: Option<Timestamp>,
    ) -> Result<()>;

    async fn insert_user(&mut self, user: &NewUser, now: Timestamp) -> Result<User>;
    /// Deletes a user with their tokens and credentials (their memberships must be gone).
    async fn delete_user(&mut self, user: UserId) -> Result<()>;
    /// Sets a lab student's name, email and name parts (user and membership).
    async fn update_student(
        &mut self,
        membership: MembershipId,
        user: UserId,
        name: &str,
        profile: &StudentProfile,
    ) -> Result<()>;
    async fn set_user_profile(&mut self, user: UserId, profile: &serde_json::Value) -> Result<()>;
    async fn insert_token(&mut self, user: UserId, hash: &[u8; 32], now: Timestamp) -> Result<()>;
    /// Revokes a live token; returns its user, or None if no live token has this hash.
    async fn revoke_token(&mut self, hash: &[u8; 32], now: Timestamp) -> Result<Option<UserId>>;
    async fn insert_model(&mut self, name: &str, provider: &str, now: Timestamp) -> Result<Model>;
    async fn insert_course(&mut self, partner: UserId, title: &str, now: Timestamp) -> Result<Course>;

    async fn insert_audit(&mut self, ctx: &Context, event: &NewAuditEvent) -> Result<()>;

    async fn insert_project(&mut self, name: &str, now: Timestamp) -> Result<Project>;
    async fn insert_policy(
        &mut self,
        project: ProjectId,
        name: &str,
        minutes: u32,
        leases: Option<&PolicyLeases>,
        now: Timestamp,
    ) -> Result<Policy>;
    async fn insert_blueprint(
        &mut self,
        project: ProjectId,
        name: &str,
        description: Option<&str>,
        token: &str,
        now: Timestamp,
    ) -> Result<Blueprint>;
    /// Inserts a field definition (its `id` is ignored) and returns it with its id.
    async fn insert_custom_field(&mut self, field: &CustomField, now: Timestamp) -> Result<CustomField>;
    async fn insert_project_member(
        &mut self,
        project: ProjectId,
        user: UserId,
        role: MemberRights,
        now: Timestamp,
    ) -> Result<ProjectMember>;
    async fn insert_api_credential(
        &mut self,
        api_id: &str,
        user: UserId,
        sealed_key: &[u8],
        now: Timestamp,
    ) -> Result<()>;
    async fn insert_lab(&mut self, class: ClassId, lab: &LabSettings) -> Result<()>;
    async fn update_lab(&mut self, class: ClassId, lab: &LabSettings) -> Result<()>;
    async fn short_id_exists(&mut self, short_id: &str) -> Result<bool>;
    async fn insert_sponsored_link(
        &mut self,
        hash: &[u8; 32],
        class: ClassId,
        email: &str,
        now: Timestamp,
    ) -> Result<()>;
    /// Disables a class's live links for this email; returns how many there were.
    async fn disable_sponsored_links(&mut self, class: ClassId, email: &str, now: Timestamp) -> Result<u64>;
    async fn insert_outbox(&mut self, email: &Email, now: Timestamp) -> Result<OutboxId>;
    /// Takes up to `limit` messages due at `now` that no sender holds, holding them until
    /// `until`.
    async fn claim_outbox(&mut self, now: Timestamp, until: Timestamp, limit: u32) -> Result<Vec<OutboxMessage>>;
    /// Records a delivery, and forgets what the message said (it may hold a sign-in link).
    async fn outbox_sent(&mut self, id: OutboxId, now: Timestamp) -> Result<()>;
    /// Records a failed attempt; the message is due again at `next`.
    async fn outbox_failed(&mut self, id: OutboxId, error: &str, next: Timestamp) -> Result<()>;

    async fn insert_institution(&mut self, institution: &Institution, now: Timestamp) -> Result<Institution>;
    /// Stores a setting unless one of that name exists; returns the stored value.
    async fn setting_or_insert(&mut self, name: &str, value: &[u8]) -> Result<Vec<u8>>;
    async fn delete_setting(&mut self, name: &str) -> Result<()>;

    /// The throttle counters of these keys, each made if missing, locked until the
    /// transaction ends, in their order (callers sort them, so locks are always taken in
    /// one order).
    async fn throttles_for_update(&mut self, keys: &[[u8; 32]], now: Timestamp) -> Result<Vec<Counter>>;
    async fn put_throttle(&mut self, key: &[u8; 32], counter: &Counter, now: Timestamp) -> Result<()>;
    /// Records a nonce until `expires_at`; false when it was already recorded (a replay).
    async fn insert_nonce(&mut self, key: &[u8; 32], expires_at: Timestamp) -> Result<bool>;
    /// Forgets nonces expired at `now` and throttle counters untouched since `idle_before`
    /// and not blocked; returns how many of each.
    async fn prune_security(&mut self, now: Timestamp, idle_before: Timestamp) -> Result<(u64, u64)>;
}
