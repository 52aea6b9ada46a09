//! The primitives transaction scripts (in `ops`) are written with: reads on any connection,
//! writes inside a transaction. They are implemented once, in `sql`, over either engine;
//! they move rows and decide nothing.
//!
//! Writes that must change exactly one row check it: when a row a script locked or read is
//! not there to change, they answer [`StoreError::Retry`], and the whole transaction runs
//! again and decides afresh.
#![allow(async_fn_in_trait)]

use classhub_core::account::{Account, EmailCode, EmailCodeId, NewEmailCode, RefreshGrant};
use classhub_core::audit::{AuditEvent, Context, NewAuditEvent};
use classhub_core::catalog::{Course, CourseFields, CourseFilter, Model, ModelFilter, NewModel};
use classhub_core::class::{Class, ClassFields, ClassKind, ClassStatus};
use classhub_core::idempotency::Record;
use classhub_core::invite::{EnrollmentStatus, InviteCode, MemberRole, Membership};
use classhub_core::lab::{
    Blueprint, CustomField, Email, LabSettings, Link, MemberRights, Policy, PolicyLeases, Project, ProjectMember,
    StudentProfile,
};
use classhub_core::ocariot::Institution;
use classhub_core::page::{Cursor, Page, PageRequest};
use classhub_core::roster::{PartnerStudent, StudentStats};
use classhub_core::throttle::Counter;
use classhub_core::user::{BearerToken, NewUser, Principal, TokenKind, User, UserFilter};
use classhub_core::{
    BlueprintId, ClassId, CourseId, CustomFieldId, InstitutionId, InviteCodeId, MembershipId, ModelId, OutboxId,
    PolicyId, ProjectId, ProjectMemberId, UserId,
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

/// The outbox's backlog, for monitoring.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OutboxStats {
    /// Messages not delivered yet.
    pub pending: i64,
    /// Of those, the ones whose delivery failed at least once (waiting for a retry).
    pub retrying: i64,
    /// When the oldest of them was queued.
    pub oldest: Option<Timestamp>,
}

/// An answer kept for an `Idempotency-Key`, as it was sent: status, the headers that
/// describe it, and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// The throttles' shared state, for monitoring.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ThrottleStats {
    /// Counters kept (keys with recent failures: an identity at an address, an address).
    pub tracked: i64,
    /// Of those, the ones refusing attempts now.
    pub blocked: i64,
}

/// Reads; available on reader connections and inside write transactions.
pub trait Read {
    /// The token with this hash and its user, revoked, expired or live (the core decides).
    async fn bearer_token(&self, hash: &[u8; 32]) -> Result<Option<BearerToken>>;
    async fn user(&self, id: UserId) -> Result<Option<User>>;
    /// Of these ids, the users that exist.
    async fn users(&self, ids: &[UserId]) -> Result<Vec<User>>;
    /// Users matching `filter`, in id order.
    async fn users_page(&self, filter: &UserFilter, page: PageRequest) -> Result<Page<User>>;
    /// The user with this login name, and their password hash.
    async fn user_by_username(&self, username: &str) -> Result<Option<(User, Option<String>)>>;
    /// Whether anyone has been created yet (the demo seeds only an empty database).
    async fn has_users(&self) -> Result<bool>;

    async fn class(&self, id: ClassId) -> Result<Option<Class>>;
    /// A page of an owner's classes, newest first.
    /// A page of the owner's classes: at `page.offset`, or (`after`) the `page.limit` classes
    /// after a cursor's row.
    async fn classes(
        &self,
        owner: UserId,
        filter: &ClassFilter,
        page: PageRequest,
        after: Option<&Cursor>,
    ) -> Result<Page<Class>>;
    /// A page of the classes a user is a member of, most recently joined first.
    async fn classes_of_member(&self, user: UserId, page: PageRequest) -> Result<Page<Class>>;
    /// Every class an owner has, newest first.
    async fn classes_owned(&self, owner: UserId) -> Result<Vec<Class>>;
    /// The owner's group with exactly this name.
    async fn group_named(&self, owner: UserId, name: &str) -> Result<Option<ClassId>>;

