//! The SQL of the SQLite engine. Instants are INTEGER microseconds since the epoch.

use classhub_core::audit::{AuditEvent, Context, NewAuditEvent};
use classhub_core::catalog::{Course, Model};
use classhub_core::class::{Class, ClassFields, ClassStatus};
use classhub_core::invite::{InviteCode, MemberRole, Membership};
use classhub_core::lab::{
    Address, Blueprint, CustomField, FieldValue, LabSettings, Policy, Project, ProjectMember, StudentProfile,
};
use classhub_core::ocariot::Institution;
use classhub_core::page::{Page, PageRequest};
use classhub_core::time::ZoneName;
use classhub_core::user::{NewUser, Principal, User, UserKind};
use classhub_core::{
    AuditEventId, BlueprintId, ClassId, CourseId, CustomFieldId, InstitutionId, InviteCodeId, MembershipId, ModelId,
    OutboxId, PolicyId, ProjectId, ProjectMemberId, UserId,
};
use jiff::Timestamp;
use rusqlite::types::{FromSqlError, Type};
use rusqlite::{Connection, OptionalExtension, Row, ToSql, params};

use crate::StoreError;
use crate::engine::{ApiCredential, ClassFilter, Member, NewCode, OutboxMessage, Read, Result, SponsoredLink, Tx};

/// A connection seen through the engine trait: a reader, or the writer inside a
/// transaction.
pub(crate) struct Sql<'c>(pub &'c Connection);

pub(crate) fn error(e: rusqlite::Error) -> StoreError {
    use rusqlite::ErrorCode::*;
    match e.sqlite_error_code() {
        Some(DatabaseBusy | DatabaseLocked) => StoreError::Unavailable(format!("database is busy: {e}")),
        Some(DiskFull | CannotOpen | SystemIoFailure | ReadOnly) => StoreError::Unavailable(e.to_string()),
        _ => StoreError::Internal(e.to_string()),
    }
}

fn bad(col: usize, e: impl std::error::Error + Send + Sync + 'static) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(col, Type::Integer, Box::new(e))
}

fn ts(row: &Row<'_>, col: usize) -> rusqlite::Result<Timestamp> {
    Timestamp::from_microsecond(row.get(col)?).map_err(|e| bad(col, e))
}

fn opt_ts(row: &Row<'_>, col: usize) -> rusqlite::Result<Option<Timestamp>> {
    row.get::<_, Option<i64>>(col)?.map(|m| Timestamp::from_microsecond(m).map_err(|e| bad(col, e))).transpose()
}

fn micros(t: Timestamp) -> i64 {
    t.as_microsecond()
}

fn parse<T>(col: usize, v: Option<T>, what: &str) -> rusqlite::Result<T> {
    v.ok_or_else(|| bad(col, FromSqlError::Other(format!("unexpected {what} in column {col}").into())))
}

fn page_limits(p: PageRequest) -> (i64, i64) {
    (i64::from(p.limit), i64::try_from(p.offset).unwrap_or(i64::MAX))
}

fn id_list(ids: impl IntoIterator<Item = i64>) -> String {
    serde_json::Value::from(ids.into_iter().collect::<Vec<_>>()).to_string()
}

const CLASS_COLS: &str = "c.id, c.owner_id, c.name, c.status, c.description, c.start_at, c.end_at, c.capacity, \
    c.timezone, c.location, c.online_url, c.invite_only, c.primary_model_id, c.allowed_model_ids, c.course_id, \
    c.member_count, c.version, c.created_at, c.updated_at, c.school_class";
const CLASS_WIDTH: usize = 20;

fn class_row(row: &Row<'_>) -> rusqlite::Result<Class> {
    let status: Option<String> = row.get(3)?;
    let status = status.map(|s| parse(3, ClassStatus::parse(&s), "status")).transpose()?;
    let allowed: String = row.get(13)?;
    let allowed: Vec<i64> = serde_json::from_str(&allowed).map_err(|e| bad(13, e))?;
    Ok(Class {
        id: ClassId(row.get(0)?),
        owner_id: UserId(row.get(1)?),
        fields: ClassFields {
            name: row.get(2)?,
            status,
            description: row.get(4)?,
            start_at: opt_ts(row, 5)?,
            end_at: opt_ts(row, 6)?,
            capacity: row.get(7)?,
            timezone: row.get::<_, Option<String>>(8)?.map(ZoneName::from_stored),
            location: row.get(9)?,
            online_url: row.get(10)?,
            invite_only: row.get(11)?,
            primary_model_id: row.get::<_, Option<i64>>(12)?.map(ModelId),
            allowed_model_ids: allowed.into_iter().map(ModelId).collect(),
            course_id: row.get::<_, Option<i64>>(14)?.map(CourseId),
            school_class: row.get(19)?,
        },
        member_count: row.get(15)?,
        version: row.get(16)?,
        created_at: ts(row, 17)?,
        updated_at: ts(row, 18)?,
    })
}

const CODE_COLS: &str = "i.id, i.class_id, c.owner_id, i.code, i.target_role, i.used_count, i.max_uses, \
    i.expires_at, i.disabled, i.created_by, i.created_at";

fn code_row(row: &Row<'_>) -> rusqlite::Result<InviteCode> {
    let role: String = row.get(4)?;
    Ok(InviteCode {
        id: InviteCodeId(row.get(0)?),
        class_id: ClassId(row.get(1)?),
        owner_id: UserId(row.get(2)?),
        code: row.get(3)?,
        target_role: parse(4, MemberRole::parse(&role), "role")?,
        used_count: row.get(5)?,
        max_uses: row.get(6)?,
        expires_at: opt_ts(row, 7)?,
        disabled: row.get(8)?,
        created_by: UserId(row.get(9)?),
        created_at: ts(row, 10)?,
    })
}

const MEMBERSHIP_COLS: &str =
    "m.id, m.class_id, m.user_id, m.role, m.joined_at, m.invite_code_id, m.invited_at, m.logged_in_at";
const MEMBERSHIP_WIDTH: usize = 8;

