//! Classes: their fields, lifecycle and every rule about changing them.

use jiff::Timestamp;
use serde::Serialize;

use crate::catalog::{Decimal, valid_amount};
use crate::error::{DomainError, Entity, Problem, Violation};
use crate::ids::{ClassId, CourseId, ModelId, UserId};
use crate::invite::InviteCode;
use crate::patch::Patch;
use crate::time::{WhenInput, ZoneName};

pub const NAME_MAX_CHARS: usize = 200;
pub const LOCATION_MAX_CHARS: usize = 500;
pub const URL_MAX_CHARS: usize = 2048;
pub const CAPACITY_MIN: i64 = 1;
pub const CAPACITY_MAX: i64 = 100_000;

/// Lifecycle of a class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ClassStatus {
    Planned,
    Active,
    Ended,
}

impl ClassStatus {
    pub const ALL: [ClassStatus; 3] = [ClassStatus::Planned, ClassStatus::Active, ClassStatus::Ended];

    pub fn as_str(self) -> &'static str {
        match self {
            ClassStatus::Planned => "planned",
            ClassStatus::Active => "active",
            ClassStatus::Ended => "ended",
        }
    }

    pub fn parse(s: &str) -> Option<ClassStatus> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// Allowed moves: planned→active, planned→ended, active→ended, ended→active (reopen),
    /// and any status to itself. A class never goes back to planned.
    pub fn can_move_to(self, to: ClassStatus) -> bool {
        use ClassStatus::*;
        self == to || !matches!((self, to), (Active, Planned) | (Ended, Planned))
    }
}

/// Which dialect's kind of class a class is: its rules differ (a group's name is unique per
/// owner; a lab class has lab settings).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ClassKind {
    /// A partner's class.
    Class,
    /// A virtual-lab (CloudShare) class.
    Lab,
    /// A children group (OCARIoT).
    Group,
}

impl ClassKind {
    pub const ALL: [ClassKind; 3] = [ClassKind::Class, ClassKind::Lab, ClassKind::Group];

    pub fn as_str(self) -> &'static str {
        match self {
            ClassKind::Class => "class",
            ClassKind::Lab => "lab",
            ClassKind::Group => "group",
        }
    }

    pub fn parse(s: &str) -> Option<ClassKind> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// The fields of a class that its owner sets.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClassFields {
    pub name: String,
    pub status: Option<ClassStatus>,
    pub description: Option<String>,
    pub start_at: Option<Timestamp>,
    pub end_at: Option<Timestamp>,
    pub capacity: Option<u32>,
    pub timezone: Option<ZoneName>,
    pub location: Option<String>,
    pub online_url: Option<String>,
    pub invite_only: Option<bool>,
    pub primary_model_id: Option<ModelId>,
    pub allowed_model_ids: Vec<ModelId>,
    pub course_id: Option<CourseId>,
    /// The school class (grade) a group belongs to (OCARIoT).
    pub school_class: Option<String>,
    /// What the class may spend on AI use (GrowFit's `budget_limit`): an amount with
    /// exactly two decimals, or none (unlimited).
    pub budget_limit: Option<Decimal>,
}

/// A stored class.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Class {
    pub id: ClassId,
    pub owner_id: UserId,
    #[serde(skip)]
    pub kind: ClassKind,
    #[serde(flatten)]
    pub fields: ClassFields,
    /// Students enrolled; never above `capacity`.
    pub member_count: u32,
    /// Increases with every change to the class or its codes; the ETag.
    pub version: i64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Class {
    pub fn has_ended(&self) -> bool {
        self.fields.status == Some(ClassStatus::Ended)
    }

    pub fn is_full(&self) -> bool {
        self.fields.capacity.is_some_and(|c| self.member_count >= c)
    }

    /// The class once something that hangs off it (its codes, its settings) changed: its next
    /// version, with its fields as they are.
    pub fn touched(&self) -> Class {
        Class { version: self.version + 1, ..self.clone() }
    }

    /// The class once `fields` replace its own at `now`: its next version.
    pub fn changed(&self, fields: ClassFields, now: Timestamp) -> Class {
        Class { fields, version: self.version + 1, updated_at: now, ..self.clone() }
    }
}