    /// A class with its codes (newest first), read together.
    async fn class_with_codes(&self, id: ClassId) -> Result<Option<(Class, Vec<InviteCode>)>>;
    /// Codes of these classes, each class's newest first.
    async fn codes_of(&self, classes: &[ClassId]) -> Result<Vec<InviteCode>>;
    /// A page of one class's codes, newest first; with `active_at`, only codes that are
    /// enabled and unexpired at that instant.
    async fn codes_page(
        &self,
        class: ClassId,
        active_at: Option<Timestamp>,
        page: PageRequest,
    ) -> Result<Page<InviteCode>>;
    async fn code(&self, id: InviteCodeId) -> Result<Option<InviteCode>>;
    /// The code with this (normalised) value.
    async fn code_by_value(&self, code: &str) -> Result<Option<InviteCode>>;

    async fn membership(&self, class: ClassId, user: UserId) -> Result<Option<Membership>>;
    /// Every membership of a user.
    async fn memberships_of(&self, user: UserId) -> Result<Vec<Membership>>;
    /// A page of a class's members, most recently joined first.
    async fn members(&self, class: ClassId, page: PageRequest) -> Result<Page<Member>>;
    /// A class's members of one role, in their order.
    async fn members_by_role(&self, class: ClassId, role: MemberRole) -> Result<Vec<Member>>;
    async fn member(&self, id: MembershipId) -> Result<Option<Member>>;
    /// The lab student of a class with this (lower-cased) email.
    async fn member_by_email(&self, class: ClassId, email: &str) -> Result<Option<Member>>;

    /// A page of a class's audit events, newest first.
    async fn history(&self, class: ClassId, page: PageRequest) -> Result<Page<AuditEvent>>;

    /// Of `ids`, those present in the model catalog.
    async fn existing_models(&self, ids: &[ModelId]) -> Result<Vec<ModelId>>;
    async fn course(&self, id: CourseId) -> Result<Option<Course>>;

    /// The unrevoked credentials with this API id.
    async fn api_credential(&self, api_id: &str) -> Result<Option<ApiCredential>>;
    async fn project(&self, id: ProjectId) -> Result<Option<Project>>;
    /// Every project, in id order.
    async fn projects_page(&self, page: PageRequest) -> Result<Page<Project>>;
    /// The projects a user belongs to, with the membership, by project id.
    async fn projects_of(&self, user: UserId) -> Result<Vec<(Project, ProjectMember)>>;
    /// A user's membership of one project.
    async fn project_membership(&self, user: UserId, project: ProjectId) -> Result<Option<ProjectMember>>;
    async fn policies(&self, project: ProjectId) -> Result<Vec<Policy>>;
    async fn policy(&self, id: PolicyId) -> Result<Option<Policy>>;
    async fn blueprints(&self, project: ProjectId) -> Result<Vec<Blueprint>>;
    async fn blueprint(&self, id: BlueprintId) -> Result<Option<Blueprint>>;
    async fn blueprint_token_exists(&self, token: &str) -> Result<bool>;
    /// A project's custom field definitions, by order.
    async fn custom_fields(&self, project: ProjectId) -> Result<Vec<CustomField>>;
    async fn project_member(&self, id: ProjectMemberId) -> Result<Option<(ProjectMember, User)>>;
    async fn project_members(&self, project: ProjectId) -> Result<Vec<(ProjectMember, User)>>;
    async fn lab(&self, class: ClassId) -> Result<Option<LabSettings>>;
    /// The lab classes of the projects this user is a member of, newest first, with their
    /// lead instructor's email.
    async fn labs_of(&self, user: UserId) -> Result<Vec<LabSummary>>;
    async fn class_by_short_id(&self, short_id: &str) -> Result<Option<ClassId>>;
    async fn sponsored_link(&self, hash: &[u8; 32]) -> Result<Option<Link>>;

    async fn institution(&self, id: InstitutionId) -> Result<Option<Institution>>;
    async fn institution_named(&self, name: &str) -> Result<Option<Institution>>;
    async fn setting(&self, name: &str) -> Result<Option<Vec<u8>>>;

