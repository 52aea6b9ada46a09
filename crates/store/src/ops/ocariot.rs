//! OCARIoT: institutions, users who sign in with a password, and children groups (classes
//! owned by an educator or a health professional whose members are children, in order).

use classhub_core::audit::{Action, Context};
use classhub_core::class::{Class, ClassFields, ClassKind};
use classhub_core::error::Entity;
use classhub_core::invite::MemberRole;
use classhub_core::ocariot::{self, ChildChange, ChildProfile, GroupFacts, Institution};
use classhub_core::user::{self, NewUser, User, UserKind};
use classhub_core::{ClassId, DomainError, UserId};

use super::audit;
use crate::engine::{Member, Read, Tx};
use crate::{ReadOp, Result, StoreError, WriteOp};

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
        ocariot::check_institution(i)?;
        // Names are unique (an index): a concurrent registration of the name makes this
        // transaction run again, and then it finds the name taken.
        ocariot::decide_institution(tx.institution_named(&i.name).await?.is_some())?;
        let made = tx.insert_institution(i, self.ctx.now).await?;
        audit(tx, &self.ctx, Action::CatalogCreate, None, made.id.0, None, Some(&made)).await?;
        Ok(made)
    }
}

/// Registers a user who signs in with a username; the institution must exist, the username
/// be free (a unique index), and a family's children be registered children.
pub struct CreateAccount {
    pub ctx: Context,
    pub user: NewUser,
    /// A family's children (empty for other kinds).
    pub children: Vec<UserId>,
}

impl WriteOp for CreateAccount {
    type Out = User;
    async fn run<T: Tx>(&self, tx: &mut T) -> Result<User> {
        let new = self.user.clone().validated()?;
        let institution_known = match new.institution_id {
            Some(i) => tx.institution(i).await?.is_some(),
            None => true,
        };
        let registered =
            tx.users(&self.children).await?.into_iter().filter(|u| u.kind == UserKind::Child).map(|u| u.id).collect();
        let username_taken = match &new.username {
            Some(name) => tx.user_by_username(name).await?.is_some(),
            None => false,
        };
        let facts = ocariot::AccountFacts { institution_known, username_taken, registered };
        ocariot::decide_account(entity_of(new.kind), &self.children, &facts)?;
        let user = tx.insert_user(&new, self.ctx.now).await?;
        audit(tx, &self.ctx, Action::UserCreate, None, user.id.0, None, Some(&user)).await?;
        Ok(user)
    }
}

/// The user with this username, with their password hash. A name no user can have (too
/// long, a NUL) is nobody's, and is not looked up.
pub struct AccountByUsername<'a> {
    pub username: &'a str,
}

impl ReadOp for AccountByUsername<'_> {
    type Out = Option<(User, Option<String>)>;
    async fn run<R: Read>(&self, r: &R) -> Result<Self::Out> {
        if user::valid_username(self.username).is_err() {
            return Ok(None);
        }
        Ok(r.user_by_username(self.username).await?.filter(|(u, _)| u.disabled_at.is_none()))
    }
}

/// A user by id, if of one of `kinds`.
pub struct AccountOf {
    pub id: UserId,
    pub kinds: &'static [UserKind],
}

impl ReadOp for AccountOf {
    type Out = Option<User>;
    async fn run<R: Read>(&self, r: &R) -> Result<Option<User>> {
        Ok(r.user(self.id).await?.filter(|u| self.kinds.contains(&u.kind)))
    }
}

/// The OCARIoT administrator's user (`admin`), made on first sign-in.
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

/// The setting that holds OCARIoT's RSA signing key, sealed with the server key.
pub const SIGNING_KEY: &str = "ocariot_jwt_rsa";
/// Where versions before 0.2 kept an HS256 key in clear: deleted on start.
pub const CLEAR_KEY: &str = "ocariot_jwt_key";

/// Changes a child's attributes.
pub struct UpdateChild {
    pub ctx: Context,
    pub child: UserId,
    pub change: ChildChange,
}

