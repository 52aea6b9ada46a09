//! Virtual-lab classes (CloudShare): classes, students, instructors, sponsored links and
//! invitations. Who may do what is the core's rule (`lab::access`): members of a class's
//! project may read it, members who can instruct may change it, everyone else is told it
//! does not exist.

use base64::Engine as _;
use classhub_core::audit::{Action, Context};
use classhub_core::class::{Class, ClassKind};
use classhub_core::error::Entity;
use classhub_core::invite::{MemberRole, Membership};
use classhub_core::lab::{
    self, Blueprint, CustomField, InstructorInvitation, InvitationValues, LabClass, LabFacts, LabRequest, LabSettings,
    Policy, PolicyRequest, Project, ProjectMember, StudentProfile,
};
use classhub_core::page::{Page, PageRequest};
use classhub_core::time::ZoneName;
use classhub_core::user::{self, NewUser, User, UserKind};
use classhub_core::{ClassId, DomainError, MembershipId, PolicyId, ProjectId, ProjectMemberId, UserId};
use jiff::Timestamp;
use rand::Rng;

use super::{audit, read_if, write_if};
use crate::engine::{LabSummary, Member, NewMember, Read, Tx};
use crate::{ReadOp, Result, StoreError, WriteOp};

/// A lab class with everything its representation shows.
#[derive(Debug, Clone, PartialEq)]
pub struct LabView {
    pub class: Class,
    pub lab: LabSettings,
    pub project: Project,
    pub blueprint: Blueprint,
    pub policy: Policy,
    pub creator: Option<User>,
    /// The lead instructor: the first one.
    pub instructor: Option<(ProjectMember, User)>,
    pub fields: Vec<CustomField>,
}

fn not_found() -> DomainError {
    DomainError::NotFound(Entity::Class)
}

/// `to` in place of a "not found" error; other errors (403, the database's) stay as they
/// are, so that a refusal is not disguised and an outage is not reported as a 404.
fn or_not_found(e: StoreError, to: impl FnOnce() -> DomainError) -> StoreError {
    match e {
        StoreError::Domain(DomainError::NotFound(_)) => to().into(),
        other => other,
    }
}

/// A lab class the caller may see (or, with `manage`, change), unlocked: for reads.
async fn visible<R: Read>(r: &R, caller: UserId, id: ClassId, manage: bool) -> Result<(Class, LabSettings)> {
    let (class, settings) = tokio::try_join!(r.class(id), r.lab(id))?;
    let class = class.filter(|c| c.kind == ClassKind::Lab).ok_or_else(not_found)?;
    allowed(r, caller, class, settings, manage).await
}

/// A lab class the caller may change, locked: every write about a lab class starts here.
async fn locked<T: Tx>(tx: &T, caller: UserId, id: ClassId) -> Result<(Class, LabSettings)> {
    // The settings are read after the lock is granted (on PostgreSQL in the same round trip).
    let (class, settings) = tokio::try_join!(tx.class_for_update(id), tx.lab(id))?;
    let class = class.filter(|c| c.kind == ClassKind::Lab).ok_or_else(not_found)?;
    allowed(tx, caller, class, settings, true).await
}

async fn allowed<R: Read>(
    r: &R,
    caller: UserId,
    class: Class,
    settings: Option<LabSettings>,
    manage: bool,
) -> Result<(Class, LabSettings)> {
    let settings = settings.ok_or_else(not_found)?;
    let member = r.project_membership(caller, settings.project_id).await?;
    lab::access(member.as_ref(), manage)?;
    Ok((class, settings))
}

async fn view<R: Read>(r: &R, class: Class, lab: LabSettings) -> Result<LabView> {
    let missing = || StoreError::Internal(format!("lab class {} lost a catalog entry", class.id));
    // Independent reads, sent together (one round trip on PostgreSQL).
    let (project, blueprint, policy, creator, instructors, fields) = tokio::try_join!(
        r.project(lab.project_id),
        r.blueprint(lab.blueprint_id),
        r.policy(lab.policy_id),
        r.user(class.owner_id),
        r.members_by_role(class.id, MemberRole::Instructor),
        r.custom_fields(lab.project_id),
    )?;
    let instructor = match instructors.into_iter().next() {
        Some(lead) => {
            let member = r.project_membership(lead.user.id, lab.project_id).await?;
            member.map(|m| (m, lead.user))
        }
        None => None,
    };
    let (project, blueprint, policy) =
        (project.ok_or_else(missing)?, blueprint.ok_or_else(missing)?, policy.ok_or_else(missing)?);
    Ok(LabView { class, lab, project, blueprint, policy, creator, instructor, fields })
}

