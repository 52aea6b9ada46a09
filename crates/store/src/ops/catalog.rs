//! The AI-model and course catalogs.

use classhub_core::audit::{Action, Context, NewAuditEvent};
use classhub_core::catalog::{self, Course, Model};
use classhub_core::error::Entity;
use classhub_core::user::UserKind;
use classhub_core::{DomainError, UserId};

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
        let event = NewAuditEvent::of(Action::ModelCreate, None, model.id.0, None, Some(&model));
        tx.insert_audit(&self.ctx, &event).await?;
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
        match tx.user(self.partner_id).await? {
            Some(u) if u.kind == UserKind::Partner => {}
            _ => return Err(DomainError::NotFound(Entity::Partner).into()),
        }
        let course = tx.insert_course(self.partner_id, &title, self.ctx.now).await?;
        let event = NewAuditEvent::of(Action::CourseCreate, None, course.id.0, None, Some(&course));
        tx.insert_audit(&self.ctx, &event).await?;
        Ok(course)
    }
}
