//! The SQL of the PostgreSQL engine.

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
use deadpool_postgres::{GenericClient, Transaction};
use jiff::Timestamp;
use postgres_types::{FromSql, ToSql};
use tokio_postgres::Row;
use tokio_postgres::error::SqlState;

use crate::StoreError;
use crate::engine::{ApiCredential, ClassFilter, Member, NewCode, OutboxMessage, Read, Result, SponsoredLink, Tx};

/// A connection (or transaction) seen through the engine trait.
pub(crate) struct Pg<'a, C>(pub &'a C);

type Param<'a> = &'a (dyn ToSql + Sync);

pub(crate) fn error(e: tokio_postgres::Error) -> StoreError {
    let Some(db) = e.as_db_error() else {
        // No answer from the server: the connection is gone or never came.
        return StoreError::Unavailable(format!("database connection: {e}"));
    };
    let code = db.code();
    if [
        SqlState::T_R_SERIALIZATION_FAILURE,
        SqlState::T_R_DEADLOCK_DETECTED,
        SqlState::UNIQUE_VIOLATION,
        SqlState::FOREIGN_KEY_VIOLATION,
    ]
    .contains(code)
    {
        // Another transaction got there first; the whole transaction runs again and sees it.
        StoreError::Retry(db.message().to_string())
    } else if code.code().starts_with("08")
        || code.code().starts_with("57P")
        || [SqlState::TOO_MANY_CONNECTIONS, SqlState::QUERY_CANCELED].contains(code)
    {
        StoreError::Unavailable(db.message().to_string())
    } else {
        StoreError::Internal(format!("{}: {}", code.code(), db.message()))
    }
}

fn get<'r, T: FromSql<'r>>(row: &'r Row, col: usize) -> Result<T> {
    row.try_get(col).map_err(|e| StoreError::Internal(format!("reading column {col}: {e}")))
}

fn parsed<T>(v: Option<T>, what: &str) -> Result<T> {
    v.ok_or_else(|| StoreError::Internal(format!("unexpected {what} in the database")))
}

fn page_limits(p: PageRequest) -> (i64, i64) {
    (i64::from(p.limit), i64::try_from(p.offset).unwrap_or(i64::MAX))
}

fn int(v: Option<u32>) -> Option<i32> {
    v.map(|n| i32::try_from(n).unwrap_or(i32::MAX))
}

fn uint(v: Option<i32>) -> Option<u32> {
    v.map(|n| n.max(0) as u32)
}

const CLASS_COLS: &str = "c.id, c.owner_id, c.name, c.status, c.description, c.start_at, c.end_at, c.capacity, \
    c.timezone, c.location, c.online_url, c.invite_only, c.primary_model_id, c.allowed_model_ids, c.course_id, \
    c.member_count, c.version, c.created_at, c.updated_at, c.school_class";
const CLASS_WIDTH: usize = 20;

fn class_row(row: &Row) -> Result<Class> {
    let status: Option<String> = get(row, 3)?;
    let status = status.map(|s| parsed(ClassStatus::parse(&s), "status")).transpose()?;
    let allowed: Vec<i64> = get(row, 13)?;
    Ok(Class {
        id: ClassId(get(row, 0)?),
        owner_id: UserId(get(row, 1)?),
        fields: ClassFields {
            name: get(row, 2)?,
            status,
            description: get(row, 4)?,
            start_at: get(row, 5)?,
            end_at: get(row, 6)?,
            capacity: uint(get(row, 7)?),
            timezone: get::<Option<String>>(row, 8)?.map(ZoneName::from_stored),
            location: get(row, 9)?,
            online_url: get(row, 10)?,
            invite_only: get(row, 11)?,
            primary_model_id: get::<Option<i64>>(row, 12)?.map(ModelId),
            allowed_model_ids: allowed.into_iter().map(ModelId).collect(),
            course_id: get::<Option<i64>>(row, 14)?.map(CourseId),
            school_class: get(row, 19)?,
        },
        member_count: uint(get(row, 15)?).unwrap_or(0),
        version: get(row, 16)?,
        created_at: get(row, 17)?,
        updated_at: get(row, 18)?,
    })
}

const CODE_COLS: &str = "i.id, i.class_id, c.owner_id, i.code, i.target_role, i.used_count, i.max_uses, \
    i.expires_at, i.disabled, i.created_by, i.created_at";

fn code_row(row: &Row) -> Result<InviteCode> {
    let role: String = get(row, 4)?;
    Ok(InviteCode {
        id: InviteCodeId(get(row, 0)?),
        class_id: ClassId(get(row, 1)?),
        owner_id: UserId(get(row, 2)?),
        code: get(row, 3)?,
        target_role: parsed(MemberRole::parse(&role), "role")?,
        used_count: uint(get(row, 5)?).unwrap_or(0),
        max_uses: uint(get(row, 6)?),
        expires_at: get(row, 7)?,
        disabled: get(row, 8)?,
        created_by: UserId(get(row, 9)?),
        created_at: get(row, 10)?,
    })
}

const MEMBERSHIP_COLS: &str =
    "m.id, m.class_id, m.user_id, m.role, m.joined_at, m.invite_code_id, m.invited_at, m.logged_in_at";
const MEMBERSHIP_WIDTH: usize = 8;

fn membership_row(row: &Row) -> Result<Membership> {
    let role: String = get(row, 3)?;
    Ok(Membership {
        id: MembershipId(get(row, 0)?),
        class_id: ClassId(get(row, 1)?),
        user_id: UserId(get(row, 2)?),
        role: parsed(MemberRole::parse(&role), "role")?,
        joined_at: get(row, 4)?,
        invite_code_id: get::<Option<i64>>(row, 5)?.map(InviteCodeId),
        invited_at: get(row, 6)?,
        logged_in_at: get(row, 7)?,
    })
}

const USER_COLS: &str = "u.id, u.kind, u.name, u.email, u.first_name, u.last_name, u.created_at, u.username, \
    u.institution_id, u.profile::TEXT";
const USER_WIDTH: usize = 10;

fn user_row(row: &Row, at: usize) -> Result<User> {
    let kind: String = get(row, at + 1)?;
    Ok(User {
        id: UserId(get(row, at)?),
        kind: parsed(UserKind::parse(&kind), "user kind")?,
        name: get(row, at + 2)?,
        email: get(row, at + 3)?,
        first_name: get(row, at + 4)?,
        last_name: get(row, at + 5)?,
        created_at: get(row, at + 6)?,
        username: get(row, at + 7)?,
        institution_id: get::<Option<i64>>(row, at + 8)?.map(InstitutionId),
        profile: get::<Option<String>>(row, at + 9)?.as_deref().map(from_json).transpose()?,
    })
}