    /// The database's invariants that do not hold, each described (empty: all hold).
    async fn broken_invariants(&self) -> Result<Vec<String>>;

    /// One sealed API key, if any is stored (to check a server key against).
    async fn any_sealed_api_key(&self) -> Result<Option<Vec<u8>>>;

    /// The outbox's backlog.
    async fn outbox_stats(&self) -> Result<OutboxStats>;
    async fn throttle_stats(&self, now: Timestamp) -> Result<ThrottleStats>;

    /// The throttle counters of these keys (`None` for a key never counted), in their order.
    async fn throttles(&self, keys: &[[u8; 32]]) -> Result<Vec<Option<Counter>>>;

    // Accounts (GrowFit)

    /// A user's account.
    async fn account(&self, user: UserId) -> Result<Option<Account>>;
    /// The account with this (lower-cased) email, with its user and password hash.
    async fn account_by_email(&self, email: &str) -> Result<Option<(User, Account, String)>>;
    /// A verification of an email (lower-cased): the one whose token or verified token has
    /// the hash `token`, else the email's most recent one verified at or after `since`.
    async fn email_verification(
        &self,
        email: &str,
        since: Timestamp,
        token: Option<&[u8; 32]>,
    ) -> Result<Option<EmailCode>>;

    // Enrollments (GrowFit)

    /// Whether some invite code has exactly `len` characters.
    async fn code_length_in_use(&self, len: usize) -> Result<bool>;
    /// A membership by its id (an enrollment's id).
    async fn membership_by_id(&self, id: MembershipId) -> Result<Option<Membership>>;
    /// A page of a user's enrollments as a student of partners' classes, in `statuses`, most
    /// recently enrolled first, with what their class list shows: one statement for the page.
    async fn student_classes(
        &self,
        user: UserId,
        statuses: &[EnrollmentStatus],
        page: PageRequest,
    ) -> Result<Page<StudentClass>>;
    /// A partner's record of a student.
    async fn partner_student(&self, partner: UserId, user: UserId) -> Result<Option<PartnerStudent>>;
    /// A page of a partner's students, most recently joined first (no total).
    async fn partner_students(
        &self,
        partner: UserId,
        filter: &StudentFilter,
        page: PageRequest,
    ) -> Result<Vec<PartnerStudent>>;
    /// The enrollments of these users in the partner's classes, with each class's name, by id.
    async fn enrollments_in_classes_of(&self, partner: UserId, users: &[UserId]) -> Result<Vec<(Membership, String)>>;
    /// A page of one user's enrollments in the partner's classes, with `status` if given,
    /// most recently enrolled first.
    async fn student_enrollments(
        &self,
        partner: UserId,
        user: UserId,
        status: Option<&str>,
        page: PageRequest,
    ) -> Result<Vec<Membership>>;
    /// The partner's students counted.
    async fn student_stats(&self, partner: UserId) -> Result<StudentStats>;
    /// The partner's classes in which the user has a membership, ascending.
    async fn classes_with_student(&self, partner: UserId, user: UserId) -> Result<Vec<ClassId>>;

    // Catalogue and courses (GrowFit)

    /// A page of the model catalog, by provider then name (byte order).
    async fn models_page(&self, filter: &ModelFilter, page: PageRequest) -> Result<Page<Model>>;
    /// The model with this provider and name.
    async fn model_named(&self, provider: &str, name: &str) -> Result<Option<ModelId>>;
    async fn model(&self, id: ModelId) -> Result<Option<Model>>;
    /// A page of courses — one partner's, or everyone's — newest first.
    async fn courses_page(
        &self,
        partner: Option<UserId>,
        filter: &CourseFilter,
        page: PageRequest,
    ) -> Result<Page<Course>>;
    /// The partner's course with this key.
    async fn course_by_key(&self, partner: UserId, key: &str) -> Result<Option<CourseId>>;
}