impl WriteOp for UpdateChild {
    type Out = User;
    async fn run<T: Tx>(&self, tx: &mut T) -> Result<User> {
        let user = tx.user_for_update(self.child).await?.filter(|u| u.kind == UserKind::Child);
        let user = user.ok_or(DomainError::NotFound(Entity::Child))?;
        let before = ChildProfile::from_profile(user.profile.as_ref());
        let today = self.ctx.now.to_zoned(jiff::tz::TimeZone::UTC).date();
        let after = ocariot::change_child(&before, &self.change, today)?;
        if after != before {
            tx.set_user_profile(user.id, &after.to_profile()).await?;
            audit(tx, &self.ctx, Action::UserUpdate, None, user.id.0, Some(&before), Some(&after)).await?;
        }
        Ok(User { profile: Some(after.to_profile()), ..user })
    }
}

/// Notes a child's sign-in time (`last_login`). Not audited: signing in changes nothing
/// anyone manages.
pub struct RecordLogin {
    pub child: UserId,
    pub at: String,
}

impl WriteOp for RecordLogin {
    type Out = ();
    async fn run<T: Tx>(&self, tx: &mut T) -> Result<()> {
        if let Some(user) = tx.user_for_update(self.child).await?.filter(|u| u.kind == UserKind::Child) {
            let mut p = ChildProfile::from_profile(user.profile.as_ref());
            p.last_login = Some(self.at.clone());
            tx.set_user_profile(user.id, &p.to_profile()).await?;
        }
        Ok(())
    }
}

/// Replaces a user's password hash if it is still `expected` (the one whose password was
/// checked): of two changes made with the same old password, one wins. Audited without
/// either hash.
pub struct ReplacePassword {
    pub ctx: Context,
    pub user: UserId,
    pub expected: String,
    pub password_hash: String,
}

impl WriteOp for ReplacePassword {
    type Out = bool;
    async fn run<T: Tx>(&self, tx: &mut T) -> Result<bool> {
        let replaced = tx.replace_password_hash(self.user, &self.expected, &self.password_hash).await?;
        if replaced {
            audit::<T, ()>(tx, &self.ctx, Action::UserUpdate, None, self.user.0, None, None).await?;
        }
        Ok(replaced)
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
        let Some(user) = tx.user(self.id).await?.filter(|u| ocariot::deletable(u.kind)) else {
            return Ok(());
        };
        super::users::delete_user(tx, &self.ctx, user).await
    }
}

/// A group with its children, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupView {
    pub class: Class,
    pub children: Vec<User>,
}

async fn group_view<R: Read>(r: &R, class: Class) -> Result<GroupView> {
    let children = children(r.members_by_role(class.id, MemberRole::Student).await?);
    Ok(GroupView { class, children })
}

fn children(members: Vec<Member>) -> Vec<User> {
    members.into_iter().map(|m| m.user).collect()
}

fn ids(v: &GroupView) -> Vec<UserId> {
    v.children.iter().map(|c| c.id).collect()
}

