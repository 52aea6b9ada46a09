//! The catalogue: AI models and courses (partner dialect; GrowFit's model catalog and
//! courses), CloudShare projects with their policies, blueprints, custom fields and members.

use std::collections::BTreeMap;

use classhub_core::audit::{Action, Context};
use classhub_core::catalog::{self, Course, CourseFilter, CoursePatch, Decimal, Model, ModelFilter, NewModel};
use classhub_core::error::Entity;
use classhub_core::lab::{self, Blueprint, CustomField, MemberRights, Policy, Project, ProjectMember};
use classhub_core::page::{Page, PageRequest};
use classhub_core::secret::SecretBox;
use classhub_core::user::{NewUser, User, UserKind};
use classhub_core::{
    BlueprintId, CourseId, CustomFieldId, DomainError, ModelId, PolicyId, ProjectId, ProjectMemberId, UserId,
};
use rand::Rng;

use super::{audit, update_class};
use crate::engine::{CatalogEntry, Read, Tx};
use crate::{ReadOp, Result, StoreError, WriteOp};

/// Adds a model to the catalog: at most one per provider and name.
pub struct CreateModel {
    pub ctx: Context,
    pub model: NewModel,
}

impl WriteOp for CreateModel {
    type Out = Model;
    async fn run<T: Tx>(&self, tx: &mut T) -> Result<Model> {
        let new = self.model.validated()?;
        catalog::decide_new_model(tx.model_named(&new.provider, &new.name).await?)?;
        let model = tx.insert_model(&new, self.ctx.now).await?;
        audit(tx, &self.ctx, Action::ModelCreate, None, model.id.0, None, Some(&model)).await?;
        Ok(model)
    }
}

/// A model of the catalog, active or not.
pub struct GetModel {
    pub id: ModelId,
}

impl ReadOp for GetModel {
    type Out = Model;
    async fn run<R: Read>(&self, r: &R) -> Result<Model> {
        Ok(r.model(self.id).await?.ok_or(DomainError::NotFound(Entity::Model))?)
    }
}

/// Changes a model of the catalog; its provider and name stay unique.
pub struct UpdateModel {
    pub ctx: Context,
    pub id: ModelId,
    pub patch: catalog::ModelPatch,
}

impl WriteOp for UpdateModel {
    type Out = Model;
    async fn run<T: Tx>(&self, tx: &mut T) -> Result<Model> {
        let current = tx.model_for_update(self.id).await?.ok_or(DomainError::NotFound(Entity::Model))?;
        let new = catalog::apply_model_patch(&current, self.patch.clone())?;
        let unchanged =
            (&new.name, &new.provider, new.modality, new.supports_parallel, &new.default_pricing, new.is_active)
                == (
                    &current.name,
                    &current.provider,
                    current.modality,
                    current.supports_parallel,
                    &current.default_pricing,
                    current.is_active,
                );
        if unchanged {
            return Ok(current);
        }
        catalog::decide_model_name(tx.model_named(&new.provider, &new.name).await?, current.id)?;
        let updated = tx.update_model(current.id, &new, self.ctx.now).await?;
        audit(tx, &self.ctx, Action::ModelUpdate, None, updated.id.0, Some(&current), Some(&updated)).await?;
        Ok(updated)
    }
}

/// Deletes a model from the catalog. The classes that name it — any partner's — keep
/// existing without it (the next allowed model becomes primary); each is a change of the
/// class (a new version, an event). Disabling (`is_active`) is the gentler way out.
pub struct DeleteModel {
    pub ctx: Context,
    pub id: ModelId,
}

