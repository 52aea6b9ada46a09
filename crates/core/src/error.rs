//! Errors the rules produce. Dialects map each variant once to their own envelope.

use crate::class::ClassStatus;
use crate::invite::CodeUnavailable;

/// One invalid input field. `field` is the core's own (snake_case) name of the field;
/// dialects translate it to their spelling and location.
#[derive(Debug, Clone, PartialEq)]
pub struct Violation {
    pub field: &'static str,
    /// Position inside a list field (`allowed_model_ids[2]`).
    pub index: Option<usize>,
    pub problem: Problem,
}

impl Violation {
    pub fn new(field: &'static str, problem: Problem) -> Self {
        Violation { field, index: None, problem }
    }

    pub fn at(field: &'static str, index: usize, problem: Problem) -> Self {
        Violation { field, index: Some(index), problem }
    }
}

/// Why a field is invalid.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Problem {
    #[error("field required")]
    Required,
    #[error("must have at least {min} characters")]
    TooShort { min: usize },
    #[error("must have at most {max} characters")]
    TooLong { max: usize },
    #[error("must be greater than or equal to {min}")]
    BelowMin { min: i64 },
    #[error("must be less than or equal to {max}")]
    AboveMax { max: i64 },
    #[error("unknown time zone {0:?}")]
    UnknownTimeZone(String),
    #[error("{0} does not exist in {1} (it falls in a daylight-saving gap)")]
    LocalTimeInGap(String, String),
    #[error("{0} is ambiguous in {1} (it occurs twice when daylight saving ends)")]
    LocalTimeAmbiguous(String, String),
    #[error("the date is out of range")]
    DateOutOfRange,
    #[error("end_at must be after start_at")]
    EndNotAfterStart,
    /// The first field ends before the second starts (a one-day span may end as it starts).
    #[error("{0} must not be before {1}")]
    EndBeforeStart(&'static str, &'static str),
    /// A decimal with more digits after the point than the field keeps.
    #[error("must have at most {max} decimal places")]
    DecimalPlaces { max: u32 },
    /// A decimal with more digits before the point than the field keeps.
    #[error("must have at most {max} digits before the decimal point")]
    DecimalWholeDigits { max: u32 },
    #[error("must be in the future")]
    NotInFuture,
    #[error("must not be in the future")]
    InFuture,
    #[error("invalid URL: {0}")]
    UrlInvalid(String),
    #[error("URL scheme should be 'http' or 'https'")]
    UrlScheme,
    #[error("URL should have at most {max} characters")]
    UrlTooLong { max: usize },
    #[error("unknown model id {0}")]
    UnknownModel(i64),
    #[error("course {0} not found")]
    UnknownCourse(i64),
    /// PostgreSQL cannot store it, so neither engine takes it.
    #[error("must not contain the NUL character")]
    NulCharacter,
    #[error("must be {}", one_of(.0))]
    NotOneOf(&'static [&'static str]),
    #[error("cannot be changed")]
    Immutable,
    /// A reference to something that does not exist.
    #[error("{0} not found")]
    Unknown(Entity),
    /// A reference to a catalog entry that is not in the class's project.
    #[error("{0} not found in the project")]
    NotInProject(Entity),
    /// Required because the (core) field named is true.
    #[error("is required when {0} is true")]
    RequiredWhen(&'static str),
    /// A custom field's value does not match the field's pattern.
    #[error("{name} does not match its pattern {pattern}")]
    PatternMismatch { name: String, pattern: String },
    #[error("the pattern of {0} does not compile")]
    PatternBroken(String),
    /// A required custom field has no value.
    #[error("{0} is required")]
    ValueRequired(String),
    #[error("{0:?} is not a valid email address")]
    InvalidEmail(String),
    #[error("cannot change after the student has logged in")]
    LockedAfterLogin,
    #[error("is not a member of the project who can instruct")]
    NotAnInstructor,
    #[error("a class needs at least one instructor")]
    LastInstructor,
    #[error("the student is not registered and the class does not permit non-registered students")]
    NotRegistered,
    /// A reference to something that exists but is switched off.
    #[error("{0} is not active")]
    Inactive(Entity),
    #[error("{0}")]
    Other(String),
}

/// `0, 1 or 2`.
fn one_of(options: &[&str]) -> String {
    match options.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        Some((last, _)) => (*last).to_string(),
        None => String::new(),
    }
}

