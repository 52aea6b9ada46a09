//! Leaving and removing: who may go, and what goes with them. Enrollments and their
//! statuses, and a partner's own record of each student who joined one of its classes.

use jiff::Timestamp;
use serde::Serialize;

use crate::class::Class;
use crate::error::{DomainError, Entity, Problem, Violation};
use crate::ids::{ClassId, InviteCodeId, UserId};
use crate::invite::{EnrollmentStatus, InviteCode, MemberRole, Membership};
use crate::patch::Patch;
use crate::user::{EMAIL_MAX_CHARS, USER_NAME_MAX_CHARS, valid_email};

/// A member of `role` leaves or is removed: they must be one (else `missing` is not found,
/// so that a repeated request changes nothing and says so).
pub fn decide_removal(
    membership: Option<Membership>,
    role: MemberRole,
    missing: Entity,
) -> Result<Membership, DomainError> {
    membership.filter(|m| m.role == role).ok_or(DomainError::NotFound(missing))
}

/// Whether a member's leaving frees a seat: students hold seats while their enrollment
/// does (every status but `dropped`); instructors hold none.
pub fn frees_seat(m: &Membership) -> bool {
    m.holds_seat()
}

/// A student ends their own enrollment (found by its id): it must be theirs, as a student
/// of a partner's class (`class`, when the enrollment exists, is its class). Anyone
/// else's, or none, is not found.
pub fn decide_leave(
    membership: Option<Membership>,
    class: Option<&Class>,
    student: UserId,
) -> Result<Membership, DomainError> {
    let partner_class = class.is_some_and(|c| c.kind == crate::class::ClassKind::Class);
    membership
        .filter(|m| partner_class && m.user_id == student && m.role == MemberRole::Student)
        .ok_or(DomainError::NotFound(Entity::Membership))
}

/// A partner's enrollment, found by its id: one of a student in one of the partner's own
/// classes. Another partner's, or none, is not found, exactly alike.
pub fn owned_enrollment(
    membership: Option<Membership>,
    class: Option<&Class>,
    partner: UserId,
) -> Result<Membership, DomainError> {
    let owned = class.is_some_and(|c| c.owner_id == partner && c.kind == crate::class::ClassKind::Class);
    membership
        .filter(|m| owned && m.role == MemberRole::Student && class.is_some_and(|c| c.id == m.class_id))
        .ok_or(DomainError::NotFound(Entity::Membership))
}

/// How a change moves the class's seat count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeatMove {
    Keep,
    Take,
    Free,
}

/// The seat move of an enrollment going from `from` to `to`: into `dropped` frees the
/// seat, out of it takes one.
pub fn seat_move(from: EnrollmentStatus, to: EnrollmentStatus) -> SeatMove {
    match (from.holds_seat(), to.holds_seat()) {
        (true, false) => SeatMove::Free,
        (false, true) => SeatMove::Take,
        _ => SeatMove::Keep,
    }
}

/// A change of an enrollment, as its partner asks for it: a merge of present fields
/// (`null` clears what may be cleared). Class and student identify the enrollment: they
/// may be restated, not changed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EnrollmentChange {
    pub class_id: Patch<ClassId>,
    pub student_id: Patch<UserId>,
    pub invite_code_id: Patch<InviteCodeId>,
    pub status: Patch<EnrollmentStatus>,
    pub enrolled_at: Patch<Timestamp>,
    pub completed_at: Patch<Timestamp>,
}

/// An enrollment after a change, and what it does to the seats.
#[derive(Debug, Clone, PartialEq)]
pub struct EnrollmentUpdate {
    pub membership: Membership,
    pub seat: SeatMove,
}

