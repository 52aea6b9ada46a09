//! Rosters: who is in a class, removing members, a student's own classes, leaving.

use classhub_core::audit::{Action, Context, NewAuditEvent};
use classhub_core::class::{self, Class};
use classhub_core::error::Entity;
use classhub_core::invite::{MemberRole, Membership};
use classhub_core::page::{Page, PageRequest};
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
        class::owned_by(r.class(self.class_id).await?, self.owner)?;
        r.members(self.class_id, self.page).await
    }
}

/// Removes a member and frees their seat, recording who did it.
async fn remove<T: Tx>(tx: &mut T, ctx: &Context, membership: Membership) -> Result<()> {
    tx.delete_membership(membership.class_id, membership.user_id).await?;
    if membership.role == MemberRole::Student {
        tx.free_seat(membership.class_id).await?;
    }
    let event = NewAuditEvent::of(
        Action::MembershipDelete,
        Some(membership.class_id),
        membership.id.0,
        Some(&membership),
        None,
    );
    tx.insert_audit(ctx, &event).await
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
        let class = class::owned_by(tx.class_for_update(self.class_id).await?, self.owner)?;
        let membership = tx.membership(class.id, self.student).await?.filter(|m| m.role == MemberRole::Student);
        let membership = membership.ok_or(DomainError::NotFound(Entity::Student))?;
        remove(tx, &self.ctx, membership).await
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
        let membership = tx.membership(self.class_id, self.student).await?;
        let membership = membership.ok_or(DomainError::NotFound(Entity::Class))?;
        remove(tx, &self.ctx, membership).await
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
