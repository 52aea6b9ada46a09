//! A partner's students (GrowFit's `/partner/{partner_id}/student`): the record a partner
//! keeps of each user who joined one of its classes, and the enrollments of that user in
//! the partner's classes, which the partner may add, change, complete, drop and delete.
//!
//! Every seat or status change locks its class first; a student's record is a row of the
//! third tier (after classes and their rows), locked where a script depends on it staying.

use classhub_core::audit::{Action, Context};
use classhub_core::class::{self, Class, ClassKind};
use classhub_core::error::Entity;
use classhub_core::invite::{EnrollmentStatus, MemberRole, Membership};
use classhub_core::page::PageRequest;
use classhub_core::roster::{
    self, EnrollmentChange, NewEnrollment, PartnerStudent, SeatMove, StudentChange, StudentStats,
};
use classhub_core::{ClassId, DomainError, InviteCodeId, MembershipId, UserId};

use super::audit;
use super::invites::Enrollment;
use crate::engine::{NewMember, Read, StudentFilter, Tx};
use crate::{ReadOp, Result, StoreError, WriteOp};

/// Makes the partner's record of a student who has just joined one of its classes, unless
/// there is one (a unique key: two first enrollments at once make one record). An existing
/// record is locked, so that a deletion of the student either waits for this enrollment
/// (and then takes it) or has happened (and this runs again, making a new record).
pub(crate) async fn ensure_student<T: Tx>(tx: &mut T, ctx: &Context, partner: UserId, user: UserId) -> Result<()> {
    let Some(person) = tx.user(user).await? else {
        return Err(StoreError::Retry(format!("user {user} vanished while enrolling")));
    };
    let record = roster::new_student(partner, &person, ctx.now);
    if tx.insert_partner_student(&record).await? {
        audit(tx, ctx, Action::StudentCreate, None, user.0, None, Some(&record)).await?;
    } else if tx.partner_student_for_update(partner, user).await?.is_none() {
        return Err(StoreError::Retry("the partner's student was deleted while enrolling".into()));
    }
    Ok(())
}

fn student_not_found() -> StoreError {
    DomainError::NotFound(Entity::Student).into()
}

fn enrollment_not_found() -> StoreError {
    DomainError::NotFound(Entity::Membership).into()
}

/// A page of the partner's students, most recently joined first.
pub struct ListPartnerStudents {
    pub partner: UserId,
    pub filter: StudentFilter,
    pub page: PageRequest,
}

impl ReadOp for ListPartnerStudents {
    type Out = Vec<PartnerStudent>;
    async fn run<R: Read>(&self, r: &R) -> Result<Vec<PartnerStudent>> {
        r.partner_students(self.partner, &self.filter, self.page).await
    }
}

/// A student with their enrollments in the partner's classes (each with its class's name).
#[derive(Debug, Clone, PartialEq)]
pub struct StudentDetail {
    pub student: PartnerStudent,
    pub enrollments: Vec<(Membership, String)>,
}

/// A page of the partner's students with their enrollments: two statements for the page.
pub struct PartnerStudentDetails {
    pub partner: UserId,
    pub filter: StudentFilter,
    pub page: PageRequest,
}

impl ReadOp for PartnerStudentDetails {
    type Out = Vec<StudentDetail>;
    async fn run<R: Read>(&self, r: &R) -> Result<Vec<StudentDetail>> {
        let students = r.partner_students(self.partner, &self.filter, self.page).await?;
        if students.is_empty() {
            return Ok(Vec::new());
        }
        let users: Vec<UserId> = students.iter().map(|s| s.user_id).collect();
        let enrollments = r.enrollments_in_classes_of(self.partner, &users).await?;
        Ok(students
            .into_iter()
            .map(|student| {
                let mine = enrollments.iter().filter(|(m, _)| m.user_id == student.user_id).cloned().collect();
                StudentDetail { student, enrollments: mine }
            })
            .collect())
    }
}

/// The partner's students counted.
pub struct PartnerStudentStats {
    pub partner: UserId,
}

impl ReadOp for PartnerStudentStats {
    type Out = StudentStats;
    async fn run<R: Read>(&self, r: &R) -> Result<StudentStats> {
        r.student_stats(self.partner).await
    }
}

/// One of the partner's students.
pub struct GetPartnerStudent {
    pub partner: UserId,
    pub user: UserId,
}