/// What the rules need to know about a group being made or changed.
async fn group_facts<R: Read>(
    r: &R,
    owner: UserId,
    this: Option<ClassId>,
    name: Option<&str>,
    children: Option<&[UserId]>,
) -> Result<GroupFacts> {
    // Both reads sent together (one round trip on PostgreSQL).
    let name_taken = async {
        Ok::<_, StoreError>(match name {
            Some(n) => r.group_named(owner, n).await?.is_some_and(|id| Some(id) != this),
            None => false,
        })
    };
    let registered = async {
        Ok(match children {
            Some(c) => r.users(c).await?.into_iter().filter(|u| u.kind == UserKind::Child).map(|u| u.id).collect(),
            None => Vec::new(),
        })
    };
    let (name_taken, registered) = tokio::try_join!(name_taken, registered)?;
    Ok(GroupFacts { name_taken, registered })
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
        ocariot::check_group_text(Some(&self.name), self.school_class.as_deref())?;
        let facts = group_facts(tx, self.owner, None, Some(&self.name), Some(&self.children)).await?;
        let children = ocariot::decide_group(Some(&self.children), &facts)?.unwrap_or_default();
        let fields =
            ClassFields { name: self.name.clone(), school_class: self.school_class.clone(), ..ClassFields::blank() };
        let class = tx.insert_class(self.owner, ClassKind::Group, &fields, self.ctx.now).await?;
        tx.add_to_class_count(self.owner, 1).await?;
        tx.replace_members(class.id, MemberRole::Student, &children, self.ctx.now).await?;
        let stored = tx.class(class.id).await?.ok_or(DomainError::NotFound(Entity::Group))?;
        let view = group_view(tx, stored).await?;
        let after = (&view.class, ids(&view));
        audit(tx, &self.ctx, Action::ClassCreate, Some(class.id), class.id.0, None, Some(&after)).await?;
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
        ocariot::check_group_text(self.name.as_deref(), self.school_class.as_deref())?;
        // The children are read after the lock is granted (on PostgreSQL in the same round
        // trip).
        let (locked, members) =
            tokio::try_join!(tx.class_for_update(self.group), tx.members_by_role(self.group, MemberRole::Student))?;
        let class = ocariot::owned_group(locked, self.owner);
        let facts =
            group_facts(tx, self.owner, Some(self.group), self.name.as_deref(), self.children.as_deref()).await?;
        // The spec's order: a taken name (409) and unregistered children (400) answer before
        // a group that is not there (404).
        let children = ocariot::decide_group(self.children.as_deref(), &facts)?;
        let class = class?;
        let before = GroupView { class: class.clone(), children: self::children(members) };
        let mut fields = class.fields.clone();
        if let Some(n) = &self.name {
            fields.name = n.clone();
        }
        if let Some(s) = &self.school_class {
            fields.school_class = Some(s.clone());
        }
        let updated = if fields == class.fields { class.clone() } else { class.changed(fields, self.ctx.now) };
        if updated != class {
            tx.update_class(&class, &updated).await?;
        }
        let after = match &children {
            Some(c) if *c != ids(&before) => {
                tx.replace_members(class.id, MemberRole::Student, c, self.ctx.now).await?;
                let (stored, members) =
                    tokio::try_join!(tx.class(class.id), tx.members_by_role(class.id, MemberRole::Student))?;
                let stored = stored.ok_or(DomainError::NotFound(Entity::Group))?;
                GroupView { class: stored, children: self::children(members) }
            }
            _ => GroupView { class: updated, children: before.children.clone() },
        };
        if after != before {
            let (b, a) = ((&before.class, ids(&before)), (&after.class, ids(&after)));
            audit(tx, &self.ctx, Action::ClassUpdate, Some(class.id), class.id.0, Some(&b), Some(&a)).await?;
        }
        Ok(after)
    }
}

/// Deletes a group; one that does not exist, or is another owner's, is left alone and
/// answered alike (`false`), so that deleting tells nothing about other owners' groups.
pub struct DeleteGroup {
    pub ctx: Context,
    pub owner: UserId,
    pub group: ClassId,
}

impl WriteOp for DeleteGroup {
    type Out = bool;
    async fn run<T: Tx>(&self, tx: &mut T) -> Result<bool> {
        let Ok(class) = ocariot::owned_group(tx.class_for_update(self.group).await?, self.owner) else {
            return Ok(false);
        };
        tx.delete_class(class.id).await?;
        tx.add_to_class_count(self.owner, -1).await?;
        audit(tx, &self.ctx, Action::ClassDelete, Some(class.id), class.id.0, Some(&class), None).await?;
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
    async fn run<R: Read>(&self, r: &R) -> Result<GroupView> {
        let class = ocariot::owned_group(r.class(self.group).await?, self.owner)?;
        group_view(r, class).await
    }
}

/// Every group of an owner, newest first.
pub struct ListGroups {
    pub owner: UserId,
}

impl ReadOp for ListGroups {
    type Out = Vec<GroupView>;
    async fn run<R: Read>(&self, r: &R) -> Result<Vec<GroupView>> {
        let mut out = Vec::new();
        for class in r.classes_owned(self.owner).await?.into_iter().filter(|c| c.kind == ClassKind::Group) {
            out.push(group_view(r, class).await?);
        }
        Ok(out)
    }
}

/// Users by id, in the order asked, leaving out those that do not exist.
pub struct AccountsById {
    pub ids: Vec<UserId>,
}

impl ReadOp for AccountsById {
    type Out = Vec<User>;
    async fn run<R: Read>(&self, r: &R) -> Result<Vec<User>> {
        let found = r.users(&self.ids).await?;
        Ok(self.ids.iter().filter_map(|id| found.iter().find(|u| u.id == *id).cloned()).collect())
    }
}