fn member_row(row: &Row) -> Result<Member> {
    Ok(Member { membership: membership_row(row)?, user: user_row(row, MEMBERSHIP_WIDTH)? })
}

fn project_row(row: &Row) -> Result<Project> {
    Ok(Project { id: ProjectId(get(row, 0)?), name: get(row, 1)?, is_active: get(row, 2)? })
}

const PROJECT_MEMBER_COLS: &str = "pm.id, pm.project_id, pm.user_id, pm.can_instruct";

fn project_member_row(row: &Row, at: usize) -> Result<ProjectMember> {
    Ok(ProjectMember {
        id: ProjectMemberId(get(row, at)?),
        project_id: ProjectId(get(row, at + 1)?),
        user_id: UserId(get(row, at + 2)?),
        can_instruct: get(row, at + 3)?,
    })
}

const POLICY_COLS: &str = "id, project_id, name, default_duration_minutes, allow_environment_creation";

fn policy_row(row: &Row) -> Result<Policy> {
    Ok(Policy {
        id: PolicyId(get(row, 0)?),
        project_id: ProjectId(get(row, 1)?),
        name: get(row, 2)?,
        default_duration_minutes: get::<i32>(row, 3)?.max(0) as u32,
        allow_environment_creation: get(row, 4)?,
    })
}

const BLUEPRINT_COLS: &str = "id, project_id, name, description, token";

fn blueprint_row(row: &Row) -> Result<Blueprint> {
    Ok(Blueprint {
        id: BlueprintId(get(row, 0)?),
        project_id: ProjectId(get(row, 1)?),
        name: get(row, 2)?,
        description: get(row, 3)?,
        token: get(row, 4)?,
    })
}

const FIELD_COLS: &str = "id, project_id, name, position, kind, is_required, regex, default_value";

fn field_row(row: &Row) -> Result<CustomField> {
    Ok(CustomField {
        id: CustomFieldId(get(row, 0)?),
        project_id: ProjectId(get(row, 1)?),
        name: get(row, 2)?,
        order: get(row, 3)?,
        kind: get(row, 4)?,
        is_required: get(row, 5)?,
        regex: get(row, 6)?,
        default_value: get(row, 7)?,
    })
}

const LAB_COLS: &str = "l.project_id, l.blueprint_id, l.policy_id, l.short_id, l.windows_zone, l.passphrase, \
    l.limit_early_access, l.use_custom_invitation_email, l.custom_invitation_subject, l.custom_invitation_body, \
    l.permit_non_registered, l.address::TEXT, l.field_values::TEXT, l.self_paced, l.allow_multiple_student_login";

fn from_json<T: serde::de::DeserializeOwned>(text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| StoreError::Internal(format!("reading stored JSON: {e}")))
}

fn json_text<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

/// Lab settings from columns starting at `at`.
fn lab_row(row: &Row, at: usize) -> Result<LabSettings> {
    let address: Option<String> = get(row, at + 11)?;
    let address: Option<Address> = address.as_deref().map(from_json).transpose()?;
    let values: String = get(row, at + 12)?;
    let limit: i32 = get(row, at + 6)?;
    Ok(LabSettings {
        project_id: ProjectId(get(row, at)?),
        blueprint_id: BlueprintId(get(row, at + 1)?),
        policy_id: PolicyId(get(row, at + 2)?),
        short_id: get(row, at + 3)?,
        windows_zone: get(row, at + 4)?,
        passphrase: get(row, at + 5)?,
        limit_early_access: u8::try_from(limit).unwrap_or(0),
        use_custom_invitation_email: get(row, at + 7)?,
        custom_invitation_subject: get(row, at + 8)?,
        custom_invitation_body: get(row, at + 9)?,
        permit_non_registered: get(row, at + 10)?,
        address,
        field_values: from_json::<Vec<FieldValue>>(&values)?,
        self_paced: get(row, at + 13)?,
        allow_multiple_student_login: get(row, at + 14)?,
    })
}

