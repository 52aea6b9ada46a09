//! Virtual-lab classes (CloudShare): the project catalog, classes, students, instructors,
//! sponsored links and invitations. Who may do what: any member of a class's project may
//! read it; members who can instruct may create, change and delete classes and manage
//! their students and instructors. Everyone else is told the class does not exist.

use std::collections::BTreeMap;

use base64::Engine as _;
use classhub_core::audit::{Action, Context, NewAuditEvent};
use classhub_core::class::Class;
use classhub_core::error::Entity;
use classhub_core::invite::{MemberRole, Membership};
use classhub_core::lab::{
    self, Blueprint, CustomField, InvitationValues, LabClass, LabFacts, LabRequest, LabSettings, Policy, Project,
    ProjectMember, StudentProfile,
};
use classhub_core::secret::SecretBox;
use classhub_core::user::{self, NewUser, User, UserKind};
use classhub_core::{ClassId, DomainError, MembershipId, PolicyId, ProjectId, ProjectMemberId, UserId};
use jiff::Timestamp;
use rand::Rng;

use crate::engine::{Member, OutboxMessage, Read, Tx};
use crate::{ReadOp, Result, WriteOp};

/// A lab class with everything its representation shows.
#[derive(Debug, Clone, PartialEq)]
pub struct LabView {
    pub class: Class,
    pub lab: LabSettings,
    pub project: Project,
    pub blueprint: Blueprint,
    pub policy: Policy,
    pub creator: Option<User>,
    /// The lead instructor: the first one added.
    pub instructor: Option<(ProjectMember, User)>,
    pub fields: Vec<CustomField>,
}

fn not_found() -> DomainError {
    DomainError::NotFound(Entity::Class)
}

/// The caller's membership of a project, or "not found".
async fn membership_of<R: Read>(r: &mut R, caller: UserId, project: ProjectId) -> Result<ProjectMember> {
    let projects = r.projects_of(caller).await?;
    let found = projects.into_iter().find(|(p, _)| p.id == project).map(|(_, m)| m);
    Ok(found.ok_or(DomainError::NotFound(Entity::Class))?)
}

/// `to` in place of a "not found" error; other errors (403, the database's) stay as they
/// are, so that a refusal is not disguised and an outage is not reported as a 404.
fn or_not_found(e: crate::StoreError, to: impl FnOnce() -> DomainError) -> crate::StoreError {
    match e {
        crate::StoreError::Domain(DomainError::NotFound(_)) => to().into(),
        other => other,
    }
}

/// A lab class the caller may see, with the caller's project membership.
async fn visible<R: Read>(r: &mut R, caller: UserId, class: ClassId) -> Result<(Class, LabSettings, ProjectMember)> {
    let (Some(c), Some(l)) = (r.class(class).await?, r.lab(class).await?) else {
        return Err(not_found().into());
    };
    let member = membership_of(r, caller, l.project_id).await.map_err(|e| or_not_found(e, not_found))?;
    Ok((c, l, member))
}

/// As [`visible`], for callers who must be able to instruct (403 otherwise).
async fn manageable<R: Read>(r: &mut R, caller: UserId, class: ClassId) -> Result<(Class, LabSettings)> {
    let (c, l, member) = visible(r, caller, class).await?;
    if !member.can_instruct {
        return Err(DomainError::Forbidden.into());
    }
    Ok((c, l))
}

async fn view<R: Read>(r: &mut R, class: Class, lab: LabSettings) -> Result<LabView> {
    let missing = || crate::StoreError::Internal(format!("lab class {} lost a catalog entry", class.id));
    let project = r.project(lab.project_id).await?.ok_or_else(missing)?;
    let blueprint = r.blueprint(lab.blueprint_id).await?.ok_or_else(missing)?;
    let policy = r.policy(lab.policy_id).await?.ok_or_else(missing)?;
    let creator = r.user(class.owner_id).await?;
    let lead = r.members_by_role(class.id, MemberRole::Instructor).await?.into_iter().next();
    let instructor = match lead {
        Some(m) => {
            let members = r.project_members(lab.project_id).await?;
            members.into_iter().find(|(pm, _)| pm.user_id == m.user.id)
        }
        None => None,
    };
    let fields = r.custom_fields(lab.project_id).await?;
    Ok(LabView { class, lab, project, blueprint, policy, creator, instructor, fields })
}