/// What the rules need to know about the catalog entries a request names.
async fn facts<R: Read>(r: &R, project: ProjectId, req: &LabRequest, enrolled: u32) -> Result<LabFacts> {
    // Independent reads, sent together (one round trip on PostgreSQL).
    let (policy, blueprint, instructor, fields) = tokio::try_join!(
        read_if(req.policy_id.map(|id| r.policy(id))),
        read_if(req.blueprint_id.map(|id| r.blueprint(id))),
        read_if(req.instructor.map(|id| r.project_member(id))),
        r.custom_fields(project)
    )?;
    let policy = policy.filter(|p| p.project_id == project);
    let blueprint = blueprint.filter(|b| b.project_id == project);
    let instructor = instructor.map(|(m, _)| m).filter(|m| m.project_id == project);
    Ok(LabFacts { policy, blueprint, instructor, fields, enrolled })
}

/// The lead instructor of a lab class, as its history records it.
async fn lead<R: Read>(r: &R, class: ClassId) -> Result<Option<UserId>> {
    Ok(r.members_by_role(class, MemberRole::Instructor).await?.first().map(|m| m.user.id))
}

/// Creates a lab class with its lead instructor.
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
            self.request.project_id.ok_or(DomainError::invalid("project_id", classhub_core::Problem::Required))?;
        // A project the caller is not in is, to them, a project that does not exist.
        let member = tx.project_membership(self.caller, project).await?;
        lab::access(member.as_ref(), true).map_err(|e| match e {
            DomainError::NotFound(_) => {
                DomainError::invalid("project_id", classhub_core::Problem::Unknown(Entity::Project))
            }
            other => other,
        })?;
        lab::decide_project_open(tx.project(project).await?.as_ref())?;
        let facts = facts(tx, project, &self.request, 0).await?;
        let short_id = loop {
            let candidate = lab::generate_short_id(&mut rand::rng());
            if !tx.short_id_exists(&candidate).await? {
                break candidate;
            }
        };
        let LabClass { fields, lab } = lab::create(&self.request, &facts, short_id)?;
        let class = tx.insert_class(self.caller, ClassKind::Lab, &fields, self.ctx.now).await?;
        tx.add_to_class_count(self.caller, 1).await?;
        tx.insert_lab(class.id, &lab).await?;
        if let Some(instructor) = &facts.instructor {
            let new = NewMember {
                class_id: class.id,
                user_id: instructor.user_id,
                role: MemberRole::Instructor,
                code: None,
                email: None,
            };
            let m = tx.insert_membership(new, self.ctx.now).await?;
            audit(tx, &self.ctx, Action::MembershipCreate, Some(class.id), m.id.0, None, Some(&m)).await?;
        }
        let after = (&class, &lab, facts.instructor.as_ref().map(|m| m.user_id));
        audit(tx, &self.ctx, Action::ClassCreate, Some(class.id), class.id.0, None, Some(&after)).await?;
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
        let (class, settings) = locked(tx, self.caller, self.class_id).await?;
        let (facts, lead_before) =
            tokio::try_join!(facts(tx, settings.project_id, &self.request, class.member_count), lead(tx, class.id))?;
        let current = LabClass { fields: class.fields.clone(), lab: settings.clone() };
        let next = lab::modify(&current, &self.request, &facts)?;
        let lead_after = match &facts.instructor {
            Some(new_lead) => {
                set_lead(tx, &self.ctx, &class, new_lead.user_id).await?;
                lead(tx, class.id).await?
            }
            None => lead_before,
        };
        if next == current && lead_after == lead_before {
            return view(tx, class, settings).await;
        }
        let updated = if next.fields == class.fields {
            tx.touch_class(class.id).await?;
            class.touched()
        } else {
            class.changed(next.fields.clone(), self.ctx.now)
        };
        let before = (&class, &settings, lead_before);
        let after = (&updated, &next.lab, lead_after);
        // The class, its settings and the record of the change, sent together.
        tokio::try_join!(
            write_if(next.fields != class.fields, tx.update_class(&class, &updated)),
            write_if(next.lab != settings, tx.update_lab(class.id, &next.lab)),
            audit(tx, &self.ctx, Action::ClassUpdate, Some(class.id), class.id.0, Some(&before), Some(&after))
        )?;
        view(tx, updated, next.lab).await
    }
}