/// Writes, inside one transaction. An error returned from a script rolls back everything
/// the script wrote.
pub trait Tx: Read {
    /// The class, locked against concurrent writers until the transaction ends. Every
    /// script that changes a class or its rows takes this lock first (see `ops`).
    async fn class_for_update(&self, id: ClassId) -> Result<Option<Class>>;
    /// The user, locked likewise (scripts that rewrite a user's attributes).
    async fn user_for_update(&self, id: UserId) -> Result<Option<User>>;
    async fn insert_class(&self, owner: UserId, kind: ClassKind, fields: &ClassFields, now: Timestamp)
    -> Result<Class>;
    /// Replaces the locked `current` row by `next` (its fields, version and `updated_at`).
    async fn update_class(&self, current: &Class, next: &Class) -> Result<()>;
    /// Bumps the version of a class whose representation changed without its fields
    /// changing (its codes or lab settings did).
    async fn touch_class(&self, id: ClassId) -> Result<()>;
    async fn delete_class(&self, id: ClassId) -> Result<()>;
    /// Changes an owner's class count (for list totals).
    async fn add_to_class_count(&self, owner: UserId, delta: i64) -> Result<()>;

    /// Takes a seat if one is free: the guarded `UPDATE … WHERE member_count < capacity`.
    /// Returns false when the class is full.
    async fn take_seat(&self, class: ClassId) -> Result<bool>;
    async fn free_seat(&self, class: ClassId) -> Result<()>;