/// Checks a change against the enrollment and its class. Refused: clearing what every
/// enrollment has (class, student, status, enrolment time), moving it to another class or
/// student or code, a completion before the enrolment, and — when it takes a seat again —
/// a full class.
pub fn change_enrollment(
    current: &Membership,
    class: &Class,
    change: &EnrollmentChange,
) -> Result<EnrollmentUpdate, DomainError> {
    let mut errors = Vec::new();
    let not_null = || Problem::Other("must not be null".into());
    let mut restated = |field: &'static str, patch: Patch<i64>, current: Option<i64>| match patch {
        Patch::Keep => {}
        Patch::Clear if current.is_none() => {}
        Patch::Clear if field == "invite_code_id" => {}
        Patch::Clear => errors.push(Violation::new(field, not_null())),
        Patch::Set(v) if Some(v) == current => {}
        Patch::Set(_) => errors.push(Violation::new(field, Problem::Immutable)),
    };
    restated("class_id", change.class_id.clone().map(|c| c.0), Some(current.class_id.0));
    restated("student_id", change.student_id.clone().map(|u| u.0), Some(current.user_id.0));
    restated("invite_code_id", change.invite_code_id.clone().map(|c| c.0), current.invite_code_id.map(|c| c.0));
    let mut next = current.clone();
    if change.invite_code_id == Patch::Clear {
        next.invite_code_id = None;
    }
    match change.status {
        Patch::Keep => {}
        Patch::Clear => errors.push(Violation::new("status", not_null())),
        Patch::Set(s) => next.status = s,
    }
    match change.enrolled_at {
        Patch::Keep => {}
        Patch::Clear => errors.push(Violation::new("enrolled_at", not_null())),
        Patch::Set(t) => next.joined_at = t,
    }
    next.completed_at = change.completed_at.clone().apply(current.completed_at);
    if let Some(done) = next.completed_at
        && done < next.joined_at
    {
        errors.push(Violation::new("completed_at", Problem::Other("must not be before enrolled_at".into())));
    }
    if !errors.is_empty() {
        return Err(DomainError::Invalid(errors));
    }
    seated(current, next, class)
}

/// An enrollment moved to `status` (with `completed_at` when it completes now).
pub fn set_status(
    current: &Membership,
    class: &Class,
    status: EnrollmentStatus,
    completed_at: Option<Timestamp>,
) -> Result<EnrollmentUpdate, DomainError> {
    let mut next = current.clone();
    next.status = status;
    if let Some(t) = completed_at {
        // A completion recorded before the enrolment (a clock set back) is the enrolment.
        next.completed_at = Some(t.max(current.joined_at));
    }
    seated(current, next, class)
}

/// The seat move from `current` to `next`; taking a seat needs a free one.
fn seated(current: &Membership, next: Membership, class: &Class) -> Result<EnrollmentUpdate, DomainError> {
    let seat = seat_move(current.status, next.status);
    if seat == SeatMove::Take && class.is_full() {
        return Err(DomainError::ClassFull);
    }
    Ok(EnrollmentUpdate { membership: next, seat })
}

/// What a partner's enrollment of one of its students does.
#[derive(Debug, Clone, PartialEq)]
pub enum NewEnrollment {
    /// Already enrolled, in any status: answered with it, nothing changes.
    Existing(Membership),
    /// Enroll with this status; `seat`: it takes one; `code`: it names one of the class's
    /// codes and takes one of its uses.
    Enroll { status: EnrollmentStatus, seat: bool, code: Option<InviteCodeId> },
}

/// A partner enrolls one of its students in one of its classes: a status other than
/// `dropped` takes a seat (the class must have one free; a partner may enroll in an ended
/// class); a code, if named, must be one of the class's and usable, and is used once, as a
/// redemption would.
pub fn decide_enrollment(
    class: &Class,
    existing: Option<Membership>,
    status: Option<EnrollmentStatus>,
    code: Option<&InviteCode>,
    code_asked: Option<InviteCodeId>,
    now: Timestamp,
) -> Result<NewEnrollment, DomainError> {
    if let Some(m) = existing {
        return Ok(NewEnrollment::Existing(m));
    }
    let code = match code_asked {
        None => None,
        Some(asked) => {
            let code = code
                .filter(|c| c.id == asked && c.class_id == class.id)
                .ok_or_else(|| DomainError::invalid("invite_code_id", Problem::Unknown(Entity::InviteCode)))?;
            code.check_usable(now).map_err(DomainError::CodeUnavailable)?;
            Some(code.id)
        }
    };
    let status = status.unwrap_or(EnrollmentStatus::Active);
    let seat = status.holds_seat();
    if seat && class.is_full() {
        return Err(DomainError::ClassFull);
    }
    Ok(NewEnrollment::Enroll { status, seat, code })
}

// ---- a partner's students ---------------------------------------------------------------------