impl WriteOp for DeleteModel {
    type Out = ();
    async fn run<T: Tx>(&self, tx: &mut T) -> Result<()> {
        // The model first: a class write that would newly name it share-locks it, so it
        // waits for this transaction, and every class that names it is among those
        // locked next.
        let model = tx.model_for_update(self.id).await?.ok_or(DomainError::NotFound(Entity::Model))?;
        for class in tx.classes_naming_model_for_update(model.id).await? {
            let updated = class.changed(catalog::without_model(&class.fields, model.id), self.ctx.now);
            update_class(tx, &self.ctx, &class, &updated).await?;
        }
        tx.delete_model(model.id).await?;
        audit(tx, &self.ctx, Action::ModelDelete, None, model.id.0, Some(&model), None).await
    }
}

/// Creates a course of a partner. Without a `course_key` (the admin API and CLI may leave
/// it out) the course gets `course-N`, the first N from the partner's course count + 1 that
/// the partner does not use.
pub struct CreateCourse {
    pub ctx: Context,
    pub partner_id: UserId,
    pub patch: CoursePatch,
}

impl CreateCourse {
    /// A course with a title and nothing else (a default key, `draft`).
    pub fn titled(ctx: Context, partner_id: UserId, title: impl Into<String>) -> CreateCourse {
        CreateCourse { ctx, partner_id, patch: CoursePatch { title: Some(title.into()), ..CoursePatch::default() } }
    }
}

impl WriteOp for CreateCourse {
    type Out = Course;
    async fn run<T: Tx>(&self, tx: &mut T) -> Result<Course> {
        // Field problems first, as a request's body is read before its references.
        let placeholder = self.patch.course_key.is_none().then(String::new);
        catalog::create_course(self.patch.clone(), placeholder)?;
        // The partner, locked: one partner's course creations take turns, so that a key
        // (given or `course-N`) is decided on every course the partner has.
        catalog::decide_course(tx.user_for_update(self.partner_id).await?.as_ref())?;
        let default_key = match self.patch.course_key {
            Some(_) => None,
            None => {
                let all = PageRequest { limit: 1, offset: 0 };
                let mut n = tx.courses_page(Some(self.partner_id), &CourseFilter::default(), all).await?.total + 1;
                loop {
                    let key = catalog::default_course_key(n);
                    if tx.course_by_key(self.partner_id, &key).await?.is_none() {
                        break Some(key);
                    }
                    n += 1;
                }
            }
        };
        let fields = catalog::create_course(self.patch.clone(), default_key)?;
        catalog::decide_course_key(tx.course_by_key(self.partner_id, &fields.course_key).await?, None)?;
        let course = tx.insert_course(self.partner_id, &fields, self.ctx.now).await?;
        audit(tx, &self.ctx, Action::CourseCreate, None, course.id.0, None, Some(&course)).await?;
        Ok(course)
    }
}

/// Changes one of the partner's courses (`None` keeps a field).
pub struct UpdateCourse {
    pub ctx: Context,
    pub partner_id: UserId,
    pub course_id: CourseId,
    pub patch: CoursePatch,
}

impl WriteOp for UpdateCourse {
    type Out = Course;
    async fn run<T: Tx>(&self, tx: &mut T) -> Result<Course> {
        let current = catalog::course_owned_by(tx.course_for_update(self.course_id).await?, self.partner_id)?;
        let fields = catalog::apply_course_patch(&current.fields, self.patch.clone())?;
        // A write that changes nothing writes nothing.
        if fields == current.fields {
            return Ok(current);
        }
        let holder = tx.course_by_key(self.partner_id, &fields.course_key).await?;
        catalog::decide_course_key(holder, Some(current.id))?;
        let updated = tx.update_course(current.id, &fields, self.ctx.now).await?;
        audit(tx, &self.ctx, Action::CourseUpdate, None, updated.id.0, Some(&current), Some(&updated)).await?;
        Ok(updated)
    }
}

/// Deletes one of the partner's courses. The classes that name it — any partner's — keep
/// existing without a course; each is a change of the class (a new version, an event).
pub struct DeleteCourse {
    pub ctx: Context,
    pub partner_id: UserId,
    pub course_id: CourseId,
}