    async fn code_exists(&self, code: &str) -> Result<bool>;
    async fn insert_code(&self, code: NewCode<'_>, now: Timestamp) -> Result<InviteCode>;
    async fn update_code(&self, code: &InviteCode) -> Result<()>;
    /// Consumes one use if the code is usable at `now`: the guarded
    /// `UPDATE … WHERE used_count < max_uses`. Returns false when it is not.
    async fn use_code(&self, id: InviteCodeId, now: Timestamp) -> Result<bool>;

    async fn insert_membership(&self, m: NewMember<'_>, now: Timestamp) -> Result<Membership>;
    /// Deletes one membership; false when it was already gone.
    async fn delete_membership(&self, id: MembershipId) -> Result<bool>;
    /// Gives a class's members of `role` the positions of `users`' order.
    async fn order_members(&self, class: ClassId, role: MemberRole, users: &[UserId]) -> Result<()>;
    /// Makes `users`, in this order, the class's members of `role`; the seat count follows.
    async fn replace_members(&self, class: ClassId, role: MemberRole, users: &[UserId], now: Timestamp) -> Result<()>;
    async fn set_env_creation_disabled(&self, id: MembershipId, disabled: bool) -> Result<()>;
    async fn set_member_times(
        &self,
        id: MembershipId,
        invited_at: Option<Timestamp>,
        logged_in_at: Option<Timestamp>,
    ) -> Result<()>;

    async fn insert_user(&self, user: &NewUser, now: Timestamp) -> Result<User>;
    /// Deletes a user with their tokens and credentials (their memberships must be gone).
    async fn delete_user(&self, user: UserId) -> Result<()>;
    /// Sets a lab student's name, email and name parts (user and membership).
    async fn update_student(
        &self,
        membership: MembershipId,
        user: UserId,
        name: &str,
        profile: &StudentProfile,
    ) -> Result<()>;
    async fn set_user_profile(&self, user: UserId, profile: &serde_json::Value) -> Result<()>;
    async fn insert_token(&self, user: UserId, hash: &[u8; 32], kind: TokenKind, now: Timestamp) -> Result<()>;
    /// Revokes a live token; returns its user, or None if no live token has this hash.
    async fn revoke_token(&self, hash: &[u8; 32], now: Timestamp) -> Result<Option<UserId>>;
    async fn insert_model(&self, model: &NewModel, now: Timestamp) -> Result<Model>;
    async fn insert_course(&self, partner: UserId, fields: &CourseFields, now: Timestamp) -> Result<Course>;

    async fn insert_audit(&self, ctx: &Context, event: &NewAuditEvent) -> Result<()>;

    async fn insert_project(&self, name: &str, now: Timestamp) -> Result<Project>;
    async fn insert_policy(
        &self,
        project: ProjectId,
        name: &str,
        minutes: u32,
        leases: Option<&PolicyLeases>,
        now: Timestamp,
    ) -> Result<Policy>;
    async fn insert_blueprint(
        &self,
        project: ProjectId,
        name: &str,
        description: Option<&str>,
        token: &str,
        now: Timestamp,
    ) -> Result<Blueprint>;
    /// Inserts a field definition (its `id` is ignored) and returns it with its id.
    async fn insert_custom_field(&self, field: &CustomField, now: Timestamp) -> Result<CustomField>;
    async fn insert_project_member(
        &self,
        project: ProjectId,
        user: UserId,
        role: MemberRights,
        now: Timestamp,
    ) -> Result<ProjectMember>;
    /// Revokes every live API key of the user; returns how many.
    async fn revoke_api_credentials(&self, user: UserId, now: Timestamp) -> Result<u64>;
    async fn insert_api_credential(&self, api_id: &str, user: UserId, sealed_key: &[u8], now: Timestamp) -> Result<()>;
    async fn insert_lab(&self, class: ClassId, lab: &LabSettings) -> Result<()>;
    async fn update_lab(&self, class: ClassId, lab: &LabSettings) -> Result<()>;
    async fn short_id_exists(&self, short_id: &str) -> Result<bool>;
    async fn insert_sponsored_link(&self, hash: &[u8; 32], class: ClassId, email: &str, now: Timestamp) -> Result<()>;
    /// Disables a class's live links for this email; returns how many there were.
    async fn disable_sponsored_links(&self, class: ClassId, email: &str, now: Timestamp) -> Result<u64>;
    async fn insert_outbox(&self, email: &Email, now: Timestamp) -> Result<OutboxId>;
    /// Takes up to `limit` messages due at `now` that no sender holds, holding them until
    /// `until`.
    async fn claim_outbox(&self, now: Timestamp, until: Timestamp, limit: u32) -> Result<Vec<OutboxMessage>>;
    /// Records a delivery, and forgets what the message said (it may hold a sign-in link).
    async fn outbox_sent(&self, id: OutboxId, now: Timestamp) -> Result<()>;
    /// Records a failed attempt; the message is due again at `next`.
    async fn outbox_failed(&self, id: OutboxId, error: &str, next: Timestamp) -> Result<()>;

    async fn insert_institution(&self, institution: &Institution, now: Timestamp) -> Result<Institution>;
    /// Stores a setting unless one of that name exists; returns the stored value.
    async fn setting_or_insert(&self, name: &str, value: &[u8]) -> Result<Vec<u8>>;
    async fn delete_setting(&self, name: &str) -> Result<()>;

    /// The throttle counters of these keys (a fresh one where none is kept), each key locked
    /// until the transaction ends, in their order (callers sort them, so locks are always
    /// taken in one order). Nothing is written: a key's lock is not its row's.
    async fn throttles_for_update(&self, keys: &[[u8; 32]], now: Timestamp) -> Result<Vec<Counter>>;
    /// Keeps a key's counter (making its row if it had none).
    async fn put_throttle(&self, key: &[u8; 32], counter: &Counter, now: Timestamp) -> Result<()>;
    /// Records a nonce until `expires_at`; false when it was already recorded (a replay).
    async fn insert_nonce(&self, key: &[u8; 32], expires_at: Timestamp) -> Result<bool>;
    /// Forgets nonces expired at `now` and throttle counters untouched since `idle_before`
    /// and not blocked; returns how many of each.
    async fn prune_security(&self, now: Timestamp, idle_before: Timestamp) -> Result<(u64, u64)>;

    // Idempotency keys

    /// A key's record and its holder, locked until the transaction ends.
    async fn idempotency_key_for_update(&self, key: &[u8; 32]) -> Result<Option<(Record<Answer>, [u8; 16])>>;
    /// Stores a claim made at `created_at`, running until `lease_until`: a new key, or in
    /// place of the claim `replacing` held (whose time or lease is up). False when another
    /// claim got there first.
    async fn claim_idempotency_key(
        &self,
        key: &[u8; 32],
        fingerprint: &[u8; 32],
        holder: &[u8; 16],
        lease_until: Timestamp,
        created_at: Timestamp,
        replacing: Option<&[u8; 16]>,
    ) -> Result<bool>;
    /// Moves a held key to `applied` (or `done`, with the answer); false when `holder` no
    /// longer holds it.
    async fn settle_idempotency_key(&self, key: &[u8; 32], holder: &[u8; 16], answer: Option<&Answer>) -> Result<bool>;
    /// Gives back a key still running under `holder` (one whose change committed is kept).
    async fn release_idempotency_key(&self, key: &[u8; 32], holder: &[u8; 16]) -> Result<()>;
    /// Forgets keys made before `before`.
    async fn prune_idempotency_keys(&self, before: Timestamp) -> Result<u64>;

    // Accounts (GrowFit)

    /// [`Read::email_verification`], locked until the transaction ends.
    async fn email_verification_for_update(
        &self,
        email: &str,
        since: Timestamp,
        token: Option<&[u8; 32]>,
    ) -> Result<Option<EmailCode>>;
    /// The code request whose token has this hash, locked.
    async fn email_code_for_update(&self, token_hash: &[u8; 32]) -> Result<Option<EmailCode>>;
    async fn insert_email_code(&self, code: &NewEmailCode, now: Timestamp) -> Result<EmailCodeId>;
    /// Counts a wrong code against a request that had `seen` wrong codes (a guarded update).
    async fn count_code_attempt(&self, id: EmailCodeId, seen: u32) -> Result<()>;
    /// Marks an open request verified, with the hash of its verified token.
    async fn mark_code_verified(&self, id: EmailCodeId, verified_hash: &[u8; 32], now: Timestamp) -> Result<()>;
    /// Uses up a verification that was not used yet.
    async fn consume_verification(&self, id: EmailCodeId, now: Timestamp) -> Result<()>;
    async fn insert_account(&self, user: UserId, email: &str, password_hash: &str, now: Timestamp) -> Result<Account>;
    /// Sets an account's email and, when given, its password hash.
    async fn update_account(
        &self,
        user: UserId,
        email: &str,
        password_hash: Option<&str>,
        now: Timestamp,
    ) -> Result<()>;
    async fn record_account_login(&self, user: UserId, now: Timestamp) -> Result<()>;
    async fn set_user_email(&self, user: UserId, email: &str) -> Result<()>;
    async fn set_user_name(&self, user: UserId, name: &str) -> Result<()>;
    /// Sets the user's password hash if it is `expected`; whether it was.
    async fn replace_password_hash(&self, user: UserId, expected: &str, hash: &str) -> Result<bool>;
    async fn set_user_disabled(&self, user: UserId, disabled_at: Option<Timestamp>) -> Result<()>;
    /// Revokes every live API token of the user; returns how many.
    async fn revoke_api_tokens(&self, user: UserId, now: Timestamp) -> Result<u64>;
    async fn insert_refresh_token(
        &self,
        hash: &[u8; 32],
        user: UserId,
        access_hash: &[u8; 32],
        expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<()>;
    /// The refresh token with this hash, locked.
    async fn refresh_token_for_update(&self, hash: &[u8; 32]) -> Result<Option<RefreshGrant>>;
    /// Marks an unused refresh token used.
    async fn use_refresh_token(&self, hash: &[u8; 32], now: Timestamp) -> Result<()>;
    /// Revokes a user's unrevoked sign-in sessions (expired ones too, which ends their
    /// refresh tokens) but `except`; API tokens stay. Returns how many.
    async fn revoke_user_sessions(&self, user: UserId, except: Option<&[u8; 32]>, now: Timestamp) -> Result<u64>;
    /// Forgets code requests made before `before`; refresh tokens used or expired before it,
    /// or whose access token was revoked before it; then sessions expired or revoked before
    /// it that no refresh token names. Returns how many rows.
    async fn prune_accounts(&self, before: Timestamp) -> Result<u64>;

    // Enrollments (GrowFit)

    /// Inserts a membership with an enrollment status ([`Tx::insert_membership`] makes
    /// active ones).
    async fn insert_enrollment(&self, m: NewMember<'_>, status: EnrollmentStatus, now: Timestamp)
    -> Result<Membership>;
    /// Stores an enrollment's status, times and code, if it is still as `before` was.
    async fn update_enrollment(&self, before: &Membership, after: &Membership) -> Result<()>;
    /// [`Read::partner_student`], locked until the transaction ends.
    async fn partner_student_for_update(&self, partner: UserId, user: UserId) -> Result<Option<PartnerStudent>>;
    /// Records a partner's student unless there is one; true when it was recorded.
    async fn insert_partner_student(&self, student: &PartnerStudent) -> Result<bool>;
    async fn update_partner_student(&self, student: &PartnerStudent) -> Result<()>;
    /// Deletes a partner's student; false when it was already gone.
    async fn delete_partner_student(&self, partner: UserId, user: UserId) -> Result<bool>;

    // Catalogue and courses (GrowFit)

    /// The model, locked until the transaction ends (its update and deletion take it first;
    /// class writes share-lock the models they name).
    async fn model_for_update(&self, id: ModelId) -> Result<Option<Model>>;
    async fn update_model(&self, id: ModelId, m: &NewModel, now: Timestamp) -> Result<Model>;
    async fn delete_model(&self, id: ModelId) -> Result<()>;
    /// The classes (of any owner) that name a model, as primary or allowed, locked, by
    /// ascending id.
    async fn classes_naming_model_for_update(&self, model: ModelId) -> Result<Vec<Class>>;
    /// The course, locked until the transaction ends (a course's update and deletion take
    /// it first; class writes only key-share the course they newly name).
    async fn course_for_update(&self, id: CourseId) -> Result<Option<Course>>;
    async fn update_course(&self, id: CourseId, fields: &CourseFields, now: Timestamp) -> Result<Course>;
    async fn delete_course(&self, id: CourseId) -> Result<()>;
    /// The classes (of any owner) that name a course, locked, by ascending id.
    async fn classes_of_course_for_update(&self, course: CourseId) -> Result<Vec<Class>>;

    // CloudShare catalogs, as the administrator changes them. Each row is locked before it
    // is changed or deleted; a class write that newly names it key-shares it (its foreign
    // key), so a deletion and a new class take turns.

    async fn project_for_update(&self, id: ProjectId) -> Result<Option<Project>>;
    async fn policy_for_update(&self, id: PolicyId) -> Result<Option<Policy>>;
    async fn blueprint_for_update(&self, id: BlueprintId) -> Result<Option<Blueprint>>;
    async fn custom_field_for_update(&self, id: CustomFieldId) -> Result<Option<CustomField>>;
    async fn project_member_for_update(&self, id: ProjectMemberId) -> Result<Option<ProjectMember>>;
    async fn update_project(&self, project: &Project) -> Result<()>;
    async fn update_policy(&self, policy: &Policy) -> Result<()>;
    async fn update_blueprint(&self, blueprint: &Blueprint) -> Result<()>;
    async fn update_custom_field(&self, field: &CustomField) -> Result<()>;
    async fn update_project_member(&self, member: &ProjectMember) -> Result<()>;
    /// How many classes use a project, policy or blueprint (none use the others).
    async fn classes_using(&self, entry: CatalogEntry) -> Result<u64>;
    /// Deletes the entry; a project with its policies, blueprints, fields and memberships.
    async fn delete_catalog_entry(&self, entry: CatalogEntry) -> Result<()>;
}

/// A row of a CloudShare project's catalog, or the project itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CatalogEntry {
    Project(ProjectId),
    Policy(PolicyId),
    Blueprint(BlueprintId),
    CustomField(CustomFieldId),
    Member(ProjectMemberId),
}

// Enrollments (GrowFit)

/// A student's enrollment with what their class list shows of it.
#[derive(Debug, Clone, PartialEq)]
pub struct StudentClass {
    pub enrollment: Membership,
    pub class: Class,
    pub course_title: Option<String>,
    /// The name of the class's partner.
    pub teacher_name: String,
}

/// Filters of a partner's student list: a status (compared as given), and text found in
/// the name, email or contact (ASCII letters of any case).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StudentFilter {
    pub status: Option<String>,
    pub search: Option<String>,
}