/// A change to a class as the client asked for it, before validation. Times may be
/// wall-clock; numbers are unchecked.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClassPatch {
    pub name: Patch<String>,
    pub status: Patch<ClassStatus>,
    pub description: Patch<String>,
    pub start_at: Patch<WhenInput>,
    pub end_at: Patch<WhenInput>,
    pub capacity: Patch<i64>,
    pub timezone: Patch<String>,
    pub location: Patch<String>,
    pub online_url: Patch<String>,
    pub invite_only: Patch<bool>,
    pub course_id: Patch<i64>,
    pub primary_model_id: Patch<i64>,
    pub allowed_model_ids: Patch<Vec<i64>>,
    pub budget_limit: Patch<Decimal>,
}

impl ClassPatch {
    /// Model ids the patch refers to, which the store must look up in the catalog.
    pub fn referenced_models(&self) -> Vec<ModelId> {
        let mut ids: Vec<ModelId> =
            self.allowed_model_ids.set_value().into_iter().flatten().map(|&i| ModelId(i)).collect();
        ids.extend(self.primary_model_id.set_value().map(|&i| ModelId(i)));
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// The course the patch refers to, which the store must look up.
    pub fn referenced_course(&self) -> Option<CourseId> {
        self.course_id.set_value().map(|&i| CourseId(i))
    }
}

/// What the store found out about the things a patch refers to.
#[derive(Debug, Clone, Default)]
pub struct PatchFacts {
    /// The class's owner.
    pub owner: UserId,
    /// Of `ClassPatch::referenced_models`, those that exist.
    pub known_models: Vec<ModelId>,
    /// Owner of `ClassPatch::referenced_course`, if that course exists. Any partner's
    /// class may name any course (as in GrowFit, whose course picker lists every course).
    pub course_owner: Option<UserId>,
    /// Students currently enrolled.
    pub enrolled: u32,
}

impl ClassFields {
    /// A class with nothing set yet.
    pub fn blank() -> ClassFields {
        ClassFields {
            name: String::new(),
            status: None,
            description: None,
            start_at: None,
            end_at: None,
            capacity: None,
            timezone: None,
            location: None,
            online_url: None,
            invite_only: None,
            primary_model_id: None,
            allowed_model_ids: Vec::new(),
            course_id: None,
            school_class: None,
            budget_limit: None,
        }
    }
}

/// The fields of a new class: `patch` applied to an empty class, `name` required, status
/// `planned` unless given.
pub fn create(mut patch: ClassPatch, facts: &PatchFacts) -> Result<ClassFields, DomainError> {
    if patch.status.is_keep() {
        patch.status = Patch::Set(ClassStatus::Planned);
    }
    let name_missing = patch.name.is_keep();
    match apply_patch(&ClassFields::blank(), patch, facts) {
        Err(DomainError::Invalid(mut v)) => {
            if name_missing {
                v.insert(0, Violation::new("name", Problem::Required));
            }
            Err(DomainError::Invalid(v))
        }
        Ok(_) if name_missing => Err(DomainError::invalid("name", Problem::Required)),
        other => other,
    }
}

/// Problems of the patch's fields that need no stored state (lengths, bounds, formats,
/// zone names), so that a dialect can report them together with its own type errors.
/// `apply_patch` applies the same checks.
pub fn check_fields(patch: &ClassPatch) -> Vec<Violation> {
    let mut errors = Vec::new();
    let mut check = |field: &'static str, r: Result<(), Problem>| {
        if let Err(p) = r {
            errors.push(Violation::new(field, p));
        }
    };
    match &patch.name {
        Patch::Clear => check("name", Err(Problem::Required)),
        Patch::Set(n) => check("name", valid_name(n).map(drop)),
        Patch::Keep => {}
    }
    if let Patch::Set(z) = &patch.timezone {
        check("timezone", ZoneName::parse(z).map(drop));
    }
    if let Patch::Set(c) = patch.capacity {
        check("capacity", valid_capacity(c).map(drop));
    }
    if let Patch::Set(d) = &patch.description {
        check("description", crate::text::no_nul(d));
    }
    if let Patch::Set(l) = &patch.location {
        check("location", at_most(l, LOCATION_MAX_CHARS));
    }
    if let Patch::Set(u) = &patch.online_url {
        check("online_url", valid_web_url(u));
    }
    if let Patch::Set(b) = patch.budget_limit {
        check("budget_limit", valid_amount(b).map(drop));
    }
    errors
}