/// Makes `user` the class's lead (first) instructor, keeping any others after it.
async fn set_lead<T: Tx>(tx: &mut T, ctx: &Context, class: &Class, user: UserId) -> Result<()> {
    let instructors: Vec<UserId> =
        tx.members_by_role(class.id, MemberRole::Instructor).await?.iter().map(|m| m.user.id).collect();
    if instructors.first() == Some(&user) {
        return Ok(());
    }
    if !instructors.contains(&user) {
        let new =
            NewMember { class_id: class.id, user_id: user, role: MemberRole::Instructor, code: None, email: None };
        let m = tx.insert_membership(new, ctx.now).await?;
        audit(tx, ctx, Action::MembershipCreate, Some(class.id), m.id.0, None, Some(&m)).await?;
    }
    tx.order_members(class.id, MemberRole::Instructor, &lab::lead_first(&instructors, user)).await
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
        let (class, settings) = locked(tx, self.caller, self.class_id).await?;
        let students = tx.members_by_role(class.id, MemberRole::Student).await?;
        tx.delete_class(class.id).await?;
        // A student's identity belongs to the class: it goes with it.
        for s in students {
            tx.delete_user(s.user.id).await?;
        }
        tx.add_to_class_count(class.owner_id, -1).await?;
        let before = (&class, &settings);
        audit(tx, &self.ctx, Action::ClassDelete, Some(class.id), class.id.0, Some(&before), None).await
    }
}

/// One lab class the caller can see.
pub struct GetLab {
    pub caller: UserId,
    pub class_id: ClassId,
}

impl ReadOp for GetLab {
    type Out = LabView;
    async fn run<R: Read>(&self, r: &R) -> Result<LabView> {
        let (class, settings) = visible(r, self.caller, self.class_id, false).await?;
        view(r, class, settings).await
    }
}

/// Every lab class of the caller's projects, newest first.
pub struct ListLabs {
    pub caller: UserId,
}

impl ReadOp for ListLabs {
    type Out = Vec<LabSummary>;
    async fn run<R: Read>(&self, r: &R) -> Result<Vec<LabSummary>> {
        r.labs_of(self.caller).await
    }
}

/// The caller's projects with their memberships.
pub struct CallerProjects {
    pub caller: UserId,
}

impl ReadOp for CallerProjects {
    type Out = Vec<(Project, ProjectMember)>;
    async fn run<R: Read>(&self, r: &R) -> Result<Vec<(Project, ProjectMember)>> {
        r.projects_of(self.caller).await
    }
}

/// Every project, for the administrator.
pub struct ListProjects {
    pub page: PageRequest,
}

impl ReadOp for ListProjects {
    type Out = Page<Project>;
    async fn run<R: Read>(&self, r: &R) -> Result<Page<Project>> {
        r.projects_page(self.page).await
    }
}

/// A project with everything in it, for the administrator.
pub struct ProjectDetail {
    pub project: ProjectId,
}

/// A project's catalog and members.
pub struct ProjectContents {
    pub project: Project,
    pub policies: Vec<Policy>,
    pub blueprints: Vec<Blueprint>,
    pub fields: Vec<CustomField>,
    pub members: Vec<(ProjectMember, User)>,
}

