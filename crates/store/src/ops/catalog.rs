//! The admin catalogue: AI models and courses (partner dialect), CloudShare projects with
//! their policies, blueprints, custom fields and members.

use std::collections::BTreeMap;

use classhub_core::audit::{Action, Context};
use classhub_core::catalog::{self, Course, Model};
use classhub_core::error::Entity;
use classhub_core::lab::{self, Blueprint, CustomField, MemberRights, Policy, Project};
use classhub_core::secret::SecretBox;
use classhub_core::user::{NewUser, User, UserKind};
use classhub_core::{DomainError, ProjectId, ProjectMemberId, UserId};
use rand::Rng;

use super::audit;
use crate::engine::Tx;
use crate::{Result, WriteOp};

pub struct CreateModel {
    pub ctx: Context,
    pub name: String,
    pub provider: String,
}

impl WriteOp for CreateModel {
    type Out = Model;
    async fn run<T: Tx>(&self, tx: &mut T) -> Result<Model> {
        let mut errors = Vec::new();
        let name = catalog::label("name", &self.name, &mut errors);
        let provider = catalog::label("provider", &self.provider, &mut errors);
        catalog::done((), errors)?;
        let model = tx.insert_model(&name, &provider, self.ctx.now).await?;
        audit(tx, &self.ctx, Action::ModelCreate, None, model.id.0, None, Some(&model)).await?;
        Ok(model)
    }
}

/// Creates a course of a partner.
pub struct CreateCourse {
    pub ctx: Context,
    pub partner_id: UserId,
    pub title: String,
}

impl WriteOp for CreateCourse {
    type Out = Course;
    async fn run<T: Tx>(&self, tx: &mut T) -> Result<Course> {
        let mut errors = Vec::new();
        let title = catalog::label("title", &self.title, &mut errors);
        catalog::done((), errors)?;
        catalog::decide_course(tx.user(self.partner_id).await?.as_ref())?;
        let course = tx.insert_course(self.partner_id, &title, self.ctx.now).await?;
        audit(tx, &self.ctx, Action::CourseCreate, None, course.id.0, None, Some(&course)).await?;
        Ok(course)
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
        let api_id = random_text(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", 20);
        let api_key = random_text(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", 32);
        tx.insert_api_credential(&api_id, user.id, &self.secrets.seal(api_key.as_bytes()), self.ctx.now).await?;
        audit(tx, &self.ctx, Action::UserCreate, None, user.id.0, None, Some(&user)).await?;
        Ok(MemberCredentials { user, memberships, api_id, api_key })
    }
}

fn random_text(alphabet: &[u8], len: usize) -> String {
    let mut rng = rand::rng();
    (0..len).map(|_| alphabet[rng.random_range(0..alphabet.len())] as char).collect()
}
