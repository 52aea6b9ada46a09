//! OCARIoT: institutions, users who sign in with a password, and children groups (classes
//! owned by an educator or a health professional whose members are children, in order).

use classhub_core::audit::{Action, Context, NewAuditEvent};
use classhub_core::class::{Class, ClassFields};
use classhub_core::error::Entity;
use classhub_core::invite::MemberRole;
use classhub_core::ocariot::{self, ChildChange, ChildProfile, Institution};
use classhub_core::user::{NewUser, User, UserKind};
use classhub_core::{ClassId, DomainError, UserId};
use rand::Rng;

use crate::engine::{Read, Tx};
use crate::{ReadOp, Result, WriteOp};

/// The user kinds OCARIoT manages (and may delete).
pub const KINDS: [UserKind; 6] = [
    UserKind::Admin,
    UserKind::Child,
    UserKind::Educator,
    UserKind::HealthProfessional,
    UserKind::Family,
    UserKind::Application,
];

fn entity_of(kind: UserKind) -> Entity {
    match kind {
        UserKind::Child => Entity::Child,
        UserKind::Educator => Entity::Educator,
        UserKind::HealthProfessional => Entity::HealthProfessional,
        _ => Entity::User,
    }
}

pub struct CreateInstitution {
    pub ctx: Context,
    pub institution: Institution,
}

impl WriteOp for CreateInstitution {
    type Out = Institution;
    async fn run<T: Tx>(&self, tx: &mut T) -> Result<Institution> {
        let i = &self.institution;
        if tx.institution_named(&i.name).await?.is_some() {
            return Err(DomainError::AlreadyExists(Entity::Institution).into());
        }
        let made = tx.insert_institution(i, self.ctx.now).await?;
        tx.insert_audit(&self.ctx, &NewAuditEvent::of(Action::CatalogCreate, None, made.id.0, None, Some(&made)))
            .await?;
        Ok(made)
    }
}

/// Registers a user who signs in with a username; the institution must exist and the
/// username be free.
pub struct CreateAccount {
    pub ctx: Context,
    pub user: NewUser,
}

impl WriteOp for CreateAccount {
    type Out = User;
    async fn run<T: Tx>(&self, tx: &mut T) -> Result<User> {
        if let Some(i) = self.user.institution_id
            && tx.institution(i).await?.is_none()
        {
            return Err(DomainError::NotFound(Entity::Institution).into());
        }
        if let Some(name) = &self.user.username
            && tx.user_by_username(name).await?.is_some()
        {
            return Err(DomainError::AlreadyExists(entity_of(self.user.kind)).into());
        }
        let user = tx.insert_user(&self.user, self.ctx.now).await?;
        tx.insert_audit(&self.ctx, &NewAuditEvent::of(Action::UserCreate, None, user.id.0, None, Some(&user))).await?;
        Ok(user)
    }
}

/// The user with this username, with their password hash.
pub struct AccountByUsername<'a> {
    pub username: &'a str,
}

impl ReadOp for AccountByUsername<'_> {
    type Out = Option<(User, Option<String>)>;
    async fn run<R: Read>(&self, r: &mut R) -> Result<Self::Out> {
        r.user_by_username(self.username).await
    }
}

/// A user by id, if of one of `kinds`.
pub struct AccountOf {
    pub id: UserId,
    pub kinds: &'static [UserKind],
}

impl ReadOp for AccountOf {
    type Out = Option<User>;
    async fn run<R: Read>(&self, r: &mut R) -> Result<Option<User>> {
        Ok(r.user(self.id).await?.filter(|u| self.kinds.contains(&u.kind)))
    }
}

/// The OCARIoT administrator's user (`admin`), made on first start.
pub struct EnsureAdmin;

impl WriteOp for EnsureAdmin {
    type Out = User;
    async fn run<T: Tx>(&self, tx: &mut T) -> Result<User> {
        if let Some((u, _)) = tx.user_by_username("admin").await? {
            return Ok(u);
        }
        let new = NewUser { username: Some("admin".into()), ..NewUser::named(UserKind::Admin, "admin", None) };
        tx.insert_user(&new, classhub_core::time::now()).await
    }
}

/// The key OCARIoT tokens are signed with: made once, kept in the database so that every
/// process signs and checks with the same one.
pub struct JwtKey;

impl WriteOp for JwtKey {
    type Out = Vec<u8>;
    async fn run<T: Tx>(&self, tx: &mut T) -> Result<Vec<u8>> {
        let mut key = [0u8; 32];
        rand::rng().fill(&mut key);
        tx.setting_or_insert("ocariot_jwt_key", &key).await
    }
}

/// Changes a child's attributes.
pub struct UpdateChild {
    pub ctx: Context,
    pub child: UserId,
    pub change: ChildChange,
}