impl ReadOp for ProjectDetail {
    type Out = ProjectContents;
    async fn run<R: Read>(&self, r: &R) -> Result<ProjectContents> {
        let project = r.project(self.project).await?.ok_or(DomainError::NotFound(Entity::Project))?;
        Ok(ProjectContents {
            project,
            policies: r.policies(self.project).await?,
            blueprints: r.blueprints(self.project).await?,
            fields: r.custom_fields(self.project).await?,
            members: r.project_members(self.project).await?,
        })
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
    async fn run<R: Read>(&self, r: &R) -> Result<Catalog> {
        let gone = || DomainError::NotFound(Entity::Project);
        let member = r.project_membership(self.caller, self.project).await?.ok_or_else(gone)?;
        let project = r.project(self.project).await?.ok_or_else(gone)?;
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
    async fn run<R: Read>(&self, r: &R) -> Result<Vec<(ProjectMember, User)>> {
        let gone = || DomainError::NotFound(Entity::Policy);
        let policy = r.policy(self.policy).await?.ok_or_else(gone)?;
        r.project_membership(self.caller, policy.project_id).await?.ok_or_else(gone)?;
        let members = r.project_members(policy.project_id).await?;
        Ok(members.into_iter().filter(|(m, _)| m.can_instruct).collect())
    }
}

/// A class's students (or instructors), in their order.
pub struct LabMembers {
    pub caller: UserId,
    pub class_id: ClassId,
    pub role: MemberRole,
}

impl ReadOp for LabMembers {
    type Out = (LabView, Vec<Member>);
    async fn run<R: Read>(&self, r: &R) -> Result<(LabView, Vec<Member>)> {
        let (class, settings) = visible(r, self.caller, self.class_id, false).await?;
        let members = r.members_by_role(class.id, self.role).await?;
        Ok((view(r, class, settings).await?, members))
    }
}

/// One student of a class.
async fn student_of<R: Read>(r: &R, class: ClassId, student: MembershipId) -> Result<Member> {
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
    async fn run<R: Read>(&self, r: &R) -> Result<Member> {
        visible(r, self.caller, self.class_id, false).await?;
        student_of(r, self.class_id, self.student).await
    }
}

/// Registers a student in a locked class: a user of its own, a seat, a membership whose
/// email is unique in the class.
async fn register<T: Tx>(tx: &mut T, ctx: &Context, class: &Class, profile: &StudentProfile) -> Result<Membership> {
    let email = profile.email.clone().unwrap_or_default();
    let taken = tx.member_by_email(class.id, &email).await?.is_some();
    lab::decide_new_student(taken, class)?;
    if !tx.take_seat(class.id).await? {
        return Err(StoreError::Retry("a seat changed under the class's lock".into()));
    }
    let new = NewUser {
        first_name: profile.first_name.clone(),
        last_name: profile.last_name.clone(),
        ..NewUser::named(UserKind::ClassStudent, lab::student_name(profile), Some(email.clone()))
    };
    let user = tx.insert_user(&new, ctx.now).await?;
    let new =
        NewMember { class_id: class.id, user_id: user.id, role: MemberRole::Student, code: None, email: Some(&email) };
    let m = tx.insert_membership(new, ctx.now).await?;
    audit(tx, ctx, Action::MembershipCreate, Some(class.id), m.id.0, None, Some(&m)).await?;
    Ok(m)
}

/// Removes a student of a locked class: the membership, the seat, the student's own user.
async fn unregister<T: Tx>(tx: &mut T, ctx: &Context, member: &Member) -> Result<()> {
    super::remove_member(tx, ctx, &member.membership).await?;
    tx.delete_user(member.user.id).await
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
        let (class, _) = locked(tx, self.caller, self.class_id).await?;
        register(tx, &self.ctx, &class, &profile).await
    }
}

fn profile_of(u: &User) -> StudentProfile {
    StudentProfile { email: u.email.clone(), first_name: u.first_name.clone(), last_name: u.last_name.clone() }
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
        let (class, _) = locked(tx, self.caller, self.class_id).await?;
        let current = student_of(tx, class.id, self.student).await?;
        let before = profile_of(&current.user);
        let taken = match change.email.as_deref() {
            Some(e) if Some(e) != before.email.as_deref() => {
                tx.member_by_email(class.id, e).await?.is_some_and(|m| m.membership.id != current.membership.id)
            }
            _ => false,
        };
        let logged_in = current.membership.logged_in_at.is_some();
        if let Some(after) = lab::decide_student_change(&before, &change, logged_in, taken)? {
            tx.update_student(current.membership.id, current.user.id, &lab::student_name(&after), &after).await?;
            let id = current.membership.id.0;
            audit(tx, &self.ctx, Action::UserUpdate, Some(class.id), id, Some(&before), Some(&after)).await?;
        }
        student_of(tx, class.id, self.student).await
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
        let (class, _) = locked(tx, self.caller, self.class_id).await?;
        let member = student_of(tx, class.id, self.student).await?;
        unregister(tx, &self.ctx, &member).await
    }
}

/// The login address of a lab class, without a token.
pub fn login_url(public_base: &str, short_id: &str) -> String {
    format!("{}/Class/{short_id}", public_base.trim_end_matches('/'))
}

/// How a dialect writes what invitations show.
#[derive(Clone)]
pub struct InvitationFormat {
    /// The base of the links in them.
    pub public_base: String,
    /// The class's start, in the class's zone.
    pub format_start: fn(Timestamp, Option<&ZoneName>) -> String,
}

impl InvitationFormat {
    /// The class's start and its zone's name, as invitations show them.
    fn start_of(&self, class: &Class, settings: &LabSettings) -> (String, &'static str) {
        let zone = classhub_core::windows_zones::by_windows_id(&settings.windows_zone).map_or("", |z| z.display_name);
        let start = class.fields.start_at.map(|t| (self.format_start)(t, class.fields.timezone.as_ref()));
        (start.unwrap_or_default(), zone)
    }
}