/// A partner's student: made when the user first joins one of the partner's classes; the
/// partner may change its details and status. One per partner and user.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PartnerStudent {
    pub partner_id: UserId,
    pub user_id: UserId,
    pub full_name: String,
    pub email: Option<String>,
    pub status: StudentStatus,
    pub joined_at: Timestamp,
    pub primary_contact: Option<String>,
    pub notes: Option<String>,
}

/// A partner's label for a student; it changes nothing else.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StudentStatus {
    Active,
    Inactive,
    Archived,
}

impl StudentStatus {
    pub const ALL: [StudentStatus; 3] = [StudentStatus::Active, StudentStatus::Inactive, StudentStatus::Archived];

    pub fn as_str(self) -> &'static str {
        match self {
            StudentStatus::Active => "active",
            StudentStatus::Inactive => "inactive",
            StudentStatus::Archived => "archived",
        }
    }

    pub fn parse(s: &str) -> Option<StudentStatus> {
        Self::ALL.into_iter().find(|e| e.as_str() == s)
    }
}

pub const PRIMARY_CONTACT_MAX_CHARS: usize = 200;
pub const NOTES_MAX_CHARS: usize = 2_000;

/// The record a partner gets of a user who joins one of its classes for the first time:
/// their name and email as they are then.
pub fn new_student(partner: UserId, user: &crate::user::User, now: Timestamp) -> PartnerStudent {
    PartnerStudent {
        partner_id: partner,
        user_id: user.id,
        full_name: user.name.clone(),
        email: user.email.clone(),
        status: StudentStatus::Active,
        joined_at: now,
        primary_contact: None,
        notes: None,
    }
}

/// A change of a partner's student, as the partner asks for it (`null` clears).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StudentChange {
    pub full_name: Patch<String>,
    pub email: Patch<String>,
    pub status: Patch<StudentStatus>,
    pub primary_contact: Patch<String>,
    pub notes: Patch<String>,
    /// The user the record is of: it may be restated, not changed.
    pub user_id: Patch<i64>,
}

/// The fields' checks that need no stored state: a name is trimmed, 1..=200 characters;
/// an email is an address (at most 254 characters); a contact at most 200 and notes at
/// most 2,000 characters; no text holds a NUL.
pub fn check_student_change(change: &StudentChange) -> Vec<Violation> {
    let mut errors = Vec::new();
    if let Patch::Set(name) = &change.full_name
        && let Err(p) = crate::text::label(name, USER_NAME_MAX_CHARS)
    {
        errors.push(Violation::new("full_name", p));
    }
    if let Patch::Set(email) = &change.email {
        let checked = crate::text::check(email, EMAIL_MAX_CHARS).and_then(|()| {
            valid_email(email.trim()).map_err(|_| Problem::Other("value is not a valid email address".into()))
        });
        if let Err(p) = checked {
            errors.push(Violation::new("email", p));
        }
    }
    for (field, value, max) in [
        ("primary_contact", &change.primary_contact, PRIMARY_CONTACT_MAX_CHARS),
        ("notes", &change.notes, NOTES_MAX_CHARS),
    ] {
        if let Patch::Set(v) = value
            && let Err(p) = crate::text::check(v, max)
        {
            errors.push(Violation::new(field, p));
        }
    }
    errors
}

/// The student after a change. Clearing the name or the status — which every student has —
/// is refused as [`Problem::Required`] on that field; naming another user as
/// [`Problem::Immutable`].
pub fn change_student(current: &PartnerStudent, change: &StudentChange) -> Result<PartnerStudent, DomainError> {
    let mut errors = check_student_change(change);
    let mut next = current.clone();
    match &change.full_name {
        Patch::Keep => {}
        Patch::Clear => errors.push(Violation::new("full_name", Problem::Required)),
        Patch::Set(name) => next.full_name = name.trim().to_string(),
    }
    match change.status {
        Patch::Keep => {}
        Patch::Clear => errors.push(Violation::new("status", Problem::Required)),
        Patch::Set(s) => next.status = s,
    }
    match change.user_id {
        Patch::Set(u) if u != current.user_id.0 => errors.push(Violation::new("user_id", Problem::Immutable)),
        Patch::Clear => errors.push(Violation::new("user_id", Problem::Immutable)),
        _ => {}
    }
    next.email = change.email.clone().map(|e| e.trim().to_string()).apply(current.email.clone());
    next.primary_contact = change.primary_contact.clone().apply(current.primary_contact.clone());
    next.notes = change.notes.clone().apply(current.notes.clone());
    if !errors.is_empty() {
        return Err(DomainError::Invalid(errors));
    }
    Ok(next)
}

