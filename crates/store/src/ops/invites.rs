//! Invite codes: made and changed by the class's owner, redeemed by students.

use classhub_core::audit::{Action, Context};
use classhub_core::class::{self, ClassKind};
use classhub_core::error::Entity;
use classhub_core::invite::{self, CodeRequest, InviteCode, MemberRole, Membership, Redemption};
use classhub_core::page::{Page, PageRequest};
use classhub_core::{ClassId, DomainError, InviteCodeId, UserId};

use super::audit;
use super::security::{self, ThrottleKey};
use crate::engine::{NewMember, Read, Tx};
use crate::{ReadOp, Result, StoreError, WriteOp};

/// Makes a new invite code for one of the owner's classes.
pub struct CreateCode {
    pub ctx: Context,
    pub owner: UserId,
    pub class_id: ClassId,
    pub request: CodeRequest,
    pub code_length: usize,
}

impl WriteOp for CreateCode {
    type Out = InviteCode;
    async fn run<T: Tx>(&self, tx: &mut T) -> Result<InviteCode> {
        let class = class::owned_by(tx.class_for_update(self.class_id).await?, self.owner, ClassKind::Class)?;
        let settings = invite::new_code(&self.request, class.fields.timezone.as_ref(), self.ctx.now)?;
        let code = super::insert_new_code(tx, &self.ctx, class.id, self.owner, settings, self.code_length).await?;
        tx.touch_class(class.id).await?;
        Ok(code)
    }
}

/// Enables, disables, or changes the expiry or use limit of a code.
pub struct UpdateCode {
    pub ctx: Context,
    pub owner: UserId,
    pub class_id: ClassId,
    pub code_id: InviteCodeId,
    pub request: CodeRequest,
}

impl WriteOp for UpdateCode {
    type Out = InviteCode;
    async fn run<T: Tx>(&self, tx: &mut T) -> Result<InviteCode> {
        let class = class::owned_by(tx.class_for_update(self.class_id).await?, self.owner, ClassKind::Class)?;
        let code = tx.code(self.code_id).await?.filter(|c| c.class_id == class.id);
        let code = code.ok_or(DomainError::NotFound(Entity::InviteCode))?;
        let changed = invite::change_code(&code, &self.request, class.fields.timezone.as_ref(), self.ctx.now)?;
        if changed != code {
            tx.update_code(&changed).await?;
            tx.touch_class(class.id).await?;
            audit(tx, &self.ctx, Action::InviteCodeUpdate, Some(class.id), code.id.0, Some(&code), Some(&changed))
                .await?;
        }
        Ok(changed)
    }
}

/// A page of a class's codes, newest first.
pub struct ListCodes {
    pub owner: UserId,
    pub class_id: ClassId,
    pub active_only: bool,
    pub page: PageRequest,
}

impl ReadOp for ListCodes {
    type Out = Page<InviteCode>;
    async fn run<R: Read>(&self, r: &R) -> Result<Page<InviteCode>> {
        class::owned_by(r.class(self.class_id).await?, self.owner, ClassKind::Class)?;
        let active_at = self.active_only.then(classhub_core::time::now);
        r.codes_page(self.class_id, active_at, self.page).await
    }
}

/// A student redeems a code. The student's throttle counters are locked first (a guess
/// beyond the budget is refused before any lookup); then the code's class, so that
/// redemptions, leaves, removals and changes of one class take turns, from any number of
/// processes.
pub struct Redeem {
    pub ctx: Context,
    pub student: UserId,
    /// The code as typed; it is normalised here.
    pub code: String,
    /// Failed guesses (an unknown or unusable code) count against these keys.
    pub throttle: Vec<ThrottleKey>,
    /// The length codes are made with now: a typed code of another length that no code
    /// has cannot be one.
    pub code_length: usize,
}

/// A redemption's enrollment, or the rule that refused it. A refusal is an outcome, not an
/// error of the transaction: the guess it counted against the throttle is committed.
pub type RedeemOutcome = std::result::Result<Enrollment, DomainError>;

/// The enrollment, and whether this redemption made it.
#[derive(Debug, Clone, PartialEq)]
pub struct Enrollment {
    pub membership: Membership,
    pub created: bool,
}

impl WriteOp for Redeem {
    type Out = RedeemOutcome;

    fn made_change(out: &RedeemOutcome) -> bool {
        out.is_ok()
    }

    async fn run<T: Tx>(&self, tx: &mut T) -> Result<RedeemOutcome> {
        let now = self.ctx.now;
        let locked = match security::lock(tx, &self.throttle, now).await {
            Ok(locked) => locked,
            Err(StoreError::Domain(refusal)) => return Ok(Err(refusal)),
            Err(other) => return Err(other),
        };
        match self.attempt(tx).await {
            Ok(enrollment) => {
                security::count(tx, locked, true, now).await?;
                Ok(Ok(enrollment))
            }
            // Refusals come before any write of the attempt, so only the count is kept.
            Err(StoreError::Domain(refusal)) => {
                let guess = matches!(refusal, DomainError::NotFound(_) | DomainError::CodeUnavailable(_));
                security::count(tx, locked, !guess, now).await?;
                Ok(Err(refusal))
            }
            Err(other) => Err(other),
        }
    }
}

impl Redeem {
    async fn attempt<T: Tx>(&self, tx: &mut T) -> Result<Enrollment> {
        let unknown = || DomainError::NotFound(Entity::InviteCode);
        let key = invite::lookup_key(&self.code).ok_or_else(invite::malformed)?;
        let Some(found) = tx.code_by_value(&key).await? else {
            let possible = key.len() == self.code_length || tx.code_length_in_use(key.len()).await?;
            return Err(invite::unknown_code(possible).into());
        };
        let now = self.ctx.now;
        // A refusal the unlocked facts show was true when they were read: answered without
        // the class's lock, so a storm on a full class does not queue behind each commit.
        // (The class is read before the membership: a member it missed must have left. Both
        // statements go out together, in that order: one round trip on PostgreSQL.)
        let (class, existing) =
            tokio::try_join!(tx.class(found.class_id), tx.membership(found.class_id, self.student))?;
        if let Some(class) = class {
            invite::decide_redemption(&found, &class, existing, now)?;
        }
        // The code and the membership as they are once the class is locked (read after the
        // lock is granted, in the same round trip).
        let (class, code, existing) = tokio::try_join!(
            tx.class_for_update(found.class_id),
            tx.code(found.id),
            tx.membership(found.class_id, self.student)
        )?;
        let class = class.ok_or_else(unknown)?;
        let code = code.ok_or_else(unknown)?;
        if let Redemption::AlreadyMember(membership) = invite::decide_redemption(&code, &class, existing, now)? {
            return Ok(Enrollment { membership, created: false });
        }
        // The guards hold what the decision saw; under the class's lock they cannot fail
        // unless the facts changed, and then the transaction decides again.
        let (seated, used) = tokio::try_join!(tx.take_seat(class.id), tx.use_code(code.id, now))?;
        if !(seated && used) {
            return Err(StoreError::Retry("the seat or the code changed under the class's lock".into()));
        }
        let new = NewMember {
            class_id: class.id,
            user_id: self.student,
            role: MemberRole::Student,
            code: Some(code.id),
            email: None,
        };
        let membership = tx.insert_membership(new, now).await?;
        audit(tx, &self.ctx, Action::MembershipCreate, Some(class.id), membership.id.0, None, Some(&membership))
            .await?;
        super::students::ensure_student(tx, &self.ctx, class.owner_id, self.student).await?;
        Ok(Enrollment { membership, created: true })
    }
}
