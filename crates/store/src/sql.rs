//! Every statement classhub runs, written once for both engines (see [`crate::db`] for the
//! dialect), and the row mappers, which read columns by name. Column lists alias each
//! column with its table's letter (`c_name`, `u_name`), so one mapper serves every query
//! that selects the list, joins included.

use classhub_core::account::{Account, EmailCode, EmailCodeId, NewEmailCode, RefreshGrant};
use classhub_core::audit::{AuditEvent, Context, NewAuditEvent};
use classhub_core::catalog::{
    Course, CourseFields, CourseFilter, CourseStatus, Decimal, Modality, Model, ModelFilter, NewModel, fold,
};
use classhub_core::class::{Class, ClassFields, ClassKind, ClassStatus};
use classhub_core::idempotency::{Record, State};
use classhub_core::invite::{EnrollmentStatus, InviteCode, MemberRole, Membership};
use classhub_core::lab::{
    Address, Blueprint, CustomField, Email, FieldValue, LabSettings, Link, MemberRights, Policy, PolicyLeases, Project,
    ProjectMember, StudentProfile,
};
use classhub_core::ocariot::Institution;
use classhub_core::page::{Cursor, Page, PageRequest};
use classhub_core::roster::{PartnerStudent, StudentStats, StudentStatus};
use classhub_core::throttle::Counter;
use classhub_core::time::ZoneName;
use classhub_core::user::{BearerToken, NewUser, Principal, TokenKind, User, UserFilter, UserKind};
use classhub_core::{
    AuditEventId, BlueprintId, ClassId, CourseId, CustomFieldId, InstitutionId, InviteCodeId, MembershipId, ModelId,
    OutboxId, PolicyId, ProjectId, ProjectMemberId, UserId,
};
use jiff::Timestamp;

use crate::StoreError;
use crate::db::{Arg, Db, JsonText, Query, Row, args, column, query};
use crate::engine::{
    Answer, ApiCredential, CatalogEntry, ClassFilter, LabSummary, Member, NewCode, NewMember, OutboxMessage,
    OutboxStats, Read, Result, StudentClass, StudentFilter, ThrottleStats, Tx,
};

/// An engine's connection seen through the primitives. `Tx` is implemented only for
/// transactions (`W` = [`Write`]).
pub(crate) struct Sql<'a, D, W = ReadOnly>(pub &'a D, pub std::marker::PhantomData<W>);

pub(crate) struct ReadOnly;
pub(crate) struct Write;

impl<'a, D> Sql<'a, D, ReadOnly> {
    pub(crate) fn reader(db: &'a D) -> Self {
        Sql(db, std::marker::PhantomData)
    }
}

impl<'a, D> Sql<'a, D, Write> {
    pub(crate) fn writer(db: &'a D) -> Self {
        Sql(db, std::marker::PhantomData)
    }
}