/// A partner's students counted: all of them, the active ones, and those with a completed
/// enrollment in one of the partner's classes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StudentStats {
    pub total: u64,
    pub active: u64,
    pub completed: u64,
}

impl StudentStats {
    /// Active students per hundred, in tenths, rounded half to even (`666` is 66.6 %); 0
    /// without students.
    pub fn engagement_tenths(&self) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let scaled = u128::from(self.active) * 1000;
        let total = u128::from(self.total);
        let (q, r) = (scaled / total, scaled % total);
        let up = match (2 * r).cmp(&total) {
            std::cmp::Ordering::Greater => true,
            std::cmp::Ordering::Equal => q % 2 == 1,
            std::cmp::Ordering::Less => false,
        };
        u64::try_from(q + u128::from(up)).unwrap_or(u64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::class::{ClassKind, ClassPatch, PatchFacts, create};
    use crate::ids::MembershipId;
    use crate::invite::MemberRole;

    fn class(capacity: Option<u32>, members: u32) -> Class {
        let p = ClassPatch { name: Patch::Set("c".into()), ..Default::default() };
        let mut fields = create(p, &PatchFacts::default()).unwrap();
        fields.capacity = capacity;
        Class {
            id: ClassId(1),
            owner_id: UserId(1),
            kind: ClassKind::Class,
            fields,
            member_count: members,
            version: 1,
            created_at: Timestamp::UNIX_EPOCH,
            updated_at: Timestamp::UNIX_EPOCH,
        }
    }

    fn enrollment(status: EnrollmentStatus) -> Membership {
        Membership {
            id: MembershipId(7),
            class_id: ClassId(1),
            user_id: UserId(2),
            role: MemberRole::Student,
            joined_at: "2030-01-01T00:00:00Z".parse().unwrap(),
            invite_code_id: Some(InviteCodeId(3)),
            invited_at: None,
            logged_in_at: None,
            env_creation_disabled: false,
            status,
            completed_at: None,
        }
    }

    #[test]
    fn seats_follow_the_status() {
        use EnrollmentStatus::*;
        assert_eq!(seat_move(Active, Dropped), SeatMove::Free);
        assert_eq!(seat_move(Dropped, Completed), SeatMove::Take);
        assert_eq!(seat_move(Active, Completed), SeatMove::Keep);
        assert_eq!(seat_move(Dropped, Dropped), SeatMove::Keep);
        let full = class(Some(1), 1);
        let dropped = enrollment(Dropped);
        assert_eq!(set_status(&dropped, &full, Active, None), Err(DomainError::ClassFull));
        let done = set_status(&enrollment(Active), &full, Completed, Some(Timestamp::UNIX_EPOCH)).unwrap();
        assert_eq!((done.seat, done.membership.completed_at), (SeatMove::Keep, Some(dropped.joined_at)));
        assert!(!frees_seat(&dropped) && frees_seat(&enrollment(Inactive)));
    }

    #[test]
    fn enrollment_changes() {
        let current = enrollment(EnrollmentStatus::Active);
        let k = class(None, 1);
        let change = EnrollmentChange {
            class_id: Patch::Set(ClassId(1)),
            student_id: Patch::Set(UserId(2)),
            status: Patch::Set(EnrollmentStatus::Dropped),
            completed_at: Patch::Set("2030-02-01T00:00:00Z".parse().unwrap()),
            ..Default::default()
        };
        let done = change_enrollment(&current, &k, &change).unwrap();
        assert_eq!((done.seat, done.membership.status), (SeatMove::Free, EnrollmentStatus::Dropped));
        let bad = EnrollmentChange {
            class_id: Patch::Set(ClassId(9)),
            student_id: Patch::Clear,
            invite_code_id: Patch::Set(InviteCodeId(4)),
            status: Patch::Clear,
            enrolled_at: Patch::Clear,
            completed_at: Patch::Set("2029-01-01T00:00:00Z".parse().unwrap()),
        };
        match change_enrollment(&current, &k, &bad) {
            Err(DomainError::Invalid(v)) => assert_eq!(
                v.iter().map(|v| v.field).collect::<Vec<_>>(),
                ["class_id", "student_id", "invite_code_id", "status", "enrolled_at", "completed_at"]
            ),
            other => panic!("{other:?}"),
        }
        let cleared = EnrollmentChange { invite_code_id: Patch::Clear, ..Default::default() };
        assert_eq!(change_enrollment(&current, &k, &cleared).unwrap().membership.invite_code_id, None);
    }

    #[test]
    fn who_may_end_an_enrollment() {
        let k = class(None, 1);
        let mine = enrollment(EnrollmentStatus::Active);
        assert_eq!(decide_leave(Some(mine.clone()), Some(&k), UserId(2)), Ok(mine.clone()));
        let not_found = Err(DomainError::NotFound(Entity::Membership));
        assert_eq!(decide_leave(Some(mine.clone()), Some(&k), UserId(3)), not_found);
        assert_eq!(decide_leave(None, Some(&k), UserId(2)), not_found);
        assert_eq!(owned_enrollment(Some(mine.clone()), Some(&k), UserId(1)), Ok(mine.clone()));
        assert_eq!(owned_enrollment(Some(mine.clone()), Some(&k), UserId(5)), not_found);
        let mut lab = k.clone();
        lab.kind = ClassKind::Lab;
        assert_eq!(owned_enrollment(Some(mine), Some(&lab), UserId(1)), not_found);
    }

    #[test]
    fn partner_enrollments() {
        let now = Timestamp::UNIX_EPOCH;
        let full = class(Some(1), 1);
        assert_eq!(decide_enrollment(&full, None, None, None, None, now), Err(DomainError::ClassFull));
        assert_eq!(
            decide_enrollment(&full, None, Some(EnrollmentStatus::Dropped), None, None, now),
            Ok(NewEnrollment::Enroll { status: EnrollmentStatus::Dropped, seat: false, code: None })
        );
        let existing = enrollment(EnrollmentStatus::Inactive);
        assert_eq!(
            decide_enrollment(&full, Some(existing.clone()), None, None, None, now),
            Ok(NewEnrollment::Existing(existing))
        );
        let unknown = decide_enrollment(&class(None, 0), None, None, None, Some(InviteCodeId(4)), now);
        assert_eq!(unknown, Err(DomainError::invalid("invite_code_id", Problem::Unknown(Entity::InviteCode))));
    }

    #[test]
    fn student_changes() {
        let user = crate::user::User {
            id: UserId(2),
            kind: crate::user::UserKind::Student,
            name: "Ann".into(),
            email: Some("ann@example.com".into()),
            first_name: None,
            last_name: None,
            username: None,
            institution_id: None,
            profile: None,
            created_at: Timestamp::UNIX_EPOCH,
            disabled_at: None,
        };
        let s = new_student(UserId(1), &user, Timestamp::UNIX_EPOCH);
        let change = StudentChange {
            full_name: Patch::Set(" Ann B ".into()),
            email: Patch::Clear,
            status: Patch::Set(StudentStatus::Archived),
            notes: Patch::Set("n".into()),
            user_id: Patch::Set(2),
            ..Default::default()
        };
        let next = change_student(&s, &change).unwrap();
        assert_eq!(
            (next.full_name.as_str(), next.email, next.status, next.notes.as_deref()),
            ("Ann B", None, StudentStatus::Archived, Some("n"))
        );
        let bad = StudentChange {
            full_name: Patch::Clear,
            email: Patch::Set("nope".into()),
            status: Patch::Clear,
            user_id: Patch::Set(3),
            ..Default::default()
        };
        match change_student(&s, &bad) {
            Err(DomainError::Invalid(v)) => {
                assert_eq!(v.iter().map(|v| v.field).collect::<Vec<_>>(), ["email", "full_name", "status", "user_id"])
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn engagement_rounds_half_to_even() {
        let rate = |active, total| StudentStats { total, active, completed: 0 }.engagement_tenths();
        assert_eq!(
            [rate(0, 0), rate(1, 3), rate(2, 3), rate(1, 16), rate(3, 16), rate(4, 4)],
            [0, 333, 667, 62, 188, 1000]
        );
    }
}