/// What the rules need to know about the catalog entries a request names.
async fn facts<R: Read>(r: &mut R, project: ProjectId, req: &LabRequest, enrolled: u32) -> Result<LabFacts> {
    let policy = match req.policy_id {
        Some(id) => r.policy(id).await?.filter(|p| p.project_id == project),
        None => None,
    };
    let blueprint = match req.blueprint_id {
        Some(id) => r.blueprint(id).await?.filter(|b| b.project_id == project),
        None => None,
    };
    let instructor = match req.instructor {
        Some(id) => r.project_member(id).await?.map(|(m, _)| m).filter(|m| m.project_id == project),
        None => None,
    };
    let fields = r.custom_fields(project).await?;
    Ok(LabFacts { policy, blueprint, instructor, fields, enrolled })
}

/// Creates a lab class, its lead instructor, in one transaction.
pub struct CreateLab {
    pub ctx: Context,
    pub caller: UserId,
    pub request: LabRequest,
}

impl WriteOp for CreateLab {
    type Out = LabView;
    async fn run<T: Tx>(&self, tx: &mut T) -> Result<LabView> {
        lab::check_required(&self.request)?;
        let project =
            self.request.project_id.ok_or(DomainError::invalid("projectId", classhub_core::Problem::Required))?;

        let member = membership_of(tx, self.caller, project).await.map_err(|e| {
            or_not_found(e, || {
                DomainError::invalid("projectId", classhub_core::Problem::Other("project not found".into()))
            })
        })?;
        if !member.can_instruct {
            return Err(DomainError::Forbidden.into());
        }
        let facts = facts(tx, project, &self.request, 0).await?;
        let short_id = loop {
            let candidate = lab::generate_short_id(&mut rand::rng());
            if !tx.short_id_exists(&candidate).await? {
                break candidate;
            }
        };
        let LabClass { fields, lab } = lab::create(&self.request, &facts, short_id)?;
        let class = tx.insert_class(self.caller, &fields, self.ctx.now).await?;
        tx.add_to_class_count(self.caller, 1).await?;
        tx.insert_lab(class.id, &lab).await?;
        if let Some(instructor) = &facts.instructor {
            let m =
                tx.insert_membership(class.id, instructor.user_id, MemberRole::Instructor, None, self.ctx.now).await?;
            let event = NewAuditEvent::of(Action::MembershipCreate, Some(class.id), m.id.0, None, Some(&m));
            tx.insert_audit(&self.ctx, &event).await?;
        }
        let event = NewAuditEvent::of(Action::ClassCreate, Some(class.id), class.id.0, None, Some(&(&class, &lab)));
        tx.insert_audit(&self.ctx, &event).await?;
        view(tx, class, lab).await
    }
}

/// Changes a lab class: fields present replace the stored ones.
pub struct ModifyLab {
    pub ctx: Context,
    pub caller: UserId,
    pub class_id: ClassId,
    pub request: LabRequest,
}

impl WriteOp for ModifyLab {
    type Out = LabView;
    async fn run<T: Tx>(&self, tx: &mut T) -> Result<LabView> {
        let (class, lab) = manageable(tx, self.caller, self.class_id).await?;
        let class = tx.class_for_update(class.id).await?.ok_or_else(not_found)?;
        let facts = facts(tx, lab.project_id, &self.request, class.member_count).await?;
        let current = LabClass { fields: class.fields.clone(), lab: lab.clone() };
        let next = lab::modify(&current, &self.request, &facts)?;
        if let Some(new_lead) = &facts.instructor {
            set_lead_instructor(tx, &self.ctx, class.id, new_lead.user_id).await?;
        }
        if next == current {
            return view(tx, class, lab).await;
        }
        let updated = if next.fields == class.fields {
            class.clone()
        } else {
            tx.update_class(class.id, &next.fields, self.ctx.now).await?
        };
        if next.lab != lab {
            tx.update_lab(class.id, &next.lab).await?;
            if next.fields == class.fields {
                tx.touch_class(class.id).await?;
            }
        }
        let event = NewAuditEvent::of(
            Action::ClassUpdate,
            Some(class.id),
            class.id.0,
            Some(&(&class, &lab)),
            Some(&(&updated, &next.lab)),
        );
        tx.insert_audit(&self.ctx, &event).await?;
        let updated = tx.class(class.id).await?.ok_or_else(not_found)?;
        view(tx, updated, next.lab).await
    }
}