impl WriteOp for UpdateChild {
    type Out = User;
    async fn run<T: Tx>(&self, tx: &mut T) -> Result<User> {
        let user = tx.user(self.child).await?.filter(|u| u.kind == UserKind::Child);
        let user = user.ok_or(DomainError::NotFound(Entity::Child))?;
        let before = ChildProfile::from_profile(user.profile.as_ref());
        let after = ocariot::change_child(&before, &self.change)?;
        if after != before {
            tx.set_user_profile(user.id, &after.to_profile()).await?;
            let event = NewAuditEvent::of(Action::UserUpdate, None, user.id.0, Some(&before), Some(&after));
            tx.insert_audit(&self.ctx, &event).await?;
        }
        Ok(User { profile: Some(after.to_profile()), ..user })
    }
}

/// Notes a child's sign-in time (`last_login`).
pub struct RecordLogin {
    pub child: UserId,
    pub at: String,
}

impl WriteOp for RecordLogin {
    type Out = ();
    async fn run<T: Tx>(&self, tx: &mut T) -> Result<()> {
        if let Some(user) = tx.user(self.child).await?.filter(|u| u.kind == UserKind::Child) {
            let mut p = ChildProfile::from_profile(user.profile.as_ref());
            p.last_login = Some(self.at.clone());
            tx.set_user_profile(user.id, &p.to_profile()).await?;
        }
        Ok(())
    }
}

/// Deletes an OCARIoT user: a child leaves every group; an educator's or health
/// professional's groups go with them. Unknown users (and users of other dialects) are
/// left alone.
pub struct DeleteAccount {
    pub ctx: Context,
    pub id: UserId,
}

impl WriteOp for DeleteAccount {
    type Out = ();
    async fn run<T: Tx>(&self, tx: &mut T) -> Result<()> {
        let Some(user) = tx.user(self.id).await?.filter(|u| KINDS.contains(&u.kind) && u.kind != UserKind::Admin)
        else {
            return Ok(());
        };
        for m in tx.memberships_of(user.id).await? {
            tx.delete_membership(m.class_id, m.user_id).await?;
            tx.free_seat(m.class_id).await?;
        }
        for class in tx.classes_owned(user.id).await? {
            tx.delete_class(class.id).await?;
            let event = NewAuditEvent::of(Action::ClassDelete, Some(class.id), class.id.0, Some(&class), None);
            tx.insert_audit(&self.ctx, &event).await?;
        }
        tx.delete_user(user.id).await?;
        tx.insert_audit(&self.ctx, &NewAuditEvent::of(Action::UserDelete, None, user.id.0, Some(&user), None)).await
    }
}

/// A group with its children, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupView {
    pub class: Class,
    pub children: Vec<User>,
}

async fn group_view<R: Read>(r: &mut R, class: Class) -> Result<GroupView> {
    let children = r.members_by_role(class.id, MemberRole::Student).await?.into_iter().map(|m| m.user).collect();
    Ok(GroupView { class, children })
}

/// The name is not another of the owner's groups'; the children are registered children.
async fn check_group<T: Read>(
    r: &mut T,
    owner: UserId,
    this: Option<ClassId>,
    name: Option<&str>,
    children: &[UserId],
) -> Result<()> {
    if let Some(name) = name {
        let taken = r.classes_named(owner, name).await?.into_iter().any(|id| Some(id) != this);

        if taken {
            return Err(DomainError::AlreadyExists(Entity::Group).into());
        }
    }
    let known: Vec<UserId> =
        r.users(children).await?.into_iter().filter(|u| u.kind == UserKind::Child).map(|u| u.id).collect();
    let missing = ocariot::unregistered(children, &known);
    if missing.is_empty() { Ok(()) } else { Err(DomainError::UnknownMembers(missing).into()) }
}

pub struct CreateGroup {
    pub ctx: Context,
    pub owner: UserId,
    pub name: String,
    pub school_class: Option<String>,
    pub children: Vec<UserId>,
}

impl WriteOp for CreateGroup {
    type Out = GroupView;
    async fn run<T: Tx>(&self, tx: &mut T) -> Result<GroupView> {
        let children = ocariot::distinct_children(&self.children);
        check_group(tx, self.owner, None, Some(&self.name), &children).await?;
        let fields =
            ClassFields { name: self.name.clone(), school_class: self.school_class.clone(), ..ClassFields::blank() };
        let class = tx.insert_class(self.owner, &fields, self.ctx.now).await?;
        tx.add_to_class_count(self.owner, 1).await?;
        tx.replace_members(class.id, MemberRole::Student, &children, self.ctx.now).await?;
        let stored = tx.class(class.id).await?.ok_or(DomainError::NotFound(Entity::Group))?;
        let view = group_view(tx, stored).await?;
        let ids: Vec<UserId> = view.children.iter().map(|c| c.id).collect();
        let event =
            NewAuditEvent::of(Action::ClassCreate, Some(class.id), class.id.0, None, Some(&(&view.class, &ids)));
        tx.insert_audit(&self.ctx, &event).await?;
        Ok(view)
    }
}