/// A request the rules refuse. Store and engine failures are not here: they are the store's.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DomainError {
    /// One or more fields are invalid; all are reported together.
    #[error("invalid input: {}", list(.0))]
    Invalid(Vec<Violation>),
    /// Unknown, or owned by someone else: callers cannot tell the two apart.
    #[error("{0} not found")]
    NotFound(Entity),
    #[error("cannot change status from {} to {}", .from.as_str(), .to.as_str())]
    StatusTransition { from: ClassStatus, to: ClassStatus },
    #[error("capacity {capacity} is below the {enrolled} students already enrolled")]
    CapacityBelowEnrolled { capacity: u32, enrolled: u32 },
    #[error("max_uses {max_uses} is below the {used} uses already made")]
    MaxUsesBelowUsed { max_uses: u32, used: u32 },
    #[error("class was modified (current version {current})")]
    VersionMismatch { current: i64 },
    #[error("class is full")]
    ClassFull,
    #[error("class has ended")]
    ClassEnded,
    #[error("{0}")]
    CodeUnavailable(CodeUnavailable),
    /// The caller is authenticated but may not do this.
    #[error("not enough permissions")]
    Forbidden,
    /// Members named that are not registered (as the kind of user the class takes).
    #[error("not registered: {0:?}")]
    UnknownMembers(Vec<crate::ids::UserId>),
    /// A uniqueness rule: the thing already exists.
    #[error("{0} already exists")]
    AlreadyExists(Entity),
    /// Classes still use the catalog entry that was to be deleted.
    #[error("{entity} is used by {classes} class(es)")]
    InUse { entity: Entity, classes: u64 },
    /// Too many failed attempts (see [`crate::throttle`]).
    #[error("too many failed attempts; retry after {} seconds", .0.retry_after_secs)]
    Throttled(Throttled),
    /// An `Idempotency-Key` header that is not a short string of visible characters.
    #[error("Idempotency-Key must be a string of 1 to 255 visible ASCII characters")]
    IdempotencyKeyMalformed,
    /// A repeat of a request whose first sending is still being processed.
    #[error("a request with this Idempotency-Key is still being processed; retry later")]
    IdempotencyKeyInFlight,
    /// The key was used with another request.
    #[error("this Idempotency-Key was used with a different request")]
    IdempotencyKeyReused,
}

/// A throttle's refusal: its policy, and when to try again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttled {
    /// The policy's name (`login`, `redeem`, `signature`).
    pub policy: &'static str,
    pub limit: u32,
    pub window_secs: u64,
    pub retry_after_secs: u64,
}

fn list(violations: &[Violation]) -> String {
    let one = |v: &Violation| match v.index {
        Some(i) => format!("{}[{i}]: {}", v.field, v.problem),
        None => format!("{}: {}", v.field, v.problem),
    };
    violations.iter().map(one).collect::<Vec<_>>().join("; ")
}

impl DomainError {
    pub fn invalid(field: &'static str, problem: Problem) -> Self {
        DomainError::Invalid(vec![Violation::new(field, problem)])
    }
}

/// Kinds of things a rule can refer to in an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entity {
    Class,
    InviteCode,
    Membership,
    User,
    Partner,
    Student,
    Course,
    Model,
    Token,
    Project,
    Policy,
    Blueprint,
    ProjectMember,
    Instructor,
    SponsoredLink,
    Institution,
    Group,
    Child,
    Educator,
    HealthProfessional,
    CustomField,
}

impl Entity {
    pub fn as_str(self) -> &'static str {
        match self {
            Entity::Class => "class",
            Entity::InviteCode => "invite code",
            Entity::Membership => "membership",
            Entity::User => "user",
            Entity::Partner => "partner",
            Entity::Student => "student",
            Entity::Course => "course",
            Entity::Model => "model",
            Entity::Token => "token",
            Entity::Project => "project",
            Entity::Policy => "policy",
            Entity::Blueprint => "blueprint",
            Entity::ProjectMember => "project member",
            Entity::Instructor => "instructor",
            Entity::SponsoredLink => "sponsored link",
            Entity::Institution => "institution",
            Entity::Group => "children group",
            Entity::Child => "child",
            Entity::Educator => "educator",
            Entity::HealthProfessional => "health professional",
            Entity::CustomField => "custom field",
        }
    }
}

impl std::fmt::Display for Entity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
