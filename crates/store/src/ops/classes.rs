//! Classes: create, change, delete, read, list, history.

use classhub_core::audit::{Action, AuditEvent, Context};
use classhub_core::class::{self, Class, ClassKind, ClassPatch, IfMatch, PatchFacts};
use classhub_core::invite::{InviteCode, MemberRole, NewCodeSettings};
use classhub_core::page::{Cursor, Page, PageRequest};
use classhub_core::{ClassId, UserId};

use super::{audit, update_class};
use crate::engine::{ClassFilter, Read, Tx};
use crate::{ReadOp, Result, WriteOp};

/// A class with its invite codes (newest first), as every class body shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassView {
    pub class: Class,
    pub codes: Vec<InviteCode>,
}

/// What the rules need to know about the catalog entries a patch names.
async fn patch_facts<R: Read>(r: &R, patch: &ClassPatch, owner: UserId, enrolled: u32) -> Result<PatchFacts> {
    let referenced = patch.referenced_models();
    let known_models = if referenced.is_empty() { Vec::new() } else { r.existing_models(&referenced).await? };
    let course_owner = match patch.referenced_course() {
        Some(id) => r.course(id).await?.map(|c| c.partner_id),
        None => None,
    };
    Ok(PatchFacts { owner, known_models, course_owner, enrolled })
}

/// The owner's class, if the caller's precondition holds.
fn owned(found: Option<Class>, owner: UserId, if_match: Option<&IfMatch>) -> Result<Class> {
    let class = class::owned_by(found, owner, ClassKind::Class)?;
    class::check_version(class.version, if_match)?;
    Ok(class)
}

/// The owner's class, locked, if the caller's precondition holds.
async fn owned_for_update<T: Tx>(tx: &mut T, owner: UserId, id: ClassId, if_match: Option<&IfMatch>) -> Result<Class> {
    owned(tx.class_for_update(id).await?, owner, if_match)
}

/// Creates a class and, in the same transaction, its default student invite code.
pub struct CreateClass {
    pub ctx: Context,
    pub owner: UserId,
    pub patch: ClassPatch,
    pub code_length: usize,
}

impl WriteOp for CreateClass {
    type Out = ClassView;
    async fn run<T: Tx>(&self, tx: &mut T) -> Result<ClassView> {
        let facts = patch_facts(tx, &self.patch, self.owner, 0).await?;
        let fields = class::create(self.patch.clone(), &facts)?;
        let class = tx.insert_class(self.owner, ClassKind::Class, &fields, self.ctx.now).await?;
        tx.add_to_class_count(self.owner, 1).await?;
        audit(tx, &self.ctx, Action::ClassCreate, Some(class.id), class.id.0, None, Some(&class)).await?;
        let settings = NewCodeSettings { target_role: MemberRole::Student, max_uses: None, expires_at: None };
        let code = super::insert_new_code(tx, &self.ctx, class.id, self.owner, settings, self.code_length).await?;
        Ok(ClassView { class, codes: vec![code] })
    }
}

/// Applies a merge patch to a class.
pub struct UpdateClass {
    pub ctx: Context,
    pub owner: UserId,
    pub class_id: ClassId,
    pub patch: ClassPatch,
    pub if_match: Option<IfMatch>,
}

impl WriteOp for UpdateClass {
    type Out = ClassView;
    async fn run<T: Tx>(&self, tx: &mut T) -> Result<ClassView> {
        // The codes are read with the lock (on PostgreSQL in the same round trip, after the
        // lock is granted): no code changes without the class's lock.
        let ids = [self.class_id];
        let (locked, codes) = tokio::try_join!(tx.class_for_update(self.class_id), tx.codes_of(&ids))?;
        let current = owned(locked, self.owner, self.if_match.as_ref())?;
        let facts = patch_facts(tx, &self.patch, self.owner, current.member_count).await?;
        let fields = class::apply_patch(&current.fields, self.patch.clone(), &facts)?;
        // A patch that changes nothing writes nothing: same version, no audit event.
        let class = if fields == current.fields {
            current
        } else {
            let updated = current.changed(fields, self.ctx.now);
            update_class(tx, &self.ctx, &current, &updated).await?;
            updated
        };
        Ok(ClassView { class, codes })
    }
}

/// Deletes a class with its codes and memberships.
pub struct DeleteClass {
    pub ctx: Context,
    pub owner: UserId,
    pub class_id: ClassId,
    pub if_match: Option<IfMatch>,
}

impl WriteOp for DeleteClass {
    type Out = ();
    async fn run<T: Tx>(&self, tx: &mut T) -> Result<()> {
        let current = owned_for_update(tx, self.owner, self.class_id, self.if_match.as_ref()).await?;
        tx.delete_class(self.class_id).await?;
        tx.add_to_class_count(self.owner, -1).await?;
        audit(tx, &self.ctx, Action::ClassDelete, Some(current.id), current.id.0, Some(&current), None).await
    }
}

/// One of the owner's classes with its codes.
pub struct GetClass {
    pub owner: UserId,
    pub class_id: ClassId,
}

impl ReadOp for GetClass {
    type Out = ClassView;
    async fn run<R: Read>(&self, r: &R) -> Result<ClassView> {
        let (found, codes) = r.class_with_codes(self.class_id).await?.unzip();
        let class = class::owned_by(found, self.owner, ClassKind::Class)?;
        Ok(ClassView { class, codes: codes.unwrap_or_default() })
    }
}

/// A page of the owner's classes with their codes.
pub struct ListClasses {
    pub owner: UserId,
    pub filter: ClassFilter,
    pub page: PageRequest,
    /// Continue after this cursor's row instead of at `page.offset`.
    pub after: Option<Cursor>,
}

impl ReadOp for ListClasses {
    type Out = Page<ClassView>;
    async fn run<R: Read>(&self, r: &R) -> Result<Page<ClassView>> {
        let page = r.classes(self.owner, &self.filter, self.page, self.after.as_ref()).await?;
        let ids: Vec<ClassId> = page.items.iter().map(|c| c.id).collect();
        let mut codes = if ids.is_empty() { Vec::new() } else { r.codes_of(&ids).await? };
        Ok(page.map(|class| {
            let (mine, rest) = codes.drain(..).partition(|c| c.class_id == class.id);
            codes = rest;
            ClassView { class, codes: mine }
        }))
    }
}

/// A page of a class's audit events, for its owner.
pub struct ClassHistory {
    pub owner: UserId,
    pub class_id: ClassId,
    pub page: PageRequest,
}

impl ReadOp for ClassHistory {
    type Out = Page<AuditEvent>;
    async fn run<R: Read>(&self, r: &R) -> Result<Page<AuditEvent>> {
        // The events are read with the class (one round trip on PostgreSQL), and returned
        // only when the class is the owner's.
        let (class, events) = tokio::try_join!(r.class(self.class_id), r.history(self.class_id, self.page))?;
        class::owned_by(class, self.owner, ClassKind::Class)?;
        Ok(events)
    }
}