impl WriteOp for DeleteCourse {
    type Out = ();
    async fn run<T: Tx>(&self, tx: &mut T) -> Result<()> {
        // The course first: a class write that would newly name it waits for this
        // transaction (its foreign key check shares the course's key), so every class that
        // names the course is among those locked next.
        let course = catalog::course_owned_by(tx.course_for_update(self.course_id).await?, self.partner_id)?;
        for class in tx.classes_of_course_for_update(course.id).await? {
            let mut fields = class.fields.clone();
            fields.course_id = None;
            update_class(tx, &self.ctx, &class, &class.changed(fields, self.ctx.now)).await?;
        }
        tx.delete_course(course.id).await?;
        audit(tx, &self.ctx, Action::CourseDelete, None, course.id.0, Some(&course), None).await
    }
}

/// A course, whoever's it is (for the administrator).
pub struct CourseById {
    pub course_id: CourseId,
}

impl ReadOp for CourseById {
    type Out = Course;
    async fn run<R: Read>(&self, r: &R) -> Result<Course> {
        Ok(r.course(self.course_id).await?.ok_or(DomainError::NotFound(Entity::Course))?)
    }
}

/// One of the partner's courses.
pub struct GetCourse {
    pub partner_id: UserId,
    pub course_id: CourseId,
}

impl ReadOp for GetCourse {
    type Out = Course;
    async fn run<R: Read>(&self, r: &R) -> Result<Course> {
        Ok(catalog::course_owned_by(r.course(self.course_id).await?, self.partner_id)?)
    }
}

/// A page of courses, newest first: one partner's, or (`partner_id: None`) everyone's.
pub struct ListCourses {
    pub partner_id: Option<UserId>,
    pub filter: CourseFilter,
    pub page: PageRequest,
}

impl ReadOp for ListCourses {
    type Out = Page<Course>;
    async fn run<R: Read>(&self, r: &R) -> Result<Page<Course>> {
        r.courses_page(self.partner_id, &self.filter, self.page).await
    }
}

/// A page of the model catalog.
pub struct ListModels {
    pub filter: ModelFilter,
    pub page: PageRequest,
}

impl ReadOp for ListModels {
    type Out = Page<Model>;
    async fn run<R: Read>(&self, r: &R) -> Result<Page<Model>> {
        r.models_page(&self.filter, self.page).await
    }
}

/// What a class's cost estimate needs: the daily fee per student of every active chat
/// model that has one.
pub struct DailyFees;

impl ReadOp for DailyFees {
    type Out = Vec<Decimal>;
    async fn run<R: Read>(&self, r: &R) -> Result<Vec<Decimal>> {
        let every = PageRequest { limit: u32::MAX, offset: 0 };
        let models = r.models_page(&ModelFilter::default(), every).await?;
        Ok(models.items.iter().filter_map(Model::daily_fee).collect())
    }
}

pub struct CreateProject {
    pub ctx: Context,
    pub name: String,
}

impl WriteOp for CreateProject {
    type Out = Project;
    async fn run<T: Tx>(&self, tx: &mut T) -> Result<Project> {
        let mut errors = Vec::new();
        let name = catalog::label("name", &self.name, &mut errors);
        catalog::done((), errors)?;
        let p = tx.insert_project(&name, self.ctx.now).await?;
        audit(tx, &self.ctx, Action::CatalogCreate, None, p.id.0, None, Some(&p)).await?;
        Ok(p)
    }
}

async fn existing_project<T: Tx>(tx: &mut T, id: ProjectId) -> Result<Project> {
    Ok(tx.project(id).await?.ok_or(DomainError::NotFound(Entity::Project))?)
}

pub struct CreatePolicy {
    pub ctx: Context,
    pub project: ProjectId,
    pub name: String,
    pub default_duration_minutes: i64,
}