/// Queues an invitation email to each student and marks them invited. Each email carries
/// a sign-in link of the student's own (a sponsored link, disabled with the others).
pub struct SendInvitations {
    pub ctx: Context,
    pub caller: UserId,
    pub class_id: ClassId,
    pub students: Vec<MembershipId>,
    pub format: InvitationFormat,
}

impl WriteOp for SendInvitations {
    type Out = u32;
    async fn run<T: Tx>(&self, tx: &mut T) -> Result<u32> {
        let (class, settings) = locked(tx, self.caller, self.class_id).await?;
        let blueprint = tx.blueprint(settings.blueprint_id).await?.map(|b| b.name).unwrap_or_default();
        let (start, zone) = self.format.start_of(&class, &settings);
        let mut sent = 0;
        for id in &self.students {
            let s = student_of(tx, class.id, *id).await?;
            let email = s.user.email.clone().unwrap_or_default();
            let token = link_token();
            tx.insert_sponsored_link(&user::token_hash(&token), class.id, &email, self.ctx.now).await?;
            let url = format!("{}?token={token}", login_url(&self.format.public_base, &settings.short_id));
            let values = InvitationValues {
                course_name: &class.fields.name,
                blueprint_name: &blueprint,
                first_name: s.user.first_name.as_deref().unwrap_or(""),
                email: &email,
                student_passphrase: &settings.passphrase,
                start_time: &start,
                time_zone: zone,
                student_login_url: &url,
            };
            tx.insert_outbox(&lab::invitation(&settings, &values), self.ctx.now).await?;
            tx.set_member_times(s.membership.id, Some(self.ctx.now), s.membership.logged_in_at).await?;
            audit(tx, &self.ctx, Action::InvitationSend, Some(class.id), s.membership.id.0, None, Some(&email)).await?;
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
        let (class, settings) = locked(tx, self.caller, self.class_id).await?;
        let email = profile.email.clone().unwrap_or_default();
        let registered = tx.member_by_email(class.id, &email).await?.is_some();
        if lab::decide_link(registered, self.pre_register, &settings, &class)? {
            register(tx, &self.ctx, &class, &profile).await?;
        }
        let token = link_token();
        tx.insert_sponsored_link(&user::token_hash(&token), class.id, &email, self.ctx.now).await?;
        Ok((settings, token))
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
        let (class, _) = locked(tx, self.caller, self.class_id).await?;
        let email = user::normalize_email(&self.email);
        if classhub_core::text::no_nul(&email).is_err() {
            return Ok(()); // no link can have it
        }
        tx.disable_sponsored_links(class.id, &email, self.ctx.now).await?;
        if self.unregister
            && let Some(member) = tx.member_by_email(class.id, &email).await?
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
        if !lab::short_id_shaped(&self.short_id) {
            return Err(unknown().into());
        }
        let class_id = tx.class_by_short_id(&self.short_id).await?.ok_or_else(unknown)?;
        let class = tx.class_for_update(class_id).await?.ok_or_else(unknown)?;
        let settings = tx.lab(class_id).await?.ok_or_else(unknown)?;
        let link = tx.sponsored_link(&user::token_hash(&self.token)).await?;
        let email = link.as_ref().map(|l| l.email.clone()).unwrap_or_default();
        let existing = tx.member_by_email(class_id, &email).await?;
        let member = if lab::decide_login(link.as_ref(), &class, &settings, existing.is_some())? {
            let profile = StudentProfile { email: Some(email), ..StudentProfile::default() };
            let m = register(tx, &self.ctx, &class, &profile).await?;
            tx.member(m.id).await?.ok_or_else(unknown)?
        } else {
            existing.ok_or_else(unknown)?
        };
        if member.membership.logged_in_at.is_none() {
            let m = &member.membership;
            tx.set_member_times(m.id, m.invited_at, Some(self.ctx.now)).await?;
            audit(tx, &self.ctx, Action::MembershipUpdate, Some(class_id), m.id.0, Some(m), None::<&Membership>)
                .await?;
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
    /// The instructor may not create environments for the class.
    pub disable_env_creation: bool,
    /// Queue the instructor's invitation now, written this way.
    pub invite: Option<InvitationFormat>,
}

impl WriteOp for AddInstructor {
    type Out = Membership;
    async fn run<T: Tx>(&self, tx: &mut T) -> Result<Membership> {
        let (class, settings) = locked(tx, self.caller, self.class_id).await?;
        let who = tx.project_member(self.member).await?;
        let already = match &who {
            Some((w, _)) => tx.membership(class.id, w.user_id).await?.is_some(),
            None => false,
        };
        lab::decide_new_instructor(who.as_ref().map(|(m, _)| m), settings.project_id, already)?;
        let (_, user) = who.ok_or(DomainError::NotFound(Entity::ProjectMember))?;
        let new =
            NewMember { class_id: class.id, user_id: user.id, role: MemberRole::Instructor, code: None, email: None };
        let mut m = tx.insert_membership(new, self.ctx.now).await?;
        if self.disable_env_creation {
            tx.set_env_creation_disabled(m.id, true).await?;
            m.env_creation_disabled = true;
        }
        if let Some(format) = &self.invite {
            let blueprint = tx.blueprint(settings.blueprint_id).await?.map(|b| b.name).unwrap_or_default();
            let (start, zone) = format.start_of(&class, &settings);
            let email = lab::instructor_invitation(&InstructorInvitation {
                course_name: &class.fields.name,
                blueprint_name: &blueprint,
                name: &user.name,
                email: user.email.as_deref().unwrap_or(""),
                start_time: &start,
                time_zone: zone,
                class_url: &login_url(&format.public_base, &settings.short_id),
            });
            if !email.to.is_empty() {
                tx.insert_outbox(&email, self.ctx.now).await?;
                tx.set_member_times(m.id, Some(self.ctx.now), None).await?;
                m.invited_at = Some(self.ctx.now);
            }
        }
        audit(tx, &self.ctx, Action::MembershipCreate, Some(class.id), m.id.0, None, Some(&m)).await?;
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
        let instructor = |m: &Member| m.membership.role == MemberRole::Instructor;
        let found = tx.member(self.instructor).await?.filter(instructor).ok_or_else(gone)?;
        // Members of another project learn nothing (404); members of this one who cannot
        // instruct are refused (403), as for every other change to a class.
        let (class, _) = locked(tx, self.caller, found.membership.class_id).await.map_err(|e| or_not_found(e, gone))?;
        let m = tx.member(self.instructor).await?.filter(instructor).ok_or_else(gone)?;
        lab::decide_instructor_removal(tx.members_by_role(class.id, MemberRole::Instructor).await?.len())?;
        super::remove_member(tx, &self.ctx, &m.membership).await
    }
}

/// The class-instructor links of a class, with each instructor's project membership.
pub struct LabInstructors {
    pub caller: UserId,
    pub class_id: ClassId,
}

impl ReadOp for LabInstructors {
    type Out = Vec<(Member, Option<ProjectMember>)>;
    async fn run<R: Read>(&self, r: &R) -> Result<Vec<(Member, Option<ProjectMember>)>> {
        let (class, settings) = visible(r, self.caller, self.class_id, false).await?;
        let instructors = r.members_by_role(class.id, MemberRole::Instructor).await?;
        let mut out = Vec::with_capacity(instructors.len());
        for m in instructors {
            let pm = r.project_membership(m.user.id, settings.project_id).await?;
            out.push((m, pm));
        }
        Ok(out)
    }
}

/// The credentials of an API id, sealed.
pub struct ApiKeyOf<'a> {
    pub api_id: &'a str,
}

impl ReadOp for ApiKeyOf<'_> {
    type Out = Option<crate::engine::ApiCredential>;
    async fn run<R: Read>(&self, r: &R) -> Result<Option<crate::engine::ApiCredential>> {
        r.api_credential(self.api_id).await
    }
}

/// A policy a project manager makes for their project (CloudShare's `POST /policies`).
pub struct CreateProjectPolicy {
    pub ctx: Context,
    pub caller: UserId,
    pub project: ProjectId,
    pub request: PolicyRequest,
}

impl WriteOp for CreateProjectPolicy {
    type Out = Policy;
    async fn run<T: Tx>(&self, tx: &mut T) -> Result<Policy> {
        let member = tx.project_membership(self.caller, self.project).await?;
        let (name, minutes, leases) = lab::decide_project_policy(member.as_ref(), &self.request)?;
        let p = tx.insert_policy(self.project, &name, minutes, Some(&leases), self.ctx.now).await?;
        audit(tx, &self.ctx, Action::CatalogCreate, None, p.id.0, None, Some(&p)).await?;
        Ok(p)
    }
}