/// A capacity: 1..=100,000 seats.
pub fn valid_capacity(c: i64) -> Result<u32, Problem> {
    in_range(c, CAPACITY_MIN, CAPACITY_MAX).map(|c| c as u32)
}

/// The class's fields after `patch`, or why the patch is refused. Field errors are all
/// reported together; conflicts with the class's state (status moves, capacity below the
/// roster) are checked only once every field is valid.
pub fn apply_patch(current: &ClassFields, patch: ClassPatch, facts: &PatchFacts) -> Result<ClassFields, DomainError> {
    let mut errors = Vec::new();
    let mut next = current.clone();
    let mut check = |field: &'static str, r: Result<(), Problem>| {
        if let Err(p) = r {
            errors.push(Violation::new(field, p));
        }
    };

    match patch.name {
        Patch::Keep => {}
        Patch::Clear => check("name", Err(Problem::Required)),
        Patch::Set(name) => check("name", valid_name(&name).map(|n| next.name = n)),
    }
    next.status = patch.status.clone().apply(current.status);
    match patch.description {
        Patch::Keep => {}
        Patch::Clear => next.description = None,
        Patch::Set(d) => check("description", crate::text::no_nul(&d).map(|()| next.description = Some(d))),
    }
    next.invite_only = patch.invite_only.apply(next.invite_only);

    // The zone that wall-clock times are read in: the request's, else the stored one.
    let mut zone_ok = true;
    match patch.timezone {
        Patch::Keep => {}
        Patch::Clear => next.timezone = None,
        Patch::Set(name) => match ZoneName::parse(&name) {
            Ok(z) => next.timezone = Some(z),
            Err(p) => {
                zone_ok = false;
                check("timezone", Err(p));
            }
        },
    }
    let mut times_ok = true;
    for (field, p, slot) in
        [("start_at", patch.start_at, &mut next.start_at), ("end_at", patch.end_at, &mut next.end_at)]
    {
        match p {
            Patch::Keep => {}
            Patch::Clear => *slot = None,
            // A wall-clock time cannot be placed while the zone itself is invalid; that
            // error is already reported.
            Patch::Set(WhenInput::Local(_)) if !zone_ok => times_ok = false,
            Patch::Set(when) => match when.resolve(next.timezone.as_ref()) {
                Ok(ts) => *slot = Some(ts),
                Err(e) => {
                    times_ok = false;
                    check(field, Err(e));
                }
            },
        }
    }
    // A one-day class given as dates (`"2026-03-02"` both) starts and ends at midnight.
    if times_ok
        && let (Some(s), Some(e)) = (next.start_at, next.end_at)
        && e < s
    {
        check("end_at", Err(Problem::EndBeforeStart("end_at", "start_at")));
    }

    match patch.capacity {
        Patch::Keep => {}
        Patch::Clear => next.capacity = None,
        Patch::Set(c) => check("capacity", valid_capacity(c).map(|c| next.capacity = Some(c))),
    }
    match patch.location {
        Patch::Keep => {}
        Patch::Clear => next.location = None,
        Patch::Set(l) => check("location", at_most(&l, LOCATION_MAX_CHARS).map(|()| next.location = Some(l))),
    }
    match patch.online_url {
        Patch::Keep => {}
        Patch::Clear => next.online_url = None,
        Patch::Set(u) => check("online_url", valid_web_url(&u).map(|()| next.online_url = Some(u))),
    }
    match patch.course_id {
        Patch::Keep => {}
        Patch::Clear => next.course_id = None,
        Patch::Set(id) if facts.course_owner.is_some() => next.course_id = Some(CourseId(id)),
        Patch::Set(id) => check("course_id", Err(Problem::UnknownCourse(id))),
    }
    match patch.budget_limit {
        Patch::Keep => {}
        Patch::Clear => next.budget_limit = None,
        Patch::Set(b) => check("budget_limit", valid_amount(b).map(|b| next.budget_limit = Some(b))),
    }

    let known = |id: i64| facts.known_models.contains(&ModelId(id));
    match patch.primary_model_id {
        Patch::Keep => {}
        Patch::Clear => next.primary_model_id = None,
        Patch::Set(id) if known(id) => next.primary_model_id = Some(ModelId(id)),
        Patch::Set(id) => check("primary_model_id", Err(Problem::UnknownModel(id))),
    }
    match patch.allowed_model_ids {
        Patch::Keep => {}
        Patch::Clear => next.allowed_model_ids.clear(),
        Patch::Set(ids) => {
            let unknown: Vec<Violation> = ids
                .iter()
                .enumerate()
                .filter(|&(_, &id)| !known(id))
                .map(|(i, &id)| Violation::at("allowed_model_ids", i, Problem::UnknownModel(id)))
                .collect();
            if unknown.is_empty() {
                next.allowed_model_ids = ids.into_iter().map(ModelId).collect();
            } else {
                errors.extend(unknown);
            }
        }
    }
    (next.primary_model_id, next.allowed_model_ids) =
        normalize_models(next.primary_model_id, std::mem::take(&mut next.allowed_model_ids));

    if !errors.is_empty() {
        return Err(DomainError::Invalid(errors));
    }
    if let (Some(from), Patch::Set(to)) = (current.status, &patch.status)
        && !from.can_move_to(*to)
    {
        return Err(DomainError::StatusTransition { from, to: *to });
    }
    if let Some(capacity) = next.capacity
        && capacity < facts.enrolled
        && next.capacity != current.capacity
    {
        return Err(DomainError::CapacityBelowEnrolled { capacity, enrolled: facts.enrolled });
    }
    Ok(next)
}

