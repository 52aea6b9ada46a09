//! Rosters: who is in a class, removing members, a student's own classes, leaving.

use classhub_core::audit::Context;
use classhub_core::class::{self, Class, ClassKind};
use classhub_core::error::Entity;
use classhub_core::invite::MemberRole;
use classhub_core::page::{Page, PageRequest};
use classhub_core::roster;
use classhub_core::{ClassId, DomainError, UserId};

use crate::engine::{Member, Read, Tx};
use crate::{ReadOp, Result, WriteOp};

/// A page of a class's students, most recently joined first, for its owner.
pub struct ListStudents {
    pub owner: UserId,
    pub class_id: ClassId,
    pub page: PageRequest,
}

impl ReadOp for ListStudents {
    type Out = Page<Member>;
    async fn run<R: Read>(&self, r: &mut R) -> Result<Page<Member>> {
        class::owned_by(r.class(self.class_id).await?, self.owner, ClassKind::Class)?;
        r.members(self.class_id, self.page).await
    }
}

/// The owner removes a student from a class; the seat is free again.
pub struct RemoveStudent {
    pub ctx: Context,
    pub owner: UserId,
    pub class_id: ClassId,
    pub student: UserId,
}

impl WriteOp for RemoveStudent {
    type Out = ();
    async fn run<T: Tx>(&self, tx: &mut T) -> Result<()> {
        let class = class::owned_by(tx.class_for_update(self.class_id).await?, self.owner, ClassKind::Class)?;
        let membership = tx.membership(class.id, self.student).await?;
        let membership = roster::decide_removal(membership, MemberRole::Student, Entity::Student)?;
        super::remove_member(tx, &self.ctx, &membership).await
    }
}

/// A student leaves a class.
pub struct LeaveClass {
    pub ctx: Context,
    pub student: UserId,
    pub class_id: ClassId,
}

impl WriteOp for LeaveClass {
    type Out = ();
    async fn run<T: Tx>(&self, tx: &mut T) -> Result<()> {
        let class = tx.class_for_update(self.class_id).await?.ok_or(DomainError::NotFound(Entity::Class))?;
        let membership = tx.membership(class.id, self.student).await?;
        let membership = roster::decide_removal(membership, MemberRole::Student, Entity::Class)?;
        super::remove_member(tx, &self.ctx, &membership).await
    }
}

/// A page of the classes a user belongs to, most recently joined first.
pub struct MyClasses {
    pub user: UserId,
    pub page: PageRequest,
}

impl ReadOp for MyClasses {
    type Out = Page<Class>;
    async fn run<R: Read>(&self, r: &mut R) -> Result<Page<Class>> {
        r.classes_of_member(self.user, self.page).await
    }
}