fn membership_row(row: &Row<'_>) -> rusqlite::Result<Membership> {
    let role: String = row.get(3)?;
    Ok(Membership {
        id: MembershipId(row.get(0)?),
        class_id: ClassId(row.get(1)?),
        user_id: UserId(row.get(2)?),
        role: parse(3, MemberRole::parse(&role), "role")?,
        joined_at: ts(row, 4)?,
        invite_code_id: row.get::<_, Option<i64>>(5)?.map(InviteCodeId),
        invited_at: opt_ts(row, 6)?,
        logged_in_at: opt_ts(row, 7)?,
    })
}

const USER_COLS: &str =
    "u.id, u.kind, u.name, u.email, u.first_name, u.last_name, u.created_at, u.username, u.institution_id, u.profile";
const USER_WIDTH: usize = 10;

/// A user from columns starting at `at`.
fn user_row(row: &Row<'_>, at: usize) -> rusqlite::Result<User> {
    let kind: String = row.get(at + 1)?;
    Ok(User {
        id: UserId(row.get(at)?),
        kind: parse(at + 1, UserKind::parse(&kind), "user kind")?,
        name: row.get(at + 2)?,
        email: row.get(at + 3)?,
        first_name: row.get(at + 4)?,
        last_name: row.get(at + 5)?,
        created_at: ts(row, at + 6)?,
        username: row.get(at + 7)?,
        institution_id: row.get::<_, Option<i64>>(at + 8)?.map(InstitutionId),
        profile: json_col(row, at + 9)?,
    })
}

fn member_row(row: &Row<'_>) -> rusqlite::Result<Member> {
    Ok(Member { membership: membership_row(row)?, user: user_row(row, MEMBERSHIP_WIDTH)? })
}

fn json_col(row: &Row<'_>, col: usize) -> rusqlite::Result<Option<serde_json::Value>> {
    row.get::<_, Option<String>>(col)?.map(|s| serde_json::from_str(&s).map_err(|e| bad(col, e))).transpose()
}

fn project_row(row: &Row<'_>) -> rusqlite::Result<Project> {
    Ok(Project { id: ProjectId(row.get(0)?), name: row.get(1)?, is_active: row.get(2)? })
}

const PROJECT_MEMBER_COLS: &str = "pm.id, pm.project_id, pm.user_id, pm.can_instruct";

fn project_member_row(row: &Row<'_>, at: usize) -> rusqlite::Result<ProjectMember> {
    Ok(ProjectMember {
        id: ProjectMemberId(row.get(at)?),
        project_id: ProjectId(row.get(at + 1)?),
        user_id: UserId(row.get(at + 2)?),
        can_instruct: row.get(at + 3)?,
    })
}

const POLICY_COLS: &str = "id, project_id, name, default_duration_minutes, allow_environment_creation";

fn policy_row(row: &Row<'_>) -> rusqlite::Result<Policy> {
    Ok(Policy {
        id: PolicyId(row.get(0)?),
        project_id: ProjectId(row.get(1)?),
        name: row.get(2)?,
        default_duration_minutes: row.get(3)?,
        allow_environment_creation: row.get(4)?,
    })
}

const BLUEPRINT_COLS: &str = "id, project_id, name, description, token";

fn blueprint_row(row: &Row<'_>) -> rusqlite::Result<Blueprint> {
    Ok(Blueprint {
        id: BlueprintId(row.get(0)?),
        project_id: ProjectId(row.get(1)?),
        name: row.get(2)?,
        description: row.get(3)?,
        token: row.get(4)?,
    })
}

const FIELD_COLS: &str = "id, project_id, name, position, kind, is_required, regex, default_value";

fn field_row(row: &Row<'_>) -> rusqlite::Result<CustomField> {
    Ok(CustomField {
        id: CustomFieldId(row.get(0)?),
        project_id: ProjectId(row.get(1)?),
        name: row.get(2)?,
        order: row.get(3)?,
        kind: row.get(4)?,
        is_required: row.get(5)?,
        regex: row.get(6)?,
        default_value: row.get(7)?,
    })
}

const LAB_COLS: &str = "l.project_id, l.blueprint_id, l.policy_id, l.short_id, l.windows_zone, l.passphrase, \
    l.limit_early_access, l.use_custom_invitation_email, l.custom_invitation_subject, l.custom_invitation_body, \
    l.permit_non_registered, l.address, l.field_values, l.self_paced, l.allow_multiple_student_login";

/// Lab settings from columns starting at `at`.
fn lab_row(row: &Row<'_>, at: usize) -> rusqlite::Result<LabSettings> {
    let address: Option<String> = row.get(at + 11)?;
    let address: Option<Address> =
        address.map(|a| serde_json::from_str(&a).map_err(|e| bad(at + 11, e))).transpose()?;
    let values: String = row.get(at + 12)?;
    let field_values: Vec<FieldValue> = serde_json::from_str(&values).map_err(|e| bad(at + 12, e))?;
    Ok(LabSettings {
        project_id: ProjectId(row.get(at)?),
        blueprint_id: BlueprintId(row.get(at + 1)?),
        policy_id: PolicyId(row.get(at + 2)?),
        short_id: row.get(at + 3)?,
        windows_zone: row.get(at + 4)?,
        passphrase: row.get(at + 5)?,
        limit_early_access: row.get(at + 6)?,
        use_custom_invitation_email: row.get(at + 7)?,
        custom_invitation_subject: row.get(at + 8)?,
        custom_invitation_body: row.get(at + 9)?,
        permit_non_registered: row.get(at + 10)?,
        address,
        field_values,
        self_paced: row.get(at + 13)?,
        allow_multiple_student_login: row.get(at + 14)?,
    })
}

const INSTITUTION_COLS: &str = "id, type, name, address, latitude, longitude";

fn institution_row(row: &Row<'_>) -> rusqlite::Result<Institution> {
    Ok(Institution {
        id: InstitutionId(row.get(0)?),
        kind: row.get(1)?,
        name: row.get(2)?,
        address: row.get(3)?,
        latitude: row.get(4)?,
        longitude: row.get(5)?,
    })
}

fn json_text<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