/// The model catalog rule: duplicates dropped (first kept); with no primary the first
/// allowed model becomes primary; a primary missing from the list is appended.
pub fn normalize_models(primary: Option<ModelId>, allowed: Vec<ModelId>) -> (Option<ModelId>, Vec<ModelId>) {
    let mut list: Vec<ModelId> = Vec::with_capacity(allowed.len() + 1);
    for id in allowed {
        if !list.contains(&id) {
            list.push(id);
        }
    }
    let primary = primary.or_else(|| list.first().copied());
    if let Some(p) = primary
        && !list.contains(&p)
    {
        list.push(p);
    }
    (primary, list)
}

/// A class name: trimmed, 1..200 characters.
pub fn valid_name(name: &str) -> Result<String, Problem> {
    crate::text::label(name, NAME_MAX_CHARS)
}

fn at_most(s: &str, max: usize) -> Result<(), Problem> {
    crate::text::check(s, max)
}

fn in_range(v: i64, min: i64, max: i64) -> Result<i64, Problem> {
    if v < min {
        Err(Problem::BelowMin { min })
    } else if v > max {
        Err(Problem::AboveMax { max })
    } else {
        Ok(v)
    }
}

/// An absolute `http`/`https` URL with a host, at most 2048 characters.
pub fn valid_web_url(s: &str) -> Result<(), Problem> {
    crate::text::no_nul(s)?;
    if s.chars().count() > URL_MAX_CHARS {
        return Err(Problem::UrlTooLong { max: URL_MAX_CHARS });
    }
    let url = url::Url::parse(s).map_err(|e| Problem::UrlInvalid(e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Problem::UrlScheme);
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(Problem::UrlInvalid("empty host".into()));
    }
    Ok(())
}