/// Changes a group: a new name, school class, or the whole list of children.
pub struct UpdateGroup {
    pub ctx: Context,
    pub owner: UserId,
    pub group: ClassId,
    pub name: Option<String>,
    pub school_class: Option<String>,
    pub children: Option<Vec<UserId>>,
}

impl WriteOp for UpdateGroup {
    type Out = GroupView;
    async fn run<T: Tx>(&self, tx: &mut T) -> Result<GroupView> {
        let children = self.children.as_deref().map(ocariot::distinct_children);
        check_group(tx, self.owner, Some(self.group), self.name.as_deref(), children.as_deref().unwrap_or(&[])).await?;
        let class = tx.class_for_update(self.group).await?.filter(|c| c.owner_id == self.owner);
        let class = class.ok_or(DomainError::NotFound(Entity::Group))?;
        let before = group_view(tx, class.clone()).await?;
        let mut fields = class.fields.clone();
        if let Some(n) = &self.name {
            fields.name = n.clone();
        }
        if let Some(s) = &self.school_class {
            fields.school_class = Some(s.clone());
        }
        if fields != class.fields {
            tx.update_class(class.id, &fields, self.ctx.now).await?;
        }
        if let Some(c) = &children {
            tx.replace_members(class.id, MemberRole::Student, c, self.ctx.now).await?;
        }
        let stored = tx.class(class.id).await?.ok_or(DomainError::NotFound(Entity::Group))?;
        let after = group_view(tx, stored).await?;

        if after != before {
            let ids = |v: &GroupView| v.children.iter().map(|c| c.id).collect::<Vec<_>>();
            let event = NewAuditEvent::of(
                Action::ClassUpdate,
                Some(class.id),
                class.id.0,
                Some(&(&before.class, ids(&before))),
                Some(&(&after.class, ids(&after))),
            );
            tx.insert_audit(&self.ctx, &event).await?;
        }
        Ok(after)
    }
}

/// Deletes a group; a group that does not exist is already gone (`false`), another
/// owner's is not found.
pub struct DeleteGroup {
    pub ctx: Context,
    pub owner: UserId,
    pub group: ClassId,
}

impl WriteOp for DeleteGroup {
    type Out = bool;
    async fn run<T: Tx>(&self, tx: &mut T) -> Result<bool> {
        let Some(class) = tx.class_for_update(self.group).await? else { return Ok(false) };
        if class.owner_id != self.owner {
            return Err(DomainError::NotFound(Entity::Group).into());
        }
        tx.delete_class(class.id).await?;
        tx.add_to_class_count(self.owner, -1).await?;
        let event = NewAuditEvent::of(Action::ClassDelete, Some(class.id), class.id.0, Some(&class), None);
        tx.insert_audit(&self.ctx, &event).await?;
        Ok(true)
    }
}

/// One of the owner's groups.
pub struct GetGroup {
    pub owner: UserId,
    pub group: ClassId,
}

impl ReadOp for GetGroup {
    type Out = GroupView;
    async fn run<R: Read>(&self, r: &mut R) -> Result<GroupView> {
        let class = r.class(self.group).await?.filter(|c| c.owner_id == self.owner);
        group_view(r, class.ok_or(DomainError::NotFound(Entity::Group))?).await
    }
}

/// Every group of an owner, newest first.
pub struct ListGroups {
    pub owner: UserId,
}

impl ReadOp for ListGroups {
    type Out = Vec<GroupView>;
    async fn run<R: Read>(&self, r: &mut R) -> Result<Vec<GroupView>> {
        let mut out = Vec::new();
        for class in r.classes_owned(self.owner).await? {
            out.push(group_view(r, class).await?);
        }
        Ok(out)
    }
}

/// Of these ids, the registered children.
pub struct RegisteredChildren {
    pub ids: Vec<UserId>,
}

impl ReadOp for RegisteredChildren {
    type Out = Vec<UserId>;
    async fn run<R: Read>(&self, r: &mut R) -> Result<Vec<UserId>> {
        Ok(r.users(&self.ids).await?.into_iter().filter(|u| u.kind == UserKind::Child).map(|u| u.id).collect())
    }
}

/// Users by id, in the order asked, leaving out those that do not exist.
pub struct AccountsById {
    pub ids: Vec<UserId>,
}

impl ReadOp for AccountsById {
    type Out = Vec<User>;
    async fn run<R: Read>(&self, r: &mut R) -> Result<Vec<User>> {
        let found = r.users(&self.ids).await?;
        Ok(self.ids.iter().filter_map(|id| found.iter().find(|u| u.id == *id).cloned()).collect())
    }
}