impl Sql<'_> {
    fn one<T>(
        &self,
        sql: &str,
        args: &[&dyn ToSql],
        f: impl FnOnce(&Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Option<T>> {
        let mut stmt = self.0.prepare_cached(sql).map_err(error)?;
        stmt.query_row(args, f).optional().map_err(error)
    }

    fn all<T>(&self, sql: &str, args: &[&dyn ToSql], f: impl FnMut(&Row<'_>) -> rusqlite::Result<T>) -> Result<Vec<T>> {
        let mut stmt = self.0.prepare_cached(sql).map_err(error)?;
        let rows = stmt.query_map(args, f).map_err(error)?;
        rows.collect::<rusqlite::Result<Vec<T>>>().map_err(error)
    }

    fn count(&self, sql: &str, args: &[&dyn ToSql]) -> Result<u64> {
        Ok(self.one(sql, args, |r| r.get::<_, i64>(0))?.unwrap_or(0).max(0) as u64)
    }

    /// Runs a statement; returns the number of rows changed.
    fn exec(&self, sql: &str, args: &[&dyn ToSql]) -> Result<usize> {
        let mut stmt = self.0.prepare_cached(sql).map_err(error)?;
        stmt.execute(args).map_err(error)
    }

    fn insert(&self, sql: &str, args: &[&dyn ToSql]) -> Result<i64> {
        self.exec(sql, args)?;
        Ok(self.0.last_insert_rowid())
    }
}

impl Read for Sql<'_> {
    async fn principal_by_token(&mut self, hash: &[u8; 32]) -> Result<Option<Principal>> {
        let found = self.one(
            "SELECT u.id, u.kind FROM tokens t JOIN users u ON u.id = t.user_id \
             WHERE t.hash = ?1 AND t.revoked_at IS NULL",
            params![&hash[..]],
            |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)),
        )?;
        Ok(found.and_then(|(id, kind)| Some(Principal { user_id: UserId(id), kind: UserKind::parse(&kind)? })))
    }

    async fn user(&mut self, id: UserId) -> Result<Option<User>> {
        self.one(&format!("SELECT {USER_COLS} FROM users u WHERE u.id = ?1"), params![id.0], |r| user_row(r, 0))
    }

    async fn has_users(&mut self) -> Result<bool> {
        Ok(self.count("SELECT EXISTS (SELECT 1 FROM users)", &[])? > 0)
    }

    async fn class(&mut self, id: ClassId) -> Result<Option<Class>> {
        self.one(&format!("SELECT {CLASS_COLS} FROM classes c WHERE c.id = ?1"), params![id.0], class_row)
    }

    async fn classes(&mut self, owner: UserId, filter: &ClassFilter, page: PageRequest) -> Result<Page<Class>> {
        let (limit, offset) = page_limits(page);
        let course = filter.course_id.map(|c| c.0);
        let status = filter.status.map(ClassStatus::as_str);
        let unfiltered = *filter == ClassFilter::default();
        let items = if unfiltered {
            // Without filter terms the skipped rows are read from the (owner, created_at)
            // index alone; a filter would read each skipped class's row.
            self.all(
                &format!(
                    "SELECT {CLASS_COLS} FROM classes c WHERE c.owner_id = ?1 \
                     ORDER BY c.created_at DESC, c.id DESC LIMIT ?2 OFFSET ?3"
                ),
                params![owner.0, limit, offset],
                class_row,
            )?
        } else {
            self.all(
                &format!(
                    "SELECT {CLASS_COLS} FROM classes c WHERE c.owner_id = ?1 \
                     AND (?2 IS NULL OR c.course_id = ?2) AND (?3 IS NULL OR c.status = ?3) \
                     ORDER BY c.created_at DESC, c.id DESC LIMIT ?4 OFFSET ?5"
                ),
                params![owner.0, course, status, limit, offset],
                class_row,
            )?
        };
        let total = if unfiltered {
            self.count("SELECT class_count FROM users WHERE id = ?1", params![owner.0])?
        } else {
            self.count(
                "SELECT COUNT(*) FROM classes c WHERE c.owner_id = ?1 \
                 AND (?2 IS NULL OR c.course_id = ?2) AND (?3 IS NULL OR c.status = ?3)",
                params![owner.0, course, status],
            )?
        };
        Ok(Page { total, items })
    }

    async fn classes_of_member(&mut self, user: UserId, page: PageRequest) -> Result<Page<Class>> {
        let (limit, offset) = page_limits(page);
        let items = self.all(
            &format!(
                "SELECT {CLASS_COLS} FROM memberships m JOIN classes c ON c.id = m.class_id \
                 WHERE m.user_id = ?1 ORDER BY m.joined_at DESC, m.id DESC LIMIT ?2 OFFSET ?3"
            ),
            params![user.0, limit, offset],
            class_row,
        )?;
        let total = self.count("SELECT COUNT(*) FROM memberships WHERE user_id = ?1", params![user.0])?;
        Ok(Page { total, items })
    }

    async fn codes_of(&mut self, classes: &[ClassId]) -> Result<Vec<InviteCode>> {
        self.all(
            &format!(
                "SELECT {CODE_COLS} FROM invite_codes i JOIN classes c ON c.id = i.class_id \
                 WHERE i.class_id IN (SELECT value FROM json_each(?1)) \
                 ORDER BY i.class_id, i.created_at DESC, i.id DESC"
            ),
            params![id_list(classes.iter().map(|c| c.0))],
            code_row,
        )
    }

    async fn codes_page(
        &mut self,
        class: ClassId,
        active_at: Option<Timestamp>,
        page: PageRequest,
    ) -> Result<Page<InviteCode>> {
        let (limit, offset) = page_limits(page);
        let at = active_at.map(micros);
        const ACTIVE: &str = "(?2 IS NULL OR (i.disabled = 0 AND (i.expires_at IS NULL OR i.expires_at > ?2)))";
        let items = self.all(
            &format!(
                "SELECT {CODE_COLS} FROM invite_codes i JOIN classes c ON c.id = i.class_id \
                 WHERE i.class_id = ?1 AND {ACTIVE} ORDER BY i.created_at DESC, i.id DESC LIMIT ?3 OFFSET ?4"
            ),
            params![class.0, at, limit, offset],
            code_row,
        )?;
        let total = self.count(
            &format!("SELECT COUNT(*) FROM invite_codes i WHERE i.class_id = ?1 AND {ACTIVE}"),
            params![class.0, at],
        )?;
        Ok(Page { total, items })
    }

    async fn code(&mut self, id: InviteCodeId) -> Result<Option<InviteCode>> {
        self.one(
            &format!("SELECT {CODE_COLS} FROM invite_codes i JOIN classes c ON c.id = i.class_id WHERE i.id = ?1"),
            params![id.0],
            code_row,
        )
    }

    async fn code_by_value(&mut self, code: &str) -> Result<Option<InviteCode>> {
        self.one(
            &format!("SELECT {CODE_COLS} FROM invite_codes i JOIN classes c ON c.id = i.class_id WHERE i.code = ?1"),
            params![code],
            code_row,
        )
    }

    async fn membership(&mut self, class: ClassId, user: UserId) -> Result<Option<Membership>> {
        self.one(
            &format!("SELECT {MEMBERSHIP_COLS} FROM memberships m WHERE m.class_id = ?1 AND m.user_id = ?2"),
            params![class.0, user.0],
            membership_row,
        )
    }

    async fn members(&mut self, class: ClassId, page: PageRequest) -> Result<Page<Member>> {
        let (limit, offset) = page_limits(page);
        let items = self.all(
            &format!(
                "SELECT {MEMBERSHIP_COLS}, {USER_COLS} FROM memberships m JOIN users u ON u.id = m.user_id \
                 WHERE m.class_id = ?1 ORDER BY m.joined_at DESC, m.id DESC LIMIT ?2 OFFSET ?3"
            ),
            params![class.0, limit, offset],
            member_row,
        )?;
        let total = self.count("SELECT COUNT(*) FROM memberships WHERE class_id = ?1", params![class.0])?;
        Ok(Page { total, items })
    }

    async fn history(&mut self, class: ClassId, page: PageRequest) -> Result<Page<AuditEvent>> {
        let (limit, offset) = page_limits(page);
        let items = self.all(
            "SELECT id, at, actor_id, action, class_id, entity_id, before, after, request_id FROM audit_events \
             WHERE class_id = ?1 ORDER BY id DESC LIMIT ?2 OFFSET ?3",
            params![class.0, limit, offset],
            |r| {
                Ok(AuditEvent {
                    id: AuditEventId(r.get(0)?),
                    at: ts(r, 1)?,
                    actor_id: r.get::<_, Option<i64>>(2)?.map(UserId),
                    action: r.get(3)?,
                    class_id: r.get::<_, Option<i64>>(4)?.map(ClassId),
                    entity_id: r.get(5)?,
                    before: json_col(r, 6)?,
                    after: json_col(r, 7)?,
                    request_id: r.get(8)?,
                })
            },
        )?;
        let total = self.count("SELECT COUNT(*) FROM audit_events WHERE class_id = ?1", params![class.0])?;
        Ok(Page { total, items })
    }

    async fn existing_models(&mut self, ids: &[ModelId]) -> Result<Vec<ModelId>> {
        self.all(
            "SELECT id FROM models WHERE id IN (SELECT value FROM json_each(?1))",
            params![id_list(ids.iter().map(|m| m.0))],
            |r| Ok(ModelId(r.get(0)?)),
        )
    }

    async fn course(&mut self, id: CourseId) -> Result<Option<Course>> {
        self.one("SELECT id, partner_id, title FROM courses WHERE id = ?1", params![id.0], |r| {
            Ok(Course { id: CourseId(r.get(0)?), partner_id: UserId(r.get(1)?), title: r.get(2)? })
        })
    }

    async fn api_credential(&mut self, api_id: &str) -> Result<Option<ApiCredential>> {
        let found = self.one(
            "SELECT u.id, u.kind, a.sealed_key FROM api_credentials a JOIN users u ON u.id = a.user_id \
             WHERE a.api_id = ?1 AND a.revoked_at IS NULL",
            params![api_id],
            |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, Vec<u8>>(2)?)),
        )?;
        Ok(found.and_then(|(id, kind, sealed_key)| {
            Some(ApiCredential {
                principal: Principal { user_id: UserId(id), kind: UserKind::parse(&kind)? },
                sealed_key,
            })
        }))
    }

    async fn project(&mut self, id: ProjectId) -> Result<Option<Project>> {
        self.one("SELECT id, name, is_active FROM projects WHERE id = ?1", params![id.0], project_row)
    }

    async fn projects_of(&mut self, user: UserId) -> Result<Vec<(Project, ProjectMember)>> {
        self.all(
            &format!(
                "SELECT p.id, p.name, p.is_active, {PROJECT_MEMBER_COLS} FROM project_members pm \
                 JOIN projects p ON p.id = pm.project_id WHERE pm.user_id = ?1 ORDER BY p.id"
            ),
            params![user.0],
            |r| Ok((project_row(r)?, project_member_row(r, 3)?)),
        )
    }

    async fn policies(&mut self, project: ProjectId) -> Result<Vec<Policy>> {
        self.all(
            &format!("SELECT {POLICY_COLS} FROM policies WHERE project_id = ?1 ORDER BY id"),
            params![project.0],
            policy_row,
        )
    }

    async fn policy(&mut self, id: PolicyId) -> Result<Option<Policy>> {
        self.one(&format!("SELECT {POLICY_COLS} FROM policies WHERE id = ?1"), params![id.0], policy_row)
    }

    async fn blueprints(&mut self, project: ProjectId) -> Result<Vec<Blueprint>> {
        self.all(
            &format!("SELECT {BLUEPRINT_COLS} FROM blueprints WHERE project_id = ?1 ORDER BY id"),
            params![project.0],
            blueprint_row,
        )
    }

    async fn blueprint(&mut self, id: BlueprintId) -> Result<Option<Blueprint>> {
        self.one(&format!("SELECT {BLUEPRINT_COLS} FROM blueprints WHERE id = ?1"), params![id.0], blueprint_row)
    }

    async fn blueprint_token_exists(&mut self, token: &str) -> Result<bool> {
        Ok(self.count("SELECT EXISTS (SELECT 1 FROM blueprints WHERE token = ?1)", params![token])? > 0)
    }

    async fn custom_fields(&mut self, project: ProjectId) -> Result<Vec<CustomField>> {
        self.all(
            &format!("SELECT {FIELD_COLS} FROM custom_fields WHERE project_id = ?1 ORDER BY position, id"),
            params![project.0],
            field_row,
        )
    }

    async fn project_member(&mut self, id: ProjectMemberId) -> Result<Option<(ProjectMember, User)>> {
        self.one(
            &format!("SELECT {PROJECT_MEMBER_COLS}, {USER_COLS} FROM project_members pm JOIN users u ON u.id = pm.user_id WHERE pm.id = ?1"),
            params![id.0],
            |r| Ok((project_member_row(r, 0)?, user_row(r, 4)?)),
        )
    }

    async fn user_by_username(&mut self, username: &str) -> Result<Option<(User, Option<String>)>> {
        self.one(
            &format!("SELECT {USER_COLS}, u.password_hash FROM users u WHERE u.username = ?1"),
            params![username],
            |r| Ok((user_row(r, 0)?, r.get(USER_WIDTH)?)),
        )
    }

    async fn users(&mut self, ids: &[UserId]) -> Result<Vec<User>> {
        self.all(
            &format!("SELECT {USER_COLS} FROM users u WHERE u.id IN (SELECT value FROM json_each(?1))"),
            params![id_list(ids.iter().map(|u| u.0))],
            |r| user_row(r, 0),
        )
    }

    async fn classes_owned(&mut self, owner: UserId) -> Result<Vec<Class>> {
        self.all(
            &format!("SELECT {CLASS_COLS} FROM classes c WHERE c.owner_id = ?1 ORDER BY c.created_at DESC, c.id DESC"),
            params![owner.0],
            class_row,
        )
    }

    async fn classes_named(&mut self, owner: UserId, name: &str) -> Result<Vec<ClassId>> {
        self.all("SELECT id FROM classes WHERE owner_id = ?1 AND name = ?2", params![owner.0, name], |r| {
            Ok(ClassId(r.get(0)?))
        })
    }

    async fn memberships_of(&mut self, user: UserId) -> Result<Vec<Membership>> {
        self.all(
            &format!("SELECT {MEMBERSHIP_COLS} FROM memberships m WHERE m.user_id = ?1"),
            params![user.0],
            membership_row,
        )
    }

    async fn institution(&mut self, id: InstitutionId) -> Result<Option<Institution>> {
        self.one(&format!("SELECT {INSTITUTION_COLS} FROM institutions WHERE id = ?1"), params![id.0], institution_row)
    }

    async fn institution_named(&mut self, name: &str) -> Result<Option<Institution>> {
        self.one(
            &format!("SELECT {INSTITUTION_COLS} FROM institutions WHERE name = ?1"),
            params![name],
            institution_row,
        )
    }

    async fn setting(&mut self, name: &str) -> Result<Option<Vec<u8>>> {
        self.one("SELECT value FROM settings WHERE name = ?1", params![name], |r| r.get(0))
    }

    async fn project_members(&mut self, project: ProjectId) -> Result<Vec<(ProjectMember, User)>> {
        self.all(
            &format!(
                "SELECT {PROJECT_MEMBER_COLS}, {USER_COLS} FROM project_members pm JOIN users u ON u.id = pm.user_id \
                 WHERE pm.project_id = ?1 ORDER BY pm.id"
            ),
            params![project.0],
            |r| Ok((project_member_row(r, 0)?, user_row(r, 4)?)),
        )
    }

    async fn lab(&mut self, class: ClassId) -> Result<Option<LabSettings>> {
        self.one(&format!("SELECT {LAB_COLS} FROM labs l WHERE l.class_id = ?1"), params![class.0], |r| lab_row(r, 0))
    }

    async fn labs_in(&mut self, projects: &[ProjectId]) -> Result<Vec<(Class, LabSettings)>> {
        self.all(
            &format!(
                "SELECT {CLASS_COLS}, {LAB_COLS} FROM labs l JOIN classes c ON c.id = l.class_id \
                 WHERE l.project_id IN (SELECT value FROM json_each(?1)) ORDER BY c.created_at DESC, c.id DESC"
            ),
            params![id_list(projects.iter().map(|p| p.0))],
            |r| Ok((class_row(r)?, lab_row(r, CLASS_WIDTH)?)),
        )
    }

    async fn class_by_short_id(&mut self, short_id: &str) -> Result<Option<ClassId>> {
        self.one("SELECT class_id FROM labs WHERE short_id = ?1", params![short_id], |r| Ok(ClassId(r.get(0)?)))
    }

    async fn members_by_role(&mut self, class: ClassId, role: MemberRole) -> Result<Vec<Member>> {
        self.all(
            &format!(
                "SELECT {MEMBERSHIP_COLS}, {USER_COLS} FROM memberships m JOIN users u ON u.id = m.user_id \
                 WHERE m.class_id = ?1 AND m.role = ?2 ORDER BY m.position, m.id"
            ),
            params![class.0, role.as_str()],
            member_row,
        )
    }

    async fn member(&mut self, id: MembershipId) -> Result<Option<Member>> {
        self.one(
            &format!("SELECT {MEMBERSHIP_COLS}, {USER_COLS} FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.id = ?1"),
            params![id.0],
            member_row,
        )
    }

    async fn member_by_email(&mut self, class: ClassId, role: MemberRole, email: &str) -> Result<Option<Member>> {
        self.one(
            &format!(
                "SELECT {MEMBERSHIP_COLS}, {USER_COLS} FROM memberships m JOIN users u ON u.id = m.user_id \
                 WHERE m.class_id = ?1 AND m.role = ?2 AND u.email = ?3"
            ),
            params![class.0, role.as_str(), email],
            member_row,
        )
    }

    async fn sponsored_link(&mut self, hash: &[u8; 32]) -> Result<Option<SponsoredLink>> {
        self.one(
            "SELECT class_id, email, disabled_at IS NOT NULL FROM sponsored_links WHERE token_hash = ?1",
            params![&hash[..]],
            |r| Ok(SponsoredLink { class_id: ClassId(r.get(0)?), email: r.get(1)?, disabled: r.get(2)? }),
        )
    }
}