impl WriteOp for CreatePolicy {
    type Out = Policy;
    async fn run<T: Tx>(&self, tx: &mut T) -> Result<Policy> {
        let (name, minutes) = lab::check_policy(&self.name, self.default_duration_minutes)?;
        existing_project(tx, self.project).await?;
        let p = tx.insert_policy(self.project, &name, minutes, None, self.ctx.now).await?;
        audit(tx, &self.ctx, Action::CatalogCreate, None, p.id.0, None, Some(&p)).await?;
        Ok(p)
    }
}

pub struct CreateBlueprint {
    pub ctx: Context,
    pub project: ProjectId,
    pub name: String,
    pub description: Option<String>,
}

impl WriteOp for CreateBlueprint {
    type Out = Blueprint;
    async fn run<T: Tx>(&self, tx: &mut T) -> Result<Blueprint> {
        let mut errors = Vec::new();
        let name = catalog::label("name", &self.name, &mut errors);
        catalog::text("description", self.description.as_deref(), lab::BLUEPRINT_DESCRIPTION_MAX_CHARS, &mut errors);
        catalog::done((), errors)?;
        existing_project(tx, self.project).await?;
        let token = loop {
            let candidate = lab::generate_blueprint_token(&mut rand::rng());
            if !tx.blueprint_token_exists(&candidate).await? {
                break candidate;
            }
        };
        let b = tx.insert_blueprint(self.project, &name, self.description.as_deref(), &token, self.ctx.now).await?;
        audit(tx, &self.ctx, Action::CatalogCreate, None, b.id.0, None, Some(&b)).await?;
        Ok(b)
    }
}

pub struct CreateCustomField {
    pub ctx: Context,
    pub field: CustomField,
}

impl WriteOp for CreateCustomField {
    type Out = CustomField;
    async fn run<T: Tx>(&self, tx: &mut T) -> Result<CustomField> {
        let field = lab::check_field(self.field.clone())?;
        existing_project(tx, field.project_id).await?;
        let f = tx.insert_custom_field(&field, self.ctx.now).await?;
        audit(tx, &self.ctx, Action::CatalogCreate, None, f.id.0, None, Some(&f)).await?;
        Ok(f)
    }
}

