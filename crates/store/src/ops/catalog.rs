//! The catalogue: AI models and courses (partner dialect; GrowFit's model catalog and
//! courses), CloudShare projects with their policies, blueprints, custom fields and members.

use std::collections::BTreeMap;

use classhub_core::audit::{Action, Context};
use classhub_core::catalog::{self, Course, CourseFilter, CoursePatch, Decimal, Model, ModelFilter, NewModel};
use classhub_core::error::Entity;
use classhub_core::lab::{self, Blueprint, CustomField, MemberRights, Policy, Project};
use classhub_core::page::{Page, PageRequest};
use classhub_core::secret::SecretBox;
use classhub_core::user::{NewUser, User, UserKind};
use classhub_core::{CourseId, DomainError, ModelId, ProjectId, ProjectMemberId, UserId};
use rand::Rng;

use super::audit;
use crate::engine::{Read, Tx};
use crate::{ReadOp, Result, WriteOp};

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
    async fn run<R: Read>(&self, r: &mut R) -> Result<Model> {
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
            let updated = tx.update_class(class.id, &fields, self.ctx.now).await?;
            audit(tx, &self.ctx, Action::ClassUpdate, Some(class.id), class.id.0, Some(&class), Some(&updated)).await?;
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
    async fn run<R: Read>(&self, r: &mut R) -> Result<Course> {
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
    async fn run<R: Read>(&self, r: &mut R) -> Result<Course> {
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
    async fn run<R: Read>(&self, r: &mut R) -> Result<Page<Course>> {
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
    async fn run<R: Read>(&self, r: &mut R) -> Result<Page<Model>> {
        r.models_page(&self.filter, self.page).await
    }
}

/// What a class's cost estimate needs: the daily fee per student of every active chat
/// model that has one.
pub struct DailyFees;

impl ReadOp for DailyFees {
    type Out = Vec<Decimal>;
    async fn run<R: Read>(&self, r: &mut R) -> Result<Vec<Decimal>> {
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

/// Longest blueprint description.
pub const DESCRIPTION_MAX_CHARS: usize = 2_000;

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
        catalog::text("description", self.description.as_deref(), DESCRIPTION_MAX_CHARS, &mut errors);
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
        let mut errors = Vec::new();
        let name = catalog::label("name", &self.field.name, &mut errors);
        catalog::text("default_value", self.field.default_value.as_deref(), lab::FIELD_VALUE_MAX_CHARS, &mut errors);
        catalog::done((), errors)?;
        lab::check_pattern(self.field.regex.as_deref())?;
        existing_project(tx, self.field.project_id).await?;
        let f = tx.insert_custom_field(&CustomField { name, ..self.field.clone() }, self.ctx.now).await?;
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

fn random_text(alphabet: &[u8], len: usize) -> String {
    let mut rng = rand::rng();
    (0..len).map(|_| alphabet[rng.random_range(0..alphabet.len())] as char).collect()
}