impl<D: Db, W> Sql<'_, D, W> {
    async fn all<T>(&self, q: &Query, args: &[Arg<'_>], f: impl FnMut(&dyn Row) -> Result<T>) -> Result<Vec<T>> {
        self.0.rows(q, args, f).await
    }

    async fn one<T>(&self, q: &Query, args: &[Arg<'_>], f: impl FnMut(&dyn Row) -> Result<T>) -> Result<Option<T>> {
        let mut rows = self.0.rows(q, args, f).await?;
        match rows.len() {
            0 | 1 => Ok(rows.pop()),
            n => Err(StoreError::Internal(format!("{n} rows where at most one was expected: {}", q.text()))),
        }
    }

    async fn count(&self, q: &Query, args: &[Arg<'_>]) -> Result<u64> {
        Ok(self.one(q, args, |r| r.int("n")).await?.unwrap_or(0).max(0) as u64)
    }

    async fn exec(&self, q: &Query, args: &[Arg<'_>]) -> Result<u64> {
        self.0.exec(q, args).await
    }

    /// Runs a statement that must change exactly one row; a row that is not there (changed
    /// concurrently) makes the transaction run again.
    async fn exec_one(&self, q: &Query, args: &[Arg<'_>], what: &str) -> Result<()> {
        match self.0.exec(q, args).await? {
            1 => Ok(()),
            n => Err(StoreError::Retry(format!("{what}: {n} rows changed where one was expected"))),
        }
    }

    /// An `INSERT … RETURNING id`.
    async fn insert(&self, q: &Query, args: &[Arg<'_>]) -> Result<i64> {
        self.one(q, args, |r| r.int("id"))
            .await?
            .ok_or_else(|| StoreError::Internal(format!("INSERT returned no id: {}", q.text())))
    }
}

fn page_args(p: PageRequest) -> (i64, i64) {
    (i64::from(p.limit), i64::try_from(p.offset).unwrap_or(i64::MAX))
}

fn stored<T>(v: Option<T>, what: &str) -> Result<T> {
    v.ok_or_else(|| StoreError::Internal(format!("unexpected {what} in the database")))
}

fn count_of(r: &dyn Row, col: &str) -> Result<u32> {
    Ok(u32::try_from(r.int(col)?.max(0)).unwrap_or(u32::MAX))
}

fn opt_count(r: &dyn Row, col: &str) -> Result<Option<u32>> {
    Ok(r.opt_int(col)?.map(|n| u32::try_from(n.max(0)).unwrap_or(u32::MAX)))
}

fn json_text<T: serde::Serialize>(v: &T) -> JsonText {
    JsonText(serde_json::to_string(v).unwrap_or_else(|_| "null".into()))
}

fn from_json<T: serde::de::DeserializeOwned>(v: Option<serde_json::Value>, col: &str) -> Result<Option<T>> {
    v.map(|v| serde_json::from_value(v).map_err(|e| crate::db::column(col, e))).transpose()
}

// ---- column lists and their mappers ----------------------------------------------------------

macro_rules! class_cols {
    () => {
        "c.id AS c_id, c.owner_id AS c_owner_id, c.kind AS c_kind, c.name AS c_name, c.status AS c_status, \
         c.description AS c_description, c.start_at AS c_start_at, c.end_at AS c_end_at, c.capacity AS c_capacity, \
         c.timezone AS c_timezone, c.location AS c_location, c.online_url AS c_online_url, \
         c.invite_only AS c_invite_only, c.primary_model_id AS c_primary_model_id, \
         c.allowed_model_ids AS c_allowed_model_ids, c.course_id AS c_course_id, c.member_count AS c_member_count, \
         c.version AS c_version, c.created_at AS c_created_at, c.updated_at AS c_updated_at, \
         c.school_class AS c_school_class, c.budget_cents AS c_budget_cents"
    };
}

fn class_row(r: &dyn Row) -> Result<Class> {
    let status = r.opt_text("c_status")?.map(|s| stored(ClassStatus::parse(&s), "class status")).transpose()?;
    Ok(Class {
        id: ClassId(r.int("c_id")?),
        owner_id: UserId(r.int("c_owner_id")?),
        kind: stored(ClassKind::parse(&r.text("c_kind")?), "class kind")?,
        fields: ClassFields {
            name: r.text("c_name")?,
            status,
            description: r.opt_text("c_description")?,
            start_at: r.opt_time("c_start_at")?,
            end_at: r.opt_time("c_end_at")?,
            capacity: opt_count(r, "c_capacity")?,
            timezone: r.opt_text("c_timezone")?.map(ZoneName::from_stored),
            location: r.opt_text("c_location")?,
            online_url: r.opt_text("c_online_url")?,
            invite_only: r.opt_bool("c_invite_only")?,
            primary_model_id: r.opt_int("c_primary_model_id")?.map(ModelId),
            allowed_model_ids: r.ints("c_allowed_model_ids")?.into_iter().map(ModelId).collect(),
            course_id: r.opt_int("c_course_id")?.map(CourseId),
            school_class: r.opt_text("c_school_class")?,
            budget_limit: r.opt_int("c_budget_cents")?.map(Decimal::from_cents),
        },
        member_count: count_of(r, "c_member_count")?,
        version: r.int("c_version")?,
        created_at: r.time("c_created_at")?,
        updated_at: r.time("c_updated_at")?,
    })
}

macro_rules! model_cols {
    () => {
        "mo.id AS mo_id, mo.name AS mo_name, mo.provider AS mo_provider, mo.modality AS mo_modality, \
         mo.supports_parallel AS mo_supports_parallel, mo.default_pricing AS mo_default_pricing, \
         mo.is_active AS mo_is_active, mo.created_at AS mo_created_at, mo.updated_at AS mo_updated_at"
    };
}

fn model_row(r: &dyn Row) -> Result<Model> {
    Ok(Model {
        id: ModelId(r.int("mo_id")?),
        name: r.text("mo_name")?,
        provider: r.text("mo_provider")?,
        modality: stored(Modality::parse(&r.text("mo_modality")?), "modality")?,
        supports_parallel: r.bool("mo_supports_parallel")?,
        default_pricing: match r.json("mo_default_pricing")? {
            Some(serde_json::Value::Object(m)) => Some(m),
            _ => None,
        },
        is_active: r.bool("mo_is_active")?,
        created_at: r.time("mo_created_at")?,
        updated_at: r.time("mo_updated_at")?,
    })
}

macro_rules! course_cols {
    () => {
        "co.id AS co_id, co.partner_id AS co_partner_id, co.title AS co_title, co.course_key AS co_course_key, \
         co.status AS co_status, co.start_date AS co_start_date, co.end_date AS co_end_date, \
         co.description AS co_description, co.created_at AS co_created_at, co.updated_at AS co_updated_at"
    };
}

fn course_row(r: &dyn Row) -> Result<Course> {
    let date = |col: &str| -> Result<Option<jiff::civil::Date>> {
        r.opt_text(col)?.map(|d| d.parse::<jiff::civil::Date>().map_err(|e| column(col, e))).transpose()
    };
    Ok(Course {
        id: CourseId(r.int("co_id")?),
        partner_id: UserId(r.int("co_partner_id")?),
        fields: CourseFields {
            title: r.text("co_title")?,
            course_key: r.text("co_course_key")?,
            status: stored(CourseStatus::parse(&r.text("co_status")?), "course status")?,
            start_date: date("co_start_date")?,
            end_date: date("co_end_date")?,
            description: r.opt_text("co_description")?,
        },
        created_at: r.time("co_created_at")?,
        updated_at: r.time("co_updated_at")?,
    })
}

/// `%text%` for `LIKE … ESCAPE '\'`: the text [`fold`]ed, its wildcards taken literally.
fn contains_pattern(text: &str) -> String {
    let mut p = String::with_capacity(text.len() + 2);
    p.push('%');
    for ch in fold(text).chars() {
        if matches!(ch, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(ch);
    }
    p.push('%');
    p
}

/// A course's dates as stored: `YYYY-MM-DD` text on both engines.
fn date_text(d: Option<jiff::civil::Date>) -> Option<String> {
    d.map(|d| d.to_string())
}

macro_rules! code_cols {
    () => {
        "i.id AS i_id, i.class_id AS i_class_id, c.owner_id AS i_owner_id, i.code AS i_code, \
         i.target_role AS i_target_role, i.used_count AS i_used_count, i.max_uses AS i_max_uses, \
         i.expires_at AS i_expires_at, i.disabled AS i_disabled, i.created_by AS i_created_by, \
         i.created_at AS i_created_at"
    };
}

fn code_row(r: &dyn Row) -> Result<InviteCode> {
    Ok(InviteCode {
        id: InviteCodeId(r.int("i_id")?),
        class_id: ClassId(r.int("i_class_id")?),
        owner_id: UserId(r.int("i_owner_id")?),
        code: r.text("i_code")?,
        target_role: stored(MemberRole::parse(&r.text("i_target_role")?), "role")?,
        used_count: count_of(r, "i_used_count")?,
        max_uses: opt_count(r, "i_max_uses")?,
        expires_at: r.opt_time("i_expires_at")?,
        disabled: r.bool("i_disabled")?,
        created_by: UserId(r.int("i_created_by")?),
        created_at: r.time("i_created_at")?,
    })
}

macro_rules! membership_cols {
    () => {
        "m.id AS m_id, m.class_id AS m_class_id, m.user_id AS m_user_id, m.role AS m_role, \
         m.joined_at AS m_joined_at, m.invite_code_id AS m_invite_code_id, m.invited_at AS m_invited_at, \
         m.logged_in_at AS m_logged_in_at, m.env_creation_disabled AS m_env_creation_disabled, \
         m.status AS m_status, m.completed_at AS m_completed_at"
    };
}

fn membership_row(r: &dyn Row) -> Result<Membership> {
    Ok(Membership {
        id: MembershipId(r.int("m_id")?),
        class_id: ClassId(r.int("m_class_id")?),
        user_id: UserId(r.int("m_user_id")?),
        role: stored(MemberRole::parse(&r.text("m_role")?), "role")?,
        joined_at: r.time("m_joined_at")?,
        invite_code_id: r.opt_int("m_invite_code_id")?.map(InviteCodeId),
        invited_at: r.opt_time("m_invited_at")?,
        logged_in_at: r.opt_time("m_logged_in_at")?,
        env_creation_disabled: r.bool("m_env_creation_disabled")?,
        status: stored(EnrollmentStatus::parse(&r.text("m_status")?), "enrollment status")?,
        completed_at: r.opt_time("m_completed_at")?,
    })
}

macro_rules! user_cols {
    () => {
        "u.id AS u_id, u.kind AS u_kind, u.name AS u_name, u.email AS u_email, u.first_name AS u_first_name, \
         u.last_name AS u_last_name, u.created_at AS u_created_at, u.username AS u_username, \
         u.institution_id AS u_institution_id, u.profile AS u_profile, u.disabled_at AS u_disabled_at"
    };
}

fn user_row(r: &dyn Row) -> Result<User> {
    Ok(User {
        id: UserId(r.int("u_id")?),
        kind: stored(UserKind::parse(&r.text("u_kind")?), "user kind")?,
        name: r.text("u_name")?,
        email: r.opt_text("u_email")?,
        first_name: r.opt_text("u_first_name")?,
        last_name: r.opt_text("u_last_name")?,
        username: r.opt_text("u_username")?,
        institution_id: r.opt_int("u_institution_id")?.map(InstitutionId),
        profile: r.json("u_profile")?,
        created_at: r.time("u_created_at")?,
        disabled_at: r.opt_time("u_disabled_at")?,
    })
}

fn member_row(r: &dyn Row) -> Result<Member> {
    Ok(Member { membership: membership_row(r)?, user: user_row(r)? })
}

macro_rules! project_member_cols {
    () => {
        "pm.id AS pm_id, pm.project_id AS pm_project_id, pm.user_id AS pm_user_id, pm.can_instruct AS pm_can_instruct, \
         pm.can_manage AS pm_can_manage"
    };
}

fn project_member_row(r: &dyn Row) -> Result<ProjectMember> {
    Ok(ProjectMember {
        id: ProjectMemberId(r.int("pm_id")?),
        project_id: ProjectId(r.int("pm_project_id")?),
        user_id: UserId(r.int("pm_user_id")?),
        can_instruct: r.bool("pm_can_instruct")?,
        can_manage: r.bool("pm_can_manage")?,
    })
}

macro_rules! project_cols {
    () => {
        "p.id AS p_id, p.name AS p_name, p.is_active AS p_is_active"
    };
}

fn project_row(r: &dyn Row) -> Result<Project> {
    Ok(Project { id: ProjectId(r.int("p_id")?), name: r.text("p_name")?, is_active: r.bool("p_is_active")? })
}

macro_rules! policy_cols {
    () => {
        "po.id AS po_id, po.project_id AS po_project_id, po.name AS po_name, \
         po.default_duration_minutes AS po_minutes, po.allow_environment_creation AS po_allow_env, \
         po.storage_lease_minutes AS po_storage, po.inactivity_handling AS po_inactivity, \
         po.inactivity_threshold_minutes AS po_inactivity_minutes"
    };
}

fn policy_row(r: &dyn Row) -> Result<Policy> {
    Ok(Policy {
        id: PolicyId(r.int("po_id")?),
        project_id: ProjectId(r.int("po_project_id")?),
        name: r.text("po_name")?,
        default_duration_minutes: count_of(r, "po_minutes")?,
        allow_environment_creation: r.bool("po_allow_env")?,
        leases: match (r.opt_int("po_storage")?, r.opt_text("po_inactivity")?, r.opt_int("po_inactivity_minutes")?) {
            (Some(storage), Some(handling), Some(threshold)) => Some(PolicyLeases {
                storage_minutes: u32::try_from(storage).map_err(|e| column("po_storage", e))?,
                inactivity_handling: handling,
                inactivity_threshold_minutes: u32::try_from(threshold)
                    .map_err(|e| column("po_inactivity_minutes", e))?,
            }),
            _ => None,
        },
    })
}

macro_rules! blueprint_cols {
    () => {
        "b.id AS b_id, b.project_id AS b_project_id, b.name AS b_name, b.description AS b_description, \
         b.token AS b_token"
    };
}

fn blueprint_row(r: &dyn Row) -> Result<Blueprint> {
    Ok(Blueprint {
        id: BlueprintId(r.int("b_id")?),
        project_id: ProjectId(r.int("b_project_id")?),
        name: r.text("b_name")?,
        description: r.opt_text("b_description")?,
        token: r.text("b_token")?,
    })
}

macro_rules! field_cols {
    () => {
        "f.id AS f_id, f.project_id AS f_project_id, f.name AS f_name, f.position AS f_position, f.kind AS f_kind, \
         f.is_required AS f_is_required, f.regex AS f_regex, f.default_value AS f_default_value"
    };
}

fn field_row(r: &dyn Row) -> Result<CustomField> {
    Ok(CustomField {
        id: CustomFieldId(r.int("f_id")?),
        project_id: ProjectId(r.int("f_project_id")?),
        name: r.text("f_name")?,
        order: r.int("f_position")?,
        kind: r.int("f_kind")?,
        is_required: r.bool("f_is_required")?,
        regex: r.opt_text("f_regex")?,
        default_value: r.opt_text("f_default_value")?,
    })
}

macro_rules! lab_cols {
    () => {
        "l.project_id AS l_project_id, l.blueprint_id AS l_blueprint_id, l.policy_id AS l_policy_id, \
         l.short_id AS l_short_id, l.windows_zone AS l_windows_zone, l.passphrase AS l_passphrase, \
         l.limit_early_access AS l_limit_early_access, l.use_custom_invitation_email AS l_use_custom, \
         l.custom_invitation_subject AS l_custom_subject, l.custom_invitation_body AS l_custom_body, \
         l.permit_non_registered AS l_permit_non_registered, l.address AS l_address, \
         l.field_values AS l_field_values, l.self_paced AS l_self_paced, \
         l.allow_multiple_student_login AS l_multiple_login"
    };
}

fn lab_row(r: &dyn Row) -> Result<LabSettings> {
    Ok(LabSettings {
        project_id: ProjectId(r.int("l_project_id")?),
        blueprint_id: BlueprintId(r.int("l_blueprint_id")?),
        policy_id: PolicyId(r.int("l_policy_id")?),
        short_id: r.text("l_short_id")?,
        windows_zone: r.text("l_windows_zone")?,
        passphrase: r.text("l_passphrase")?,
        limit_early_access: u8::try_from(r.int("l_limit_early_access")?).unwrap_or(0),
        use_custom_invitation_email: r.bool("l_use_custom")?,
        custom_invitation_subject: r.opt_text("l_custom_subject")?,
        custom_invitation_body: r.opt_text("l_custom_body")?,
        permit_non_registered: r.bool("l_permit_non_registered")?,
        address: from_json::<Address>(r.json("l_address")?, "l_address")?,
        field_values: from_json::<Vec<FieldValue>>(r.json("l_field_values")?, "l_field_values")?.unwrap_or_default(),
        self_paced: r.bool("l_self_paced")?,
        allow_multiple_student_login: r.bool("l_multiple_login")?,
    })
}

macro_rules! institution_cols {
    () => {
        "n.id AS n_id, n.type AS n_type, n.name AS n_name, n.address AS n_address, n.latitude AS n_latitude, \
         n.longitude AS n_longitude"
    };
}

fn institution_row(r: &dyn Row) -> Result<Institution> {
    Ok(Institution {
        id: InstitutionId(r.int("n_id")?),
        kind: r.text("n_type")?,
        name: r.text("n_name")?,
        address: r.opt_text("n_address")?,
        latitude: r.opt_text("n_latitude")?,
        longitude: r.opt_text("n_longitude")?,
    })
}

macro_rules! throttle_cols {
    () => {
        "failures, window_start, strikes, blocked_until"
    };
}
fn throttle_row(r: &dyn Row) -> Result<Counter> {
    Ok(Counter {
        failures: count_of(r, "failures")?,
        window_start: r.time("window_start")?,
        strikes: count_of(r, "strikes")?,
        blocked_until: r.opt_time("blocked_until")?,
    })
}

fn event_row(r: &dyn Row) -> Result<AuditEvent> {
    Ok(AuditEvent {
        id: AuditEventId(r.int("id")?),
        at: r.time("at")?,
        actor_id: r.opt_int("actor_id")?.map(UserId),
        action: r.text("action")?,
        class_id: r.opt_int("class_id")?.map(ClassId),
        entity_id: r.int("entity_id")?,
        before: r.json("before")?,
        after: r.json("after")?,
        request_id: r.opt_text("request_id")?,
    })
}

fn principal(r: &dyn Row) -> Result<Option<Principal>> {
    let id = UserId(r.int("id")?);
    Ok(UserKind::parse(&r.text("kind")?).map(|kind| Principal { user_id: id, kind }))
}

fn ids<T: Copy>(v: &[T], f: impl Fn(T) -> i64) -> Vec<i64> {
    v.iter().map(|x| f(*x)).collect()
}

// ---- accounts (GrowFit) ----------------------------------------------------------------------

macro_rules! account_cols {
    () => {
        "ac.user_id AS ac_user_id, ac.email AS ac_email, ac.created_at AS ac_created_at, \
         ac.updated_at AS ac_updated_at, ac.last_login_at AS ac_last_login_at"
    };
}

fn account_row(r: &dyn Row) -> Result<Account> {
    Ok(Account {
        user_id: UserId(r.int("ac_user_id")?),
        email: r.text("ac_email")?,
        created_at: r.time("ac_created_at")?,
        updated_at: r.time("ac_updated_at")?,
        last_login_at: r.opt_time("ac_last_login_at")?,
    })
}

macro_rules! email_code_cols {
    () => {
        "ec.id AS ec_id, ec.email AS ec_email, ec.code_hash AS ec_code_hash, ec.attempts AS ec_attempts, \
         ec.created_at AS ec_created_at, ec.expires_at AS ec_expires_at, ec.verified_at AS ec_verified_at, \
         ec.consumed_at AS ec_consumed_at"
    };
}

/// A column of exactly `N` bytes (a hash, a random id).
fn fixed<const N: usize>(r: &dyn Row, col: &str) -> Result<[u8; N]> {
    let bytes = r.bytes(col)?;
    bytes.as_slice().try_into().map_err(|_| column(col, format!("{} bytes where {N} were expected", bytes.len())))
}

fn email_code_row(r: &dyn Row) -> Result<EmailCode> {
    Ok(EmailCode {
        id: EmailCodeId(r.int("ec_id")?),
        email: r.text("ec_email")?,
        code_hash: fixed(r, "ec_code_hash")?,
        attempts: count_of(r, "ec_attempts")?,
        created_at: r.time("ec_created_at")?,
        expires_at: r.time("ec_expires_at")?,
        verified_at: r.opt_time("ec_verified_at")?,
        consumed_at: r.opt_time("ec_consumed_at")?,
    })
}

// Enrollments (GrowFit)

macro_rules! student_cols {
    () => {
        "ps.partner_id AS ps_partner_id, ps.user_id AS ps_user_id, ps.full_name AS ps_full_name, \
         ps.email AS ps_email, ps.status AS ps_status, ps.joined_at AS ps_joined_at, \
         ps.primary_contact AS ps_primary_contact, ps.notes AS ps_notes"
    };
}

fn student_row(r: &dyn Row) -> Result<PartnerStudent> {
    Ok(PartnerStudent {
        partner_id: UserId(r.int("ps_partner_id")?),
        user_id: UserId(r.int("ps_user_id")?),
        full_name: r.text("ps_full_name")?,
        email: r.opt_text("ps_email")?,
        status: stored(StudentStatus::parse(&r.text("ps_status")?), "student status")?,
        joined_at: r.time("ps_joined_at")?,
        primary_contact: r.opt_text("ps_primary_contact")?,
        notes: r.opt_text("ps_notes")?,
    })
}

/// A `LIKE … ESCAPE '\'` pattern finding `text` anywhere, its ASCII letters lower-cased
/// (the column is, with `{lower …}`).
fn like_pattern(text: &str) -> String {
    let mut p = String::with_capacity(text.len() + 2);
    p.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c.to_ascii_lowercase());
    }
    p.push('%');
    p
}

// ---- reads ----------------------------------------------------------------------------------

impl<D: Db, W> Sql<'_, D, W> {
    async fn class_by_id(&self, id: ClassId) -> Result<Option<Class>> {
        self.one(query!("SELECT ", class_cols!(), " FROM classes c WHERE c.id = $1"), &args![id.0], class_row).await
    }

    /// One class's codes, newest first (every single-class read and write: a plain `=`
    /// keeps one plan).
    async fn codes_of_class(&self, class: ClassId) -> Result<Vec<InviteCode>> {
        let q = query!(
            "SELECT ",
            code_cols!(),
            " FROM invite_codes i JOIN classes c ON c.id = i.class_id \
             WHERE i.class_id = $1 ORDER BY i.created_at DESC, i.id DESC"
        );
        self.all(q, &args![class.0], code_row).await
    }
}

impl<D: Db, W> Read for Sql<'_, D, W> {
    async fn bearer_token(&self, hash: &[u8; 32]) -> Result<Option<BearerToken>> {
        let q = query!(
            "SELECT u.id AS id, u.kind AS kind, t.revoked_at AS revoked_at, t.expires_at AS expires_at \
             FROM tokens t JOIN users u ON u.id = t.user_id WHERE t.hash = $1 AND u.disabled_at IS NULL"
        );
        let token = |r: &dyn Row| {
            let (revoked_at, expires_at) = (r.opt_time("revoked_at")?, r.opt_time("expires_at")?);
            Ok(principal(r)?.map(|principal| BearerToken { principal, revoked_at, expires_at }))
        };
        Ok(self.one(q, &args![hash], token).await?.flatten())
    }

    async fn user(&self, id: UserId) -> Result<Option<User>> {
        self.one(query!("SELECT ", user_cols!(), " FROM users u WHERE u.id = $1"), &args![id.0], user_row).await
    }

    async fn users(&self, ids: &[UserId]) -> Result<Vec<User>> {
        let list = self::ids(ids, |u| u.0);
        self.all(query!("SELECT ", user_cols!(), " FROM users u WHERE u.id {in $1}"), &args![list], user_row).await
    }

    async fn users_page(&self, filter: &UserFilter, page: PageRequest) -> Result<Page<User>> {
        macro_rules! matching {
            () => {
                "(CAST($1 AS TEXT) IS NULL OR u.kind = $1) \
                 AND (CAST($2 AS TEXT) IS NULL OR {lower u.name} LIKE $2 ESCAPE '\\' \
                      OR {lower u.email} LIKE $2 ESCAPE '\\' OR {lower u.username} LIKE $2 ESCAPE '\\') \
                 AND (CAST($3 AS BIGINT) IS NULL OR (CASE WHEN u.disabled_at IS NULL THEN 0 ELSE 1 END) = $3)"
            };
        }
        let (limit, offset) = page_args(page);
        let kind = filter.kind.map(UserKind::as_str);
        let pattern = filter.query.as_deref().map(like_pattern);
        let disabled = filter.disabled.map(i64::from);
        let q =
            query!("SELECT ", user_cols!(), " FROM users u WHERE ", matching!(), " ORDER BY u.id LIMIT $4 OFFSET $5");
        let items = self.all(q, &args![kind, pattern, disabled, limit, offset], user_row).await?;
        let q = query!("SELECT COUNT(*) AS n FROM users u WHERE ", matching!());
        let total = self.count(q, &args![kind, pattern, disabled]).await?;
        Ok(Page { total, items })
    }

    async fn user_by_username(&self, username: &str) -> Result<Option<(User, Option<String>)>> {
        let q =
            query!("SELECT ", user_cols!(), ", u.password_hash AS password_hash FROM users u WHERE u.username = $1");
        self.one(q, &args![username], |r| Ok((user_row(r)?, r.opt_text("password_hash")?))).await
    }

    async fn has_users(&self) -> Result<bool> {
        Ok(self.count(query!("SELECT COUNT(*) AS n FROM (SELECT 1 FROM users LIMIT 1) AS any_user"), &[]).await? > 0)
    }

    async fn class(&self, id: ClassId) -> Result<Option<Class>> {
        self.class_by_id(id).await
    }

    async fn class_with_codes(&self, id: ClassId) -> Result<Option<(Class, Vec<InviteCode>)>> {
        // Both statements at once: PostgreSQL's client sends them together on the
        // connection (one round trip); SQLite answers one after the other.
        let (class, codes) = tokio::try_join!(self.class_by_id(id), self.codes_of_class(id))?;
        Ok(class.map(|c| (c, codes)))
    }

    async fn classes(
        &self,
        owner: UserId,
        filter: &ClassFilter,
        page: PageRequest,
        after: Option<&Cursor>,
    ) -> Result<Page<Class>> {
        let (limit, offset) = page_args(page);
        let course = filter.course_id.map(|c| c.0);
        let status = filter.status.map(ClassStatus::as_str);
        let items = match after {
            // From the cursor's row on in the (owner, created_at, id) index: as cheap at
            // any depth.
            Some(c) => {
                let q = query!(
                    "SELECT ",
                    class_cols!(),
                    " FROM classes c WHERE c.owner_id = $1 \
                     AND (CAST($2 AS BIGINT) IS NULL OR c.course_id = $2) \
                     AND (CAST($3 AS TEXT) IS NULL OR c.status = $3) \
                     AND c.created_at <= $4 AND (c.created_at < $4 OR c.id < $5) \
                     ORDER BY c.created_at DESC, c.id DESC LIMIT $6"
                );
                Some(self.all(q, &args![owner.0, course, status, c.created_at, c.id, limit], class_row).await?)
            }
            None => None,
        };
        // The page's ids first, then only those rows. Unfiltered, skipping `offset` rows
        // reads entries of the (owner, created_at, id) index alone; the filter terms name
        // columns outside it, so a statement with them (even when its parameters are null)
        // reads every skipped row.
        if *filter == ClassFilter::default() {
            let total = self.count(query!("SELECT class_count AS n FROM users WHERE id = $1"), &args![owner.0]).await?;
            let items = match items {
                Some(items) => items,
                // A page past the middle is read from the other end, oldest first, so the
                // last page costs what the first does. The statement places it by the count
                // it reads itself (the count above may be a moment old): the page is the one
                // at `offset` in one state of the list.
                None if offset.unsigned_abs().saturating_mul(2) > total => {
                    let q = query!(
                        "WITH t AS (SELECT class_count - $3 AS tail FROM users WHERE id = $1) \
                         SELECT ",
                        class_cols!(),
                        " FROM classes c WHERE c.id IN (SELECT k.id FROM classes k WHERE k.owner_id = $1 \
                         ORDER BY k.created_at, k.id \
                         LIMIT (SELECT CASE WHEN tail <= 0 THEN 0 WHEN tail < $2 THEN tail ELSE $2 END FROM t) \
                         OFFSET (SELECT CASE WHEN tail > $2 THEN tail - $2 ELSE 0 END FROM t)) \
                         ORDER BY c.created_at DESC, c.id DESC"
                    );
                    self.all(q, &args![owner.0, limit, offset], class_row).await?
                }
                None => {
                    let q = query!(
                        "SELECT ",
                        class_cols!(),
                        " FROM classes c WHERE c.id IN (SELECT k.id FROM classes k WHERE k.owner_id = $1 \
                         ORDER BY k.created_at DESC, k.id DESC LIMIT $2 OFFSET $3) \
                         ORDER BY c.created_at DESC, c.id DESC"
                    );
                    self.all(q, &args![owner.0, limit, offset], class_row).await?
                }
            };
            return Ok(Page { total, items });
        }
        let items = match items {
            Some(items) => items,
            None => {
                let q = query!(
                    "SELECT ",
                    class_cols!(),
                    " FROM classes c WHERE c.id IN (SELECT k.id FROM classes k WHERE k.owner_id = $1 \
                     AND (CAST($2 AS BIGINT) IS NULL OR k.course_id = $2) \
                     AND (CAST($3 AS TEXT) IS NULL OR k.status = $3) \
                     ORDER BY k.created_at DESC, k.id DESC LIMIT $4 OFFSET $5) \
                     ORDER BY c.created_at DESC, c.id DESC"
                );
                self.all(q, &args![owner.0, course, status, limit, offset], class_row).await?
            }
        };
        let total = self
            .count(
                query!(
                    "SELECT COUNT(*) AS n FROM classes k WHERE k.owner_id = $1 \
                     AND (CAST($2 AS BIGINT) IS NULL OR k.course_id = $2) \
                     AND (CAST($3 AS TEXT) IS NULL OR k.status = $3)"
                ),
                &args![owner.0, course, status],
            )
            .await?;
        Ok(Page { total, items })
    }

    async fn classes_of_member(&self, user: UserId, page: PageRequest) -> Result<Page<Class>> {
        let (limit, offset) = page_args(page);
        let items = self
            .all(
                query!(
                    "SELECT ",
                    class_cols!(),
                    " FROM memberships m JOIN classes c ON c.id = m.class_id \
                     WHERE m.user_id = $1 ORDER BY m.joined_at DESC, m.id DESC LIMIT $2 OFFSET $3"
                ),
                &args![user.0, limit, offset],
                class_row,
            )
            .await?;
        let total =
            self.count(query!("SELECT COUNT(*) AS n FROM memberships WHERE user_id = $1"), &args![user.0]).await?;
        Ok(Page { total, items })
    }

    async fn classes_owned(&self, owner: UserId) -> Result<Vec<Class>> {
        let q = query!(
            "SELECT ",
            class_cols!(),
            " FROM classes c WHERE c.owner_id = $1 ORDER BY c.created_at DESC, c.id DESC"
        );
        self.all(q, &args![owner.0], class_row).await
    }

    async fn group_named(&self, owner: UserId, name: &str) -> Result<Option<ClassId>> {
        let q = query!("SELECT id FROM classes WHERE owner_id = $1 AND name = $2 AND kind = 'group'");
        self.one(q, &args![owner.0, name], |r| Ok(ClassId(r.int("id")?))).await
    }

    async fn codes_of(&self, classes: &[ClassId]) -> Result<Vec<InviteCode>> {
        if let [class] = classes {
            return self.codes_of_class(*class).await;
        }
        let list = ids(classes, |c| c.0);
        let q = query!(
            "SELECT ",
            code_cols!(),
            " FROM invite_codes i JOIN classes c ON c.id = i.class_id \
             WHERE i.class_id {in $1} ORDER BY i.class_id, i.created_at DESC, i.id DESC"
        );
        self.all(q, &args![list], code_row).await
    }

    async fn codes_page(
        &self,
        class: ClassId,
        active_at: Option<Timestamp>,
        page: PageRequest,
    ) -> Result<Page<InviteCode>> {
        let (limit, offset) = page_args(page);
        let items = self
            .all(
                query!(
                    "SELECT ",
                    code_cols!(),
                    " FROM invite_codes i JOIN classes c ON c.id = i.class_id WHERE i.class_id = $1 \
                     AND (CAST($2 AS TIMESTAMPTZ) IS NULL OR (NOT i.disabled AND (i.expires_at IS NULL OR i.expires_at > $2))) \
                     ORDER BY i.created_at DESC, i.id DESC LIMIT $3 OFFSET $4"
                ),
                &args![class.0, active_at, limit, offset],
                code_row,
            )
            .await?;
        let total = self
            .count(
                query!(
                    "SELECT COUNT(*) AS n FROM invite_codes i WHERE i.class_id = $1 \
                     AND (CAST($2 AS TIMESTAMPTZ) IS NULL OR (NOT i.disabled AND (i.expires_at IS NULL OR i.expires_at > $2)))"
                ),
                &args![class.0, active_at],
            )
            .await?;
        Ok(Page { total, items })
    }

    async fn code(&self, id: InviteCodeId) -> Result<Option<InviteCode>> {
        let q =
            query!("SELECT ", code_cols!(), " FROM invite_codes i JOIN classes c ON c.id = i.class_id WHERE i.id = $1");
        self.one(q, &args![id.0], code_row).await
    }

    async fn code_by_value(&self, code: &str) -> Result<Option<InviteCode>> {
        let q = query!(
            "SELECT ",
            code_cols!(),
            " FROM invite_codes i JOIN classes c ON c.id = i.class_id WHERE i.code = $1"
        );
        self.one(q, &args![code], code_row).await
    }

    async fn membership(&self, class: ClassId, user: UserId) -> Result<Option<Membership>> {
        let q = query!("SELECT ", membership_cols!(), " FROM memberships m WHERE m.class_id = $1 AND m.user_id = $2");
        self.one(q, &args![class.0, user.0], membership_row).await
    }

    async fn memberships_of(&self, user: UserId) -> Result<Vec<Membership>> {
        let q =
            query!("SELECT ", membership_cols!(), " FROM memberships m WHERE m.user_id = $1 ORDER BY m.class_id, m.id");
        self.all(q, &args![user.0], membership_row).await
    }

    async fn members(&self, class: ClassId, page: PageRequest) -> Result<Page<Member>> {
        let (limit, offset) = page_args(page);
        let items = self
            .all(
                query!(
                    "SELECT ",
                    membership_cols!(),
                    ", ",
                    user_cols!(),
                    " FROM memberships m JOIN users u ON u.id = m.user_id \
                     WHERE m.class_id = $1 AND m.status <> 'dropped' ORDER BY m.joined_at DESC, m.id DESC \
                     LIMIT $2 OFFSET $3"
                ),
                &args![class.0, limit, offset],
                member_row,
            )
            .await?;
        let total = self
            .count(
                query!("SELECT COUNT(*) AS n FROM memberships WHERE class_id = $1 AND status <> 'dropped'"),
                &args![class.0],
            )
            .await?;
        Ok(Page { total, items })
    }

    async fn members_by_role(&self, class: ClassId, role: MemberRole) -> Result<Vec<Member>> {
        let q = query!(
            "SELECT ",
            membership_cols!(),
            ", ",
            user_cols!(),
            " FROM memberships m JOIN users u ON u.id = m.user_id \
             WHERE m.class_id = $1 AND m.role = $2 ORDER BY m.position, m.id"
        );
        self.all(q, &args![class.0, role.as_str()], member_row).await
    }

    async fn member(&self, id: MembershipId) -> Result<Option<Member>> {
        let q = query!(
            "SELECT ",
            membership_cols!(),
            ", ",
            user_cols!(),
            " FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.id = $1"
        );
        self.one(q, &args![id.0], member_row).await
    }

    async fn member_by_email(&self, class: ClassId, email: &str) -> Result<Option<Member>> {
        let q = query!(
            "SELECT ",
            membership_cols!(),
            ", ",
            user_cols!(),
            " FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.class_id = $1 AND m.email = $2"
        );
        self.one(q, &args![class.0, email], member_row).await
    }

    async fn history(&self, class: ClassId, page: PageRequest) -> Result<Page<AuditEvent>> {
        let (limit, offset) = page_args(page);
        let q = query!(
            "SELECT id, at, actor_id, action, class_id, entity_id, before, after, request_id \
             FROM audit_events WHERE class_id = $1 ORDER BY id DESC LIMIT $2 OFFSET $3"
        );
        let (items_args, count_args) = (args![class.0, limit, offset], args![class.0]);
        // Both statements at once (one round trip on PostgreSQL).
        let (items, total) = tokio::try_join!(
            self.all(q, &items_args, event_row),
            self.count(query!("SELECT COUNT(*) AS n FROM audit_events WHERE class_id = $1"), &count_args)
        )?;
        Ok(Page { total, items })
    }

    async fn existing_models(&self, ids: &[ModelId]) -> Result<Vec<ModelId>> {
        let list = self::ids(ids, |m| m.0);
        // Shared locks: a model's deletion waits for the class writes that name it, and
        // they for it (`classes_naming_model_for_update`).
        let q = query!("SELECT id FROM models WHERE id {in $1} ORDER BY id {for share}");
        self.all(q, &args![list], |r| Ok(ModelId(r.int("id")?))).await
    }

    async fn course(&self, id: CourseId) -> Result<Option<Course>> {
        self.one(query!("SELECT ", course_cols!(), " FROM courses co WHERE co.id = $1"), &args![id.0], course_row).await
    }

    async fn api_credential(&self, api_id: &str) -> Result<Option<ApiCredential>> {
        let q = query!(
            "SELECT u.id AS id, u.kind AS kind, a.sealed_key AS sealed_key FROM api_credentials a \
             JOIN users u ON u.id = a.user_id WHERE a.api_id = $1 AND a.revoked_at IS NULL \
             AND u.disabled_at IS NULL"
        );
        let found = self.one(q, &args![api_id], |r| Ok((principal(r)?, r.bytes("sealed_key")?))).await?;
        Ok(found.and_then(|(p, sealed_key)| Some(ApiCredential { principal: p?, sealed_key })))
    }

    async fn project(&self, id: ProjectId) -> Result<Option<Project>> {
        self.one(query!("SELECT ", project_cols!(), " FROM projects p WHERE p.id = $1"), &args![id.0], project_row)
            .await
    }

    async fn projects_page(&self, page: PageRequest) -> Result<Page<Project>> {
        let (limit, offset) = page_args(page);
        let q = query!("SELECT ", project_cols!(), " FROM projects p ORDER BY p.id LIMIT $1 OFFSET $2");
        let items = self.all(q, &args![limit, offset], project_row).await?;
        let total = self.count(query!("SELECT COUNT(*) AS n FROM projects"), &[]).await?;
        Ok(Page { total, items })
    }

    async fn projects_of(&self, user: UserId) -> Result<Vec<(Project, ProjectMember)>> {
        let q = query!(
            "SELECT ",
            project_cols!(),
            ", ",
            project_member_cols!(),
            " FROM project_members pm JOIN projects p ON p.id = pm.project_id WHERE pm.user_id = $1 ORDER BY p.id"
        );
        self.all(q, &args![user.0], |r| Ok((project_row(r)?, project_member_row(r)?))).await
    }

    async fn project_membership(&self, user: UserId, project: ProjectId) -> Result<Option<ProjectMember>> {
        let q = query!(
            "SELECT ",
            project_member_cols!(),
            " FROM project_members pm WHERE pm.user_id = $1 AND pm.project_id = $2"
        );
        self.one(q, &args![user.0, project.0], project_member_row).await
    }

    async fn policies(&self, project: ProjectId) -> Result<Vec<Policy>> {
        let q = query!("SELECT ", policy_cols!(), " FROM policies po WHERE po.project_id = $1 ORDER BY po.id");
        self.all(q, &args![project.0], policy_row).await
    }

    async fn policy(&self, id: PolicyId) -> Result<Option<Policy>> {
        self.one(query!("SELECT ", policy_cols!(), " FROM policies po WHERE po.id = $1"), &args![id.0], policy_row)
            .await
    }

    async fn blueprints(&self, project: ProjectId) -> Result<Vec<Blueprint>> {
        let q = query!("SELECT ", blueprint_cols!(), " FROM blueprints b WHERE b.project_id = $1 ORDER BY b.id");
        self.all(q, &args![project.0], blueprint_row).await
    }

    async fn blueprint(&self, id: BlueprintId) -> Result<Option<Blueprint>> {
        let q = query!("SELECT ", blueprint_cols!(), " FROM blueprints b WHERE b.id = $1");
        self.one(q, &args![id.0], blueprint_row).await
    }

    async fn blueprint_token_exists(&self, token: &str) -> Result<bool> {
        Ok(self.count(query!("SELECT COUNT(*) AS n FROM blueprints WHERE token = $1"), &args![token]).await? > 0)
    }

    async fn custom_fields(&self, project: ProjectId) -> Result<Vec<CustomField>> {
        let q =
            query!("SELECT ", field_cols!(), " FROM custom_fields f WHERE f.project_id = $1 ORDER BY f.position, f.id");
        self.all(q, &args![project.0], field_row).await
    }

    async fn project_member(&self, id: ProjectMemberId) -> Result<Option<(ProjectMember, User)>> {
        let q = query!(
            "SELECT ",
            project_member_cols!(),
            ", ",
            user_cols!(),
            " FROM project_members pm JOIN users u ON u.id = pm.user_id WHERE pm.id = $1"
        );
        self.one(q, &args![id.0], |r| Ok((project_member_row(r)?, user_row(r)?))).await
    }

    async fn project_members(&self, project: ProjectId) -> Result<Vec<(ProjectMember, User)>> {
        let q = query!(
            "SELECT ",
            project_member_cols!(),
            ", ",
            user_cols!(),
            " FROM project_members pm JOIN users u ON u.id = pm.user_id WHERE pm.project_id = $1 ORDER BY pm.id"
        );
        self.all(q, &args![project.0], |r| Ok((project_member_row(r)?, user_row(r)?))).await
    }

    async fn lab(&self, class: ClassId) -> Result<Option<LabSettings>> {
        self.one(query!("SELECT ", lab_cols!(), " FROM labs l WHERE l.class_id = $1"), &args![class.0], lab_row).await
    }

    async fn labs_of(&self, user: UserId) -> Result<Vec<LabSummary>> {
        // One statement for the whole list: the lead instructor is the first by position,
        // shown while they are still a member of the project.
        let q = query!(
            "SELECT ",
            class_cols!(),
            ", ",
            lab_cols!(),
            ", lead.email AS lead_email FROM labs l JOIN classes c ON c.id = l.class_id \
             JOIN project_members me ON me.project_id = l.project_id AND me.user_id = $1 \
             LEFT JOIN users lead ON lead.id = (SELECT m.user_id FROM memberships m \
                 WHERE m.class_id = c.id AND m.role = 'instructor' ORDER BY m.position, m.id LIMIT 1) \
                 AND EXISTS (SELECT 1 FROM project_members lp WHERE lp.user_id = lead.id AND lp.project_id = l.project_id) \
             ORDER BY c.created_at DESC, c.id DESC"
        );
        self.all(q, &args![user.0], |r| {
            Ok(LabSummary { class: class_row(r)?, lab: lab_row(r)?, lead_email: r.opt_text("lead_email")? })
        })
        .await
    }

    async fn class_by_short_id(&self, short_id: &str) -> Result<Option<ClassId>> {
        let q = query!("SELECT class_id FROM labs WHERE short_id = $1");
        self.one(q, &args![short_id], |r| Ok(ClassId(r.int("class_id")?))).await
    }

    async fn sponsored_link(&self, hash: &[u8; 32]) -> Result<Option<Link>> {
        let q = query!("SELECT class_id, email, disabled_at FROM sponsored_links WHERE token_hash = $1");
        self.one(q, &args![hash], |r| {
            Ok(Link {
                class_id: ClassId(r.int("class_id")?),
                email: r.text("email")?,
                disabled: r.opt_time("disabled_at")?.is_some(),
            })
        })
        .await
    }

    async fn institution(&self, id: InstitutionId) -> Result<Option<Institution>> {
        let q = query!("SELECT ", institution_cols!(), " FROM institutions n WHERE n.id = $1");
        self.one(q, &args![id.0], institution_row).await
    }

    async fn institution_named(&self, name: &str) -> Result<Option<Institution>> {
        let q = query!("SELECT ", institution_cols!(), " FROM institutions n WHERE n.name = $1");
        self.one(q, &args![name], institution_row).await
    }

    async fn setting(&self, name: &str) -> Result<Option<Vec<u8>>> {
        self.one(query!("SELECT value FROM settings WHERE name = $1"), &args![name], |r| r.bytes("value")).await
    }

    async fn broken_invariants(&self) -> Result<Vec<String>> {
        // Each check names what breaks; the first few offending rows are shown.
        let checks: [(&Query, &str); 11] = [
            (
                query!(
                    "SELECT c.id AS id FROM classes c WHERE c.member_count <> \
                     (SELECT COUNT(*) FROM memberships m WHERE m.class_id = c.id AND m.role = 'student' \
                     AND m.status <> 'dropped') ORDER BY c.id LIMIT 5"
                ),
                "class seat counts differ from their students",
            ),
            (
                query!(
                    "SELECT m.id AS id FROM memberships m JOIN classes c ON c.id = m.class_id \
                     WHERE c.kind = 'class' AND m.role = 'student' AND NOT EXISTS (SELECT 1 FROM partner_students ps \
                     WHERE ps.partner_id = c.owner_id AND ps.user_id = m.user_id) ORDER BY m.id LIMIT 5"
                ),
                "enrollments whose student is not their partner's",
            ),
            (
                query!(
                    "SELECT id FROM memberships WHERE completed_at IS NOT NULL AND completed_at < joined_at \
                     ORDER BY id LIMIT 5"
                ),
                "enrollments completed before they began",
            ),
            (
                query!(
                    "SELECT id FROM memberships WHERE role <> 'student' \
                     AND (status <> 'active' OR completed_at IS NOT NULL) ORDER BY id LIMIT 5"
                ),
                "instructors with an enrollment status",
            ),
            (
                query!(
                    "SELECT id FROM classes WHERE capacity IS NOT NULL AND member_count > capacity ORDER BY id LIMIT 5"
                ),
                "classes above capacity",
            ),
            (
                query!(
                    "SELECT u.id AS id FROM users u WHERE u.class_count <> \
                     (SELECT COUNT(*) FROM classes c WHERE c.owner_id = u.id) ORDER BY u.id LIMIT 5"
                ),
                "owners' class counts differ from their classes",
            ),
            (
                query!(
                    "SELECT id FROM invite_codes WHERE max_uses IS NOT NULL AND used_count > max_uses ORDER BY id LIMIT 5"
                ),
                "codes used more often than their limit",
            ),
            (
                query!(
                    "SELECT i.id AS id FROM invite_codes i WHERE i.used_count < \
                     (SELECT COUNT(*) FROM memberships m WHERE m.invite_code_id = i.id) ORDER BY i.id LIMIT 5"
                ),
                "codes with more members than uses",
            ),
            (
                query!(
                    "SELECT MIN(id) AS id FROM classes WHERE kind = 'group' GROUP BY owner_id, name \
                     HAVING COUNT(*) > 1 ORDER BY MIN(id) LIMIT 5"
                ),
                "groups of one owner sharing a name",
            ),
            (
                query!(
                    "SELECT c.id AS id FROM classes c WHERE c.kind = 'lab' AND NOT EXISTS \
                     (SELECT 1 FROM memberships m WHERE m.class_id = c.id AND m.role = 'instructor') \
                     ORDER BY c.id LIMIT 5"
                ),
                "lab classes without an instructor",
            ),
            (
                query!(
                    "SELECT m.id AS id FROM memberships m JOIN users u ON u.id = m.user_id \
                     WHERE m.email IS NOT NULL AND m.email <> lower(u.email) ORDER BY m.id LIMIT 5"
                ),
                "lab students whose email key differs from their email",
            ),
        ];
        let mut broken = Vec::new();
        for (q, what) in checks {
            let rows = self.all(q, &[], |r| r.int("id")).await?;
            if !rows.is_empty() {
                broken.push(format!("{what}: {rows:?}"));
            }
        }
        Ok(broken)
    }

    async fn any_sealed_api_key(&self) -> Result<Option<Vec<u8>>> {
        let q = query!("SELECT sealed_key FROM api_credentials ORDER BY api_id LIMIT 1");
        self.one(q, &[], |r| r.bytes("sealed_key")).await
    }

    async fn outbox_stats(&self) -> Result<OutboxStats> {
        let q = query!(
            "SELECT COUNT(*) AS pending, COUNT(CASE WHEN attempts > 0 THEN 1 END) AS retrying, \
             MIN(created_at) AS oldest FROM outbox WHERE sent_at IS NULL"
        );
        let stats = self
            .one(q, &[], |r| {
                Ok(OutboxStats {
                    pending: r.int("pending")?,
                    retrying: r.int("retrying")?,
                    oldest: r.opt_time("oldest")?,
                })
            })
            .await?;
        Ok(stats.unwrap_or_default())
    }

    async fn throttle_stats(&self, now: Timestamp) -> Result<ThrottleStats> {
        let q = query!(
            "SELECT COUNT(*) AS tracked, COUNT(CASE WHEN blocked_until > $1 THEN 1 END) AS blocked FROM throttles"
        );
        let stats = self
            .one(q, &args![now], |r| Ok(ThrottleStats { tracked: r.int("tracked")?, blocked: r.int("blocked")? }))
            .await?;
        Ok(stats.unwrap_or_default())
    }

    async fn throttles(&self, keys: &[[u8; 32]]) -> Result<Vec<Option<Counter>>> {
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            out.push(
                self.one(
                    query!("SELECT ", throttle_cols!(), " FROM throttles WHERE key = $1"),
                    &args![key],
                    throttle_row,
                )
                .await?,
            );
        }
        Ok(out)
    }

    // Accounts (GrowFit)

    async fn account(&self, user: UserId) -> Result<Option<Account>> {
        self.one(
            query!("SELECT ", account_cols!(), " FROM accounts ac WHERE ac.user_id = $1"),
            &args![user.0],
            account_row,
        )
        .await
    }

    async fn account_by_email(&self, email: &str) -> Result<Option<(User, Account, String)>> {
        let q = query!(
            "SELECT ",
            user_cols!(),
            ", ",
            account_cols!(),
            ", ac.password_hash AS ac_password_hash FROM accounts ac JOIN users u ON u.id = ac.user_id \
             WHERE ac.email = $1"
        );
        self.one(q, &args![email], |r| Ok((user_row(r)?, account_row(r)?, r.text("ac_password_hash")?))).await
    }

    async fn email_verification(
        &self,
        email: &str,
        since: Timestamp,
        token: Option<&[u8; 32]>,
    ) -> Result<Option<EmailCode>> {
        match token {
            Some(h) => {
                let q = query!(
                    "SELECT ",
                    email_code_cols!(),
                    " FROM email_codes ec WHERE ec.email = $1 AND (ec.verified_hash = $2 OR ec.token_hash = $2)"
                );
                self.one(q, &args![email, h], email_code_row).await
            }
            None => {
                let q = query!(
                    "SELECT ",
                    email_code_cols!(),
                    " FROM email_codes ec WHERE ec.email = $1 AND ec.verified_at IS NOT NULL AND ec.verified_at >= $2 \
                     ORDER BY ec.verified_at DESC, ec.id DESC LIMIT 1"
                );
                self.one(q, &args![email, since], email_code_row).await
            }
        }
    }

    // Enrollments (GrowFit)

    async fn code_length_in_use(&self, len: usize) -> Result<bool> {
        let len = i64::try_from(len).unwrap_or(i64::MAX);
        let q = query!("SELECT COUNT(*) AS n FROM (SELECT 1 FROM invite_codes WHERE length(code) = $1 LIMIT 1) AS one");
        Ok(self.count(q, &args![len]).await? > 0)
    }

    async fn membership_by_id(&self, id: MembershipId) -> Result<Option<Membership>> {
        self.one(
            query!("SELECT ", membership_cols!(), " FROM memberships m WHERE m.id = $1"),
            &args![id.0],
            membership_row,
        )
        .await
    }

    async fn student_classes(
        &self,
        user: UserId,
        statuses: &[EnrollmentStatus],
        page: PageRequest,
    ) -> Result<Page<StudentClass>> {
        let Some(first) = statuses.first() else {
            return Ok(Page { total: 0, items: Vec::new() });
        };
        // Up to four statuses, the first repeated in the places left.
        let s = |i: usize| statuses.get(i).unwrap_or(first).as_str();
        let (limit, offset) = page_args(page);
        let items = self
            .all(
                query!(
                    "SELECT ",
                    membership_cols!(),
                    ", ",
                    class_cols!(),
                    ", co.title AS co_title, o.name AS o_name FROM memberships m \
                     JOIN classes c ON c.id = m.class_id JOIN users o ON o.id = c.owner_id \
                     LEFT JOIN courses co ON co.id = c.course_id \
                     WHERE m.user_id = $1 AND m.role = 'student' AND c.kind = 'class' AND m.status IN ($2, $3, $4, $5) \
                     ORDER BY m.joined_at DESC, m.id DESC LIMIT $6 OFFSET $7"
                ),
                &args![user.0, s(0), s(1), s(2), s(3), limit, offset],
                |r| {
                    Ok(StudentClass {
                        enrollment: membership_row(r)?,
                        class: class_row(r)?,
                        course_title: r.opt_text("co_title")?,
                        teacher_name: r.text("o_name")?,
                    })
                },
            )
            .await?;
        let total = self
            .count(
                query!(
                    "SELECT COUNT(*) AS n FROM memberships m JOIN classes c ON c.id = m.class_id \
                     WHERE m.user_id = $1 AND m.role = 'student' AND c.kind = 'class' AND m.status IN ($2, $3, $4, $5)"
                ),
                &args![user.0, s(0), s(1), s(2), s(3)],
            )
            .await?;
        Ok(Page { total, items })
    }

    async fn partner_student(&self, partner: UserId, user: UserId) -> Result<Option<PartnerStudent>> {
        let q = query!(
            "SELECT ",
            student_cols!(),
            " FROM partner_students ps WHERE ps.partner_id = $1 AND ps.user_id = $2"
        );
        self.one(q, &args![partner.0, user.0], student_row).await
    }

    async fn partner_students(
        &self,
        partner: UserId,
        filter: &StudentFilter,
        page: PageRequest,
    ) -> Result<Vec<PartnerStudent>> {
        let (limit, offset) = page_args(page);
        let pattern = filter.search.as_deref().map(like_pattern);
        let q = query!(
            "SELECT ",
            student_cols!(),
            " FROM partner_students ps WHERE ps.partner_id = $1 \
             AND (CAST($2 AS TEXT) IS NULL OR ps.status = $2) \
             AND (CAST($3 AS TEXT) IS NULL OR {lower ps.full_name} LIKE $3 ESCAPE '\\' \
                  OR {lower ps.email} LIKE $3 ESCAPE '\\' OR {lower ps.primary_contact} LIKE $3 ESCAPE '\\') \
             ORDER BY ps.joined_at DESC, ps.user_id DESC LIMIT $4 OFFSET $5"
        );
        self.all(q, &args![partner.0, filter.status, pattern, limit, offset], student_row).await
    }

    async fn enrollments_in_classes_of(&self, partner: UserId, users: &[UserId]) -> Result<Vec<(Membership, String)>> {
        let list = ids(users, |u| u.0);
        let q = query!(
            "SELECT ",
            membership_cols!(),
            ", c.name AS c_name FROM memberships m JOIN classes c ON c.id = m.class_id \
             WHERE c.owner_id = $1 AND c.kind = 'class' AND m.role = 'student' AND m.user_id {in $2} ORDER BY m.id"
        );
        self.all(q, &args![partner.0, list], |r| Ok((membership_row(r)?, r.text("c_name")?))).await
    }

    async fn student_enrollments(
        &self,
        partner: UserId,
        user: UserId,
        status: Option<&str>,
        page: PageRequest,
    ) -> Result<Vec<Membership>> {
        let (limit, offset) = page_args(page);
        let q = query!(
            "SELECT ",
            membership_cols!(),
            " FROM memberships m JOIN classes c ON c.id = m.class_id \
             WHERE c.owner_id = $1 AND c.kind = 'class' AND m.role = 'student' AND m.user_id = $2 \
             AND (CAST($3 AS TEXT) IS NULL OR m.status = $3) \
             ORDER BY m.joined_at DESC, m.id DESC LIMIT $4 OFFSET $5"
        );
        self.all(q, &args![partner.0, user.0, status, limit, offset], membership_row).await
    }

    async fn student_stats(&self, partner: UserId) -> Result<StudentStats> {
        let q = query!(
            "SELECT (SELECT COUNT(*) FROM partner_students WHERE partner_id = $1) AS total, \
             (SELECT COUNT(*) FROM partner_students WHERE partner_id = $1 AND status = 'active') AS active, \
             (SELECT COUNT(DISTINCT m.user_id) FROM memberships m JOIN classes c ON c.id = m.class_id \
              WHERE c.owner_id = $1 AND c.kind = 'class' AND m.role = 'student' AND m.status = 'completed') AS completed"
        );
        let count = |r: &dyn Row, col: &str| Ok::<u64, StoreError>(r.int(col)?.max(0) as u64);
        let stats = self
            .one(q, &args![partner.0], |r| {
                Ok(StudentStats {
                    total: count(r, "total")?,
                    active: count(r, "active")?,
                    completed: count(r, "completed")?,
                })
            })
            .await?;
        Ok(stats.unwrap_or_default())
    }

    async fn classes_with_student(&self, partner: UserId, user: UserId) -> Result<Vec<ClassId>> {
        let q = query!(
            "SELECT m.class_id AS id FROM memberships m JOIN classes c ON c.id = m.class_id \
             WHERE c.owner_id = $1 AND c.kind = 'class' AND m.role = 'student' AND m.user_id = $2 ORDER BY m.class_id"
        );
        self.all(q, &args![partner.0, user.0], |r| Ok(ClassId(r.int("id")?))).await
    }

    // Catalogue and courses (GrowFit)

    async fn models_page(&self, f: &ModelFilter, page: PageRequest) -> Result<Page<Model>> {
        let (limit, offset) = page_args(page);
        let name = f.name_contains.as_deref().map(contains_pattern);
        let (provider, modality) = (f.provider.as_deref(), f.modality.as_deref());
        let items = self
            .all(
                query!(
                    "SELECT ",
                    model_cols!(),
                    " FROM models mo WHERE (CAST($1 AS TEXT) IS NULL OR mo.provider = $1) \
                     AND (CAST($2 AS TEXT) IS NULL OR mo.modality = $2) \
                     AND (CAST($3 AS TEXT) IS NULL OR {lower mo.name} LIKE $3 ESCAPE '\\') \
                     AND (mo.is_active OR NOT $4) \
                     ORDER BY mo.provider, mo.name, mo.id LIMIT $5 OFFSET $6"
                ),
                &args![provider, modality, name, f.only_active, limit, offset],
                model_row,
            )
            .await?;
        let total = self
            .count(
                query!(
                    "SELECT COUNT(*) AS n FROM models mo WHERE (CAST($1 AS TEXT) IS NULL OR mo.provider = $1) \
                     AND (CAST($2 AS TEXT) IS NULL OR mo.modality = $2) \
                     AND (CAST($3 AS TEXT) IS NULL OR {lower mo.name} LIKE $3 ESCAPE '\\') \
                     AND (mo.is_active OR NOT $4)"
                ),
                &args![provider, modality, name, f.only_active],
            )
            .await?;
        Ok(Page { total, items })
    }

    async fn model(&self, id: ModelId) -> Result<Option<Model>> {
        self.one(query!("SELECT ", model_cols!(), " FROM models mo WHERE mo.id = $1"), &args![id.0], model_row).await
    }

    async fn model_named(&self, provider: &str, name: &str) -> Result<Option<ModelId>> {
        let q = query!("SELECT id FROM models WHERE provider = $1 AND name = $2");
        self.one(q, &args![provider, name], |r| Ok(ModelId(r.int("id")?))).await
    }

    async fn courses_page(&self, partner: Option<UserId>, f: &CourseFilter, page: PageRequest) -> Result<Page<Course>> {
        let (limit, offset) = page_args(page);
        let partner = partner.map(|p| p.0);
        let search = f.search.as_deref().map(contains_pattern);
        let status = f.status.as_deref();
        let items = self
            .all(
                query!(
                    "SELECT ",
                    course_cols!(),
                    " FROM courses co WHERE (CAST($1 AS BIGINT) IS NULL OR co.partner_id = $1) \
                     AND (CAST($2 AS TEXT) IS NULL OR co.status = $2) \
                     AND (CAST($3 AS TEXT) IS NULL OR {lower co.title} LIKE $3 ESCAPE '\\' \
                          OR {lower co.course_key} LIKE $3 ESCAPE '\\') \
                     ORDER BY co.created_at DESC, co.id DESC LIMIT $4 OFFSET $5"
                ),
                &args![partner, status, search, limit, offset],
                course_row,
            )
            .await?;
        let total = self
            .count(
                query!(
                    "SELECT COUNT(*) AS n FROM courses co WHERE (CAST($1 AS BIGINT) IS NULL OR co.partner_id = $1) \
                     AND (CAST($2 AS TEXT) IS NULL OR co.status = $2) \
                     AND (CAST($3 AS TEXT) IS NULL OR {lower co.title} LIKE $3 ESCAPE '\\' \
                          OR {lower co.course_key} LIKE $3 ESCAPE '\\')"
                ),
                &args![partner, status, search],
            )
            .await?;
        Ok(Page { total, items })
    }

    async fn course_by_key(&self, partner: UserId, key: &str) -> Result<Option<CourseId>> {
        let q = query!("SELECT id FROM courses WHERE partner_id = $1 AND course_key = $2");
        self.one(q, &args![partner.0, key], |r| Ok(CourseId(r.int("id")?))).await
    }
}

// ---- writes ---------------------------------------------------------------------------------

/// A class's values that are not stored as they are held.
struct ClassValues<'a> {
    status: Option<&'static str>,
    zone: Option<&'a str>,
    primary: Option<i64>,
    allowed: Vec<i64>,
    course: Option<i64>,
    /// The budget in hundredths.
    budget: Option<i64>,
}