/// A project member with API credentials; the key is returned once and stored sealed.
pub struct CreateProjectMember {
    pub ctx: Context,
    pub name: String,
    pub email: String,
    pub projects: Vec<ProjectId>,
    pub rights: MemberRights,
    pub secrets: SecretBox,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MemberCredentials {
    pub user: User,
    pub memberships: BTreeMap<ProjectId, ProjectMemberId>,
    pub api_id: String,
    pub api_key: String,
}

impl WriteOp for CreateProjectMember {
    type Out = MemberCredentials;
    async fn run<T: Tx>(&self, tx: &mut T) -> Result<MemberCredentials> {
        let new = NewUser::named(UserKind::ProjectMember, self.name.clone(), Some(self.email.clone())).validated()?;
        for p in &self.projects {
            existing_project(tx, *p).await?;
        }
        let user = tx.insert_user(&new, self.ctx.now).await?;
        let mut memberships = BTreeMap::new();
        for p in &self.projects {
            if !memberships.contains_key(p) {
                let m = tx.insert_project_member(*p, user.id, self.rights, self.ctx.now).await?;
                memberships.insert(*p, m.id);
            }
        }
        let (api_id, api_key) = new_api_key(tx, user.id, &self.secrets, self.ctx.now).await?;
        audit(tx, &self.ctx, Action::UserCreate, None, user.id.0, None, Some(&user)).await?;
        Ok(MemberCredentials { user, memberships, api_id, api_key })
    }
}

/// A CloudShare API id and key, new, sealed with the server key for the store.
async fn new_api_key<T: Tx>(
    tx: &mut T,
    user: UserId,
    secrets: &SecretBox,
    now: jiff::Timestamp,
) -> Result<(String, String)> {
    let api_id = random_text(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", 20);
    let api_key = random_text(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", 32);
    tx.insert_api_credential(&api_id, user, &secrets.seal(api_key.as_bytes()), now).await?;
    Ok((api_id, api_key))
}

/// Replaces a project member's API keys with a new one, shown once: requests signed with
/// the old ones are refused at once.
pub struct RotateApiKey {
    pub ctx: Context,
    pub user: UserId,
    pub secrets: SecretBox,
}

impl WriteOp for RotateApiKey {
    type Out = (String, String);
    async fn run<T: Tx>(&self, tx: &mut T) -> Result<(String, String)> {
        let user = tx.user_for_update(self.user).await?.filter(|u| u.kind == UserKind::ProjectMember);
        let user = user.ok_or(DomainError::NotFound(Entity::ProjectMember))?;
        tx.revoke_api_credentials(user.id, self.ctx.now).await?;
        let made = new_api_key(tx, user.id, &self.secrets, self.ctx.now).await?;
        audit::<T, ()>(tx, &self.ctx, Action::TokenRotate, None, user.id.0, None, None).await?;
        Ok(made)
    }
}

/// A change of a CloudShare catalog entry, or of a member's rights in a project.
pub enum CatalogChange {
    Project(ProjectId, lab::ProjectPatch),
    Policy(PolicyId, lab::PolicyPatch),
    Blueprint(BlueprintId, lab::BlueprintPatch),
    CustomField(CustomFieldId, lab::FieldPatch),
    Member(ProjectMemberId, MemberRightsPatch),
}

/// What changes of a member's rights (`None`: unchanged).
#[derive(Debug, Clone, Copy, Default)]
pub struct MemberRightsPatch {
    pub can_instruct: Option<bool>,
    pub can_manage: Option<bool>,
}

/// The entry after a change, as stored.
#[derive(Debug, Clone, PartialEq)]
pub enum CatalogEntryOut {
    Project(Project),
    Policy(Policy),
    Blueprint(Blueprint),
    CustomField(CustomField),
    /// With the person.
    Member((ProjectMember, User)),
}

/// Changes one entry of a project's catalog (each row locked, checked as a new one is, then
/// written only when something changed).
pub struct UpdateCatalogEntry {
    pub ctx: Context,
    /// The project the entry must be in (a project's own change names it twice).
    pub project: ProjectId,
    pub change: CatalogChange,
}

/// Stores `after` if it differs from `before`, with its audit event; `after` either way.
async fn changed<T: Tx, E: serde::Serialize + PartialEq>(
    tx: &mut T,
    ctx: &Context,
    id: i64,
    before: E,
    after: E,
    store: impl AsyncFnOnce(&mut T, &E) -> Result<()>,
) -> Result<E> {
    if before != after {
        store(tx, &after).await?;
        audit(tx, ctx, Action::CatalogUpdate, None, id, Some(&before), Some(&after)).await?;
    }
    Ok(after)
}

impl WriteOp for UpdateCatalogEntry {
    type Out = CatalogEntryOut;
    async fn run<T: Tx>(&self, tx: &mut T) -> Result<CatalogEntryOut> {
        let (ctx, project) = (&self.ctx, self.project);
        let missing = |e: Entity| DomainError::NotFound(e);
        Ok(match &self.change {
            CatalogChange::Project(id, patch) => {
                let p = tx.project_for_update(*id).await?.filter(|p| p.id == project);
                let p = p.ok_or(missing(Entity::Project))?;
                let after = lab::apply_project_patch(&p, patch.clone())?;
                CatalogEntryOut::Project(
                    changed(tx, ctx, id.0, p, after, async |tx, a| tx.update_project(a).await).await?,
                )
            }
            CatalogChange::Policy(id, patch) => {
                let p = tx.policy_for_update(*id).await?.filter(|p| p.project_id == project);
                let p = p.ok_or(missing(Entity::Policy))?;
                let after = lab::apply_policy_patch(&p, patch.clone())?;
                CatalogEntryOut::Policy(
                    changed(tx, ctx, id.0, p, after, async |tx, a| tx.update_policy(a).await).await?,
                )
            }
            CatalogChange::Blueprint(id, patch) => {
                let b = tx.blueprint_for_update(*id).await?.filter(|b| b.project_id == project);
                let b = b.ok_or(missing(Entity::Blueprint))?;
                let after = lab::apply_blueprint_patch(&b, patch.clone())?;
                let stored = changed(tx, ctx, id.0, b, after, async |tx, a| tx.update_blueprint(a).await).await?;
                CatalogEntryOut::Blueprint(stored)
            }
            CatalogChange::CustomField(id, patch) => {
                let f = tx.custom_field_for_update(*id).await?.filter(|f| f.project_id == project);
                let f = f.ok_or(missing(Entity::CustomField))?;
                let after = lab::apply_field_patch(&f, patch.clone())?;
                let stored = changed(tx, ctx, id.0, f, after, async |tx, a| tx.update_custom_field(a).await).await?;
                CatalogEntryOut::CustomField(stored)
            }
            CatalogChange::Member(id, patch) => {
                let m = tx.project_member_for_update(*id).await?.filter(|m| m.project_id == project);
                let m = m.ok_or(missing(Entity::ProjectMember))?;
                let after = lab::apply_rights(&m, patch.can_instruct, patch.can_manage);
                changed(tx, ctx, id.0, m, after, async |tx, a| tx.update_project_member(a).await).await?;
                let stored = tx.project_member(*id).await?;
                CatalogEntryOut::Member(stored.ok_or(StoreError::Retry("a project member vanished".into()))?)
            }
        })
    }
}

/// Deletes one entry of a project's catalog, or the project with its whole catalog and
/// memberships. A project, policy or blueprint that classes use is refused; a custom
/// field's values stay in the classes that hold them, unseen; a member leaves the project
/// (their classes keep them as instructor, they can no longer reach them).
pub struct DeleteCatalogEntry {
    pub ctx: Context,
    pub project: ProjectId,
    pub entry: CatalogEntry,
}

impl WriteOp for DeleteCatalogEntry {
    type Out = ();
    async fn run<T: Tx>(&self, tx: &mut T) -> Result<()> {
        let project = self.project;
        // The row first, locked: a class that would newly use it waits (its foreign key),
        // so the count below sees every class that uses it.
        let (entity, id, before) = match self.entry {
            CatalogEntry::Project(id) => {
                let p = tx.project_for_update(id).await?.filter(|p| p.id == project);
                (Entity::Project, id.0, p.map(|p| serde_json::json!(p)))
            }
            CatalogEntry::Policy(id) => {
                let p = tx.policy_for_update(id).await?.filter(|p| p.project_id == project);
                (Entity::Policy, id.0, p.map(|p| serde_json::json!(p)))
            }
            CatalogEntry::Blueprint(id) => {
                let b = tx.blueprint_for_update(id).await?.filter(|b| b.project_id == project);
                (Entity::Blueprint, id.0, b.map(|b| serde_json::json!(b)))
            }
            CatalogEntry::CustomField(id) => {
                let f = tx.custom_field_for_update(id).await?.filter(|f| f.project_id == project);
                (Entity::CustomField, id.0, f.map(|f| serde_json::json!(f)))
            }
            CatalogEntry::Member(id) => {
                let m = tx.project_member_for_update(id).await?.filter(|m| m.project_id == project);
                (Entity::ProjectMember, id.0, m.map(|m| serde_json::json!(m)))
            }
        };
        let before = before.ok_or(DomainError::NotFound(entity))?;
        lab::decide_removal(entity, tx.classes_using(self.entry).await?)?;
        tx.delete_catalog_entry(self.entry).await?;
        audit(tx, &self.ctx, Action::CatalogDelete, None, id, Some(&before), None).await
    }
}

fn random_text(alphabet: &[u8], len: usize) -> String {
    let mut rng = rand::rng();
    (0..len).map(|_| alphabet[rng.random_range(0..alphabet.len())] as char).collect()
}