/// Optimistic concurrency: what an `If-Match` asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IfMatch {
    /// `*`: any current version.
    Any,
    /// One of these versions.
    OneOf(Vec<i64>),
}

/// Refuses a write whose `If-Match` does not name the class's current version.
pub fn check_version(current: i64, if_match: Option<&IfMatch>) -> Result<(), DomainError> {
    match if_match {
        Some(IfMatch::OneOf(v)) if !v.contains(&current) => Err(DomainError::VersionMismatch { current }),
        _ => Ok(()),
    }
}

/// The class as its owner sees it; anyone else (and anything but a class of `kind`) is told
/// it does not exist.
pub fn owned_by(class: Option<Class>, owner: UserId, kind: ClassKind) -> Result<Class, DomainError> {
    class.filter(|c| c.owner_id == owner && c.kind == kind).ok_or(DomainError::NotFound(Entity::Class))
}

/// How much of its budget a class has used (GrowFit's thresholds: 50 % and 80 %).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BudgetStatus {
    Ok,
    Warning,
    Alert,
}

impl BudgetStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            BudgetStatus::Ok => "ok",
            BudgetStatus::Warning => "warning",
            BudgetStatus::Alert => "alert",
        }
    }

    /// `alert` from 80 %, `warning` from 50 %; `ok` below, and always without a budget.
    pub fn of(percent: Decimal, has_budget: bool) -> BudgetStatus {
        let at_least = |n: i64| percent.cmp_value(&Decimal::from_int(n)) != std::cmp::Ordering::Less;
        if !has_budget {
            BudgetStatus::Ok
        } else if at_least(80) {
            BudgetStatus::Alert
        } else if at_least(50) {
            BudgetStatus::Warning
        } else {
            BudgetStatus::Ok
        }
    }
}

/// What a class's AI use has cost so far. classhub serves no AI practice, so it records
/// none: every class's usage is zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    pub conversations: u64,
    pub cost: Decimal,
    pub budget_used: Decimal,
}

impl Usage {
    pub const NONE: Usage = Usage { conversations: 0, cost: Decimal::ZERO, budget_used: Decimal::ZERO };
}

/// A class's figures for the partner's class cards (GrowFit's class summary).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassSummary {
    /// Students holding a seat.
    pub student_count: u32,
    pub conversation_count: u64,
    pub total_cost: Decimal,
    /// Days from today to the end's date, both in the class's zone (UTC without one);
    /// negative once it has ended; none without an end.
    pub days_remaining: Option<i64>,
    pub budget_used: Decimal,
    pub budget_percent: Decimal,
    pub budget_status: BudgetStatus,
    /// The first (in text order) of the class's codes that can be redeemed now.
    pub invite_code: Option<String>,
}