/// Makes `user` the class's lead (first) instructor, keeping any others.
async fn set_lead_instructor<T: Tx>(tx: &mut T, ctx: &Context, class: ClassId, user: UserId) -> Result<()> {
    let instructors = tx.members_by_role(class, MemberRole::Instructor).await?;
    if instructors.first().is_some_and(|m| m.user.id == user) {
        return Ok(());
    }
    // The lead is the instructor added first: the old lead and the new one leave, the new
    // one comes back first by position.
    for m in instructors.iter().filter(|m| m.user.id == user) {
        tx.delete_membership(class, m.user.id).await?;
    }
    if let Some(old) = instructors.first() {
        tx.delete_membership(class, old.user.id).await?;
    }
    let lead = tx.insert_membership(class, user, MemberRole::Instructor, None, ctx.now).await?;
    if let Some(old) = instructors.first() {
        tx.insert_membership(class, old.user.id, MemberRole::Instructor, None, ctx.now).await?;
    }
    let event = NewAuditEvent::of(Action::MembershipCreate, Some(class), lead.id.0, None, Some(&lead));
    tx.insert_audit(ctx, &event).await
}

/// Deletes a lab class with its students, instructors and links.
pub struct DeleteLab {
    pub ctx: Context,
    pub caller: UserId,
    pub class_id: ClassId,
}

impl WriteOp for DeleteLab {
    type Out = ();
    async fn run<T: Tx>(&self, tx: &mut T) -> Result<()> {
        let (class, lab) = manageable(tx, self.caller, self.class_id).await?;
        let students = tx.members_by_role(class.id, MemberRole::Student).await?;
        tx.delete_class(class.id).await?;
        for s in students {
            tx.delete_user(s.user.id).await?;
        }
        tx.add_to_class_count(class.owner_id, -1).await?;
        let event = NewAuditEvent::of(Action::ClassDelete, Some(class.id), class.id.0, Some(&(&class, &lab)), None);
        tx.insert_audit(&self.ctx, &event).await
    }
}

/// One lab class the caller can see.
pub struct GetLab {
    pub caller: UserId,
    pub class_id: ClassId,
}

impl ReadOp for GetLab {
    type Out = LabView;
    async fn run<R: Read>(&self, r: &mut R) -> Result<LabView> {
        let (class, lab, _) = visible(r, self.caller, self.class_id).await?;
        view(r, class, lab).await
    }
}

/// Every lab class of the caller's projects, newest first.
pub struct ListLabs {
    pub caller: UserId,
}

impl ReadOp for ListLabs {
    type Out = Vec<LabView>;
    async fn run<R: Read>(&self, r: &mut R) -> Result<Vec<LabView>> {
        let projects: Vec<ProjectId> = r.projects_of(self.caller).await?.into_iter().map(|(p, _)| p.id).collect();
        let mut out = Vec::new();
        for (class, lab) in r.labs_in(&projects).await? {
            out.push(view(r, class, lab).await?);
        }
        Ok(out)
    }
}

/// The caller's projects with their memberships.
pub struct CallerProjects {
    pub caller: UserId,
}

impl ReadOp for CallerProjects {
    type Out = Vec<(Project, ProjectMember)>;
    async fn run<R: Read>(&self, r: &mut R) -> Result<Vec<(Project, ProjectMember)>> {
        r.projects_of(self.caller).await
    }
}