impl ReadOp for GetPartnerStudent {
    type Out = PartnerStudent;
    async fn run<R: Read>(&self, r: &R) -> Result<PartnerStudent> {
        r.partner_student(self.partner, self.user).await?.ok_or_else(student_not_found)
    }
}

/// Changes a student's details or status (deactivating and archiving are such changes).
pub struct UpdatePartnerStudent {
    pub ctx: Context,
    pub partner: UserId,
    pub user: UserId,
    pub change: StudentChange,
}

impl WriteOp for UpdatePartnerStudent {
    type Out = PartnerStudent;
    async fn run<T: Tx>(&self, tx: &mut T) -> Result<PartnerStudent> {
        let current = tx.partner_student_for_update(self.partner, self.user).await?.ok_or_else(student_not_found)?;
        let next = roster::change_student(&current, &self.change)?;
        if next != current {
            tx.update_partner_student(&next).await?;
            audit(tx, &self.ctx, Action::StudentUpdate, None, self.user.0, Some(&current), Some(&next)).await?;
        }
        Ok(next)
    }
}

/// Deletes a partner's student with every enrollment of theirs in the partner's classes
/// (as GrowFit's cascade does), freeing the seats they held. The classes are locked in
/// ascending order; an enrollment made meanwhile in another class makes the script run
/// again, so that no enrollment outlives its student's record.
pub struct DeletePartnerStudent {
    pub ctx: Context,
    pub partner: UserId,
    pub user: UserId,
}

impl WriteOp for DeletePartnerStudent {
    type Out = ();
    async fn run<T: Tx>(&self, tx: &mut T) -> Result<()> {
        tx.partner_student(self.partner, self.user).await?.ok_or_else(student_not_found)?;
        let classes = tx.classes_with_student(self.partner, self.user).await?;
        let mut locked = Vec::with_capacity(classes.len());
        for id in &classes {
            if let Some(class) = tx.class_for_update(*id).await? {
                locked.push(class);
            }
        }
        if tx.classes_with_student(self.partner, self.user).await?.iter().any(|c| !classes.contains(c)) {
            return Err(StoreError::Retry("the student joined another class".into()));
        }
        for class in &locked {
            if let Some(m) = tx.membership(class.id, self.user).await? {
                super::remove_member(tx, &self.ctx, &m).await?;
            }
        }
        let record = tx.partner_student_for_update(self.partner, self.user).await?.ok_or_else(student_not_found)?;
        if !tx.delete_partner_student(self.partner, self.user).await? {
            return Err(StoreError::Retry("a partner's student vanished".into()));
        }
        audit(tx, &self.ctx, Action::StudentDelete, None, self.user.0, Some(&record), None).await?;
        // An enrollment committed while the record was locked by another script.
        if !tx.classes_with_student(self.partner, self.user).await?.is_empty() {
            return Err(StoreError::Retry("the student joined a class while being deleted".into()));
        }
        Ok(())
    }
}

/// A page of one student's enrollments in the partner's classes, most recent first.
pub struct StudentEnrollments {
    pub partner: UserId,
    pub user: UserId,
    /// Compared as given (GrowFit does not check it).
    pub status: Option<String>,
    pub page: PageRequest,
}

impl ReadOp for StudentEnrollments {
    type Out = Vec<Membership>;
    async fn run<R: Read>(&self, r: &R) -> Result<Vec<Membership>> {
        r.partner_student(self.partner, self.user).await?.ok_or_else(student_not_found)?;
        r.student_enrollments(self.partner, self.user, self.status.as_deref(), self.page).await
    }
}

/// The partner enrolls one of its students in one of its classes; an existing enrollment
/// (in any status) is the answer, unchanged.
pub struct AddEnrollment {
    pub ctx: Context,
    pub partner: UserId,
    pub user: UserId,
    pub class_id: ClassId,
    pub status: Option<EnrollmentStatus>,
    pub code: Option<InviteCodeId>,
}