impl<C: GenericClient> Pg<'_, C> {
    async fn rows(&self, sql: &str, args: &[Param<'_>]) -> Result<Vec<Row>> {
        let stmt = self.0.prepare_cached(sql).await.map_err(error)?;
        self.0.query(&stmt, args).await.map_err(error)
    }

    async fn row(&self, sql: &str, args: &[Param<'_>]) -> Result<Option<Row>> {
        let stmt = self.0.prepare_cached(sql).await.map_err(error)?;
        self.0.query_opt(&stmt, args).await.map_err(error)
    }

    async fn one<T>(&self, sql: &str, args: &[Param<'_>], f: impl FnOnce(&Row) -> Result<T>) -> Result<Option<T>> {
        self.row(sql, args).await?.as_ref().map(f).transpose()
    }

    async fn all<T>(&self, sql: &str, args: &[Param<'_>], f: impl FnMut(&Row) -> Result<T>) -> Result<Vec<T>> {
        self.rows(sql, args).await?.iter().map(f).collect()
    }

    async fn count(&self, sql: &str, args: &[Param<'_>]) -> Result<u64> {
        Ok(self.one(sql, args, |r| get::<i64>(r, 0)).await?.unwrap_or(0).max(0) as u64)
    }

    async fn exec(&self, sql: &str, args: &[Param<'_>]) -> Result<u64> {
        let stmt = self.0.prepare_cached(sql).await.map_err(error)?;
        self.0.execute(&stmt, args).await.map_err(error)
    }

    async fn insert(&self, sql: &str, args: &[Param<'_>]) -> Result<i64> {
        let row = self.row(sql, args).await?;
        let row = row.ok_or_else(|| StoreError::Internal("INSERT … RETURNING returned nothing".into()))?;
        get(&row, 0)
    }
}

impl<C: GenericClient> Read for Pg<'_, C> {
    async fn principal_by_token(&mut self, hash: &[u8; 32]) -> Result<Option<Principal>> {
        let hash: &[u8] = hash;
        let found = self
            .one(
                "SELECT u.id, u.kind FROM tokens t JOIN users u ON u.id = t.user_id \
                 WHERE t.hash = $1 AND t.revoked_at IS NULL",
                &[&hash],
                |r| Ok((get::<i64>(r, 0)?, get::<String>(r, 1)?)),
            )
            .await?;
        Ok(found.and_then(|(id, kind)| Some(Principal { user_id: UserId(id), kind: UserKind::parse(&kind)? })))
    }

    async fn user(&mut self, id: UserId) -> Result<Option<User>> {
        self.one(&format!("SELECT {USER_COLS} FROM users u WHERE u.id = $1"), &[&id.0], |r| user_row(r, 0)).await
    }

    async fn has_users(&mut self) -> Result<bool> {
        Ok(self.count("SELECT COUNT(*) FROM (SELECT 1 FROM users LIMIT 1) AS any_user", &[]).await? > 0)
    }

    async fn class(&mut self, id: ClassId) -> Result<Option<Class>> {
        self.one(&format!("SELECT {CLASS_COLS} FROM classes c WHERE c.id = $1"), &[&id.0], class_row).await
    }

    async fn classes(&mut self, owner: UserId, filter: &ClassFilter, page: PageRequest) -> Result<Page<Class>> {
        let (limit, offset) = page_limits(page);
        let course = filter.course_id.map(|c| c.0);
        let status = filter.status.map(ClassStatus::as_str);
        const FILTER: &str = "k.owner_id = $1 AND ($2::BIGINT IS NULL OR k.course_id = $2) \
                              AND ($3::TEXT IS NULL OR k.status = $3)";
        // The page's ids first, from the (owner, created_at, id) index alone, then only
        // those rows: skipping `offset` rows then reads index pages, not one heap page each.
        let items = self
            .all(
                &format!(
                    "SELECT {CLASS_COLS} FROM classes c WHERE c.id IN (SELECT k.id FROM classes k \
                     WHERE {FILTER} ORDER BY k.created_at DESC, k.id DESC LIMIT $4 OFFSET $5) \
                     ORDER BY c.created_at DESC, c.id DESC"
                ),
                &[&owner.0, &course, &status, &limit, &offset],
                class_row,
            )
            .await?;
        let total = if *filter == ClassFilter::default() {
            self.count("SELECT class_count FROM users WHERE id = $1", &[&owner.0]).await?
        } else {
            self.count(&format!("SELECT COUNT(*) FROM classes k WHERE {FILTER}"), &[&owner.0, &course, &status]).await?
        };
        Ok(Page { total, items })
    }

    async fn classes_of_member(&mut self, user: UserId, page: PageRequest) -> Result<Page<Class>> {
        let (limit, offset) = page_limits(page);
        let items = self
            .all(
                &format!(
                    "SELECT {CLASS_COLS} FROM memberships m JOIN classes c ON c.id = m.class_id \
                     WHERE m.user_id = $1 ORDER BY m.joined_at DESC, m.id DESC LIMIT $2 OFFSET $3"
                ),
                &[&user.0, &limit, &offset],
                class_row,
            )
            .await?;
        let total = self.count("SELECT COUNT(*) FROM memberships WHERE user_id = $1", &[&user.0]).await?;
        Ok(Page { total, items })
    }

    async fn codes_of(&mut self, classes: &[ClassId]) -> Result<Vec<InviteCode>> {
        // One class (every single-class read and write): a plain `=` lets PostgreSQL keep
        // one generic plan; with `= ANY($1)` it plans each execution anew, which cost more
        // than the query itself.
        if let [class] = classes {
            return self
                .all(
                    &format!(
                        "SELECT {CODE_COLS} FROM invite_codes i JOIN classes c ON c.id = i.class_id \
                         WHERE i.class_id = $1 ORDER BY i.created_at DESC, i.id DESC"
                    ),
                    &[&class.0],
                    code_row,
                )
                .await;
        }
        let ids: Vec<i64> = classes.iter().map(|c| c.0).collect();

        self.all(
            &format!(
                "SELECT {CODE_COLS} FROM invite_codes i JOIN classes c ON c.id = i.class_id \
                 WHERE i.class_id = ANY($1) ORDER BY i.class_id, i.created_at DESC, i.id DESC"
            ),
            &[&ids],
            code_row,
        )
        .await
    }

    async fn codes_page(
        &mut self,
        class: ClassId,
        active_at: Option<Timestamp>,
        page: PageRequest,
    ) -> Result<Page<InviteCode>> {
        let (limit, offset) = page_limits(page);
        const ACTIVE: &str =
            "($2::TIMESTAMPTZ IS NULL OR (NOT i.disabled AND (i.expires_at IS NULL OR i.expires_at > $2)))";
        let items = self
            .all(
                &format!(
                    "SELECT {CODE_COLS} FROM invite_codes i JOIN classes c ON c.id = i.class_id \
                     WHERE i.class_id = $1 AND {ACTIVE} ORDER BY i.created_at DESC, i.id DESC LIMIT $3 OFFSET $4"
                ),
                &[&class.0, &active_at, &limit, &offset],
                code_row,
            )
            .await?;
        let total = self
            .count(
                &format!("SELECT COUNT(*) FROM invite_codes i WHERE i.class_id = $1 AND {ACTIVE}"),
                &[&class.0, &active_at],
            )
            .await?;
        Ok(Page { total, items })
    }

    async fn code(&mut self, id: InviteCodeId) -> Result<Option<InviteCode>> {
        self.one(
            &format!("SELECT {CODE_COLS} FROM invite_codes i JOIN classes c ON c.id = i.class_id WHERE i.id = $1"),
            &[&id.0],
            code_row,
        )
        .await
    }

    async fn code_by_value(&mut self, code: &str) -> Result<Option<InviteCode>> {
        self.one(
            &format!("SELECT {CODE_COLS} FROM invite_codes i JOIN classes c ON c.id = i.class_id WHERE i.code = $1"),
            &[&code],
            code_row,
        )
        .await
    }

    async fn membership(&mut self, class: ClassId, user: UserId) -> Result<Option<Membership>> {
        self.one(
            &format!("SELECT {MEMBERSHIP_COLS} FROM memberships m WHERE m.class_id = $1 AND m.user_id = $2"),
            &[&class.0, &user.0],
            membership_row,
        )
        .await
    }

    async fn members(&mut self, class: ClassId, page: PageRequest) -> Result<Page<Member>> {
        let (limit, offset) = page_limits(page);
        let items = self
            .all(
                &format!(
                    "SELECT {MEMBERSHIP_COLS}, {USER_COLS} FROM memberships m JOIN users u ON u.id = m.user_id \
                     WHERE m.class_id = $1 ORDER BY m.joined_at DESC, m.id DESC LIMIT $2 OFFSET $3"
                ),
                &[&class.0, &limit, &offset],
                member_row,
            )
            .await?;
        let total = self.count("SELECT COUNT(*) FROM memberships WHERE class_id = $1", &[&class.0]).await?;
        Ok(Page { total, items })
    }

    async fn history(&mut self, class: ClassId, page: PageRequest) -> Result<Page<AuditEvent>> {
        let (limit, offset) = page_limits(page);
        let items = self
            .all(
                "SELECT id, at, actor_id, action, class_id, entity_id, before::TEXT, after::TEXT, request_id \
                 FROM audit_events WHERE class_id = $1 ORDER BY id DESC LIMIT $2 OFFSET $3",
                &[&class.0, &limit, &offset],
                |r| {
                    let json = |col| -> Result<Option<serde_json::Value>> {
                        get::<Option<String>>(r, col)?
                            .map(|s| serde_json::from_str(&s).map_err(|e| StoreError::Internal(e.to_string())))
                            .transpose()
                    };
                    Ok(AuditEvent {
                        id: AuditEventId(get(r, 0)?),
                        at: get(r, 1)?,
                        actor_id: get::<Option<i64>>(r, 2)?.map(UserId),
                        action: get(r, 3)?,
                        class_id: get::<Option<i64>>(r, 4)?.map(ClassId),
                        entity_id: get(r, 5)?,
                        before: json(6)?,
                        after: json(7)?,
                        request_id: get(r, 8)?,
                    })
                },
            )
            .await?;
        let total = self.count("SELECT COUNT(*) FROM audit_events WHERE class_id = $1", &[&class.0]).await?;
        Ok(Page { total, items })
    }

    async fn existing_models(&mut self, ids: &[ModelId]) -> Result<Vec<ModelId>> {
        let ids: Vec<i64> = ids.iter().map(|m| m.0).collect();
        self.all("SELECT id FROM models WHERE id = ANY($1)", &[&ids], |r| Ok(ModelId(get(r, 0)?))).await
    }

    async fn course(&mut self, id: CourseId) -> Result<Option<Course>> {
        self.one("SELECT id, partner_id, title FROM courses WHERE id = $1", &[&id.0], |r| {
            Ok(Course { id: CourseId(get(r, 0)?), partner_id: UserId(get(r, 1)?), title: get(r, 2)? })
        })
        .await
    }

    async fn api_credential(&mut self, api_id: &str) -> Result<Option<ApiCredential>> {
        let found = self
            .one(
                "SELECT u.id, u.kind, a.sealed_key FROM api_credentials a JOIN users u ON u.id = a.user_id \
                 WHERE a.api_id = $1 AND a.revoked_at IS NULL",
                &[&api_id],
                |r| Ok((get::<i64>(r, 0)?, get::<String>(r, 1)?, get::<Vec<u8>>(r, 2)?)),
            )
            .await?;
        Ok(found.and_then(|(id, kind, sealed_key)| {
            Some(ApiCredential {
                principal: Principal { user_id: UserId(id), kind: UserKind::parse(&kind)? },
                sealed_key,
            })
        }))
    }

    async fn project(&mut self, id: ProjectId) -> Result<Option<Project>> {
        self.one("SELECT id, name, is_active FROM projects WHERE id = $1", &[&id.0], project_row).await
    }

    async fn projects_of(&mut self, user: UserId) -> Result<Vec<(Project, ProjectMember)>> {
        self.all(
            &format!(
                "SELECT p.id, p.name, p.is_active, {PROJECT_MEMBER_COLS} FROM project_members pm \
                 JOIN projects p ON p.id = pm.project_id WHERE pm.user_id = $1 ORDER BY p.id"
            ),
            &[&user.0],
            |r| Ok((project_row(r)?, project_member_row(r, 3)?)),
        )
        .await
    }

    async fn policies(&mut self, project: ProjectId) -> Result<Vec<Policy>> {
        self.all(
            &format!("SELECT {POLICY_COLS} FROM policies WHERE project_id = $1 ORDER BY id"),
            &[&project.0],
            policy_row,
        )
        .await
    }

    async fn policy(&mut self, id: PolicyId) -> Result<Option<Policy>> {
        self.one(&format!("SELECT {POLICY_COLS} FROM policies WHERE id = $1"), &[&id.0], policy_row).await
    }

    async fn blueprints(&mut self, project: ProjectId) -> Result<Vec<Blueprint>> {
        self.all(
            &format!("SELECT {BLUEPRINT_COLS} FROM blueprints WHERE project_id = $1 ORDER BY id"),
            &[&project.0],
            blueprint_row,
        )
        .await
    }

    async fn blueprint(&mut self, id: BlueprintId) -> Result<Option<Blueprint>> {
        self.one(&format!("SELECT {BLUEPRINT_COLS} FROM blueprints WHERE id = $1"), &[&id.0], blueprint_row).await
    }

    async fn blueprint_token_exists(&mut self, token: &str) -> Result<bool> {
        Ok(self.count("SELECT COUNT(*) FROM blueprints WHERE token = $1", &[&token]).await? > 0)
    }

    async fn custom_fields(&mut self, project: ProjectId) -> Result<Vec<CustomField>> {
        self.all(
            &format!("SELECT {FIELD_COLS} FROM custom_fields WHERE project_id = $1 ORDER BY position, id"),
            &[&project.0],
            field_row,
        )
        .await
    }

    async fn project_member(&mut self, id: ProjectMemberId) -> Result<Option<(ProjectMember, User)>> {
        self.one(
            &format!("SELECT {PROJECT_MEMBER_COLS}, {USER_COLS} FROM project_members pm JOIN users u ON u.id = pm.user_id WHERE pm.id = $1"),
            &[&id.0],
            |r| Ok((project_member_row(r, 0)?, user_row(r, 4)?)),
        )
        .await
    }

    async fn project_members(&mut self, project: ProjectId) -> Result<Vec<(ProjectMember, User)>> {
        self.all(
            &format!(
                "SELECT {PROJECT_MEMBER_COLS}, {USER_COLS} FROM project_members pm JOIN users u ON u.id = pm.user_id \
                 WHERE pm.project_id = $1 ORDER BY pm.id"
            ),
            &[&project.0],
            |r| Ok((project_member_row(r, 0)?, user_row(r, 4)?)),
        )
        .await
    }

    async fn lab(&mut self, class: ClassId) -> Result<Option<LabSettings>> {
        self.one(&format!("SELECT {LAB_COLS} FROM labs l WHERE l.class_id = $1"), &[&class.0], |r| lab_row(r, 0)).await
    }

    async fn labs_in(&mut self, projects: &[ProjectId]) -> Result<Vec<(Class, LabSettings)>> {
        let ids: Vec<i64> = projects.iter().map(|p| p.0).collect();
        self.all(
            &format!(
                "SELECT {CLASS_COLS}, {LAB_COLS} FROM labs l JOIN classes c ON c.id = l.class_id \
                 WHERE l.project_id = ANY($1) ORDER BY c.created_at DESC, c.id DESC"
            ),
            &[&ids],
            |r| Ok((class_row(r)?, lab_row(r, CLASS_WIDTH)?)),
        )
        .await
    }

    async fn class_by_short_id(&mut self, short_id: &str) -> Result<Option<ClassId>> {
        self.one("SELECT class_id FROM labs WHERE short_id = $1", &[&short_id], |r| Ok(ClassId(get(r, 0)?))).await
    }

    async fn members_by_role(&mut self, class: ClassId, role: MemberRole) -> Result<Vec<Member>> {
        self.all(
            &format!(
                "SELECT {MEMBERSHIP_COLS}, {USER_COLS} FROM memberships m JOIN users u ON u.id = m.user_id \
                 WHERE m.class_id = $1 AND m.role = $2 ORDER BY m.position, m.id"
            ),
            &[&class.0, &role.as_str()],
            member_row,
        )
        .await
    }

    async fn member(&mut self, id: MembershipId) -> Result<Option<Member>> {
        self.one(
            &format!("SELECT {MEMBERSHIP_COLS}, {USER_COLS} FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.id = $1"),
            &[&id.0],
            member_row,
        )
        .await
    }

    async fn member_by_email(&mut self, class: ClassId, role: MemberRole, email: &str) -> Result<Option<Member>> {
        self.one(
            &format!(
                "SELECT {MEMBERSHIP_COLS}, {USER_COLS} FROM memberships m JOIN users u ON u.id = m.user_id \
                 WHERE m.class_id = $1 AND m.role = $2 AND u.email = $3"
            ),
            &[&class.0, &role.as_str(), &email],
            member_row,
        )
        .await
    }

    async fn sponsored_link(&mut self, hash: &[u8; 32]) -> Result<Option<SponsoredLink>> {
        let hash: &[u8] = hash;
        self.one(
            "SELECT class_id, email, disabled_at IS NOT NULL FROM sponsored_links WHERE token_hash = $1",
            &[&hash],
            |r| Ok(SponsoredLink { class_id: ClassId(get(r, 0)?), email: get(r, 1)?, disabled: get(r, 2)? }),
        )
        .await
    }

    async fn user_by_username(&mut self, username: &str) -> Result<Option<(User, Option<String>)>> {
        self.one(
            &format!("SELECT {USER_COLS}, u.password_hash FROM users u WHERE u.username = $1"),
            &[&username],
            |r| Ok((user_row(r, 0)?, get(r, USER_WIDTH)?)),
        )
        .await
    }

    async fn users(&mut self, ids: &[UserId]) -> Result<Vec<User>> {
        let ids: Vec<i64> = ids.iter().map(|u| u.0).collect();
        self.all(&format!("SELECT {USER_COLS} FROM users u WHERE u.id = ANY($1)"), &[&ids], |r| user_row(r, 0)).await
    }

    async fn classes_owned(&mut self, owner: UserId) -> Result<Vec<Class>> {
        self.all(
            &format!("SELECT {CLASS_COLS} FROM classes c WHERE c.owner_id = $1 ORDER BY c.created_at DESC, c.id DESC"),
            &[&owner.0],
            class_row,
        )
        .await
    }

    async fn classes_named(&mut self, owner: UserId, name: &str) -> Result<Vec<ClassId>> {
        let sql = "SELECT id FROM classes WHERE owner_id = $1 AND name = $2";
        self.all(sql, &[&owner.0, &name], |r| Ok(ClassId(get(r, 0)?))).await
    }

    async fn memberships_of(&mut self, user: UserId) -> Result<Vec<Membership>> {
        self.all(
            &format!("SELECT {MEMBERSHIP_COLS} FROM memberships m WHERE m.user_id = $1"),
            &[&user.0],
            membership_row,
        )
        .await
    }

    async fn institution(&mut self, id: InstitutionId) -> Result<Option<Institution>> {
        self.one(&format!("SELECT {INSTITUTION_COLS} FROM institutions WHERE id = $1"), &[&id.0], institution_row).await
    }

    async fn institution_named(&mut self, name: &str) -> Result<Option<Institution>> {
        self.one(&format!("SELECT {INSTITUTION_COLS} FROM institutions WHERE name = $1"), &[&name], institution_row)
            .await
    }

    async fn setting(&mut self, name: &str) -> Result<Option<Vec<u8>>> {
        self.one("SELECT value FROM settings WHERE name = $1", &[&name], |r| get(r, 0)).await
    }
}

const INSTITUTION_COLS: &str = "id, type, name, address, latitude, longitude";

fn institution_row(row: &Row) -> Result<Institution> {
    Ok(Institution {
        id: InstitutionId(get(row, 0)?),
        kind: get(row, 1)?,
        name: get(row, 2)?,
        address: get(row, 3)?,
        latitude: get(row, 4)?,
        longitude: get(row, 5)?,
    })
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

/// A class's settable values, owned so they can be bound as parameters.
struct ClassValues {
    status: Option<&'static str>,
    capacity: Option<i32>,
    timezone: Option<String>,
    primary: Option<i64>,
    allowed: Vec<i64>,
    course: Option<i64>,
}

impl ClassValues {
    fn of(f: &ClassFields) -> ClassValues {
        ClassValues {
            status: f.status.map(ClassStatus::as_str),
            capacity: int(f.capacity),
            timezone: f.timezone.as_ref().map(|z| z.as_str().to_string()),
            primary: f.primary_model_id.map(|m| m.0),
            allowed: f.allowed_model_ids.iter().map(|m| m.0).collect(),
            course: f.course_id.map(|c| c.0),
        }
    }

    fn params<'a>(&'a self, f: &'a ClassFields) -> Vec<Param<'a>> {
        vec![
            &f.name,
            &self.status,
            &f.description,
            &f.start_at,
            &f.end_at,
            &self.capacity,
            &self.timezone,
            &f.location,
            &f.online_url,
            &f.invite_only,
            &self.primary,
            &self.allowed,
            &self.course,
            &f.school_class,
        ]
    }
}

impl Tx for Pg<'_, Transaction<'_>> {
    async fn class_for_update(&mut self, id: ClassId) -> Result<Option<Class>> {
        self.one(&format!("SELECT {CLASS_COLS} FROM classes c WHERE c.id = $1 FOR UPDATE"), &[&id.0], class_row).await
    }

    async fn insert_class(&mut self, owner: UserId, fields: &ClassFields, now: Timestamp) -> Result<Class> {
        let values = ClassValues::of(fields);
        let mut args = values.params(fields);
        args.extend([&owner.0 as Param<'_>, &now, &now]);
        let placeholders = (1..=args.len()).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ");
        let id = self
            .insert(
                &format!(
                    "INSERT INTO classes ({}, owner_id, created_at, updated_at) VALUES ({placeholders}) RETURNING id",
                    CLASS_FIELD_COLS.join(", ")
                ),
                &args,
            )
            .await?;
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
        let values = ClassValues::of(fields);
        let mut args = values.params(fields);
        args.extend([&now as Param<'_>, &id.0]);
        let sets = CLASS_FIELD_COLS.iter().enumerate().map(|(i, c)| format!("{c} = ${}", i + 1)).collect::<Vec<_>>();
        let n = CLASS_FIELD_COLS.len();
        let sql = format!(
            "UPDATE classes AS c SET {}, updated_at = ${}, version = c.version + 1 WHERE c.id = ${} RETURNING {CLASS_COLS}",
            sets.join(", "),
            n + 1,
            n + 2
        );
        let row = self.row(&sql, &args).await?;
        class_row(&row.ok_or_else(|| StoreError::Internal(format!("class {id} vanished during update")))?)
    }

    async fn touch_class(&mut self, id: ClassId) -> Result<()> {
        self.exec("UPDATE classes SET version = version + 1 WHERE id = $1", &[&id.0]).await.map(drop)
    }

    async fn delete_class(&mut self, id: ClassId) -> Result<()> {
        self.exec("DELETE FROM classes WHERE id = $1", &[&id.0]).await.map(drop)
    }

    async fn add_to_class_count(&mut self, owner: UserId, delta: i64) -> Result<()> {
        self.exec("UPDATE users SET class_count = class_count + $2 WHERE id = $1", &[&owner.0, &delta]).await.map(drop)
    }

    async fn take_seat(&mut self, class: ClassId) -> Result<bool> {
        let n = self
            .exec(
                "UPDATE classes SET member_count = member_count + 1, version = version + 1 \
                 WHERE id = $1 AND (capacity IS NULL OR member_count < capacity)",
                &[&class.0],
            )
            .await?;
        Ok(n == 1)
    }

    async fn free_seat(&mut self, class: ClassId) -> Result<()> {
        self.exec(
            "UPDATE classes SET member_count = member_count - 1, version = version + 1 WHERE id = $1 AND member_count > 0",
            &[&class.0],
        )
        .await
        .map(drop)
    }

    async fn code_exists(&mut self, code: &str) -> Result<bool> {
        Ok(self.count("SELECT COUNT(*) FROM invite_codes WHERE code = $1", &[&code]).await? > 0)
    }

    async fn insert_code(&mut self, code: NewCode<'_>, now: Timestamp) -> Result<InviteCode> {
        let max_uses = int(code.max_uses);
        let id = self
            .insert(
                "INSERT INTO invite_codes (class_id, code, target_role, max_uses, expires_at, created_by, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
                &[
                    &code.class_id.0,
                    &code.code,
                    &code.target_role.as_str(),
                    &max_uses,
                    &code.expires_at,
                    &code.created_by.0,
                    &now,
                ],
            )
            .await?;
        self.code(InviteCodeId(id)).await?.ok_or_else(|| StoreError::Internal("inserted code vanished".into()))
    }

    async fn update_code(&mut self, code: &InviteCode) -> Result<()> {
        let max_uses = int(code.max_uses);
        self.exec(
            "UPDATE invite_codes SET max_uses = $2, expires_at = $3, disabled = $4 WHERE id = $1",
            &[&code.id.0, &max_uses, &code.expires_at, &code.disabled],
        )
        .await
        .map(drop)
    }

    async fn use_code(&mut self, id: InviteCodeId, now: Timestamp) -> Result<bool> {
        let n = self
            .exec(
                "UPDATE invite_codes SET used_count = used_count + 1 WHERE id = $1 AND NOT disabled \
                 AND (expires_at IS NULL OR expires_at > $2) AND (max_uses IS NULL OR used_count < max_uses)",
                &[&id.0, &now],
            )
            .await?;
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
        let code_id = code.map(|c| c.0);
        let id = self
            .insert(
                "INSERT INTO memberships (class_id, user_id, role, position, joined_at, invite_code_id) \
                 VALUES ($1, $2, $3, (SELECT COALESCE(MAX(position), 0) + 1 FROM memberships WHERE class_id = $1), $4, $5) \
                 RETURNING id",
                &[&class.0, &user.0, &role.as_str(), &now, &code_id],
            )
            .await?;
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
        self.exec("DELETE FROM memberships WHERE class_id = $1 AND user_id = $2", &[&class.0, &user.0]).await.map(drop)
    }

    async fn insert_user(&mut self, user: &NewUser, now: Timestamp) -> Result<User> {
        let id = self
            .insert(
                "INSERT INTO users (kind, name, email, first_name, last_name, created_at, username, password_hash, \
                 institution_id, profile) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::TEXT::JSON) RETURNING id",
                &[
                    &user.kind.as_str(),
                    &user.name,
                    &user.email,
                    &user.first_name,
                    &user.last_name,
                    &now,
                    &user.username,
                    &user.password_hash,
                    &user.institution_id.map(|i| i.0),
                    &user.profile.as_ref().map(|p| p.to_string()),
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
        })
    }

    async fn delete_user(&mut self, user: UserId) -> Result<()> {
        self.exec("DELETE FROM users WHERE id = $1", &[&user.0]).await.map(drop)
    }

    async fn insert_token(&mut self, user: UserId, hash: &[u8; 32], now: Timestamp) -> Result<()> {
        let hash: &[u8] = hash;
        self.exec("INSERT INTO tokens (hash, user_id, created_at) VALUES ($1, $2, $3)", &[&hash, &user.0, &now])
            .await
            .map(drop)
    }

    async fn revoke_token(&mut self, hash: &[u8; 32], now: Timestamp) -> Result<Option<UserId>> {
        let hash: &[u8] = hash;
        self.one(
            "UPDATE tokens SET revoked_at = $2 WHERE hash = $1 AND revoked_at IS NULL RETURNING user_id",
            &[&hash, &now],
            |r| Ok(UserId(get(r, 0)?)),
        )
        .await
    }

    async fn insert_model(&mut self, name: &str, provider: &str, now: Timestamp) -> Result<Model> {
        let id = self
            .insert(
                "INSERT INTO models (name, provider, created_at) VALUES ($1, $2, $3) RETURNING id",
                &[&name, &provider, &now],
            )
            .await?;
        Ok(Model { id: ModelId(id), name: name.into(), provider: provider.into() })
    }

    async fn insert_course(&mut self, partner: UserId, title: &str, now: Timestamp) -> Result<Course> {
        let id = self
            .insert(
                "INSERT INTO courses (partner_id, title, created_at) VALUES ($1, $2, $3) RETURNING id",
                &[&partner.0, &title, &now],
            )
            .await?;
        Ok(Course { id: CourseId(id), partner_id: partner, title: title.into() })
    }

    async fn insert_audit(&mut self, ctx: &Context, e: &NewAuditEvent) -> Result<()> {
        let actor = ctx.actor.map(|a| a.0);
        let class = e.class_id.map(|c| c.0);
        let before = e.before.as_ref().map(|v| v.to_string());
        let after = e.after.as_ref().map(|v| v.to_string());
        self.exec(
            "INSERT INTO audit_events (at, actor_id, action, class_id, entity_id, before, after, request_id) \
             VALUES ($1, $2, $3, $4, $5, $6::TEXT::JSON, $7::TEXT::JSON, $8)",
            &[&ctx.now, &actor, &e.action.as_str(), &class, &e.entity_id, &before, &after, &ctx.request_id],
        )
        .await
        .map(drop)
    }

    async fn insert_project(&mut self, name: &str, now: Timestamp) -> Result<Project> {
        let id =
            self.insert("INSERT INTO projects (name, created_at) VALUES ($1, $2) RETURNING id", &[&name, &now]).await?;
        Ok(Project { id: ProjectId(id), name: name.into(), is_active: true })
    }

    async fn insert_policy(&mut self, project: ProjectId, name: &str, minutes: u32, now: Timestamp) -> Result<Policy> {
        let m = i32::try_from(minutes).unwrap_or(i32::MAX);
        let id = self
            .insert(
                "INSERT INTO policies (project_id, name, default_duration_minutes, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
                &[&project.0, &name, &m, &now],
            )
            .await?;
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
        let id = self
            .insert(
                "INSERT INTO blueprints (project_id, name, description, token, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
                &[&project.0, &name, &description, &token, &now],
            )
            .await?;
        Ok(Blueprint {
            id: BlueprintId(id),
            project_id: project,
            name: name.into(),
            description: description.map(Into::into),
            token: token.into(),
        })
    }

    async fn insert_custom_field(&mut self, f: &CustomField, now: Timestamp) -> Result<CustomField> {
        let id = self
            .insert(
                "INSERT INTO custom_fields (project_id, name, position, kind, is_required, regex, default_value, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
                &[&f.project_id.0, &f.name, &f.order, &f.kind, &f.is_required, &f.regex, &f.default_value, &now],
            )
            .await?;
        Ok(CustomField { id: CustomFieldId(id), ..f.clone() })
    }

    async fn insert_project_member(
        &mut self,
        project: ProjectId,
        user: UserId,
        can_instruct: bool,
        now: Timestamp,
    ) -> Result<ProjectMember> {
        let id = self
            .insert(
                "INSERT INTO project_members (project_id, user_id, can_instruct, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
                &[&project.0, &user.0, &can_instruct, &now],
            )
            .await?;
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
            "INSERT INTO api_credentials (api_id, user_id, sealed_key, created_at) VALUES ($1, $2, $3, $4)",
            &[&api_id, &user.0, &sealed_key, &now],
        )
        .await
        .map(drop)
    }

    async fn insert_lab(&mut self, class: ClassId, l: &LabSettings) -> Result<()> {
        let (limit, address, values) =
            (i32::from(l.limit_early_access), l.address.as_ref().map(json_text), json_text(&l.field_values));
        self.exec(
            "INSERT INTO labs (class_id, project_id, blueprint_id, policy_id, short_id, windows_zone, passphrase, \
             limit_early_access, use_custom_invitation_email, custom_invitation_subject, custom_invitation_body, \
             permit_non_registered, address, field_values, self_paced, allow_multiple_student_login) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13::TEXT::JSON, $14::TEXT::JSON, $15, $16)",
            &[
                &class.0,
                &l.project_id.0,
                &l.blueprint_id.0,
                &l.policy_id.0,
                &l.short_id,
                &l.windows_zone,
                &l.passphrase,
                &limit,
                &l.use_custom_invitation_email,
                &l.custom_invitation_subject,
                &l.custom_invitation_body,
                &l.permit_non_registered,
                &address,
                &values,
                &l.self_paced,
                &l.allow_multiple_student_login,
            ],
        )
        .await
        .map(drop)
    }

    async fn update_lab(&mut self, class: ClassId, l: &LabSettings) -> Result<()> {
        let (limit, address, values) =
            (i32::from(l.limit_early_access), l.address.as_ref().map(json_text), json_text(&l.field_values));
        self.exec(
            "UPDATE labs SET windows_zone = $2, passphrase = $3, limit_early_access = $4, use_custom_invitation_email = $5, \
             custom_invitation_subject = $6, custom_invitation_body = $7, permit_non_registered = $8, \
             address = $9::TEXT::JSON, field_values = $10::TEXT::JSON, self_paced = $11, \
             allow_multiple_student_login = $12 WHERE class_id = $1",
            &[
                &class.0,
                &l.windows_zone,
                &l.passphrase,
                &limit,
                &l.use_custom_invitation_email,
                &l.custom_invitation_subject,
                &l.custom_invitation_body,
                &l.permit_non_registered,
                &address,
                &values,
                &l.self_paced,
                &l.allow_multiple_student_login,
            ],
        )
        .await
        .map(drop)
    }

    async fn short_id_exists(&mut self, short_id: &str) -> Result<bool> {
        Ok(self.count("SELECT COUNT(*) FROM labs WHERE short_id = $1", &[&short_id]).await? > 0)
    }

    async fn update_profile(&mut self, user: UserId, name: &str, p: &StudentProfile) -> Result<()> {
        self.exec(
            "UPDATE users SET name = $2, email = $3, first_name = $4, last_name = $5 WHERE id = $1",
            &[&user.0, &name, &p.email, &p.first_name, &p.last_name],
        )
        .await
        .map(drop)
    }

    async fn set_member_times(
        &mut self,
        id: MembershipId,
        invited_at: Option<Timestamp>,
        logged_in_at: Option<Timestamp>,
    ) -> Result<()> {
        self.exec(
            "UPDATE memberships SET invited_at = $2, logged_in_at = $3 WHERE id = $1",
            &[&id.0, &invited_at, &logged_in_at],
        )
        .await
        .map(drop)
    }

    async fn insert_sponsored_link(
        &mut self,
        hash: &[u8; 32],
        class: ClassId,
        email: &str,
        now: Timestamp,
    ) -> Result<()> {
        let hash: &[u8] = hash;
        self.exec(
            "INSERT INTO sponsored_links (token_hash, class_id, email, created_at) VALUES ($1, $2, $3, $4)",
            &[&hash, &class.0, &email, &now],
        )
        .await
        .map(drop)
    }

    async fn disable_sponsored_links(&mut self, class: ClassId, email: &str, now: Timestamp) -> Result<u64> {
        self.exec(
            "UPDATE sponsored_links SET disabled_at = $3 WHERE class_id = $1 AND email = $2 AND disabled_at IS NULL",
            &[&class.0, &email, &now],
        )
        .await
    }

    async fn insert_outbox(&mut self, recipient: &str, subject: &str, body: &str, now: Timestamp) -> Result<OutboxId> {
        let id = self
            .insert(
                "INSERT INTO outbox (recipient, subject, body, created_at, next_attempt_at) VALUES ($1, $2, $3, $4, $4) RETURNING id",
                &[&recipient, &subject, &body, &now],
            )
            .await?;
        Ok(OutboxId(id))
    }

    async fn claim_outbox(&mut self, now: Timestamp, until: Timestamp, limit: u32) -> Result<Vec<OutboxMessage>> {
        // SKIP LOCKED lets several processes' senders share the outbox without waiting on
        // each other or taking the same message.
        let limit = i64::from(limit);
        self.all(
            "UPDATE outbox SET claimed_until = $2 WHERE id IN ( \
                 SELECT id FROM outbox WHERE sent_at IS NULL AND next_attempt_at <= $1 \
                 AND (claimed_until IS NULL OR claimed_until <= $1) ORDER BY next_attempt_at, id LIMIT $3 \
                 FOR UPDATE SKIP LOCKED) \
             RETURNING id, recipient, subject, body, attempts",
            &[&now, &until, &limit],
            |r| {
                Ok(OutboxMessage {
                    id: OutboxId(get(r, 0)?),
                    recipient: get(r, 1)?,
                    subject: get(r, 2)?,
                    body: get(r, 3)?,
                    attempts: get::<i32>(r, 4)?.max(0) as u32,
                })
            },
        )
        .await
    }

    async fn outbox_sent(&mut self, id: OutboxId, now: Timestamp) -> Result<()> {
        self.exec(
            "UPDATE outbox SET sent_at = $2, attempts = attempts + 1, claimed_until = NULL, last_error = NULL WHERE id = $1",
            &[&id.0, &now],
        )
        .await
        .map(drop)
    }

    async fn outbox_failed(&mut self, id: OutboxId, error: &str, next: Timestamp) -> Result<()> {
        self.exec(
            "UPDATE outbox SET attempts = attempts + 1, last_error = $2, next_attempt_at = $3, claimed_until = NULL WHERE id = $1",
            &[&id.0, &error, &next],
        )
        .await
        .map(drop)
    }

    async fn insert_institution(&mut self, i: &Institution, now: Timestamp) -> Result<Institution> {
        let id = self
            .insert(
                "INSERT INTO institutions (type, name, address, latitude, longitude, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                &[&i.kind, &i.name, &i.address, &i.latitude, &i.longitude, &now],
            )
            .await?;
        Ok(Institution { id: InstitutionId(id), ..i.clone() })
    }

    async fn set_user_profile(&mut self, user: UserId, profile: &serde_json::Value) -> Result<()> {
        self.exec("UPDATE users SET profile = $2::TEXT::JSON WHERE id = $1", &[&user.0, &profile.to_string()])
            .await
            .map(drop)
    }

    async fn replace_members(
        &mut self,
        class: ClassId,
        role: MemberRole,
        users: &[UserId],
        now: Timestamp,
    ) -> Result<()> {
        self.exec("DELETE FROM memberships WHERE class_id = $1 AND role = $2", &[&class.0, &role.as_str()]).await?;
        for (position, user) in users.iter().enumerate() {
            let position = i32::try_from(position + 1).unwrap_or(i32::MAX);
            self.exec(
                "INSERT INTO memberships (class_id, user_id, role, position, joined_at) VALUES ($1, $2, $3, $4, $5)",
                &[&class.0, &user.0, &role.as_str(), &position, &now],
            )
            .await?;
        }
        self.exec(
            "UPDATE classes SET member_count = (SELECT COUNT(*) FROM memberships WHERE class_id = $1 AND role = 'student'), \
             version = version + 1 WHERE id = $1",
            &[&class.0],
        )
        .await
        .map(drop)
    }

    async fn setting_or_insert(&mut self, name: &str, value: &[u8]) -> Result<Vec<u8>> {
        self.exec("INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING", &[&name, &value])
            .await?;
        self.one("SELECT value FROM settings WHERE name = $1", &[&name], |r| get(r, 0))
            .await?
            .ok_or_else(|| StoreError::Internal(format!("setting {name} vanished")))
    }
}
