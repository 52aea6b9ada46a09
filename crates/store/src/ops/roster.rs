//! Rosters: who is in a class, removing members, a student's own classes, leaving.

use classhub_core::audit::Context;
use classhub_core::class::{self, Class, ClassKind};
use classhub_core::error::Entity;
use classhub_core::invite::EnrollmentStatus;
use classhub_core::invite::MemberRole;
use classhub_core::page::{Page, PageRequest};
use classhub_core::roster;
use classhub_core::{ClassId, DomainError, MembershipId, UserId};

use crate::engine::{Member, Read, StudentClass, Tx};
use crate::{ReadOp, Result, WriteOp};

/// A page of a class's students — those holding a seat: a dropped enrollment is not on the
/// roster — most recently joined first, for its owner.
pub struct ListStudents {
    pub owner: UserId,
    pub class_id: ClassId,
    pub page: PageRequest,
}

impl ReadOp for ListStudents {
    type Out = Page<Member>;
    async fn run<R: Read>(&self, r: &R) -> Result<Page<Member>> {
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
    async fn run<R: Read>(&self, r: &R) -> Result<Page<Class>> {
        r.classes_of_member(self.user, self.page).await
    }
}

/// A page of a user's enrollments in partners' classes with the given statuses (GrowFit's
/// `/user/classes`), most recently enrolled first.
pub struct MyEnrollments {
    pub user: UserId,
    pub statuses: Vec<EnrollmentStatus>,
    pub page: PageRequest,
}

impl ReadOp for MyEnrollments {
    type Out = Page<StudentClass>;
    async fn run<R: Read>(&self, r: &R) -> Result<Page<StudentClass>> {
        r.student_classes(self.user, &self.statuses, self.page).await
    }
}

/// A student ends one of their enrollments, named by its id; its seat is free again (if it
/// held one). Another user's enrollment is not found, as a missing one.
pub struct LeaveEnrollment {
    pub ctx: Context,
    pub student: UserId,
    pub enrollment: MembershipId,
}

impl WriteOp for LeaveEnrollment {
    type Out = ();
    async fn run<T: Tx>(&self, tx: &mut T) -> Result<()> {
        let class = match tx.membership_by_id(self.enrollment).await? {
            Some(found) => tx.class_for_update(found.class_id).await?,
            None => None,
        };
        // The enrollment as it is now that its class is locked.
        let current = match &class {
            Some(_) => tx.membership_by_id(self.enrollment).await?,
            None => None,
        };
        let membership = roster::decide_leave(current, class.as_ref(), self.student)?;
        super::remove_member(tx, &self.ctx, &membership).await
    }
}