impl ClassValues<'_> {
    fn of(f: &ClassFields) -> Result<ClassValues<'_>> {
        let budget = match f.budget_limit {
            None => None,
            Some(b) => Some(b.to_cents().ok_or_else(|| StoreError::Internal(format!("budget {b} is not storable")))?),
        };
        Ok(ClassValues {
            status: f.status.map(ClassStatus::as_str),
            zone: f.timezone.as_ref().map(ZoneName::as_str),
            primary: f.primary_model_id.map(|m| m.0),
            allowed: ids(&f.allowed_model_ids, |m| m.0),
            course: f.course_id.map(|c| c.0),
            budget,
        })
    }
}

impl<D: Db> Tx for Sql<'_, D, Write> {
    async fn class_for_update(&self, id: ClassId) -> Result<Option<Class>> {
        let q = query!("SELECT ", class_cols!(), " FROM classes c WHERE c.id = $1 {for update}");
        self.one(q, &args![id.0], class_row).await
    }

    async fn user_for_update(&self, id: UserId) -> Result<Option<User>> {
        self.one(query!("SELECT ", user_cols!(), " FROM users u WHERE u.id = $1 {for update}"), &args![id.0], user_row)
            .await
    }

    async fn insert_class(
        &self,
        owner: UserId,
        kind: ClassKind,
        fields: &ClassFields,
        now: Timestamp,
    ) -> Result<Class> {
        let (f, v) = (fields, ClassValues::of(fields)?);
        let id = self
            .insert(
                query!(
                    "INSERT INTO classes (name, status, description, start_at, end_at, capacity, timezone, location, \
                     online_url, invite_only, primary_model_id, allowed_model_ids, course_id, school_class, \
                     owner_id, kind, created_at, updated_at, budget_cents) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $17, $18) \
                     RETURNING id"
                ),
                &args![
                    f.name,
                    v.status,
                    f.description,
                    f.start_at,
                    f.end_at,
                    f.capacity,
                    v.zone,
                    f.location,
                    f.online_url,
                    f.invite_only,
                    v.primary,
                    v.allowed,
                    v.course,
                    f.school_class,
                    owner.0,
                    kind.as_str(),
                    now,
                    v.budget
                ],
            )
            .await?;
        Ok(Class {
            id: ClassId(id),
            owner_id: owner,
            kind,
            fields: fields.clone(),
            member_count: 0,
            version: 1,
            created_at: now,
            updated_at: now,
        })
    }

    async fn update_class(&self, current: &Class, next: &Class) -> Result<()> {
        let (f, v) = (&next.fields, ClassValues::of(&next.fields)?);
        self.exec_one(
            query!(
                "UPDATE classes SET name = $1, status = $2, description = $3, start_at = $4, end_at = $5, \
                 capacity = $6, timezone = $7, location = $8, online_url = $9, invite_only = $10, \
                 primary_model_id = $11, allowed_model_ids = $12, course_id = $13, school_class = $14, \
                 updated_at = $15, version = $16, budget_cents = $17 WHERE id = $18 AND version = $19"
            ),
            &args![
                f.name,
                v.status,
                f.description,
                f.start_at,
                f.end_at,
                f.capacity,
                v.zone,
                f.location,
                f.online_url,
                f.invite_only,
                v.primary,
                v.allowed,
                v.course,
                f.school_class,
                next.updated_at,
                next.version,
                v.budget,
                current.id.0,
                current.version
            ],
            "updating a class",
        )
        .await
    }

    async fn touch_class(&self, id: ClassId) -> Result<()> {
        self.exec_one(
            query!("UPDATE classes SET version = version + 1 WHERE id = $1"),
            &args![id.0],
            "touching a class",
        )
        .await
    }

    async fn delete_class(&self, id: ClassId) -> Result<()> {
        self.exec_one(query!("DELETE FROM classes WHERE id = $1"), &args![id.0], "deleting a class").await
    }

    async fn add_to_class_count(&self, owner: UserId, delta: i64) -> Result<()> {
        self.exec_one(
            query!("UPDATE users SET class_count = class_count + $2 WHERE id = $1"),
            &args![owner.0, delta],
            "counting an owner's classes",
        )
        .await
    }

    async fn take_seat(&self, class: ClassId) -> Result<bool> {
        let n = self
            .exec(
                query!(
                    "UPDATE classes SET member_count = member_count + 1, version = version + 1 \
                     WHERE id = $1 AND (capacity IS NULL OR member_count < capacity)"
                ),
                &args![class.0],
            )
            .await?;
        Ok(n == 1)
    }

    async fn free_seat(&self, class: ClassId) -> Result<()> {
        self.exec_one(
            query!(
                "UPDATE classes SET member_count = member_count - 1, version = version + 1 \
                 WHERE id = $1 AND member_count > 0"
            ),
            &args![class.0],
            "freeing a seat",
        )
        .await
    }

    async fn code_exists(&self, code: &str) -> Result<bool> {
        Ok(self.count(query!("SELECT COUNT(*) AS n FROM invite_codes WHERE code = $1"), &args![code]).await? > 0)
    }

    async fn insert_code(&self, code: NewCode<'_>, now: Timestamp) -> Result<InviteCode> {
        let id = self
            .insert(
                query!(
                    "INSERT INTO invite_codes (class_id, code, target_role, max_uses, expires_at, created_by, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id"
                ),
                &args![
                    code.class_id.0,
                    code.code,
                    code.target_role.as_str(),
                    code.max_uses,
                    code.expires_at,
                    code.created_by.0,
                    now
                ],
            )
            .await?;
        self.code(InviteCodeId(id)).await?.ok_or_else(|| StoreError::Internal("an inserted code vanished".into()))
    }

    async fn update_code(&self, code: &InviteCode) -> Result<()> {
        self.exec_one(
            query!("UPDATE invite_codes SET max_uses = $2, expires_at = $3, disabled = $4 WHERE id = $1"),
            &args![code.id.0, code.max_uses, code.expires_at, code.disabled],
            "updating a code",
        )
        .await
    }

    async fn use_code(&self, id: InviteCodeId, now: Timestamp) -> Result<bool> {
        let n = self
            .exec(
                query!(
                    "UPDATE invite_codes SET used_count = used_count + 1 WHERE id = $1 AND NOT disabled \
                     AND (expires_at IS NULL OR expires_at > $2) AND (max_uses IS NULL OR used_count < max_uses)"
                ),
                &args![id.0, now],
            )
            .await?;
        Ok(n == 1)
    }

    async fn insert_membership(&self, m: NewMember<'_>, now: Timestamp) -> Result<Membership> {
        self.insert_enrollment(m, EnrollmentStatus::Active, now).await
    }

    async fn delete_membership(&self, id: MembershipId) -> Result<bool> {
        Ok(self.exec(query!("DELETE FROM memberships WHERE id = $1"), &args![id.0]).await? == 1)
    }

    async fn order_members(&self, class: ClassId, role: MemberRole, users: &[UserId]) -> Result<()> {
        for (position, user) in users.iter().enumerate() {
            let position = i64::try_from(position + 1).unwrap_or(i64::MAX);
            self.exec_one(
                query!("UPDATE memberships SET position = $4 WHERE class_id = $1 AND user_id = $2 AND role = $3"),
                &args![class.0, user.0, role.as_str(), position],
                "ordering members",
            )
            .await?;
        }
        Ok(())
    }

    async fn replace_members(&self, class: ClassId, role: MemberRole, users: &[UserId], now: Timestamp) -> Result<()> {
        self.exec(query!("DELETE FROM memberships WHERE class_id = $1 AND role = $2"), &args![class.0, role.as_str()])
            .await?;
        for (position, user) in users.iter().enumerate() {
            let position = i64::try_from(position + 1).unwrap_or(i64::MAX);
            self.exec_one(
                query!(
                    "INSERT INTO memberships (class_id, user_id, role, position, joined_at) VALUES ($1, $2, $3, $4, $5)"
                ),
                &args![class.0, user.0, role.as_str(), position, now],
                "adding a member",
            )
            .await?;
        }
        self.exec_one(
            query!(
                "UPDATE classes SET member_count = \
                 (SELECT COUNT(*) FROM memberships WHERE class_id = $1 AND role = 'student' AND status <> 'dropped'), \
                 version = version + 1 WHERE id = $1"
            ),
            &args![class.0],
            "counting a class's members",
        )
        .await
    }

    async fn set_env_creation_disabled(&self, id: MembershipId, disabled: bool) -> Result<()> {
        self.exec_one(
            query!("UPDATE memberships SET env_creation_disabled = $2 WHERE id = $1"),
            &args![id.0, disabled],
            "setting an instructor's environment creation",
        )
        .await
    }

    async fn set_member_times(
        &self,
        id: MembershipId,
        invited_at: Option<Timestamp>,
        logged_in_at: Option<Timestamp>,
    ) -> Result<()> {
        self.exec_one(
            query!("UPDATE memberships SET invited_at = $2, logged_in_at = $3 WHERE id = $1"),
            &args![id.0, invited_at, logged_in_at],
            "marking a member",
        )
        .await
    }

    async fn insert_user(&self, user: &NewUser, now: Timestamp) -> Result<User> {
        let profile = user.profile.as_ref().map(|p| JsonText(p.to_string()));
        let id = self
            .insert(
                query!(
                    "INSERT INTO users (kind, name, email, first_name, last_name, created_at, username, password_hash, \
                     institution_id, profile) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id"
                ),
                &args![
                    user.kind.as_str(),
                    user.name,
                    user.email,
                    user.first_name,
                    user.last_name,
                    now,
                    user.username,
                    user.password_hash,
                    user.institution_id.map(|i| i.0),
                    profile
                ],
            )
            .await?;
        Ok(User {
            id: UserId(id),
            kind: user.kind,
            name: user.name.clone(),
            email: user.email.clone(),
            first_name: user.first_name.clone(),
            last_name: user.last_name.clone(),
            username: user.username.clone(),
            institution_id: user.institution_id,
            profile: user.profile.clone(),
            created_at: now,
            disabled_at: None,
        })
    }

    async fn delete_user(&self, user: UserId) -> Result<()> {
        self.exec_one(query!("DELETE FROM users WHERE id = $1"), &args![user.0], "deleting a user").await
    }

    async fn update_student(
        &self,
        membership: MembershipId,
        user: UserId,
        name: &str,
        p: &StudentProfile,
    ) -> Result<()> {
        self.exec_one(
            query!("UPDATE users SET name = $2, email = $3, first_name = $4, last_name = $5 WHERE id = $1"),
            &args![user.0, name, p.email, p.first_name, p.last_name],
            "updating a student",
        )
        .await?;
        self.exec_one(
            query!("UPDATE memberships SET email = $2 WHERE id = $1"),
            &args![membership.0, p.email],
            "updating a student's email key",
        )
        .await
    }

    async fn set_user_profile(&self, user: UserId, profile: &serde_json::Value) -> Result<()> {
        self.exec_one(
            query!("UPDATE users SET profile = $2 WHERE id = $1"),
            &args![user.0, JsonText(profile.to_string())],
            "updating a user's profile",
        )
        .await
    }

    async fn insert_token(&self, user: UserId, hash: &[u8; 32], kind: TokenKind, now: Timestamp) -> Result<()> {
        self.exec_one(
            query!("INSERT INTO tokens (hash, user_id, created_at, kind, expires_at) VALUES ($1, $2, $3, $4, $5)"),
            &args![hash, user.0, now, kind.as_str(), kind.expires_at()],
            "storing a token",
        )
        .await
    }

    async fn revoke_token(&self, hash: &[u8; 32], now: Timestamp) -> Result<Option<UserId>> {
        let q = query!("UPDATE tokens SET revoked_at = $2 WHERE hash = $1 AND revoked_at IS NULL RETURNING user_id");
        self.one(q, &args![hash, now], |r| Ok(UserId(r.int("user_id")?))).await
    }

    async fn insert_model(&self, m: &NewModel, now: Timestamp) -> Result<Model> {
        let q = query!(
            "INSERT INTO models (name, provider, modality, supports_parallel, default_pricing, is_active, \
             created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING id"
        );
        let pricing = m.default_pricing.as_ref().map(|p| JsonText(serde_json::Value::Object(p.clone()).to_string()));
        let id = self
            .insert(q, &args![m.name, m.provider, m.modality.as_str(), m.supports_parallel, pricing, m.is_active, now])
            .await?;
        Ok(Model {
            id: ModelId(id),
            name: m.name.clone(),
            provider: m.provider.clone(),
            modality: m.modality,
            supports_parallel: m.supports_parallel,
            default_pricing: m.default_pricing.clone(),
            is_active: m.is_active,
            created_at: now,
            updated_at: now,
        })
    }

    async fn insert_course(&self, partner: UserId, f: &CourseFields, now: Timestamp) -> Result<Course> {
        let q = query!(
            "INSERT INTO courses (partner_id, title, course_key, status, start_date, end_date, description, \
             created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) RETURNING id"
        );
        let (start, end) = (date_text(f.start_date), date_text(f.end_date));
        let id = self
            .insert(q, &args![partner.0, f.title, f.course_key, f.status.as_str(), start, end, f.description, now])
            .await?;
        Ok(Course { id: CourseId(id), partner_id: partner, fields: f.clone(), created_at: now, updated_at: now })
    }

    async fn insert_audit(&self, ctx: &Context, e: &NewAuditEvent) -> Result<()> {
        let before = e.before.as_ref().map(|v| JsonText(v.to_string()));
        let after = e.after.as_ref().map(|v| JsonText(v.to_string()));
        self.exec_one(
            query!(
                "INSERT INTO audit_events (at, actor_id, action, class_id, entity_id, before, after, request_id) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
            ),
            &args![
                ctx.now,
                ctx.actor.map(|a| a.0),
                e.action.as_str(),
                e.class_id.map(|c| c.0),
                e.entity_id,
                before,
                after,
                ctx.request_id
            ],
            "recording an audit event",
        )
        .await
    }

    async fn insert_project(&self, name: &str, now: Timestamp) -> Result<Project> {
        let id = self
            .insert(query!("INSERT INTO projects (name, created_at) VALUES ($1, $2) RETURNING id"), &args![name, now])
            .await?;
        Ok(Project { id: ProjectId(id), name: name.into(), is_active: true })
    }

    async fn insert_policy(
        &self,
        project: ProjectId,
        name: &str,
        minutes: u32,
        leases: Option<&PolicyLeases>,
        now: Timestamp,
    ) -> Result<Policy> {
        let q = query!(
            "INSERT INTO policies (project_id, name, default_duration_minutes, created_at, storage_lease_minutes, \
             inactivity_handling, inactivity_threshold_minutes) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id"
        );
        let (storage, handling, threshold) = match leases {
            Some(l) => {
                (Some(l.storage_minutes), Some(l.inactivity_handling.as_str()), Some(l.inactivity_threshold_minutes))
            }
            None => (None, None, None),
        };
        let id = self.insert(q, &args![project.0, name, minutes, now, storage, handling, threshold]).await?;
        Ok(Policy {
            id: PolicyId(id),
            project_id: project,
            name: name.into(),
            default_duration_minutes: minutes,
            allow_environment_creation: true,
            leases: leases.cloned(),
        })
    }

    async fn insert_blueprint(
        &self,
        project: ProjectId,
        name: &str,
        description: Option<&str>,
        token: &str,
        now: Timestamp,
    ) -> Result<Blueprint> {
        let q = query!(
            "INSERT INTO blueprints (project_id, name, description, token, created_at) VALUES ($1, $2, $3, $4, $5) \
             RETURNING id"
        );
        let id = self.insert(q, &args![project.0, name, description, token, now]).await?;
        Ok(Blueprint {
            id: BlueprintId(id),
            project_id: project,
            name: name.into(),
            description: description.map(Into::into),
            token: token.into(),
        })
    }

    async fn insert_custom_field(&self, f: &CustomField, now: Timestamp) -> Result<CustomField> {
        let q = query!(
            "INSERT INTO custom_fields (project_id, name, position, kind, is_required, regex, default_value, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id"
        );
        let a = args![f.project_id.0, f.name, f.order, f.kind, f.is_required, f.regex, f.default_value, now];
        let id = self.insert(q, &a).await?;
        Ok(CustomField { id: CustomFieldId(id), ..f.clone() })
    }

    async fn insert_project_member(
        &self,
        project: ProjectId,
        user: UserId,
        role: MemberRights,
        now: Timestamp,
    ) -> Result<ProjectMember> {
        let q = query!(
            "INSERT INTO project_members (project_id, user_id, can_instruct, can_manage, created_at) \
             VALUES ($1, $2, $3, $4, $5) RETURNING id"
        );
        let id = self.insert(q, &args![project.0, user.0, role.can_instruct, role.can_manage, now]).await?;
        Ok(ProjectMember {
            id: ProjectMemberId(id),
            project_id: project,
            user_id: user,
            can_instruct: role.can_instruct,
            can_manage: role.can_manage,
        })
    }

    async fn revoke_api_credentials(&self, user: UserId, now: Timestamp) -> Result<u64> {
        let q = query!("UPDATE api_credentials SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL");
        self.exec(q, &args![user.0, now]).await
    }

    async fn insert_api_credential(&self, api_id: &str, user: UserId, sealed_key: &[u8], now: Timestamp) -> Result<()> {
        self.exec_one(
            query!("INSERT INTO api_credentials (api_id, user_id, sealed_key, created_at) VALUES ($1, $2, $3, $4)"),
            &args![api_id, user.0, sealed_key, now],
            "storing API credentials",
        )
        .await
    }

    async fn insert_lab(&self, class: ClassId, l: &LabSettings) -> Result<()> {
        let (address, values) = (l.address.as_ref().map(json_text), json_text(&l.field_values));
        self.exec_one(
            query!(
                "INSERT INTO labs (class_id, project_id, blueprint_id, policy_id, short_id, windows_zone, passphrase, \
                 limit_early_access, use_custom_invitation_email, custom_invitation_subject, custom_invitation_body, \
                 permit_non_registered, address, field_values, self_paced, allow_multiple_student_login) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)"
            ),
            &args![
                class.0,
                l.project_id.0,
                l.blueprint_id.0,
                l.policy_id.0,
                l.short_id,
                l.windows_zone,
                l.passphrase,
                l.limit_early_access,
                l.use_custom_invitation_email,
                l.custom_invitation_subject,
                l.custom_invitation_body,
                l.permit_non_registered,
                address,
                values,
                l.self_paced,
                l.allow_multiple_student_login
            ],
            "storing lab settings",
        )
        .await
    }

    async fn update_lab(&self, class: ClassId, l: &LabSettings) -> Result<()> {
        let (address, values) = (l.address.as_ref().map(json_text), json_text(&l.field_values));
        self.exec_one(
            query!(
                "UPDATE labs SET windows_zone = $2, passphrase = $3, limit_early_access = $4, \
                 use_custom_invitation_email = $5, custom_invitation_subject = $6, custom_invitation_body = $7, \
                 permit_non_registered = $8, address = $9, field_values = $10, self_paced = $11, \
                 allow_multiple_student_login = $12 WHERE class_id = $1"
            ),
            &args![
                class.0,
                l.windows_zone,
                l.passphrase,
                l.limit_early_access,
                l.use_custom_invitation_email,
                l.custom_invitation_subject,
                l.custom_invitation_body,
                l.permit_non_registered,
                address,
                values,
                l.self_paced,
                l.allow_multiple_student_login
            ],
            "updating lab settings",
        )
        .await
    }

    async fn short_id_exists(&self, short_id: &str) -> Result<bool> {
        Ok(self.count(query!("SELECT COUNT(*) AS n FROM labs WHERE short_id = $1"), &args![short_id]).await? > 0)
    }

    async fn insert_sponsored_link(&self, hash: &[u8; 32], class: ClassId, email: &str, now: Timestamp) -> Result<()> {
        self.exec_one(
            query!("INSERT INTO sponsored_links (token_hash, class_id, email, created_at) VALUES ($1, $2, $3, $4)"),
            &args![hash, class.0, email, now],
            "storing a sponsored link",
        )
        .await
    }

    async fn disable_sponsored_links(&self, class: ClassId, email: &str, now: Timestamp) -> Result<u64> {
        self.exec(
            query!(
                "UPDATE sponsored_links SET disabled_at = $3 WHERE class_id = $1 AND email = $2 AND disabled_at IS NULL"
            ),
            &args![class.0, email, now],
        )
        .await
    }

    async fn insert_outbox(&self, email: &Email, now: Timestamp) -> Result<OutboxId> {
        let q = query!(
            "INSERT INTO outbox (recipient, subject, body, html, created_at, next_attempt_at) \
             VALUES ($1, $2, $3, $4, $5, $5) RETURNING id"
        );
        Ok(OutboxId(self.insert(q, &args![email.to, email.subject, email.text, email.html, now]).await?))
    }

    async fn claim_outbox(&self, now: Timestamp, until: Timestamp, limit: u32) -> Result<Vec<OutboxMessage>> {
        // SKIP LOCKED lets several processes' senders share the outbox without waiting on
        // each other or taking the same message.
        let q = query!(
            "UPDATE outbox SET claimed_until = $2 WHERE id IN ( \
                 SELECT id FROM outbox WHERE sent_at IS NULL AND next_attempt_at <= $1 \
                 AND (claimed_until IS NULL OR claimed_until <= $1) ORDER BY next_attempt_at, id LIMIT $3 \
                 {skip locked}) \
             RETURNING id, recipient, subject, body, html, attempts"
        );
        let mut claimed = self
            .all(q, &args![now, until, limit], |r| {
                Ok(OutboxMessage {
                    id: OutboxId(r.int("id")?),
                    email: Email {
                        to: r.text("recipient")?,
                        subject: r.text("subject")?,
                        text: r.text("body")?,
                        html: r.opt_text("html")?,
                    },
                    attempts: count_of(r, "attempts")?,
                })
            })
            .await?;
        claimed.sort_by_key(|m| m.id);
        Ok(claimed)
    }

    async fn outbox_sent(&self, id: OutboxId, now: Timestamp) -> Result<()> {
        self.exec_one(
            query!(
                "UPDATE outbox SET sent_at = $2, attempts = attempts + 1, claimed_until = NULL, last_error = NULL, \
                 body = '', html = NULL WHERE id = $1"
            ),
            &args![id.0, now],
            "recording a delivery",
        )
        .await
    }

    async fn outbox_failed(&self, id: OutboxId, error: &str, next: Timestamp) -> Result<()> {
        self.exec_one(
            query!(
                "UPDATE outbox SET attempts = attempts + 1, last_error = $2, next_attempt_at = $3, claimed_until = NULL \
                 WHERE id = $1"
            ),
            &args![id.0, error, next],
            "recording a failed delivery",
        )
        .await
    }

    async fn insert_institution(&self, i: &Institution, now: Timestamp) -> Result<Institution> {
        let q = query!(
            "INSERT INTO institutions (type, name, address, latitude, longitude, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id"
        );
        let id = self.insert(q, &args![i.kind, i.name, i.address, i.latitude, i.longitude, now]).await?;
        Ok(Institution { id: InstitutionId(id), ..i.clone() })
    }

    async fn delete_setting(&self, name: &str) -> Result<()> {
        self.exec(query!("DELETE FROM settings WHERE name = $1"), &args![name]).await.map(drop)
    }

    async fn throttles_for_update(&self, keys: &[[u8; 32]], now: Timestamp) -> Result<Vec<Counter>> {
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            // The key's lock, not its row's: a first attempt at a key has no row to lock, and
            // making one would commit a write (a WAL flush) for every attempt that changes
            // nothing, such as each refusal of a storm on a full class. The lock is taken
            // before the row is read (two statements, sent together), so the read sees what
            // the last holder committed. Keys are hashes; two that share their first eight
            // bytes only take turns.
            let name = i64::from_be_bytes(std::array::from_fn(|i| key[i]));
            let (lock_args, row_args) = (args![name], args![key]);
            let (_, counter) = tokio::try_join!(
                self.one(query!("SELECT {xact lock $1} AS locked"), &lock_args, |_| Ok(())),
                self.one(
                    query!("SELECT ", throttle_cols!(), " FROM throttles WHERE key = $1"),
                    &row_args,
                    throttle_row
                )
            )?;
            out.push(counter.unwrap_or_else(|| Counter::fresh(now)));
        }
        Ok(out)
    }

    async fn put_throttle(&self, key: &[u8; 32], c: &Counter, now: Timestamp) -> Result<()> {
        self.exec_one(
            query!(
                "INSERT INTO throttles (key, failures, window_start, strikes, blocked_until, touched_at) \
                 VALUES ($1, $2, $3, $4, $5, $6) \
                 ON CONFLICT (key) DO UPDATE SET failures = excluded.failures, window_start = excluded.window_start, \
                 strikes = excluded.strikes, blocked_until = excluded.blocked_until, touched_at = excluded.touched_at"
            ),
            &args![key, c.failures, c.window_start, c.strikes, c.blocked_until, now],
            "counting an attempt",
        )
        .await
    }

    async fn idempotency_key_for_update(&self, key: &[u8; 32]) -> Result<Option<(Record<Answer>, [u8; 16])>> {
        let q = query!(
            "SELECT fingerprint, holder, state, lease_until, status, headers, body, created_at \
             FROM idempotency_keys WHERE key = $1 {for update}"
        );
        self.one(q, &args![key], |r| {
            let state = match r.text("state")?.as_str() {
                "running" => State::Running { lease_until: stored(r.opt_time("lease_until")?, "lease")? },
                "applied" => State::Applied,
                "done" => {
                    let headers = r.json("headers")?.unwrap_or_default();
                    let headers = serde_json::from_value(headers).map_err(|e| column("headers", e))?;
                    let status = u16::try_from(r.int("status")?).map_err(|e| column("status", e))?;
                    State::Done(Answer { status, headers, body: r.bytes("body")? })
                }
                other => return Err(column("state", other)),
            };
            let record = Record { fingerprint: fixed(r, "fingerprint")?, state, created_at: r.time("created_at")? };
            Ok((record, fixed(r, "holder")?))
        })
        .await
    }

    async fn claim_idempotency_key(
        &self,
        key: &[u8; 32],
        fingerprint: &[u8; 32],
        holder: &[u8; 16],
        lease_until: Timestamp,
        created_at: Timestamp,
        replacing: Option<&[u8; 16]>,
    ) -> Result<bool> {
        let (fingerprint, holder) = (&fingerprint[..], &holder[..]);
        let changed = match replacing {
            None => {
                let q = query!(
                    "INSERT INTO idempotency_keys (key, fingerprint, holder, state, lease_until, created_at) \
                     VALUES ($1, $2, $3, 'running', $4, $5) ON CONFLICT (key) DO NOTHING"
                );
                self.exec(q, &args![key, fingerprint, holder, lease_until, created_at]).await?
            }
            Some(old) => {
                let q = query!(
                    "UPDATE idempotency_keys SET fingerprint = $2, holder = $3, state = 'running', lease_until = $4, \
                     status = NULL, headers = NULL, body = NULL, created_at = $5 WHERE key = $1 AND holder = $6"
                );
                self.exec(q, &args![key, fingerprint, holder, lease_until, created_at, &old[..]]).await?
            }
        };
        Ok(changed == 1)
    }

    async fn settle_idempotency_key(&self, key: &[u8; 32], holder: &[u8; 16], answer: Option<&Answer>) -> Result<bool> {
        let changed = match answer {
            None => {
                let q = query!(
                    "UPDATE idempotency_keys SET state = 'applied', lease_until = NULL \
                     WHERE key = $1 AND holder = $2 AND state IN ('running', 'applied')"
                );
                self.exec(q, &args![key, &holder[..]]).await?
            }
            Some(a) => {
                let q = query!(
                    "UPDATE idempotency_keys SET state = 'done', lease_until = NULL, status = $3, headers = $4, \
                     body = $5 WHERE key = $1 AND holder = $2 AND state IN ('running', 'applied')"
                );
                let status = i64::from(a.status);
                self.exec(q, &args![key, &holder[..], status, json_text(&a.headers), &a.body[..]]).await?
            }
        };
        Ok(changed == 1)
    }

    async fn release_idempotency_key(&self, key: &[u8; 32], holder: &[u8; 16]) -> Result<()> {
        let q = query!("DELETE FROM idempotency_keys WHERE key = $1 AND holder = $2 AND state = 'running'");
        self.exec(q, &args![key, &holder[..]]).await.map(drop)
    }

    async fn prune_idempotency_keys(&self, before: Timestamp) -> Result<u64> {
        self.exec(query!("DELETE FROM idempotency_keys WHERE created_at < $1"), &args![before]).await
    }

    async fn insert_nonce(&self, key: &[u8; 32], expires_at: Timestamp) -> Result<bool> {
        let q = query!("INSERT INTO nonces (key, expires_at) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING");
        Ok(self.exec(q, &args![key, expires_at]).await? == 1)
    }

    async fn prune_security(&self, now: Timestamp, idle_before: Timestamp) -> Result<(u64, u64)> {
        let nonces = self.exec(query!("DELETE FROM nonces WHERE expires_at < $1"), &args![now]).await?;
        let throttles = self
            .exec(
                query!("DELETE FROM throttles WHERE touched_at < $1 AND (blocked_until IS NULL OR blocked_until < $2)"),
                &args![idle_before, now],
            )
            .await?;
        Ok((nonces, throttles))
    }

    async fn setting_or_insert(&self, name: &str, value: &[u8]) -> Result<Vec<u8>> {
        self.exec(
            query!("INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING"),
            &args![name, value],
        )
        .await?;
        self.setting(name).await?.ok_or_else(|| StoreError::Internal(format!("setting {name} vanished")))
    }

    // Accounts (GrowFit)

    async fn email_verification_for_update(
        &self,
        email: &str,
        since: Timestamp,
        token: Option<&[u8; 32]>,
    ) -> Result<Option<EmailCode>> {
        match token {
            Some(h) => {
                let q = query!(
                    "SELECT ",
                    email_code_cols!(),
                    " FROM email_codes ec WHERE ec.email = $1 AND (ec.verified_hash = $2 OR ec.token_hash = $2) \
                     {for update}"
                );
                self.one(q, &args![email, h], email_code_row).await
            }
            None => {
                let q = query!(
                    "SELECT ",
                    email_code_cols!(),
                    " FROM email_codes ec WHERE ec.email = $1 AND ec.verified_at IS NOT NULL AND ec.verified_at >= $2 \
                     ORDER BY ec.verified_at DESC, ec.id DESC LIMIT 1 {for update}"
                );
                self.one(q, &args![email, since], email_code_row).await
            }
        }
    }

    async fn email_code_for_update(&self, token_hash: &[u8; 32]) -> Result<Option<EmailCode>> {
        let q = query!("SELECT ", email_code_cols!(), " FROM email_codes ec WHERE ec.token_hash = $1 {for update}");
        self.one(q, &args![token_hash], email_code_row).await
    }

    async fn insert_email_code(&self, c: &NewEmailCode, now: Timestamp) -> Result<EmailCodeId> {
        let q = query!(
            "INSERT INTO email_codes (token_hash, email, code_hash, attempts, created_at, expires_at) \
             VALUES ($1, $2, $3, 0, $4, $5) RETURNING id"
        );
        Ok(EmailCodeId(self.insert(q, &args![c.token_hash, c.email, c.code_hash, now, c.expires_at]).await?))
    }

    async fn count_code_attempt(&self, id: EmailCodeId, seen: u32) -> Result<()> {
        self.exec_one(
            query!(
                "UPDATE email_codes SET attempts = attempts + 1 \
                 WHERE id = $1 AND attempts = $2 AND verified_at IS NULL AND consumed_at IS NULL"
            ),
            &args![id.0, seen],
            "counting a wrong code",
        )
        .await
    }

    async fn mark_code_verified(&self, id: EmailCodeId, verified_hash: &[u8; 32], now: Timestamp) -> Result<()> {
        self.exec_one(
            query!(
                "UPDATE email_codes SET verified_at = $2, verified_hash = $3 \
                 WHERE id = $1 AND verified_at IS NULL AND consumed_at IS NULL"
            ),
            &args![id.0, now, verified_hash],
            "verifying a code",
        )
        .await
    }

    async fn consume_verification(&self, id: EmailCodeId, now: Timestamp) -> Result<()> {
        self.exec_one(
            query!(
                "UPDATE email_codes SET consumed_at = $2 WHERE id = $1 AND verified_at IS NOT NULL AND consumed_at IS NULL"
            ),
            &args![id.0, now],
            "using a verification",
        )
        .await
    }

    async fn insert_account(&self, user: UserId, email: &str, password_hash: &str, now: Timestamp) -> Result<Account> {
        self.exec_one(
            query!(
                "INSERT INTO accounts (user_id, email, password_hash, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)"
            ),
            &args![user.0, email, password_hash, now],
            "making an account",
        )
        .await?;
        Ok(Account { user_id: user, email: email.to_string(), created_at: now, updated_at: now, last_login_at: None })
    }

    async fn update_account(
        &self,
        user: UserId,
        email: &str,
        password_hash: Option<&str>,
        now: Timestamp,
    ) -> Result<()> {
        self.exec_one(
            query!(
                "UPDATE accounts SET email = $2, password_hash = COALESCE($3, password_hash), updated_at = $4 \
                 WHERE user_id = $1"
            ),
            &args![user.0, email, password_hash, now],
            "changing an account",
        )
        .await
    }

    async fn record_account_login(&self, user: UserId, now: Timestamp) -> Result<()> {
        self.exec_one(
            query!("UPDATE accounts SET last_login_at = $2, updated_at = $2 WHERE user_id = $1"),
            &args![user.0, now],
            "recording a sign-in",
        )
        .await
    }

    async fn set_user_email(&self, user: UserId, email: &str) -> Result<()> {
        self.exec_one(query!("UPDATE users SET email = $2 WHERE id = $1"), &args![user.0, email], "changing an email")
            .await
    }

    async fn set_user_name(&self, user: UserId, name: &str) -> Result<()> {
        self.exec_one(query!("UPDATE users SET name = $2 WHERE id = $1"), &args![user.0, name], "renaming a user").await
    }

    async fn replace_password_hash(&self, user: UserId, expected: &str, hash: &str) -> Result<bool> {
        let q = query!("UPDATE users SET password_hash = $3 WHERE id = $1 AND password_hash = $2");
        Ok(self.exec(q, &args![user.0, expected, hash]).await? == 1)
    }

    async fn set_user_disabled(&self, user: UserId, disabled_at: Option<Timestamp>) -> Result<()> {
        let q = query!("UPDATE users SET disabled_at = $2 WHERE id = $1");
        self.exec_one(q, &args![user.0, disabled_at], "disabling or enabling a user").await
    }

    async fn revoke_api_tokens(&self, user: UserId, now: Timestamp) -> Result<u64> {
        let q = query!("UPDATE tokens SET revoked_at = $2 WHERE user_id = $1 AND kind = 'api' AND revoked_at IS NULL");
        self.exec(q, &args![user.0, now]).await
    }

    async fn insert_refresh_token(
        &self,
        hash: &[u8; 32],
        user: UserId,
        access_hash: &[u8; 32],
        expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<()> {
        self.exec_one(
            query!(
                "INSERT INTO refresh_tokens (hash, user_id, access_hash, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5)"
            ),
            &args![hash, user.0, access_hash, now, expires_at],
            "storing a refresh token",
        )
        .await
    }

    async fn refresh_token_for_update(&self, hash: &[u8; 32]) -> Result<Option<RefreshGrant>> {
        let q =
            query!("SELECT user_id, access_hash, used_at, expires_at FROM refresh_tokens WHERE hash = $1 {for update}");
        self.one(q, &args![hash], |r| {
            Ok(RefreshGrant {
                user_id: UserId(r.int("user_id")?),
                access_hash: fixed(r, "access_hash")?,
                used_at: r.opt_time("used_at")?,
                expires_at: r.time("expires_at")?,
            })
        })
        .await
    }

    async fn use_refresh_token(&self, hash: &[u8; 32], now: Timestamp) -> Result<()> {
        self.exec_one(
            query!("UPDATE refresh_tokens SET used_at = $2 WHERE hash = $1 AND used_at IS NULL"),
            &args![hash, now],
            "using a refresh token",
        )
        .await
    }

    async fn revoke_user_sessions(&self, user: UserId, except: Option<&[u8; 32]>, now: Timestamp) -> Result<u64> {
        // A hash no token has stands for "no exception".
        let keep: &[u8] = match except {
            Some(h) => h,
            None => &[],
        };
        self.exec(
            query!(
                "UPDATE tokens SET revoked_at = $3 \
                 WHERE user_id = $1 AND kind = 'session' AND revoked_at IS NULL AND hash <> $2"
            ),
            &args![user.0, keep, now],
        )
        .await
    }

    async fn prune_accounts(&self, before: Timestamp) -> Result<u64> {
        let codes = self.exec(query!("DELETE FROM email_codes WHERE created_at < $1"), &args![before]).await?;
        let refresh = self
            .exec(
                query!(
                    "DELETE FROM refresh_tokens WHERE used_at < $1 OR expires_at < $1 \
                     OR access_hash IN (SELECT hash FROM tokens WHERE revoked_at < $1)"
                ),
                &args![before],
            )
            .await?;
        // A session's row goes once no refresh token can revive it (an expired access token's
        // refresh token may still be exchanged, and names it).
        let sessions = self
            .exec(
                query!(
                    "DELETE FROM tokens WHERE kind = 'session' AND (expires_at < $1 OR revoked_at < $1) \
                     AND NOT EXISTS (SELECT 1 FROM refresh_tokens r WHERE r.access_hash = tokens.hash)"
                ),
                &args![before],
            )
            .await?;
        Ok(codes + refresh + sessions)
    }

    // Enrollments (GrowFit)

    async fn insert_enrollment(
        &self,
        m: NewMember<'_>,
        status: EnrollmentStatus,
        now: Timestamp,
    ) -> Result<Membership> {
        let code = m.code.map(|c| c.0);
        let id = self
            .insert(
                query!(
                    "INSERT INTO memberships (class_id, user_id, role, position, joined_at, invite_code_id, email, status) \
                     VALUES ($1, $2, $3, (SELECT COALESCE(MAX(position), 0) + 1 FROM memberships WHERE class_id = $1), \
                     $4, $5, $6, $7) RETURNING id"
                ),
                &args![m.class_id.0, m.user_id.0, m.role.as_str(), now, code, m.email, status.as_str()],
            )
            .await?;
        Ok(Membership {
            id: MembershipId(id),
            class_id: m.class_id,
            user_id: m.user_id,
            role: m.role,
            joined_at: now,
            invite_code_id: m.code,
            invited_at: None,
            logged_in_at: None,
            env_creation_disabled: false,
            status,
            completed_at: None,
        })
    }

    async fn update_enrollment(&self, before: &Membership, after: &Membership) -> Result<()> {
        self.exec_one(
            query!(
                "UPDATE memberships SET status = $3, joined_at = $4, completed_at = $5, invite_code_id = $6 \
                 WHERE id = $1 AND status = $2"
            ),
            &args![
                after.id.0,
                before.status.as_str(),
                after.status.as_str(),
                after.joined_at,
                after.completed_at,
                after.invite_code_id.map(|c| c.0)
            ],
            "updating an enrollment",
        )
        .await
    }

    async fn partner_student_for_update(&self, partner: UserId, user: UserId) -> Result<Option<PartnerStudent>> {
        let q = query!(
            "SELECT ",
            student_cols!(),
            " FROM partner_students ps WHERE ps.partner_id = $1 AND ps.user_id = $2 {for update}"
        );
        self.one(q, &args![partner.0, user.0], student_row).await
    }

    async fn insert_partner_student(&self, s: &PartnerStudent) -> Result<bool> {
        let q = query!(
            "INSERT INTO partner_students (partner_id, user_id, full_name, email, status, joined_at, primary_contact, \
             notes) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (partner_id, user_id) DO NOTHING"
        );
        let status = s.status.as_str();
        let a =
            args![s.partner_id.0, s.user_id.0, s.full_name, s.email, status, s.joined_at, s.primary_contact, s.notes];
        Ok(self.exec(q, &a).await? == 1)
    }

    async fn update_partner_student(&self, s: &PartnerStudent) -> Result<()> {
        self.exec_one(
            query!(
                "UPDATE partner_students SET full_name = $3, email = $4, status = $5, primary_contact = $6, notes = $7 \
                 WHERE partner_id = $1 AND user_id = $2"
            ),
            &args![s.partner_id.0, s.user_id.0, s.full_name, s.email, s.status.as_str(), s.primary_contact, s.notes],
            "updating a partner's student",
        )
        .await
    }

    async fn delete_partner_student(&self, partner: UserId, user: UserId) -> Result<bool> {
        let q = query!("DELETE FROM partner_students WHERE partner_id = $1 AND user_id = $2");
        Ok(self.exec(q, &args![partner.0, user.0]).await? == 1)
    }

    // Catalogue and courses (GrowFit)

    async fn model_for_update(&self, id: ModelId) -> Result<Option<Model>> {
        let q = query!("SELECT ", model_cols!(), " FROM models mo WHERE mo.id = $1 {for update}");
        self.one(q, &args![id.0], model_row).await
    }

    async fn update_model(&self, id: ModelId, m: &NewModel, now: Timestamp) -> Result<Model> {
        let pricing = m.default_pricing.as_ref().map(|p| JsonText(serde_json::Value::Object(p.clone()).to_string()));
        self.exec_one(
            query!(
                "UPDATE models SET name = $2, provider = $3, modality = $4, supports_parallel = $5, \
                 default_pricing = $6, is_active = $7, updated_at = $8 WHERE id = $1"
            ),
            &args![id.0, m.name, m.provider, m.modality.as_str(), m.supports_parallel, pricing, m.is_active, now],
            "updating a model",
        )
        .await?;
        let model = self.model(id).await?;
        model.ok_or_else(|| StoreError::Retry(format!("model {} vanished during its update", id.0)))
    }

    async fn delete_model(&self, id: ModelId) -> Result<()> {
        self.exec_one(query!("DELETE FROM models WHERE id = $1"), &args![id.0], "deleting a model").await
    }

    async fn classes_naming_model_for_update(&self, model: ModelId) -> Result<Vec<Class>> {
        let q = query!(
            "SELECT ",
            class_cols!(),
            " FROM classes c WHERE c.primary_model_id = $1 OR {has c.allowed_model_ids $1} ORDER BY c.id {for update}"
        );
        self.all(q, &args![model.0], class_row).await
    }

    async fn course_for_update(&self, id: CourseId) -> Result<Option<Course>> {
        let q = query!("SELECT ", course_cols!(), " FROM courses co WHERE co.id = $1 {for update}");
        self.one(q, &args![id.0], course_row).await
    }

    async fn update_course(&self, id: CourseId, f: &CourseFields, now: Timestamp) -> Result<Course> {
        let (start, end) = (date_text(f.start_date), date_text(f.end_date));
        self.exec_one(
            query!(
                "UPDATE courses SET title = $2, course_key = $3, status = $4, start_date = $5, end_date = $6, \
                 description = $7, updated_at = $8 WHERE id = $1"
            ),
            &args![id.0, f.title, f.course_key, f.status.as_str(), start, end, f.description, now],
            "updating a course",
        )
        .await?;
        let course = self.course(id).await?;
        course.ok_or_else(|| StoreError::Retry(format!("course {id} vanished during its update")))
    }

    async fn delete_course(&self, id: CourseId) -> Result<()> {
        self.exec_one(query!("DELETE FROM courses WHERE id = $1"), &args![id.0], "deleting a course").await
    }

    async fn classes_of_course_for_update(&self, course: CourseId) -> Result<Vec<Class>> {
        let q = query!("SELECT ", class_cols!(), " FROM classes c WHERE c.course_id = $1 ORDER BY c.id {for update}");
        self.all(q, &args![course.0], class_row).await
    }

    // CloudShare catalogs (admin)

    async fn project_for_update(&self, id: ProjectId) -> Result<Option<Project>> {
        let q = query!("SELECT ", project_cols!(), " FROM projects p WHERE p.id = $1 {for update}");
        self.one(q, &args![id.0], project_row).await
    }

    async fn policy_for_update(&self, id: PolicyId) -> Result<Option<Policy>> {
        let q = query!("SELECT ", policy_cols!(), " FROM policies po WHERE po.id = $1 {for update}");
        self.one(q, &args![id.0], policy_row).await
    }

    async fn blueprint_for_update(&self, id: BlueprintId) -> Result<Option<Blueprint>> {
        let q = query!("SELECT ", blueprint_cols!(), " FROM blueprints b WHERE b.id = $1 {for update}");
        self.one(q, &args![id.0], blueprint_row).await
    }

    async fn custom_field_for_update(&self, id: CustomFieldId) -> Result<Option<CustomField>> {
        let q = query!("SELECT ", field_cols!(), " FROM custom_fields f WHERE f.id = $1 {for update}");
        self.one(q, &args![id.0], field_row).await
    }

    async fn project_member_for_update(&self, id: ProjectMemberId) -> Result<Option<ProjectMember>> {
        let q = query!("SELECT ", project_member_cols!(), " FROM project_members pm WHERE pm.id = $1 {for update}");
        self.one(q, &args![id.0], project_member_row).await
    }

    async fn update_project(&self, p: &Project) -> Result<()> {
        let q = query!("UPDATE projects SET name = $2, is_active = $3 WHERE id = $1");
        self.exec_one(q, &args![p.id.0, p.name, p.is_active], "updating a project").await
    }

    async fn update_policy(&self, p: &Policy) -> Result<()> {
        let q = query!("UPDATE policies SET name = $2, default_duration_minutes = $3 WHERE id = $1");
        self.exec_one(q, &args![p.id.0, p.name, p.default_duration_minutes], "updating a policy").await
    }

    async fn update_blueprint(&self, b: &Blueprint) -> Result<()> {
        let q = query!("UPDATE blueprints SET name = $2, description = $3 WHERE id = $1");
        self.exec_one(q, &args![b.id.0, b.name, b.description], "updating a blueprint").await
    }

    async fn update_custom_field(&self, f: &CustomField) -> Result<()> {
        let q = query!(
            "UPDATE custom_fields SET name = $2, position = $3, kind = $4, is_required = $5, regex = $6, \
             default_value = $7 WHERE id = $1"
        );
        let a = args![f.id.0, f.name, f.order, f.kind, f.is_required, f.regex, f.default_value];
        self.exec_one(q, &a, "updating a custom field").await
    }

    async fn update_project_member(&self, m: &ProjectMember) -> Result<()> {
        let q = query!("UPDATE project_members SET can_instruct = $2, can_manage = $3 WHERE id = $1");
        self.exec_one(q, &args![m.id.0, m.can_instruct, m.can_manage], "updating a project member").await
    }

    async fn classes_using(&self, entry: CatalogEntry) -> Result<u64> {
        let (q, id) = match entry {
            CatalogEntry::Project(id) => (query!("SELECT COUNT(*) AS n FROM labs WHERE project_id = $1"), id.0),
            CatalogEntry::Policy(id) => (query!("SELECT COUNT(*) AS n FROM labs WHERE policy_id = $1"), id.0),
            CatalogEntry::Blueprint(id) => (query!("SELECT COUNT(*) AS n FROM labs WHERE blueprint_id = $1"), id.0),
            CatalogEntry::CustomField(_) | CatalogEntry::Member(_) => return Ok(0),
        };
        self.count(q, &args![id]).await
    }

    async fn delete_catalog_entry(&self, entry: CatalogEntry) -> Result<()> {
        let (q, id) = match entry {
            CatalogEntry::Project(id) => (query!("DELETE FROM projects WHERE id = $1"), id.0),
            CatalogEntry::Policy(id) => (query!("DELETE FROM policies WHERE id = $1"), id.0),
            CatalogEntry::Blueprint(id) => (query!("DELETE FROM blueprints WHERE id = $1"), id.0),
            CatalogEntry::CustomField(id) => (query!("DELETE FROM custom_fields WHERE id = $1"), id.0),
            CatalogEntry::Member(id) => (query!("DELETE FROM project_members WHERE id = $1"), id.0),
        };
        self.exec_one(q, &args![id], "deleting a catalog entry").await
    }
}