/// A project of the caller's, with its blueprints, policies and custom fields.
pub struct ProjectCatalog {
    pub caller: UserId,
    pub project: ProjectId,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Catalog {
    pub project: Project,
    pub member: ProjectMember,
    pub blueprints: Vec<Blueprint>,
    pub policies: Vec<Policy>,
    pub fields: Vec<CustomField>,
}

impl ReadOp for ProjectCatalog {
    type Out = Catalog;
    async fn run<R: Read>(&self, r: &mut R) -> Result<Catalog> {
        let member = membership_of(r, self.caller, self.project)
            .await
            .map_err(|e| or_not_found(e, || DomainError::NotFound(Entity::Project)))?;
        let project = r.project(self.project).await?.ok_or(DomainError::NotFound(Entity::Project))?;
        Ok(Catalog {
            project,
            member,
            blueprints: r.blueprints(self.project).await?,
            policies: r.policies(self.project).await?,
            fields: r.custom_fields(self.project).await?,
        })
    }
}

/// The members who can instruct in the project of a policy the caller can see.
pub struct PolicyInstructors {
    pub caller: UserId,
    pub policy: PolicyId,
}

impl ReadOp for PolicyInstructors {
    type Out = Vec<(ProjectMember, User)>;
    async fn run<R: Read>(&self, r: &mut R) -> Result<Vec<(ProjectMember, User)>> {
        let policy = r.policy(self.policy).await?.ok_or(DomainError::NotFound(Entity::Policy))?;
        membership_of(r, self.caller, policy.project_id)
            .await
            .map_err(|e| or_not_found(e, || DomainError::NotFound(Entity::Policy)))?;
        let members = r.project_members(policy.project_id).await?;
        Ok(members.into_iter().filter(|(m, _)| m.can_instruct).collect())
    }
}

/// A class's students (or instructors), in the order they were added.
pub struct LabMembers {
    pub caller: UserId,
    pub class_id: ClassId,
    pub role: MemberRole,
}

impl ReadOp for LabMembers {
    type Out = (LabView, Vec<Member>);
    async fn run<R: Read>(&self, r: &mut R) -> Result<(LabView, Vec<Member>)> {
        let (class, lab, _) = visible(r, self.caller, self.class_id).await?;
        let members = r.members_by_role(class.id, self.role).await?;
        Ok((view(r, class, lab).await?, members))
    }
}

/// One student of a class.
async fn student_of<R: Read>(r: &mut R, class: ClassId, student: MembershipId) -> Result<Member> {
    let m =
        r.member(student).await?.filter(|m| m.membership.class_id == class && m.membership.role == MemberRole::Student);
    Ok(m.ok_or(DomainError::NotFound(Entity::Student))?)
}

pub struct GetStudent {
    pub caller: UserId,
    pub class_id: ClassId,
    pub student: MembershipId,
}

impl ReadOp for GetStudent {
    type Out = Member;
    async fn run<R: Read>(&self, r: &mut R) -> Result<Member> {
        visible(r, self.caller, self.class_id).await?;
        student_of(r, self.class_id, self.student).await
    }
}

/// Registers a student in a class: a user of its own, a seat taken atomically.
async fn register<T: Tx>(tx: &mut T, ctx: &Context, class: ClassId, profile: &StudentProfile) -> Result<Membership> {
    let email = profile.email.clone().unwrap_or_default();
    if tx.member_by_email(class, MemberRole::Student, &email).await?.is_some() {
        return Err(DomainError::AlreadyExists(Entity::Student).into());
    }
    if !tx.take_seat(class).await? {
        return Err(DomainError::ClassFull.into());
    }
    let new = NewUser {
        first_name: profile.first_name.clone(),
        last_name: profile.last_name.clone(),
        ..NewUser::named(UserKind::ClassStudent, lab::student_name(profile), Some(email))
    };
    let user = tx.insert_user(&new, ctx.now).await?;
    let m = tx.insert_membership(class, user.id, MemberRole::Student, None, ctx.now).await?;
    let event = NewAuditEvent::of(Action::MembershipCreate, Some(class), m.id.0, None, Some(&m));
    tx.insert_audit(ctx, &event).await?;
    Ok(m)
}

/// Removes a student: the membership, the seat, and the student's own user.
async fn unregister<T: Tx>(tx: &mut T, ctx: &Context, member: &Member) -> Result<()> {
    let m = &member.membership;
    tx.delete_membership(m.class_id, m.user_id).await?;
    tx.free_seat(m.class_id).await?;
    tx.delete_user(m.user_id).await?;
    let event = NewAuditEvent::of(Action::MembershipDelete, Some(m.class_id), m.id.0, Some(m), None);
    tx.insert_audit(ctx, &event).await
}

pub struct AddStudent {
    pub ctx: Context,
    pub caller: UserId,
    pub class_id: ClassId,
    pub profile: StudentProfile,
}

impl WriteOp for AddStudent {
    type Out = Membership;
    async fn run<T: Tx>(&self, tx: &mut T) -> Result<Membership> {
        let profile = lab::check_profile(&self.profile, true)?;
        manageable(tx, self.caller, self.class_id).await?;
        register(tx, &self.ctx, self.class_id, &profile).await
    }
}

/// Changes a student's names, and email while the student has not signed in.
pub struct UpdateStudent {
    pub ctx: Context,
    pub caller: UserId,
    pub class_id: ClassId,
    pub student: MembershipId,
    pub profile: StudentProfile,
}

impl WriteOp for UpdateStudent {
    type Out = Member;
    async fn run<T: Tx>(&self, tx: &mut T) -> Result<Member> {
        let change = lab::check_profile(&self.profile, false)?;
        manageable(tx, self.caller, self.class_id).await?;
        let current = student_of(tx, self.class_id, self.student).await?;
        let before = StudentProfile {
            email: current.user.email.clone(),
            first_name: current.user.first_name.clone(),
            last_name: current.user.last_name.clone(),
        };
        let after = StudentProfile {
            email: change.email.clone().or(before.email.clone()),
            first_name: change.first_name.clone().or(before.first_name.clone()),
            last_name: change.last_name.clone().or(before.last_name.clone()),
        };
        if after.email != before.email {
            if current.membership.logged_in_at.is_some() {
                return Err(DomainError::invalid(
                    "email",
                    classhub_core::Problem::Other("email cannot change after the student has logged in".into()),
                )
                .into());
            }
            let email = after.email.clone().unwrap_or_default();
            if tx.member_by_email(self.class_id, MemberRole::Student, &email).await?.is_some() {
                return Err(DomainError::AlreadyExists(Entity::Student).into());
            }
        }
        if after != before {
            tx.update_profile(current.user.id, &lab::student_name(&after), &after).await?;
        }
        student_of(tx, self.class_id, self.student).await
    }
}

pub struct RemoveLabStudent {
    pub ctx: Context,
    pub caller: UserId,
    pub class_id: ClassId,
    pub student: MembershipId,
}

impl WriteOp for RemoveLabStudent {
    type Out = ();
    async fn run<T: Tx>(&self, tx: &mut T) -> Result<()> {
        manageable(tx, self.caller, self.class_id).await?;
        let member = student_of(tx, self.class_id, self.student).await?;
        unregister(tx, &self.ctx, &member).await
    }
}

/// The login address of a lab class, without a token.
pub fn login_url(public_base: &str, short_id: &str) -> String {
    format!("{}/Class/{short_id}", public_base.trim_end_matches('/'))
}

/// Queues an invitation email to each student and marks them invited.
pub struct SendInvitations {
    pub ctx: Context,
    pub caller: UserId,
    pub class_id: ClassId,
    pub students: Vec<MembershipId>,
    pub public_base: String,
    /// How the class's start is written in the email (the dialect's date format).
    pub start_time: String,
}

impl WriteOp for SendInvitations {
    type Out = u32;
    async fn run<T: Tx>(&self, tx: &mut T) -> Result<u32> {
        let (class, lab) = manageable(tx, self.caller, self.class_id).await?;
        let blueprint = tx.blueprint(lab.blueprint_id).await?.map(|b| b.name).unwrap_or_default();
        let zone = classhub_core::windows_zones::by_windows_id(&lab.windows_zone).map_or("", |z| z.display_name);
        let url = login_url(&self.public_base, &lab.short_id);
        let mut sent = 0;
        for id in &self.students {
            let s = student_of(tx, class.id, *id).await?;
            let email = s.user.email.clone().unwrap_or_default();
            let values = InvitationValues {
                course_name: &class.fields.name,
                blueprint_name: &blueprint,
                first_name: s.user.first_name.as_deref().unwrap_or(""),
                email: &email,
                student_passphrase: &lab.passphrase,
                start_time: &self.start_time,
                time_zone: zone,
                student_login_url: &url,
            };
            let (subject, body) = lab::invitation(&lab, &values);
            tx.insert_outbox(&email, &subject, &body, self.ctx.now).await?;
            tx.set_member_times(s.membership.id, Some(self.ctx.now), s.membership.logged_in_at).await?;
            sent += 1;
        }
        Ok(sent)
    }
}

/// A new sponsored login link for a student email. The student is registered first when
/// asked to be, or when the class lets students register themselves; otherwise the email
/// must already belong to a student of the class.
pub struct CreateSponsoredLink {
    pub ctx: Context,
    pub caller: UserId,
    pub class_id: ClassId,
    pub profile: StudentProfile,
    pub pre_register: bool,
}

impl WriteOp for CreateSponsoredLink {
    type Out = (LabSettings, String);
    async fn run<T: Tx>(&self, tx: &mut T) -> Result<(LabSettings, String)> {
        let profile = lab::check_profile(&self.profile, true)?;
        let (class, lab) = manageable(tx, self.caller, self.class_id).await?;
        let email = profile.email.clone().unwrap_or_default();
        let registered = tx.member_by_email(class.id, MemberRole::Student, &email).await?.is_some();
        if !registered {
            if self.pre_register || lab.permit_non_registered {
                register(tx, &self.ctx, class.id, &profile).await?;
            } else {
                return Err(DomainError::invalid(
                    "studentEmail",
                    classhub_core::Problem::Other(
                        "the student is not registered and the class does not permit non-registered students".into(),
                    ),
                )
                .into());
            }
        }
        let token = link_token();
        tx.insert_sponsored_link(&user::token_hash(&token), class.id, &email, self.ctx.now).await?;
        Ok((lab, token))
    }
}

fn link_token() -> String {
    let mut bytes = [0u8; 24];
    rand::rng().fill(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Stops a student's links working; optionally removes the student.
pub struct DisableSponsoredLink {
    pub ctx: Context,
    pub caller: UserId,
    pub class_id: ClassId,
    pub email: String,
    pub unregister: bool,
}

impl WriteOp for DisableSponsoredLink {
    type Out = ();
    async fn run<T: Tx>(&self, tx: &mut T) -> Result<()> {
        let (class, _) = manageable(tx, self.caller, self.class_id).await?;
        let email = self.email.trim().to_lowercase();
        tx.disable_sponsored_links(class.id, &email, self.ctx.now).await?;
        if self.unregister
            && let Some(member) = tx.member_by_email(class.id, MemberRole::Student, &email).await?
        {
            unregister(tx, &self.ctx, &member).await?;
        }
        Ok(())
    }
}

/// A student follows a sponsored link: signs in, registering first where the class
/// permits it.
pub struct SponsoredLogin {
    pub ctx: Context,
    pub short_id: String,
    pub token: String,
}

impl WriteOp for SponsoredLogin {
    type Out = (Class, Member);
    async fn run<T: Tx>(&self, tx: &mut T) -> Result<(Class, Member)> {
        let unknown = || DomainError::NotFound(Entity::SponsoredLink);
        let class_id = tx.class_by_short_id(&self.short_id).await?.ok_or_else(unknown)?;
        let link = tx.sponsored_link(&user::token_hash(&self.token)).await?;
        let link = link.filter(|l| l.class_id == class_id && !l.disabled).ok_or_else(unknown)?;
        let class = tx.class(class_id).await?.ok_or_else(unknown)?;
        let member = match tx.member_by_email(class_id, MemberRole::Student, &link.email).await? {
            Some(m) => m,
            None => {
                let lab = tx.lab(class_id).await?.ok_or_else(unknown)?;
                if !lab.permit_non_registered {
                    return Err(unknown().into());
                }
                let profile = StudentProfile { email: Some(link.email.clone()), ..StudentProfile::default() };
                let m = register(tx, &self.ctx, class_id, &profile).await?;
                tx.member(m.id).await?.ok_or_else(unknown)?
            }
        };
        if member.membership.logged_in_at.is_none() {
            tx.set_member_times(member.membership.id, member.membership.invited_at, Some(self.ctx.now)).await?;
        }
        let member = tx.member(member.membership.id).await?.ok_or_else(unknown)?;
        Ok((class, member))
    }
}

/// Adds an instructor (a member of the class's project who can instruct) to a class.
pub struct AddInstructor {
    pub ctx: Context,
    pub caller: UserId,
    pub class_id: ClassId,
    pub member: ProjectMemberId,
}

impl WriteOp for AddInstructor {
    type Out = Membership;
    async fn run<T: Tx>(&self, tx: &mut T) -> Result<Membership> {
        let (class, lab) = manageable(tx, self.caller, self.class_id).await?;
        let who = tx.project_member(self.member).await?.map(|(m, _)| m);
        let who = who
            .filter(|m| m.project_id == lab.project_id && m.can_instruct)
            .ok_or(DomainError::NotFound(Entity::ProjectMember))?;
        if tx.membership(class.id, who.user_id).await?.is_some() {
            return Err(DomainError::AlreadyExists(Entity::Instructor).into());
        }
        let m = tx.insert_membership(class.id, who.user_id, MemberRole::Instructor, None, self.ctx.now).await?;
        let event = NewAuditEvent::of(Action::MembershipCreate, Some(class.id), m.id.0, None, Some(&m));
        tx.insert_audit(&self.ctx, &event).await?;
        Ok(m)
    }
}

/// Removes an instructor from a class; a class keeps at least one.
pub struct RemoveInstructor {
    pub ctx: Context,
    pub caller: UserId,
    pub instructor: MembershipId,
}

impl WriteOp for RemoveInstructor {
    type Out = ();
    async fn run<T: Tx>(&self, tx: &mut T) -> Result<()> {
        let gone = || DomainError::NotFound(Entity::Instructor);
        let m = tx
            .member(self.instructor)
            .await?
            .filter(|m| m.membership.role == MemberRole::Instructor)
            .ok_or_else(gone)?;
        // Members of another project learn nothing (404); members of this one who cannot
        // instruct are refused (403), as for every other change to a class.
        manageable(tx, self.caller, m.membership.class_id).await.map_err(|e| or_not_found(e, gone))?;
        if tx.members_by_role(m.membership.class_id, MemberRole::Instructor).await?.len() <= 1 {
            return Err(DomainError::invalid(
                "instructor",
                classhub_core::Problem::Other("a class needs at least one instructor".into()),
            )
            .into());
        }
        tx.delete_membership(m.membership.class_id, m.membership.user_id).await?;
        let event = NewAuditEvent::of(
            Action::MembershipDelete,
            Some(m.membership.class_id),
            m.membership.id.0,
            Some(&m.membership),
            None,
        );
        tx.insert_audit(&self.ctx, &event).await
    }
}

/// The class-instructor links of a class, with each instructor's project membership.
pub struct LabInstructors {
    pub caller: UserId,
    pub class_id: ClassId,
}

impl ReadOp for LabInstructors {
    type Out = Vec<(Member, Option<ProjectMember>)>;
    async fn run<R: Read>(&self, r: &mut R) -> Result<Vec<(Member, Option<ProjectMember>)>> {
        let (class, lab, _) = visible(r, self.caller, self.class_id).await?;
        let members = r.project_members(lab.project_id).await?;
        let instructors = r.members_by_role(class.id, MemberRole::Instructor).await?;
        Ok(instructors
            .into_iter()
            .map(|m| {
                let pm = members.iter().find(|(pm, _)| pm.user_id == m.user.id).map(|(pm, _)| pm.clone());
                (m, pm)
            })
            .collect())
    }
}

// ---- administration -----------------------------------------------------------------

pub struct CreateProject {
    pub ctx: Context,
    pub name: String,
}

impl WriteOp for CreateProject {
    type Out = Project;
    async fn run<T: Tx>(&self, tx: &mut T) -> Result<Project> {
        let mut errors = Vec::new();
        let name = classhub_core::catalog::label("name", &self.name, &mut errors);
        classhub_core::catalog::done((), errors)?;
        let p = tx.insert_project(&name, self.ctx.now).await?;
        tx.insert_audit(&self.ctx, &NewAuditEvent::of(Action::CatalogCreate, None, p.id.0, None, Some(&p))).await?;
        Ok(p)
    }
}

async fn existing_project<T: Tx>(tx: &mut T, id: ProjectId) -> Result<Project> {
    Ok(tx.project(id).await?.ok_or(DomainError::NotFound(Entity::Project))?)
}

pub struct CreatePolicy {
    pub ctx: Context,
    pub project: ProjectId,
    pub name: String,
    pub default_duration_minutes: i64,
}

impl WriteOp for CreatePolicy {
    type Out = Policy;
    async fn run<T: Tx>(&self, tx: &mut T) -> Result<Policy> {
        let mut errors = Vec::new();
        let name = classhub_core::catalog::label("name", &self.name, &mut errors);
        let minutes = self.default_duration_minutes;
        if !(1..=lab::POLICY_MINUTES_MAX).contains(&minutes) {
            let p = if minutes < 1 {
                classhub_core::Problem::BelowMin { min: 1 }
            } else {
                classhub_core::Problem::AboveMax { max: lab::POLICY_MINUTES_MAX }
            };
            errors.push(classhub_core::Violation::new("default_duration_minutes", p));
        }
        classhub_core::catalog::done((), errors)?;
        existing_project(tx, self.project).await?;
        let p = tx.insert_policy(self.project, &name, minutes as u32, self.ctx.now).await?;
        tx.insert_audit(&self.ctx, &NewAuditEvent::of(Action::CatalogCreate, None, p.id.0, None, Some(&p))).await?;
        Ok(p)
    }
}

pub struct CreateBlueprint {
    pub ctx: Context,
    pub project: ProjectId,
    pub name: String,
    pub description: Option<String>,
}

impl WriteOp for CreateBlueprint {
    type Out = Blueprint;
    async fn run<T: Tx>(&self, tx: &mut T) -> Result<Blueprint> {
        let mut errors = Vec::new();
        let name = classhub_core::catalog::label("name", &self.name, &mut errors);
        classhub_core::catalog::done((), errors)?;
        existing_project(tx, self.project).await?;
        let token = loop {
            let candidate = lab::generate_blueprint_token(&mut rand::rng());
            if !tx.blueprint_token_exists(&candidate).await? {
                break candidate;
            }
        };
        let b = tx.insert_blueprint(self.project, &name, self.description.as_deref(), &token, self.ctx.now).await?;
        tx.insert_audit(&self.ctx, &NewAuditEvent::of(Action::CatalogCreate, None, b.id.0, None, Some(&b))).await?;
        Ok(b)
    }
}

pub struct CreateCustomField {
    pub ctx: Context,
    pub field: CustomField,
}

impl WriteOp for CreateCustomField {
    type Out = CustomField;
    async fn run<T: Tx>(&self, tx: &mut T) -> Result<CustomField> {
        let mut errors = Vec::new();
        let name = classhub_core::catalog::label("name", &self.field.name, &mut errors);
        classhub_core::catalog::done((), errors)?;
        lab::check_pattern(self.field.regex.as_deref())?;
        existing_project(tx, self.field.project_id).await?;
        let f = tx.insert_custom_field(&CustomField { name, ..self.field.clone() }, self.ctx.now).await?;
        tx.insert_audit(&self.ctx, &NewAuditEvent::of(Action::CatalogCreate, None, f.id.0, None, Some(&f))).await?;
        Ok(f)
    }
}

/// A project member with API credentials; the key is returned once and stored sealed.
pub struct CreateProjectMember {
    pub ctx: Context,
    pub name: String,
    pub email: String,
    pub projects: Vec<ProjectId>,
    pub can_instruct: bool,
    pub secrets: SecretBox,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MemberCredentials {
    pub user: User,
    pub memberships: BTreeMap<ProjectId, ProjectMemberId>,
    pub api_id: String,
    pub api_key: String,
}

impl WriteOp for CreateProjectMember {
    type Out = MemberCredentials;
    async fn run<T: Tx>(&self, tx: &mut T) -> Result<MemberCredentials> {
        let new = NewUser::named(UserKind::ProjectMember, self.name.clone(), Some(self.email.clone())).validated()?;
        for p in &self.projects {
            existing_project(tx, *p).await?;
        }
        let user = tx.insert_user(&new, self.ctx.now).await?;
        let mut memberships = BTreeMap::new();
        for p in &self.projects {
            if !memberships.contains_key(p) {
                let m = tx.insert_project_member(*p, user.id, self.can_instruct, self.ctx.now).await?;
                memberships.insert(*p, m.id);
            }
        }
        let api_id = random_text(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", 20);
        let api_key = random_text(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", 32);
        tx.insert_api_credential(&api_id, user.id, &self.secrets.seal(api_key.as_bytes()), self.ctx.now).await?;
        tx.insert_audit(&self.ctx, &NewAuditEvent::of(Action::UserCreate, None, user.id.0, None, Some(&user))).await?;
        Ok(MemberCredentials { user, memberships, api_id, api_key })
    }
}

fn random_text(alphabet: &[u8], len: usize) -> String {
    let mut rng = rand::rng();
    (0..len).map(|_| alphabet[rng.random_range(0..alphabet.len())] as char).collect()
}

/// The credentials of an API id, sealed.
pub struct ApiKeyOf<'a> {
    pub api_id: &'a str,
}

impl ReadOp for ApiKeyOf<'_> {
    type Out = Option<crate::engine::ApiCredential>;
    async fn run<R: Read>(&self, r: &mut R) -> Result<Option<crate::engine::ApiCredential>> {
        r.api_credential(self.api_id).await
    }
}

// ---- the outbox ---------------------------------------------------------------------

/// Takes due messages for a sender, holding them until `hold_until`.
pub struct ClaimOutbox {
    pub now: Timestamp,
    pub hold_until: Timestamp,
    pub limit: u32,
}

impl WriteOp for ClaimOutbox {
    type Out = Vec<OutboxMessage>;
    async fn run<T: Tx>(&self, tx: &mut T) -> Result<Vec<OutboxMessage>> {
        tx.claim_outbox(self.now, self.hold_until, self.limit).await
    }
}

/// Records the outcome of one delivery attempt.
pub struct OutboxOutcome {
    pub id: classhub_core::OutboxId,
    pub now: Timestamp,
    /// `Some((error, next attempt))` when delivery failed.
    pub failure: Option<(String, Timestamp)>,
}

impl WriteOp for OutboxOutcome {
    type Out = ();
    async fn run<T: Tx>(&self, tx: &mut T) -> Result<()> {
        match &self.failure {
            None => tx.outbox_sent(self.id, self.now).await,
            Some((error, next)) => tx.outbox_failed(self.id, error, *next).await,
        }
    }
}