/// The summary of `class`, whose codes are `codes`, at `now`.
pub fn summarize(class: &Class, codes: &[InviteCode], usage: Usage, now: Timestamp) -> ClassSummary {
    let zone = class.fields.timezone.as_ref().map_or(jiff::tz::TimeZone::UTC, ZoneName::time_zone);
    let today = now.to_zoned(zone.clone()).date();
    let days_remaining = class.fields.end_at.and_then(|end| {
        let end = end.to_zoned(zone.clone()).date();
        today.until(end).ok().map(|span| i64::from(span.get_days()))
    });
    let budget_percent = match class.fields.budget_limit {
        Some(limit) => usage.budget_used.percent_of(limit),
        None => Decimal::ZERO,
    };
    let invite_code = codes
        .iter()
        .filter(|c| c.status(now) == crate::invite::CodeStatus::Active && !c.is_used_up())
        .map(|c| c.code.clone())
        .min();
    ClassSummary {
        student_count: class.member_count,
        conversation_count: usage.conversations,
        total_cost: usage.cost,
        days_remaining,
        budget_used: usage.budget_used,
        budget_percent,
        budget_status: BudgetStatus::of(budget_percent, class.fields.budget_limit.is_some()),
        invite_code,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> PatchFacts {
        PatchFacts {
            owner: UserId(1),
            known_models: vec![ModelId(1), ModelId(2), ModelId(3)],
            course_owner: None,
            enrolled: 0,
        }
    }

    fn base() -> ClassFields {
        create(ClassPatch { name: Patch::Set("Intro".into()), ..Default::default() }, &facts()).unwrap()
    }

    fn invalid_fields(r: Result<ClassFields, DomainError>) -> Vec<&'static str> {
        match r {
            Err(DomainError::Invalid(v)) => v.into_iter().map(|v| v.field).collect(),
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    #[test]
    fn create_requires_a_name_and_defaults_to_planned() {
        assert_eq!(base().status, Some(ClassStatus::Planned));
        assert_eq!(invalid_fields(create(ClassPatch::default(), &facts())), vec!["name"]);
        let p = ClassPatch { capacity: Patch::Set(0), ..Default::default() };
        assert_eq!(invalid_fields(create(p, &facts())), vec!["name", "capacity"]);
    }

    #[test]
    fn merge_patch_keeps_clears_and_sets() {
        let mut c = base();
        c.description = Some("d".into());
        c.capacity = Some(10);
        let p = ClassPatch { description: Patch::Clear, capacity: Patch::Set(20), ..Default::default() };
        let n = apply_patch(&c, p, &facts()).unwrap();
        assert_eq!(n.description, None);
        assert_eq!(n.capacity, Some(20));
        assert_eq!(n.name, "Intro");
        let p = ClassPatch { name: Patch::Clear, ..Default::default() };
        assert_eq!(invalid_fields(apply_patch(&c, p, &facts())), vec!["name"]);
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(valid_name("  a ").unwrap(), "a");
        assert_eq!(valid_name("   "), Err(Problem::TooShort { min: 1 }));
        assert!(valid_name(&"é".repeat(200)).is_ok());
        assert_eq!(valid_name(&"é".repeat(201)), Err(Problem::TooLong { max: 200 }));
    }

    #[test]
    fn status_moves() {
        use ClassStatus::*;
        for (from, to, ok) in [
            (Planned, Active, true),
            (Planned, Ended, true),
            (Active, Ended, true),
            (Ended, Active, true),
            (Active, Planned, false),
            (Ended, Planned, false),
            (Planned, Planned, true),
        ] {
            assert_eq!(from.can_move_to(to), ok, "{from:?}->{to:?}");
        }
        let mut c = base();
        c.status = Some(Active);
        let p = ClassPatch { status: Patch::Set(Planned), ..Default::default() };
        assert_eq!(
            apply_patch(&c, p, &facts()).unwrap_err().to_string(),
            "cannot change status from active to planned"
        );
    }

    #[test]
    fn end_must_follow_start_after_the_patch() {
        let mut c = base();
        c.start_at = Some("2030-01-02T00:00:00Z".parse().unwrap());
        let p = ClassPatch {
            end_at: Patch::Set(WhenInput::Instant("2030-01-01T00:00:00Z".parse().unwrap())),
            ..Default::default()
        };
        assert_eq!(invalid_fields(apply_patch(&c, p, &facts())), vec!["end_at"]);
        // A one-day class: both dates at midnight.
        let same = ClassPatch { end_at: Patch::Set(WhenInput::Instant(c.start_at.unwrap())), ..Default::default() };
        assert_eq!(apply_patch(&c, same, &facts()).unwrap().end_at, c.start_at);
    }

    #[test]
    fn budgets_are_amounts() {
        let amount = |s: &str| Decimal::parse(s).unwrap();
        let p = ClassPatch { budget_limit: Patch::Set(amount("100.5")), ..Default::default() };
        assert_eq!(apply_patch(&base(), p, &facts()).unwrap().budget_limit.unwrap().to_string(), "100.50");
        for bad in ["-0.01", "1.001", "1000000000000"] {
            let p = ClassPatch { budget_limit: Patch::Set(amount(bad)), ..Default::default() };
            assert_eq!(check_fields(&p).len(), 1, "{bad}");
            assert_eq!(invalid_fields(apply_patch(&base(), p, &facts())), vec!["budget_limit"]);
        }
        let mut c = base();
        c.budget_limit = Some(amount("1.00"));
        let p = ClassPatch { budget_limit: Patch::Clear, ..Default::default() };
        assert_eq!(apply_patch(&c, p, &facts()).unwrap().budget_limit, None);
    }

    #[test]
    fn summaries() {
        let now: Timestamp = "2030-01-10T20:00:00Z".parse().unwrap();
        let mut fields = base();
        fields.end_at = Some("2030-01-12T00:00:00Z".parse().unwrap());
        fields.timezone = Some(ZoneName::parse("Asia/Seoul").unwrap());
        fields.budget_limit = Some(Decimal::from_cents(10_000));
        let class = Class {
            id: ClassId(1),
            owner_id: UserId(1),
            kind: ClassKind::Class,
            fields,
            member_count: 3,
            version: 1,
            created_at: now,
            updated_at: now,
        };
        let code = |value: &str, disabled: bool| InviteCode {
            id: crate::ids::InviteCodeId(1),
            class_id: ClassId(1),
            owner_id: UserId(1),
            code: value.into(),
            target_role: crate::invite::MemberRole::Student,
            used_count: 0,
            max_uses: None,
            expires_at: None,
            disabled,
            created_by: UserId(1),
            created_at: now,
        };
        let s = summarize(&class, &[code("ZZZ", false), code("AAA", true), code("MMM", false)], Usage::NONE, now);
        // In Seoul it is already 2030-01-11; the class ends on the 12th, 09:00 there.
        assert_eq!(s.days_remaining, Some(1));
        assert_eq!(s.invite_code.as_deref(), Some("MMM"));
        assert_eq!((s.student_count, s.budget_percent.to_string(), s.budget_status), (3, "0".into(), BudgetStatus::Ok));
        let half = Usage { budget_used: Decimal::from_int(50), ..Usage::NONE };
        assert_eq!(summarize(&class, &[], half, now).budget_status, BudgetStatus::Warning);
        let most = Usage { budget_used: Decimal::from_int(80), ..Usage::NONE };
        assert_eq!(summarize(&class, &[], most, now).budget_status, BudgetStatus::Alert);
    }

    #[test]
    fn wall_clock_times_use_the_requested_zone_then_the_stored_one() {
        let mut c = base();
        c.timezone = Some(ZoneName::parse("Asia/Seoul").unwrap());
        let local = WhenInput::Local("2030-01-01T09:00:00".parse().unwrap());
        let p = ClassPatch { start_at: Patch::Set(local), ..Default::default() };
        assert_eq!(apply_patch(&c, p, &facts()).unwrap().start_at.unwrap().to_string(), "2030-01-01T00:00:00Z");
        let p = ClassPatch {
            start_at: Patch::Set(local),
            timezone: Patch::Set("Europe/London".into()),
            ..Default::default()
        };
        assert_eq!(apply_patch(&c, p, &facts()).unwrap().start_at.unwrap().to_string(), "2030-01-01T09:00:00Z");
        let p =
            ClassPatch { start_at: Patch::Set(local), timezone: Patch::Set("Nowhere".into()), ..Default::default() };
        assert_eq!(invalid_fields(apply_patch(&c, p, &facts())), vec!["timezone"]);
    }

    #[test]
    fn capacity_bounds_and_roster() {
        let c = base();
        for (v, ok) in [(0, false), (1, true), (100_000, true), (100_001, false), (-5, false)] {
            let p = ClassPatch { capacity: Patch::Set(v), ..Default::default() };
            assert_eq!(apply_patch(&c, p, &facts()).is_ok(), ok, "{v}");
        }
        let f = PatchFacts { enrolled: 12, ..facts() };
        let p = ClassPatch { capacity: Patch::Set(10), ..Default::default() };
        assert_eq!(
            apply_patch(&c, p, &f).unwrap_err().to_string(),
            "capacity 10 is below the 12 students already enrolled"
        );
    }

    #[test]
    fn stateless_checks_match_apply() {
        let p = ClassPatch {
            name: Patch::Set(" ".into()),
            capacity: Patch::Set(0),
            timezone: Patch::Set("Nowhere".into()),
            location: Patch::Set("x".repeat(501)),
            online_url: Patch::Set("ftp://x".into()),
            ..Default::default()
        };
        let fields: Vec<_> = check_fields(&p).into_iter().map(|v| v.field).collect();
        assert_eq!(fields, ["name", "timezone", "capacity", "location", "online_url"]);
        let mut applied = invalid_fields(apply_patch(&base(), p, &facts()));
        applied.sort();
        let mut expected = fields.clone();
        expected.sort();
        assert_eq!(applied, expected);
    }

    #[test]
    fn urls_and_locations() {
        assert!(valid_web_url("https://example.com/x").is_ok());
        assert_eq!(valid_web_url("ftp://example.com"), Err(Problem::UrlScheme));
        assert!(matches!(valid_web_url("/relative"), Err(Problem::UrlInvalid(_))));
        assert!(matches!(
            valid_web_url(&format!("https://e.com/{}", "a".repeat(2048))),
            Err(Problem::UrlTooLong { .. })
        ));
        let p = ClassPatch { location: Patch::Set("x".repeat(501)), ..Default::default() };
        assert_eq!(invalid_fields(apply_patch(&base(), p, &facts())), vec!["location"]);
    }

    #[test]
    fn model_catalog_rules() {
        let m = |v: &[i64]| v.iter().map(|&i| ModelId(i)).collect::<Vec<_>>();
        assert_eq!(normalize_models(None, m(&[2, 1, 2])), (Some(ModelId(2)), m(&[2, 1])));
        assert_eq!(normalize_models(Some(ModelId(3)), m(&[1])), (Some(ModelId(3)), m(&[1, 3])));
        assert_eq!(normalize_models(None, vec![]), (None, vec![]));
        let p = ClassPatch { allowed_model_ids: Patch::Set(vec![1, 99]), ..Default::default() };
        match apply_patch(&base(), p, &facts()) {
            Err(DomainError::Invalid(v)) => {
                assert_eq!(v, vec![Violation::at("allowed_model_ids", 1, Problem::UnknownModel(99))])
            }
            other => panic!("{other:?}"),
        }
        let p = ClassPatch { allowed_model_ids: Patch::Clear, primary_model_id: Patch::Set(2), ..Default::default() };
        let n = apply_patch(&base(), p, &facts()).unwrap();
        assert_eq!((n.primary_model_id, n.allowed_model_ids), (Some(ModelId(2)), m(&[2])));
    }

    #[test]
    fn courses_must_exist() {
        let p = ClassPatch { course_id: Patch::Set(7), ..Default::default() };
        assert_eq!(invalid_fields(apply_patch(&base(), p.clone(), &facts())), vec!["course_id"]);
        let theirs = PatchFacts { course_owner: Some(UserId(2)), ..facts() };
        assert_eq!(apply_patch(&base(), p, &theirs).unwrap().course_id, Some(CourseId(7)));
    }

    #[test]
    fn if_match() {
        assert!(check_version(3, None).is_ok());
        assert!(check_version(3, Some(&IfMatch::Any)).is_ok());
        assert!(check_version(3, Some(&IfMatch::OneOf(vec![2, 3]))).is_ok());
        assert_eq!(check_version(3, Some(&IfMatch::OneOf(vec![2]))), Err(DomainError::VersionMismatch { current: 3 }));
    }
}