/// The settable columns of `classes`, in the order `class_values` binds them.
const CLASS_FIELD_COLS: [&str; 14] = [
    "name",
    "status",
    "description",
    "start_at",
    "end_at",
    "capacity",
    "timezone",
    "location",
    "online_url",
    "invite_only",
    "primary_model_id",
    "allowed_model_ids",
    "course_id",
    "school_class",
];

fn class_values(f: &ClassFields) -> [Box<dyn ToSql + '_>; 14] {
    [
        Box::new(&f.name),
        Box::new(f.status.map(ClassStatus::as_str)),
        Box::new(&f.description),
        Box::new(f.start_at.map(micros)),
        Box::new(f.end_at.map(micros)),
        Box::new(f.capacity),
        Box::new(f.timezone.as_ref().map(ZoneName::as_str)),
        Box::new(&f.location),
        Box::new(&f.online_url),
        Box::new(f.invite_only),
        Box::new(f.primary_model_id.map(|m| m.0)),
        Box::new(id_list(f.allowed_model_ids.iter().map(|m| m.0))),
        Box::new(f.course_id.map(|c| c.0)),
        Box::new(&f.school_class),
    ]
}

impl Tx for Sql<'_> {
    async fn class_for_update(&mut self, id: ClassId) -> Result<Option<Class>> {
        // The single writer already excludes every other writer.
        self.class(id).await
    }

    async fn insert_class(&mut self, owner: UserId, fields: &ClassFields, now: Timestamp) -> Result<Class> {
        let values = class_values(fields);
        let mut args: Vec<&dyn ToSql> = values.iter().map(|v| v.as_ref() as &dyn ToSql).collect();
        let at = micros(now);
        args.extend([&owner.0 as &dyn ToSql, &at, &at]);
        let placeholders = (1..=args.len()).map(|i| format!("?{i}")).collect::<Vec<_>>().join(", ");
        let id = self.insert(
            &format!(
                "INSERT INTO classes ({}, owner_id, created_at, updated_at) VALUES ({placeholders})",
                CLASS_FIELD_COLS.join(", ")
            ),
            &args,
        )?;
        Ok(Class {
            id: ClassId(id),
            owner_id: owner,
            fields: fields.clone(),
            member_count: 0,
            version: 1,
            created_at: now,
            updated_at: now,
        })
    }

    async fn update_class(&mut self, id: ClassId, fields: &ClassFields, now: Timestamp) -> Result<Class> {
        let values = class_values(fields);
        let mut args: Vec<&dyn ToSql> = values.iter().map(|v| v.as_ref() as &dyn ToSql).collect();
        let at = micros(now);
        args.extend([&at as &dyn ToSql, &id.0]);
        let sets = CLASS_FIELD_COLS.iter().enumerate().map(|(i, c)| format!("{c} = ?{}", i + 1)).collect::<Vec<_>>();
        let n = CLASS_FIELD_COLS.len();
        self.exec(
            &format!(
                "UPDATE classes SET {}, updated_at = ?{}, version = version + 1 WHERE id = ?{}",
                sets.join(", "),
                n + 1,
                n + 2
            ),
            &args,
        )?;
        self.class(id).await?.ok_or_else(|| StoreError::Internal(format!("class {id} vanished during update")))
    }

    async fn touch_class(&mut self, id: ClassId) -> Result<()> {
        self.exec("UPDATE classes SET version = version + 1 WHERE id = ?1", params![id.0]).map(drop)
    }

    async fn delete_class(&mut self, id: ClassId) -> Result<()> {
        self.exec("DELETE FROM classes WHERE id = ?1", params![id.0]).map(drop)
    }

    async fn add_to_class_count(&mut self, owner: UserId, delta: i64) -> Result<()> {
        self.exec("UPDATE users SET class_count = class_count + ?2 WHERE id = ?1", params![owner.0, delta]).map(drop)
    }

    async fn take_seat(&mut self, class: ClassId) -> Result<bool> {
        let n = self.exec(
            "UPDATE classes SET member_count = member_count + 1, version = version + 1 \
             WHERE id = ?1 AND (capacity IS NULL OR member_count < capacity)",
            params![class.0],
        )?;
        Ok(n == 1)
    }

    async fn free_seat(&mut self, class: ClassId) -> Result<()> {
        self.exec(
            "UPDATE classes SET member_count = member_count - 1, version = version + 1 WHERE id = ?1 AND member_count > 0",
            params![class.0],
        )
        .map(drop)
    }

    async fn code_exists(&mut self, code: &str) -> Result<bool> {
        Ok(self.count("SELECT EXISTS (SELECT 1 FROM invite_codes WHERE code = ?1)", params![code])? > 0)
    }

    async fn insert_code(&mut self, code: NewCode<'_>, now: Timestamp) -> Result<InviteCode> {
        let id = self.insert(
            "INSERT INTO invite_codes (class_id, code, target_role, max_uses, expires_at, created_by, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                code.class_id.0,
                code.code,
                code.target_role.as_str(),
                code.max_uses,
                code.expires_at.map(micros),
                code.created_by.0,
                micros(now)
            ],
        )?;
        self.code(InviteCodeId(id)).await?.ok_or_else(|| StoreError::Internal("inserted code vanished".into()))
    }

    async fn update_code(&mut self, code: &InviteCode) -> Result<()> {
        self.exec(
            "UPDATE invite_codes SET max_uses = ?2, expires_at = ?3, disabled = ?4 WHERE id = ?1",
            params![code.id.0, code.max_uses, code.expires_at.map(micros), code.disabled],
        )
        .map(drop)
    }

    async fn use_code(&mut self, id: InviteCodeId, now: Timestamp) -> Result<bool> {
        let n = self.exec(
            "UPDATE invite_codes SET used_count = used_count + 1 WHERE id = ?1 AND disabled = 0 \
             AND (expires_at IS NULL OR expires_at > ?2) AND (max_uses IS NULL OR used_count < max_uses)",
            params![id.0, micros(now)],
        )?;
        Ok(n == 1)
    }

    async fn insert_membership(
        &mut self,
        class: ClassId,
        user: UserId,
        role: MemberRole,
        code: Option<InviteCodeId>,
        now: Timestamp,
    ) -> Result<Membership> {
        let id = self.insert(
            "INSERT INTO memberships (class_id, user_id, role, position, joined_at, invite_code_id) \
             VALUES (?1, ?2, ?3, (SELECT COALESCE(MAX(position), 0) + 1 FROM memberships WHERE class_id = ?1), ?4, ?5)",
            params![class.0, user.0, role.as_str(), micros(now), code.map(|c| c.0)],
        )?;
        Ok(Membership {
            id: MembershipId(id),
            class_id: class,
            user_id: user,
            role,
            joined_at: now,
            invite_code_id: code,
            invited_at: None,
            logged_in_at: None,
        })
    }

    async fn delete_membership(&mut self, class: ClassId, user: UserId) -> Result<()> {
        self.exec("DELETE FROM memberships WHERE class_id = ?1 AND user_id = ?2", params![class.0, user.0]).map(drop)
    }

    async fn insert_user(&mut self, user: &NewUser, now: Timestamp) -> Result<User> {
        let id = self.insert(
            "INSERT INTO users (kind, name, email, first_name, last_name, created_at, username, password_hash, \
             institution_id, profile) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            params![
                user.kind.as_str(),
                user.name,
                user.email,
                user.first_name,
                user.last_name,
                micros(now),
                user.username,
                user.password_hash,
                user.institution_id.map(|i| i.0),
                user.profile.as_ref().map(json_text)
            ],
        )?;
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
        })
    }

    async fn delete_user(&mut self, user: UserId) -> Result<()> {
        self.exec("DELETE FROM users WHERE id = ?1", params![user.0]).map(drop)
    }

    async fn insert_token(&mut self, user: UserId, hash: &[u8; 32], now: Timestamp) -> Result<()> {
        self.exec(
            "INSERT INTO tokens (hash, user_id, created_at) VALUES (?1, ?2, ?3)",
            params![&hash[..], user.0, micros(now)],
        )
        .map(drop)
    }

    async fn revoke_token(&mut self, hash: &[u8; 32], now: Timestamp) -> Result<Option<UserId>> {
        self.one(
            "UPDATE tokens SET revoked_at = ?2 WHERE hash = ?1 AND revoked_at IS NULL RETURNING user_id",
            params![&hash[..], micros(now)],
            |r| Ok(UserId(r.get(0)?)),
        )
    }

    async fn insert_model(&mut self, name: &str, provider: &str, now: Timestamp) -> Result<Model> {
        let id = self.insert(
            "INSERT INTO models (name, provider, created_at) VALUES (?1, ?2, ?3)",
            params![name, provider, micros(now)],
        )?;
        Ok(Model { id: ModelId(id), name: name.into(), provider: provider.into() })
    }

    async fn insert_course(&mut self, partner: UserId, title: &str, now: Timestamp) -> Result<Course> {
        let id = self.insert(
            "INSERT INTO courses (partner_id, title, created_at) VALUES (?1, ?2, ?3)",
            params![partner.0, title, micros(now)],
        )?;
        Ok(Course { id: CourseId(id), partner_id: partner, title: title.into() })
    }

    async fn insert_audit(&mut self, ctx: &Context, e: &NewAuditEvent) -> Result<()> {
        self.exec(
            "INSERT INTO audit_events (at, actor_id, action, class_id, entity_id, before, after, request_id) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                micros(ctx.now),
                ctx.actor.map(|a| a.0),
                e.action.as_str(),
                e.class_id.map(|c| c.0),
                e.entity_id,
                e.before.as_ref().map(|v| v.to_string()),
                e.after.as_ref().map(|v| v.to_string()),
                ctx.request_id
            ],
        )
        .map(drop)
    }

    async fn insert_project(&mut self, name: &str, now: Timestamp) -> Result<Project> {
        let id = self.insert("INSERT INTO projects (name, created_at) VALUES (?1, ?2)", params![name, micros(now)])?;
        Ok(Project { id: ProjectId(id), name: name.into(), is_active: true })
    }

    async fn insert_policy(&mut self, project: ProjectId, name: &str, minutes: u32, now: Timestamp) -> Result<Policy> {
        let id = self.insert(
            "INSERT INTO policies (project_id, name, default_duration_minutes, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![project.0, name, minutes, micros(now)],
        )?;
        Ok(Policy {
            id: PolicyId(id),
            project_id: project,
            name: name.into(),
            default_duration_minutes: minutes,
            allow_environment_creation: true,
        })
    }

    async fn insert_blueprint(
        &mut self,
        project: ProjectId,
        name: &str,
        description: Option<&str>,
        token: &str,
        now: Timestamp,
    ) -> Result<Blueprint> {
        let id = self.insert(
            "INSERT INTO blueprints (project_id, name, description, token, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![project.0, name, description, token, micros(now)],
        )?;
        Ok(Blueprint {
            id: BlueprintId(id),
            project_id: project,
            name: name.into(),
            description: description.map(Into::into),
            token: token.into(),
        })
    }

    async fn insert_custom_field(&mut self, f: &CustomField, now: Timestamp) -> Result<CustomField> {
        let id = self.insert(
            "INSERT INTO custom_fields (project_id, name, position, kind, is_required, regex, default_value, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![f.project_id.0, f.name, f.order, f.kind, f.is_required, f.regex, f.default_value, micros(now)],
        )?;
        Ok(CustomField { id: CustomFieldId(id), ..f.clone() })
    }

    async fn insert_project_member(
        &mut self,
        project: ProjectId,
        user: UserId,
        can_instruct: bool,
        now: Timestamp,
    ) -> Result<ProjectMember> {
        let id = self.insert(
            "INSERT INTO project_members (project_id, user_id, can_instruct, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![project.0, user.0, can_instruct, micros(now)],
        )?;
        Ok(ProjectMember { id: ProjectMemberId(id), project_id: project, user_id: user, can_instruct })
    }

    async fn insert_api_credential(
        &mut self,
        api_id: &str,
        user: UserId,
        sealed_key: &[u8],
        now: Timestamp,
    ) -> Result<()> {
        self.exec(
            "INSERT INTO api_credentials (api_id, user_id, sealed_key, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![api_id, user.0, sealed_key, micros(now)],
        )
        .map(drop)
    }

    async fn insert_lab(&mut self, class: ClassId, l: &LabSettings) -> Result<()> {
        self.exec(
            "INSERT INTO labs (class_id, project_id, blueprint_id, policy_id, short_id, windows_zone, passphrase, \
             limit_early_access, use_custom_invitation_email, custom_invitation_subject, custom_invitation_body, \
             permit_non_registered, address, field_values, self_paced, allow_multiple_student_login) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
            params![
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
                l.address.as_ref().map(json_text),
                json_text(&l.field_values),
                l.self_paced,
                l.allow_multiple_student_login
            ],
        )
        .map(drop)
    }

    async fn update_lab(&mut self, class: ClassId, l: &LabSettings) -> Result<()> {
        self.exec(
            "UPDATE labs SET windows_zone = ?2, passphrase = ?3, limit_early_access = ?4, use_custom_invitation_email = ?5, \
             custom_invitation_subject = ?6, custom_invitation_body = ?7, permit_non_registered = ?8, address = ?9, \
             field_values = ?10, self_paced = ?11, allow_multiple_student_login = ?12 WHERE class_id = ?1",
            params![
                class.0,
                l.windows_zone,
                l.passphrase,
                l.limit_early_access,
                l.use_custom_invitation_email,
                l.custom_invitation_subject,
                l.custom_invitation_body,
                l.permit_non_registered,
                l.address.as_ref().map(json_text),
                json_text(&l.field_values),
                l.self_paced,
                l.allow_multiple_student_login
            ],
        )
        .map(drop)
    }

    async fn short_id_exists(&mut self, short_id: &str) -> Result<bool> {
        Ok(self.count("SELECT EXISTS (SELECT 1 FROM labs WHERE short_id = ?1)", params![short_id])? > 0)
    }

    async fn update_profile(&mut self, user: UserId, name: &str, p: &StudentProfile) -> Result<()> {
        self.exec(
            "UPDATE users SET name = ?2, email = ?3, first_name = ?4, last_name = ?5 WHERE id = ?1",
            params![user.0, name, p.email, p.first_name, p.last_name],
        )
        .map(drop)
    }

    async fn set_member_times(
        &mut self,
        id: MembershipId,
        invited_at: Option<Timestamp>,
        logged_in_at: Option<Timestamp>,
    ) -> Result<()> {
        self.exec(
            "UPDATE memberships SET invited_at = ?2, logged_in_at = ?3 WHERE id = ?1",
            params![id.0, invited_at.map(micros), logged_in_at.map(micros)],
        )
        .map(drop)
    }

    async fn insert_sponsored_link(
        &mut self,
        hash: &[u8; 32],
        class: ClassId,
        email: &str,
        now: Timestamp,
    ) -> Result<()> {
        self.exec(
            "INSERT INTO sponsored_links (token_hash, class_id, email, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![&hash[..], class.0, email, micros(now)],
        )
        .map(drop)
    }

    async fn disable_sponsored_links(&mut self, class: ClassId, email: &str, now: Timestamp) -> Result<u64> {
        let n = self.exec(
            "UPDATE sponsored_links SET disabled_at = ?3 WHERE class_id = ?1 AND email = ?2 AND disabled_at IS NULL",
            params![class.0, email, micros(now)],
        )?;
        Ok(n as u64)
    }

    async fn insert_outbox(&mut self, recipient: &str, subject: &str, body: &str, now: Timestamp) -> Result<OutboxId> {
        let id = self.insert(
            "INSERT INTO outbox (recipient, subject, body, created_at, next_attempt_at) VALUES (?1, ?2, ?3, ?4, ?4)",
            params![recipient, subject, body, micros(now)],
        )?;
        Ok(OutboxId(id))
    }

    async fn claim_outbox(&mut self, now: Timestamp, until: Timestamp, limit: u32) -> Result<Vec<OutboxMessage>> {
        // The single writer is the lock: nothing else claims between these statements.
        let due = self.all(
            "SELECT id, recipient, subject, body, attempts FROM outbox WHERE sent_at IS NULL AND next_attempt_at <= ?1 \
             AND (claimed_until IS NULL OR claimed_until <= ?1) ORDER BY next_attempt_at, id LIMIT ?2",
            params![micros(now), limit],
            |r| {
                Ok(OutboxMessage {
                    id: OutboxId(r.get(0)?),
                    recipient: r.get(1)?,
                    subject: r.get(2)?,
                    body: r.get(3)?,
                    attempts: r.get(4)?,
                })
            },
        )?;
        for m in &due {
            self.exec("UPDATE outbox SET claimed_until = ?2 WHERE id = ?1", params![m.id.0, micros(until)])?;
        }
        Ok(due)
    }

    async fn outbox_sent(&mut self, id: OutboxId, now: Timestamp) -> Result<()> {
        self.exec(
            "UPDATE outbox SET sent_at = ?2, attempts = attempts + 1, claimed_until = NULL, last_error = NULL WHERE id = ?1",
            params![id.0, micros(now)],
        )
        .map(drop)
    }

    async fn outbox_failed(&mut self, id: OutboxId, error: &str, next: Timestamp) -> Result<()> {
        self.exec(
            "UPDATE outbox SET attempts = attempts + 1, last_error = ?2, next_attempt_at = ?3, claimed_until = NULL WHERE id = ?1",
            params![id.0, error, micros(next)],
        )
        .map(drop)
    }

    async fn insert_institution(&mut self, i: &Institution, now: Timestamp) -> Result<Institution> {
        let id = self.insert(
            "INSERT INTO institutions (type, name, address, latitude, longitude, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![i.kind, i.name, i.address, i.latitude, i.longitude, micros(now)],
        )?;
        Ok(Institution { id: InstitutionId(id), ..i.clone() })
    }

    async fn set_user_profile(&mut self, user: UserId, profile: &serde_json::Value) -> Result<()> {
        self.exec("UPDATE users SET profile = ?2 WHERE id = ?1", params![user.0, profile.to_string()]).map(drop)
    }

    async fn replace_members(
        &mut self,
        class: ClassId,
        role: MemberRole,
        users: &[UserId],
        now: Timestamp,
    ) -> Result<()> {
        self.exec("DELETE FROM memberships WHERE class_id = ?1 AND role = ?2", params![class.0, role.as_str()])?;
        for (position, user) in users.iter().enumerate() {
            self.exec(
                "INSERT INTO memberships (class_id, user_id, role, position, joined_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![class.0, user.0, role.as_str(), position as i64 + 1, micros(now)],
            )?;
        }
        self.exec(
            "UPDATE classes SET member_count = (SELECT COUNT(*) FROM memberships WHERE class_id = ?1 AND role = 'student'), \
             version = version + 1 WHERE id = ?1",
            params![class.0],
        )
        .map(drop)
    }

    async fn setting_or_insert(&mut self, name: &str, value: &[u8]) -> Result<Vec<u8>> {
        self.exec(
            "INSERT INTO settings (name, value) VALUES (?1, ?2) ON CONFLICT (name) DO NOTHING",
            params![name, value],
        )?;
        self.one("SELECT value FROM settings WHERE name = ?1", params![name], |r| r.get(0))?
            .ok_or_else(|| StoreError::Internal(format!("setting {name} vanished")))
    }
}