impl WriteOp for AddEnrollment {
    type Out = Enrollment;
    async fn run<T: Tx>(&self, tx: &mut T) -> Result<Enrollment> {
        tx.partner_student(self.partner, self.user).await?.ok_or_else(student_not_found)?;
        let class = class::owned_by(tx.class_for_update(self.class_id).await?, self.partner, ClassKind::Class)?;
        // Locked: a deletion of the student waits for this enrollment, or this for it.
        tx.partner_student_for_update(self.partner, self.user).await?.ok_or_else(student_not_found)?;
        let existing = tx.membership(class.id, self.user).await?;
        let code = match self.code {
            Some(id) => tx.code(id).await?,
            None => None,
        };
        let now = self.ctx.now;
        match roster::decide_enrollment(&class, existing, self.status, code.as_ref(), self.code, now)? {
            NewEnrollment::Existing(membership) => Ok(Enrollment { membership, created: false }),
            NewEnrollment::Enroll { status, seat, code } => {
                if seat && !tx.take_seat(class.id).await? {
                    return Err(StoreError::Retry("the seat changed under the class's lock".into()));
                }
                if let Some(code) = code
                    && !tx.use_code(code, now).await?
                {
                    return Err(StoreError::Retry("the code changed under the class's lock".into()));
                }
                let new =
                    NewMember { class_id: class.id, user_id: self.user, role: MemberRole::Student, code, email: None };
                let membership = tx.insert_enrollment(new, status, now).await?;
                audit(
                    tx,
                    &self.ctx,
                    Action::MembershipCreate,
                    Some(class.id),
                    membership.id.0,
                    None,
                    Some(&membership),
                )
                .await?;
                Ok(Enrollment { membership, created: true })
            }
        }
    }
}

/// What a partner does to one enrollment.
#[derive(Debug, Clone, PartialEq)]
pub enum EnrollmentAction {
    Change(EnrollmentChange),
    Complete,
    Drop,
}

/// Locks an enrollment's class and reads the enrollment under the lock: one of a student in
/// one of the partner's classes, else not found.
async fn locked_enrollment<T: Tx>(tx: &mut T, partner: UserId, id: MembershipId) -> Result<(Class, Membership)> {
    let Some(found) = tx.membership_by_id(id).await? else {
        return Err(enrollment_not_found());
    };
    let Some(class) = tx.class_for_update(found.class_id).await? else {
        return Err(enrollment_not_found());
    };
    let current = tx.membership_by_id(id).await?;
    let membership = roster::owned_enrollment(current, Some(&class), partner)?;
    Ok((class, membership))
}

/// Changes, completes or drops an enrollment: the seat moves with the status (see
/// [`roster::seat_move`]), in the class's transaction.
pub struct ChangeEnrollment {
    pub ctx: Context,
    pub partner: UserId,
    pub enrollment: MembershipId,
    pub action: EnrollmentAction,
}

impl WriteOp for ChangeEnrollment {
    type Out = Membership;
    async fn run<T: Tx>(&self, tx: &mut T) -> Result<Membership> {
        let (class, current) = locked_enrollment(tx, self.partner, self.enrollment).await?;
        let update = match &self.action {
            EnrollmentAction::Change(change) => roster::change_enrollment(&current, &class, change)?,
            EnrollmentAction::Complete => {
                roster::set_status(&current, &class, EnrollmentStatus::Completed, Some(self.ctx.now))?
            }
            EnrollmentAction::Drop => roster::set_status(&current, &class, EnrollmentStatus::Dropped, None)?,
        };
        if update.membership == current {
            return Ok(current);
        }
        match update.seat {
            SeatMove::Keep => {}
            SeatMove::Take => {
                if !tx.take_seat(class.id).await? {
                    return Err(StoreError::Retry("the seat changed under the class's lock".into()));
                }
            }
            SeatMove::Free => tx.free_seat(class.id).await?,
        }
        tx.update_enrollment(&current, &update.membership).await?;
        audit(
            tx,
            &self.ctx,
            Action::MembershipUpdate,
            Some(class.id),
            current.id.0,
            Some(&current),
            Some(&update.membership),
        )
        .await?;
        Ok(update.membership)
    }
}

/// Deletes an enrollment of one of the partner's classes; its seat is free again.
pub struct DeleteEnrollment {
    pub ctx: Context,
    pub partner: UserId,
    pub enrollment: MembershipId,
}

impl WriteOp for DeleteEnrollment {
    type Out = ();
    async fn run<T: Tx>(&self, tx: &mut T) -> Result<()> {
        let (_, membership) = locked_enrollment(tx, self.partner, self.enrollment).await?;
        super::remove_member(tx, &self.ctx, &membership).await
    }
}
